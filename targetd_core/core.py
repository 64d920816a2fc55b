"""The core: what the loaded plugins contributed, read-only once built.

One :class:`Core` exists per daemon. The loader (:mod:`targetd_core.loader`) fills it
from every plugin's ``register`` calls and then freezes it: after that nothing can be
added, replaced or assigned. Plugins reach it as ``register.core`` and use its narrow
accessors: the configuration, the storage lock, and the pools other plugins own (an
export handler asks the owning pool for a volume's device path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .config import Config
from .errors import Code, ErrorCode, TargetdError, core_error_codes
from .locking import StorageLock
from .methods import RpcMethod
from .pools import BlockPool, ExportHandler, FileSystem, FsPool
from .undo import undo_all

#: What a plugin gives ``register.on_fs_destroy``: called with the directories of a file
#: system about to be destroyed; returns what puts things back, or None.
FsDestroyStep = Callable[[list[str]], Callable[[], None] | None]


@dataclass
class PluginInfo:
    """What ``targetd plugins`` shows about one plugin."""

    name: str
    version: str
    distribution: str = ""
    block_pools: list[str] = field(default_factory=list)
    fs_pools: list[str] = field(default_factory=list)
    export_handlers: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    config_keys: list[str] = field(default_factory=list)
    error_codes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredCode:
    """An error code in the core's table, with the plugin that declared it."""

    code: ErrorCode
    plugin: str


class FrozenError(AttributeError):
    """Something tried to change the core after it was built."""


class Core:
    """The daemon's pools, export handlers, methods and error codes, with the
    configuration and the storage lock.

    Built directly (as unit tests of a plugin's internals do) it holds what the keyword
    arguments give and is frozen at once; the loader builds it step by step.
    """

    def __init__(
        self,
        config: Config,
        lock: StorageLock,
        *,
        block_pools: Iterable[BlockPool] = (),
        fs_pools: Iterable[FsPool] = (),
        export_handlers: Iterable[ExportHandler] = (),
        _building: bool = False,
    ) -> None:
        self._config = config
        self._lock = lock
        self._block_pools: dict[str, BlockPool] = {p.name: p for p in block_pools}
        self._fs_pools: dict[str, FsPool] = {p.name: p for p in fs_pools}
        self._export_handlers: list[ExportHandler] = list(export_handlers)
        self._methods: dict[str, RpcMethod] = {}
        self._plugins: dict[str, PluginInfo] = {}
        self._pool_owner: dict[str, str] = {}
        self._error_codes: dict[int, RegisteredCode] = {
            int(c): RegisteredCode(c, "core") for c in core_error_codes()
        }
        self._serve_steps: list[tuple[str, Callable[[], None]]] = []
        self._fs_destroy_steps: list[tuple[str, FsDestroyStep]] = []
        self._hook: Any = None  # the plugin manager's hook relay, set by the loader
        self._frozen = not _building

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen"):
            raise FrozenError(f"the core is read-only once built (cannot set {name!r})")
        super().__setattr__(name, value)

    def _freeze(self) -> None:
        self._frozen = True

    # -- read-only views -------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The checked configuration (every declared key has a value)."""
        return self._config

    @property
    def lock(self) -> StorageLock:
        """The storage lock every call holds (step out of it with ``lock.released()``)."""
        return self._lock

    @property
    def block_pools(self) -> Mapping[str, BlockPool]:
        return MappingProxyType(self._block_pools)

    @property
    def fs_pools(self) -> Mapping[str, FsPool]:
        return MappingProxyType(self._fs_pools)

    @property
    def pool_owner(self) -> Mapping[str, str]:
        """Pool name -> the plugin that registered it."""
        return MappingProxyType(self._pool_owner)

    @property
    def export_handlers(self) -> tuple[ExportHandler, ...]:
        return tuple(self._export_handlers)

    @property
    def methods(self) -> Mapping[str, RpcMethod]:
        return MappingProxyType(self._methods)

    @property
    def plugins(self) -> Mapping[str, PluginInfo]:
        return MappingProxyType(self._plugins)

    @property
    def error_codes(self) -> Mapping[int, RegisteredCode]:
        """Every error code a client may see from this daemon, by number."""
        return MappingProxyType(self._error_codes)

    # -- lookups with the contract's errors -------------------------------------------

    def block_pool(self, name: str) -> BlockPool:
        """The block pool named ``name``, or -110."""
        try:
            return self._block_pools[name]
        except (KeyError, TypeError):
            raise TargetdError(Code.INVALID_POOL, f"invalid block pool {name!r}") from None

    def fs_pool(self, name: str) -> FsPool:
        """The fs pool named ``name`` (a mount point; a trailing '/' is ignored), or -110."""
        pool = self._fs_pools.get(name) or self._fs_pools.get(name.rstrip("/") or "/")
        if pool is None:
            raise TargetdError(Code.INVALID_POOL, f"invalid fs pool {name!r}")
        return pool

    def find_fs(self, uuid: str) -> tuple[FsPool, FileSystem]:
        """The file system with this uuid in any fs pool, or -104."""
        for pool in self._fs_pools.values():
            for fs in pool.list_filesystems():
                if fs.uuid == uuid:
                    return pool, fs
        raise TargetdError(Code.FS_NOT_FOUND, f"no file system with uuid {uuid!r}")

    def volume_exported(self, pool: str, volume: str) -> bool:
        """True if any export handler still exports or maps the volume."""
        return any(h.volume_exported(pool, volume) for h in self._export_handlers)

    # -- the steps plugins registered, run through the plugin manager's hooks ---------

    def prepare_fs_destroy(self, paths: list[str]) -> list[Callable[[], None]]:
        """Let every plugin remove what refers to a file system about to be destroyed
        (hook ``targetd_fs_destroy``): the undo steps, in the order they were made."""
        if self._hook is None:
            results: list[Any] = [self._run_fs_destroy_steps(paths)]
        else:
            results = self._hook.targetd_fs_destroy(core=self, paths=paths)
        undo: list[Callable[[], None]] = []
        for r in results:
            if isinstance(r, list):
                undo += r
            elif r is not None:
                undo.append(r)
        return undo

    def _run_fs_destroy_steps(self, paths: list[str]) -> list[Callable[[], None]]:
        undo: list[Callable[[], None]] = []
        try:
            for _, step in self._fs_destroy_steps:
                u = step(paths)
                if u is not None:
                    undo.append(u)
        except BaseException:
            undo_all(undo)
            raise
        return undo

    def _run_serve_steps(self) -> None:
        for _, step in self._serve_steps:
            step()
