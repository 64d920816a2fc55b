"""Discovering plugins and building the :class:`~targetd_core.core.Core` from them.

Plugins are found through the ``targetd`` entry-point group. The built-in methods
(``pool_list``, volume and file system routing) are themselves a plugin, ``core``,
always loaded. The set of plugins can be narrowed with the ``plugins`` configuration
key or the ``TARGETD_PLUGINS`` environment variable (comma-separated names; it wins
over the file). Naming a plugin that is not installed is a start-up error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pluggy

from . import builtin, hookspecs
from .config import CORE_OPTIONS, ConfigOption, check, load_file
from .core import Core, PluginInfo
from .errors import ConfigError, TargetdError
from .filecheck import private_file_problems
from .locking import StorageLock

ENTRY_POINT_GROUP = "targetd"
PLUGINS_ENV = "TARGETD_PLUGINS"


class StartupError(Exception):
    """The daemon cannot start; ``problems`` lists every reason, each with its key."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.warnings = warnings or []


def discover() -> dict[str, EntryPoint]:
    """Installed plugins by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _version(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", "unknown"
    return dist.metadata["Name"], dist.version


def make_plugin_manager(
    wanted: Iterable[str] | None,
) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """Load the built-in plugin and the installed plugins in ``wanted`` (all if None)."""
    pm = pluggy.PluginManager("targetd")
    pm.add_hookspecs(hookspecs)
    from . import __version__

    infos = {"core": PluginInfo("core", __version__, "targetd-core")}
    pm.register(builtin, name="core")
    available = discover()
    names = sorted(available) if wanted is None else list(dict.fromkeys(wanted))
    unknown = [n for n in names if n not in available and n != "core"]
    if unknown:
        raise StartupError(
            [
                f"plugins: unknown plugin {n!r} (installed: "
                f"{', '.join(sorted(available)) or 'none'})"
                for n in unknown
            ]
        )
    for name in names:
        if name == "core":
            continue
        ep = available[name]
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not look like a config error
            raise StartupError([f"plugins: plugin {name!r} failed to load: {exc!r}"]) from exc
        pm.register(module, name=name)
        dist, version = _version(ep)
        infos[name] = PluginInfo(name, version, dist)
    return pm, infos


def _wanted_plugins(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[str] | None:
    if env.get(PLUGINS_ENV):
        return [n.strip() for n in env[PLUGINS_ENV].split(",") if n.strip()]
    wanted = raw.get("plugins")
    if wanted is None:
        return None
    if not isinstance(wanted, list) or not all(isinstance(n, str) for n in wanted):
        raise StartupError(["plugins: must be a list of plugin names"])
    return wanted


def _per_plugin(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a hook plugin by plugin, so each contribution is known with its plugin name."""
    out = []
    for hookimpl in getattr(pm.hook, hook).get_hookimpls():
        args = {k: v for k, v in kwargs.items() if k in hookimpl.argnames}
        for item in hookimpl.function(**args) or ():
            out.append((hookimpl.plugin_name, item))
    return out


def build_core(
    config_path: Path | None = None,
    raw: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Core, list[str]]:
    """Read and check the configuration, load plugins, build the Core.

    Returns the core and the warnings to log. Raises :class:`StartupError` listing every
    problem found.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    if raw is None:
        assert config_path is not None
        # The file holds the password: refused unless private to the daemon's user.
        problems += private_file_problems(config_path, "(file)", "the configuration file")
        try:
            raw = load_file(config_path)
        except ConfigError as exc:
            raise StartupError([*problems, str(exc)]) from None
    # A legacy single-pool key etc. may be declared by a plugin; the core only needs
    # "plugins" before it can know which keys exist.
    pm, infos = make_plugin_manager(_wanted_plugins(raw, env))
    options: list[ConfigOption] = list(CORE_OPTIONS)
    for name, opt in _per_plugin(pm, "targetd_config_options"):
        infos[name].config_keys.append(opt.key)
        options.append(opt)
    config, errors, unknown = check(raw, options, config_path)
    problems += [str(e) for e in errors]
    warnings = [f"unknown configuration key {k!r} is ignored" for k in unknown]
    if problems:
        raise StartupError(problems, warnings)

    state_dir = Path(config["state_dir"])
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StartupError([f"state_dir: cannot create {state_dir}: {exc.strerror}"]) from None
    core = Core(config, StorageLock(state_dir / "storage.lock"))
    core.plugins = infos

    def collect(hook: str) -> list[tuple[str, Any]]:
        try:
            return _per_plugin(pm, hook, core=core)
        except ConfigError as exc:
            problems.append(str(exc))
        except TargetdError as exc:
            problems.append(f"{hook}: {exc.message}")
        return []

    for kind, hook, table in (
        ("block", "targetd_block_pools", core.block_pools),
        ("fs", "targetd_fs_pools", core.fs_pools),
    ):
        for plugin, pool in collect(hook):
            owner = core.pool_owner.get(pool.name)
            if owner is not None:
                problems.append(
                    f"pool {pool.name!r} is claimed by two plugins: {owner!r} and {plugin!r}"
                )
                continue
            try:
                pool.check()
            except ConfigError as exc:
                problems.append(str(exc))
            except TargetdError as exc:
                problems.append(f"{kind} pool {pool.name!r}: {exc.message}")
            table[pool.name] = pool
            core.pool_owner[pool.name] = plugin
            getattr(infos[plugin], f"{kind}_pools").append(pool.name)
    for path in config["fs_pools"]:
        if (path.rstrip("/") or "/") not in core.fs_pools and path not in core.fs_pools:
            problems.append(
                f"fs_pools: {path!r} is not a mounted file system that an installed plugin "
                "handles (is it mounted? is its type's plugin installed?)"
            )
    for plugin, handler in collect("targetd_export_handlers"):
        core.export_handlers.append(handler)
        infos[plugin].export_handlers.append(handler.name)
    for plugin, method in collect("targetd_rpc_methods"):
        other = core.methods.get(method.name)
        if other is not None:
            problems.append(
                f"method {method.name!r} is registered by two plugins: "
                f"{other.plugin!r} and {plugin!r}"
            )
            continue
        method.plugin = plugin
        core.methods[method.name] = method
        infos[plugin].methods.append(method.name)
    if problems:
        raise StartupError(problems, warnings)
    core.hook = pm.hook
    return core, warnings


def serve_hooks(core: Core) -> None:
    """Run every plugin's ``targetd_serve`` hook (the daemon is about to serve)."""
    with core.lock.hold(exclusive=True):
        core.hook.targetd_serve(core=core)
