"""The plugin as the core loads it (targetd_core.testing): config keys, error codes,
methods, parameter checking, the serve step."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetd_core import testing

METHODS = {
    "export_list",
    "export_create",
    "export_destroy",
    "initiator_set_auth",
    "initiator_list",
    "access_group_list",
    "access_group_create",
    "access_group_destroy",
    "access_group_init_add",
    "access_group_init_del",
    "access_group_map_list",
    "access_group_map_create",
    "access_group_map_destroy",
}


def _config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"lio_state_file": str(tmp_path / "lio.json"), **extra}


def _build(tmp_path: Path, **extra: object) -> testing.InProcess:
    return testing.build(_config(tmp_path, **extra), ["lio"], tmp_path / "run")


def test_registers_methods_handler_and_codes(tmp_path: Path) -> None:
    t = _build(tmp_path)
    core = t.core
    assert t.warnings == []
    assert METHODS <= set(core.methods)
    assert [h.name for h in core.export_handlers] == ["iscsi"]
    readonly = {n for n in METHODS if not core.methods[n].changes_storage}
    assert readonly == {
        "export_list",
        "initiator_list",
        "access_group_list",
        "access_group_map_list",
    }
    assert set(core.methods["initiator_set_auth"].secret_params) == {
        "in_user",
        "in_pass",
        "out_user",
        "out_pass",
    }
    assert core.plugins["lio"].config_keys == ["target_name", "portal_addresses", "lio_state_file"]
    assert core.plugins["lio"].error_codes == [-52, -200]
    assert core.error_codes[-1000].code.name == "NO_FREE_LUN"


def test_parameter_types(tmp_path: Path) -> None:
    t = _build(tmp_path)
    testing.assert_error(-32602, t.call, "initiator_list", standalone_only="yes")
    args = {"pool": "p", "vol": "v", "initiator_wwn": "iqn.2003-01.org.example:x"}
    testing.assert_error(-32602, t.call, "export_create", **args, lun=256)
    testing.assert_error(-32602, t.call, "export_create", **{**args, "vol": "bad name"}, lun=0)
    testing.assert_error(-110, t.call, "export_create", **args, lun=0)
    testing.assert_error(
        -110,
        t.call,
        "access_group_map_create",
        pool_name="p",
        vol_name="v",
        ag_name="g",
        h_lun_id=None,
    )


def test_config_errors(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        _config(tmp_path, target_name="not an iqn", portal_addresses=["nowhere"]),
        ["lio"],
        tmp_path / "run",
    )
    text = "\n".join(problems)
    assert "target_name" in text and "portal_addresses" in text


def test_serve_step_restores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetd_lio import plugin

    t = _build(tmp_path)
    calls = []
    monkeypatch.setattr(plugin.LioExports, "restore", lambda self: calls.append(1) or {})
    monkeypatch.setattr(plugin.LioExports, "adopt", lambda self: 0)
    t.serve()
    assert calls == []  # no state file: LIO is not touched
    (tmp_path / "lio.json").write_text('{"version": 1, "acls": {}, "auth": {}}')
    t.serve()
    assert calls == [1]
