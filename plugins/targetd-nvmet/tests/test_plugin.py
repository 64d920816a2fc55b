"""The plugin as the core loads it: config keys, methods, parameter checking, start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetd_core.params import bind
from targetd_core.plugin import TargetdError
from targetd_core.plugins import StartupError, build_core

METHODS = {
    "nvme_export_list",
    "nvme_export_create",
    "nvme_export_destroy",
    "nvme_host_list",
    "nvme_host_set_auth",
    "nvme_host_clear_auth",
}


def _core(tmp_path: Path, **extra):
    raw = {
        "password": "x",
        "state_dir": str(tmp_path / "run"),
        "plugins": ["nvmet"],
        "nvmet_state_file": str(tmp_path / "nvmet.json"),
        **extra,
    }
    return build_core(raw=raw, env={})


def test_registers_methods_and_handler(tmp_path: Path) -> None:
    core, warnings = _core(tmp_path)
    assert warnings == []
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


def test_parameter_types(tmp_path: Path) -> None:
    core, _ = _core(tmp_path)
    m = core.methods["nvme_export_create"]
    assert bind(m.func, {"pool": "p", "vol": "v", "host_nqn": "nqn.2014-08.org.example:h"})
    with pytest.raises(TargetdError) as ei:
        bind(m.func, {"pool": "p", "vol": "bad name", "host_nqn": "nqn.2014-08.org.example:h"})
    assert ei.value.code == -32602
    with pytest.raises(TargetdError):
        bind(m.func, {"pool": "p", "vol": "v", "host_nqn": "h", "nsid": "1"})


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as ei:
        _core(tmp_path, nvme_addresses=["nowhere"], nvme_port=70000,
              nvme_subsystem_prefix="not an nqn")  # fmt: skip
    text = "\n".join(ei.value.problems)
    assert "nvme_addresses" in text and "nvme_port" in text and "nvme_subsystem_prefix" in text


def test_default_prefix_is_a_valid_nqn(monkeypatch) -> None:
    from targetd_nvmet import naming, plugin

    monkeypatch.setattr(plugin.socket, "gethostname", lambda: "Storage_1.Example")
    prefix = plugin.default_prefix()
    assert naming.check_subsystem_prefix(prefix) == prefix


def test_serve_hook_restores_only_with_a_state_file(tmp_path: Path, monkeypatch) -> None:
    from targetd_nvmet import plugin

    from targetd_core.plugins import serve_hooks

    core, _ = _core(tmp_path)
    calls = []
    monkeypatch.setattr(plugin.NvmetExports, "restore", lambda self: calls.append(1) or {})
    serve_hooks(core)
    assert calls == []  # no state file: nvmet is not touched
    (tmp_path / "nvmet.json").write_text('{"version": 1, "hosts": {}}')
    serve_hooks(core)
    assert calls == [1]
