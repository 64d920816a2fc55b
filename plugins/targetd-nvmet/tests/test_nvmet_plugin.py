"""The plugin as the core loads it (targetd_core.testing): config keys, methods,
parameter checking, the serve step."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetd_core import testing

METHODS = {
    "nvme_export_list",
    "nvme_export_create",
    "nvme_export_destroy",
    "nvme_host_list",
    "nvme_host_set_auth",
    "nvme_host_clear_auth",
}


def _config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"nvmet_state_file": str(tmp_path / "nvmet.json"), **extra}


def _build(tmp_path: Path, **extra: object) -> testing.InProcess:
    return testing.build(_config(tmp_path, **extra), ["nvmet"], tmp_path / "run")


def test_registers_methods_and_handler(tmp_path: Path) -> None:
    t = _build(tmp_path)
    core = t.core
    assert t.warnings == []
    assert set(core.methods) >= METHODS
    assert [h.name for h in core.export_handlers] == ["nvme"]
    readonly = {n for n in METHODS if not core.methods[n].changes_storage}
    assert readonly == {"nvme_export_list", "nvme_host_list"}
    assert set(core.methods["nvme_host_set_auth"].secret_params) == {"host_key", "ctrl_key"}
    assert core.plugins["nvmet"].config_keys == [
        "nvme_subsystem_prefix",
        "nvme_addresses",
        "nvme_port",
        "nvmet_state_file",
    ]
    # the export codes it answers are the core's (shared with iSCSI), not its own
    assert core.plugins["nvmet"].error_codes == []
    assert core.error_codes[-151].plugin == core.error_codes[-1000].plugin == "core"


def test_parameter_types(tmp_path: Path) -> None:
    t = _build(tmp_path)
    nqn = "nqn.2014-08.org.example:h"
    testing.assert_error(-110, t.call, "nvme_export_create", pool="p", vol="v", host_nqn=nqn)
    testing.assert_error(
        -32602, t.call, "nvme_export_create", pool="p", vol="bad name", host_nqn=nqn
    )
    testing.assert_error(
        -32602, t.call, "nvme_export_create", pool="p", vol="v", host_nqn=nqn, nsid="1"
    )


def test_config_errors(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        _config(
            tmp_path,
            nvme_addresses=["nowhere"],
            nvme_port=70000,
            nvme_subsystem_prefix="not an nqn",
        ),  # fmt: skip
        ["nvmet"],
        tmp_path / "run",
    )
    text = "\n".join(problems)
    assert "nvme_addresses" in text and "nvme_port" in text and "nvme_subsystem_prefix" in text


def test_default_prefix_is_a_valid_nqn(monkeypatch: pytest.MonkeyPatch) -> None:
    from targetd_nvmet import naming, plugin

    monkeypatch.setattr(plugin.socket, "gethostname", lambda: "Storage_1.Example")
    prefix = plugin.default_prefix()
    assert naming.check_subsystem_prefix(prefix) == prefix


def test_serve_step_restores_only_with_a_state_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from targetd_nvmet import plugin

    t = _build(tmp_path)
    calls = []
    monkeypatch.setattr(plugin.NvmetExports, "restore", lambda self: calls.append(1) or {})
    t.serve()
    assert calls == []  # no state file: nvmet is not touched
    (tmp_path / "nvmet.json").write_text('{"version": 1, "hosts": {}}')
    t.serve()
    assert calls == [1]
