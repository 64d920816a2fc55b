"""The core's view of the loaded plugins: pools, export handlers, methods, the lock.

One :class:`Core` exists per daemon; plugins receive it in their hooks and use it to
reach pools owned by other plugins (an export handler asks the owning pool for a
volume's device path), to read the configuration, and to step out of the storage lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import Code, TargetdError
from .locking import StorageLock
from .methods import RpcMethod
from .pools import BlockPool, ExportHandler, FileSystem, FsPool


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


class Core:
    def __init__(self, config: Config, lock: StorageLock) -> None:
        self.config = config
        self.lock = lock
        self.block_pools: dict[str, BlockPool] = {}
        self.fs_pools: dict[str, FsPool] = {}
        self.export_handlers: list[ExportHandler] = []
        self.methods: dict[str, RpcMethod] = {}
        self.plugins: dict[str, PluginInfo] = {}
        #: pool name -> owning plugin name
        self.pool_owner: dict[str, str] = {}
        #: the plugin manager's hook caller (set once plugins are loaded)
        self.hook: Any = None

    def block_pool(self, name: str) -> BlockPool:
        """The block pool named ``name``, or -110."""
        try:
            return self.block_pools[name]
        except (KeyError, TypeError):
            raise TargetdError(Code.INVALID_POOL, f"invalid block pool {name!r}") from None

    def fs_pool(self, name: str) -> FsPool:
        """The fs pool named ``name`` (a mount point; a trailing '/' is ignored), or -110."""
        pool = self.fs_pools.get(name) or self.fs_pools.get(name.rstrip("/") or "/")
        if pool is None:
            raise TargetdError(Code.INVALID_POOL, f"invalid fs pool {name!r}")
        return pool

    def find_fs(self, uuid: str) -> tuple[FsPool, FileSystem]:
        """The file system with this uuid in any fs pool, or -104."""
        for pool in self.fs_pools.values():
            for fs in pool.list_filesystems():
                if fs.uuid == uuid:
                    return pool, fs
        raise TargetdError(Code.FS_NOT_FOUND, f"no file system with uuid {uuid!r}")

    def volume_exported(self, pool: str, volume: str) -> bool:
        """True if any export handler still exports or maps the volume."""
        return any(h.volume_exported(pool, volume) for h in self.export_handlers)
