"""A kit for testing plugins in-process: no HTTP, no root, no gunicorn.

Build a core from a configuration dict and plugin modules, then call methods the way a
client does: each call goes through the daemon's real JSON-RPC dispatcher (parameter
checks, the storage lock, the contract's error codes)::

    from targetd_core import testing
    from targetd_example import plugin

    def test_echo(tmp_path):
        t = testing.build({"example_file_pools": [str(tmp_path)]}, [plugin], tmp_path)
        assert t.call("example_echo", text="hi") == {"text": "hi", "name": None}
        testing.assert_error(-32602, t.call, "example_echo", text=1)

A configuration the plugins refuse raises :class:`~targetd_core.loader.StartupError`;
:func:`startup_problems` returns its problems.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from .core import Core, PluginInfo
from .errors import TargetdError
from .loader import (
    StartupError,
    _register,
    build_from,
    check_hooks,
    discover,
    new_plugin_manager,
    serve_hooks,
)
from .rpc import CallContext, Dispatcher

__all__ = [
    "InProcess",
    "StartupError",
    "assert_error",
    "build",
    "record_attach",
    "startup_problems",
]

#: What tests use for the password the core requires.
PASSWORD = "test-password"

PluginSpec = object | str


def _name_of(plugin: object) -> str:
    module = getattr(plugin, "__name__", type(plugin).__name__)
    first = module.split(".")[0]
    return first.removeprefix("targetd_").replace("_", "-")


def _resolve(plugins: Mapping[str, object] | Iterable[PluginSpec]) -> dict[str, object]:
    if isinstance(plugins, Mapping):
        return dict(plugins)
    out: dict[str, object] = {}
    installed: dict[str, Any] | None = None
    for p in plugins:
        if isinstance(p, str):  # an installed plugin, by its entry-point name
            installed = installed if installed is not None else discover()
            if p not in installed:
                raise ValueError(f"plugin {p!r} is not installed ({sorted(installed)})")
            out[p] = installed[p].load()
        else:
            out[_name_of(p)] = p
    return out


class InProcess:
    """A built core and a client that calls it through the real dispatcher."""

    def __init__(self, core: Core, warnings: list[str]) -> None:
        self.core = core
        self.warnings = warnings
        self.dispatcher = Dispatcher(core)
        self._ids = itertools.count(1)

    def rpc(self, method: str, params: Any = None) -> dict[str, Any]:
        """The whole JSON-RPC reply object to one request (as the client decodes it)."""
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": next(self._ids)}
        if params is not None:
            request["params"] = params
        return self.batch([request])[0]

    def batch(self, requests: list[Any]) -> list[dict[str, Any]]:
        """The replies to a batch (notifications get none)."""
        reply = self.dispatcher.handle(json.dumps(requests).encode(), CallContext("test"))
        out: list[dict[str, Any]] = json.loads(json.dumps(reply)) if reply is not None else []
        return out if isinstance(out, list) else [out]

    def call(self, method: str, **params: Any) -> Any:
        """The result of a call; a JSON-RPC error is raised as a TargetdError."""
        reply = self.rpc(method, params)
        if "error" in reply:
            e = reply["error"]
            raise TargetdError(e["code"], e["message"], e.get("data"))
        return reply["result"]

    def serve(self) -> None:
        """Run what the daemon runs before it serves (``register.on_serve`` steps)."""
        serve_hooks(self.core)


def build(
    config: Mapping[str, Any],
    plugins: Mapping[str, object] | Iterable[PluginSpec],
    state_dir: Path | str | None = None,
) -> InProcess:
    """A core with the built-in plugin and ``plugins`` (modules or objects with hook
    implementations; a string names an installed plugin; a mapping gives the names).

    ``config`` is what the configuration file would hold; ``password`` and
    ``state_dir`` (``state_dir`` argument, else a new temporary directory) are filled
    in when absent. Raises StartupError as the daemon would refuse to start.
    """
    raw = dict(config)
    raw.setdefault("password", PASSWORD)
    if "state_dir" not in raw:
        raw["state_dir"] = str(state_dir or tempfile.mkdtemp(prefix="targetd-test-"))
    from . import __version__

    pm = new_plugin_manager({})
    infos = {"core": PluginInfo("core", __version__, "targetd-core")}
    for name, plugin in _resolve(plugins).items():
        _register(pm, plugin, name)
        infos[name] = PluginInfo(name, "test")
    check_hooks(pm)
    core, warnings = build_from(pm, infos, raw)
    return InProcess(core, warnings)


def startup_problems(
    config: Mapping[str, Any],
    plugins: Mapping[str, object] | Iterable[PluginSpec],
    state_dir: Path | str | None = None,
) -> list[str]:
    """The problems a daemon with this configuration and plugins refuses to start for
    (fails the test if it would start)."""
    try:
        build(config, plugins, state_dir)
    except StartupError as exc:
        return exc.problems
    raise AssertionError("the core was built; expected a start-up error")


def assert_error(code: int, call: Callable[..., Any], *args: Any, **kwargs: Any) -> TargetdError:
    """Call ``call(*args, **kwargs)`` and check it raises a TargetdError with ``code``;
    returns the error (to check its message). Plain assertions: any test runner works,
    and the core needs no test framework installed."""
    try:
        result = call(*args, **kwargs)
    except TargetdError as exc:
        if exc.code != int(code):
            raise AssertionError(
                f"expected error {int(code)}, got {exc.code}: {exc.message}"
            ) from exc
        return exc
    raise AssertionError(f"expected error {int(code)}, got the result {result!r}")


def record_attach(pool: Any) -> list[tuple[str, str]]:
    """Make a test's block pool record its ``attach``/``detach`` calls, in order, as
    ``("attach", volume)`` / ``("detach", volume)``; ``attach`` still answers the pool's
    ``device_path``. For an export handler's test: a volume is attached for its first
    export and detached after its last."""
    calls: list[tuple[str, str]] = []
    device_path = pool.device_path

    def attach(name: str) -> str:
        calls.append(("attach", name))
        return cast(str, device_path(name))

    pool.attach = attach
    pool.detach = lambda name: calls.append(("detach", name))
    return calls
