"""The plugin loader: discovers plugins, calls their hooks, builds the frozen Core.

Plugins are found through the ``targetd`` entry-point group. The built-in methods
(``pool_list``, volume and file system routing) are themselves a plugin, ``core``,
always loaded. The set of plugins can be narrowed with the ``plugins`` configuration
key or the ``TARGETD_PLUGINS`` environment variable (comma-separated names; it wins
over the file). Naming a plugin that is not installed is a start-up error.

Hooks are called through pluggy's hook callers, once per plugin for
``targetd_declare`` and ``targetd_register`` (each call gets an object made for that
plugin); every exception a plugin raises while loading or registering becomes a
:class:`StartupError` problem naming the plugin. ``TARGETD_TRACE_HOOKS=1`` logs
pluggy's trace of every hook call (debug level).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pluggy
import structlog

from . import builtin, hookspecs
from .config import CORE_OPTIONS, ConfigOption, check, load_file
from .core import Core, FsDestroyStep, PluginInfo, RegisteredCode
from .errors import ConfigError, ErrorCode, TargetdError, core_error_codes
from .filecheck import private_file_problems
from .locking import StorageLock
from .methods import RpcMethod
from .pools import BlockPool, ExportHandler, FsPool
from .registry import Declare, Register

ENTRY_POINT_GROUP = "targetd"
PLUGINS_ENV = "TARGETD_PLUGINS"
TRACE_ENV = "TARGETD_TRACE_HOOKS"
GUIDE = "docs/plugin-guide.md"

log = structlog.get_logger("targetd.loader")


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


def _plugin_failed(name: str, what: str, exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, TargetdError):
        return f"plugin {name!r}: {what}: {exc.message}"
    return f"plugin {name!r}: {what} failed: {type(exc).__name__}: {exc}"


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise StartupError([f"plugin {name!r}: {exc}"]) from None


def new_plugin_manager(env: Mapping[str, str] | None = None) -> pluggy.PluginManager:
    """A plugin manager with targetd's hooks and the built-in ``core`` plugin."""
    pm = pluggy.PluginManager("targetd")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="core")
    if (env if env is not None else os.environ).get(TRACE_ENV):
        pm.trace.root.setwriter(lambda text: log.debug("hook", trace=text.rstrip()))
        pm.enable_tracing()
    return pm


def check_hooks(pm: pluggy.PluginManager) -> None:
    """Refuse a plugin implementing a hook targetd does not have (a typo, or a hook of
    the first plugin API), naming it."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise StartupError(
            [
                f"plugin {name!r}: {exc} (targetd's hooks are targetd_declare, "
                f"targetd_register, targetd_fs_destroy and targetd_serve; see {GUIDE} "
                "for moving a plugin of the first API to them)"
            ]
        ) from None


def make_plugin_manager(
    wanted: Iterable[str] | None,
    env: Mapping[str, str] | None = None,
) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """Load the built-in plugin and the installed plugins in ``wanted`` (all if None)."""
    from . import __version__

    pm = new_plugin_manager(env)
    infos = {"core": PluginInfo("core", __version__, "targetd-core")}
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
        _register(pm, module, name)
        dist, version = _version(ep)
        infos[name] = PluginInfo(name, version, dist)
    check_hooks(pm)
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


def call_each(
    pm: pluggy.PluginManager,
    hook: str,
    order: Iterable[str],
    make: Callable[[str], dict[str, Any]],
    problems: list[str],
) -> None:
    """Call ``hook`` through pluggy once for each plugin implementing it (in ``order``),
    with the keyword arguments ``make(plugin)``. Other plugins' hook wrappers wrap each
    call. A plugin's exception becomes a problem naming it."""
    impls = getattr(pm.hook, hook).get_hookimpls()
    # (pluggy < 1.1, Debian 12's, has only old-style wrappers: no ``wrapper`` attribute)
    callers = {i.plugin_name for i in impls if not (getattr(i, "wrapper", False) or i.hookwrapper)}
    for name in order:
        if name not in callers:
            continue
        others = [pm.get_plugin(n) for n in callers if n != name]
        caller = pm.subset_hook_caller(hook, remove_plugins=others)
        try:
            caller(**make(name))
        except Exception as exc:
            problems.append(_plugin_failed(name, hook, exc))


class _Builder:
    """Receives what plugins declare and register (the sinks of registry.Declare and
    registry.Register) and checks it as it comes."""

    def __init__(self, infos: dict[str, PluginInfo], problems: list[str]) -> None:
        self.infos = infos
        self.problems = problems
        self.options: list[ConfigOption] = list(CORE_OPTIONS)
        self.codes: dict[int, RegisteredCode] = {}
        self.core: Core | None = None
        for code in core_error_codes():
            self.add_error_code("core", code)

    # Declare's sink
    def add_option(self, plugin: str, option: ConfigOption) -> None:
        if not isinstance(option, ConfigOption):
            raise TypeError(f"config_option takes ConfigOption values, got {option!r}")
        self.infos[plugin].config_keys.append(option.key)
        self.options.append(option)

    def add_error_code(self, plugin: str, code: ErrorCode) -> None:
        if not isinstance(code, ErrorCode):
            raise TypeError(f"error_code takes ErrorCode values, got {code!r}")
        other = self.codes.get(int(code))
        if other is not None:
            if other.plugin == plugin and other.code.name == code.name:
                return
            self.problems.append(
                f"error code {int(code)} is declared by two plugins: {other.plugin!r} "
                f"({other.code.name}) and {plugin!r} ({code.name})"
            )
            return
        self.codes[int(code)] = RegisteredCode(code, plugin)
        self.infos[plugin].error_codes.append(int(code))

    # Register's sink
    def _core(self) -> Core:
        assert self.core is not None
        return self.core

    def _pool(self, plugin: str, pool: BlockPool | FsPool, kind: str) -> None:
        core = self._core()
        table: dict[str, Any] = core._block_pools if kind == "block" else core._fs_pools
        owner = core._pool_owner.get(pool.name)
        if owner is not None:
            self.problems.append(
                f"pool {pool.name!r} is claimed by two plugins: {owner!r} and {plugin!r}"
            )
            return
        try:
            pool.check()
        except Exception as exc:
            if isinstance(exc, TargetdError):
                self.problems.append(f"{kind} pool {pool.name!r}: {exc.message}")
            else:
                self.problems.append(_plugin_failed(plugin, f"{kind} pool {pool.name!r}", exc))
        table[pool.name] = pool
        core._pool_owner[pool.name] = plugin
        getattr(self.infos[plugin], f"{kind}_pools").append(pool.name)

    def add_block_pool(self, plugin: str, pool: BlockPool) -> None:
        if not isinstance(pool, BlockPool):
            raise TypeError(f"block_pool takes BlockPool objects, got {pool!r}")
        self._pool(plugin, pool, "block")

    def add_fs_pool(self, plugin: str, pool: FsPool) -> None:
        if not isinstance(pool, FsPool):
            raise TypeError(f"fs_pool takes FsPool objects, got {pool!r}")
        self._pool(plugin, pool, "fs")

    def add_export_handler(self, plugin: str, handler: ExportHandler) -> None:
        if not isinstance(handler, ExportHandler):
            raise TypeError(f"export_handler takes ExportHandler objects, got {handler!r}")
        self._core()._export_handlers.append(handler)
        self.infos[plugin].export_handlers.append(handler.name)

    def add_method(self, plugin: str, method: RpcMethod) -> None:
        if not isinstance(method, RpcMethod):
            raise TypeError(f"rpc_method takes RpcMethod objects (see @rpc_method), got {method!r}")
        core = self._core()
        other = core._methods.get(method.name)
        if other is not None:
            self.problems.append(
                f"method {method.name!r} is registered by two plugins: "
                f"{other.plugin!r} and {plugin!r}"
            )
            return
        core._methods[method.name] = dataclasses.replace(method, plugin=plugin)
        self.infos[plugin].methods.append(method.name)

    def add_serve_step(self, plugin: str, step: Callable[[], None]) -> None:
        self._core()._serve_steps.append((plugin, step))

    def add_fs_destroy_step(self, plugin: str, step: FsDestroyStep) -> None:
        self._core()._fs_destroy_steps.append((plugin, step))

    def check_method_codes(self) -> None:
        core = self._core()
        for method in core._methods.values():
            unknown = [c for c in method.errors if c not in core._error_codes]
            if unknown:
                self.problems.append(
                    f"plugin {method.plugin!r}: method {method.name!r} lists error codes "
                    f"no plugin declares: {unknown} (declare them with "
                    "declare.error_code in targetd_declare)"
                )


def build_core(
    config_path: Path | None = None,
    raw: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Core, list[str]]:
    """Read and check the configuration, load the installed plugins, build the Core.

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
    pm, infos = make_plugin_manager(_wanted_plugins(raw, env), env)
    return build_from(pm, infos, raw, config_path, problems)


def build_from(
    pm: pluggy.PluginManager,
    infos: dict[str, PluginInfo],
    raw: Mapping[str, Any],
    config_path: Path | None = None,
    problems: list[str] | None = None,
) -> tuple[Core, list[str]]:
    """Build the Core from a plugin manager whose plugins are registered (``infos``
    names them, in calling order) and the raw configuration."""
    problems = [] if problems is None else problems
    builder = _Builder(infos, problems)
    call_each(pm, "targetd_declare", infos, lambda n: {"declare": Declare(n, builder)}, problems)
    config, errors, unknown = check(dict(raw), builder.options, config_path)
    problems += [str(e) for e in errors]
    warnings = [f"unknown configuration key {k!r} is ignored" for k in unknown]
    if problems:
        raise StartupError(problems, warnings)

    state_dir = Path(config["state_dir"])
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StartupError([f"state_dir: cannot create {state_dir}: {exc.strerror}"]) from None
    core = Core(config, StorageLock(state_dir / "storage.lock"), _building=True)
    core._error_codes.update(builder.codes)
    core._plugins.update(infos)
    builder.core = core
    call_each(
        pm,
        "targetd_register",
        infos,
        lambda n: {"register": Register(n, core, builder)},
        problems,
    )
    for path in config["fs_pools"]:
        if (path.rstrip("/") or "/") not in core._fs_pools and path not in core._fs_pools:
            problems.append(
                f"fs_pools: {path!r} is not a mounted file system that an installed plugin "
                "handles (is it mounted? is its type's plugin installed?)"
            )
    builder.check_method_codes()
    if problems:
        raise StartupError(problems, warnings)
    core._hook = pm.hook
    core._freeze()
    return core, warnings


def serve_hooks(core: Core) -> None:
    """Run the ``targetd_serve`` hook (the daemon is about to serve), holding the
    storage lock: every step plugins gave ``register.on_serve``."""
    with core.lock.hold(exclusive=True):
        if core._hook is None:
            core._run_serve_steps()
        else:
            core._hook.targetd_serve(core=core)


__all__ = [
    "ENTRY_POINT_GROUP",
    "StartupError",
    "build_core",
    "build_from",
    "discover",
    "make_plugin_manager",
    "new_plugin_manager",
    "serve_hooks",
]
