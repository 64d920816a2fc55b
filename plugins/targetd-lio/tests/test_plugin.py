"""The plugin as the core loads it: config keys, methods, parameter checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetd_core.params import bind
from targetd_core.plugin import TargetdError
from targetd_core.plugins import StartupError, build_core

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


def _core(tmp_path: Path, **extra):
    raw = {
        "password": "x",
        "state_dir": str(tmp_path / "run"),
        "plugins": ["lio"],
        "lio_state_file": str(tmp_path / "lio.json"),
        **extra,
    }
    return build_core(raw=raw, env={})


def test_registers_methods_and_handler(tmp_path: Path) -> None:
    core, warnings = _core(tmp_path)
    assert warnings == []
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


def test_parameter_types(tmp_path: Path) -> None:
    core, _ = _core(tmp_path)
    m = core.methods["initiator_list"]
    assert bind(m.func, {"standalone_only": "True"}) == {"standalone_only": True}
    assert bind(m.func, {"standalone_only": False}) == {"standalone_only": False}
    for bad in ({"standalone_only": "yes"},):
        with pytest.raises(TargetdError):
            bind(m.func, bad)
    m = core.methods["export_create"]
    with pytest.raises(TargetdError) as ei:
        bind(m.func, {"pool": "p", "vol": "v", "initiator_wwn": "iqn.x", "lun": 256})
    assert ei.value.code == -32602
    with pytest.raises(TargetdError):
        bind(m.func, {"pool": "p", "vol": "bad name", "initiator_wwn": "iqn.x", "lun": 0})
    m = core.methods["access_group_map_create"]
    assert bind(m.func, {"pool_name": "p", "vol_name": "v", "ag_name": "g", "h_lun_id": None})


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as ei:
        _core(tmp_path, target_name="not an iqn", portal_addresses=["nowhere"])
    text = "\n".join(ei.value.problems)
    assert "target_name" in text and "portal_addresses" in text


def test_serve_hook_restores(tmp_path: Path, monkeypatch) -> None:
    from targetd_lio import plugin

    from targetd_core.plugins import serve_hooks

    core, _ = _core(tmp_path)
    calls = []
    monkeypatch.setattr(plugin.LioExports, "restore", lambda self: calls.append(1) or {})
    serve_hooks(core)
    assert calls == []  # no state file: LIO is not touched
    (tmp_path / "lio.json").write_text('{"version": 1, "acls": {}, "auth": {}}')
    serve_hooks(core)
    assert calls == [1]
