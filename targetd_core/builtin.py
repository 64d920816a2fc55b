"""The core's own RPC methods, registered as the built-in plugin ``core``.

:class:`StorageMethods` holds them, one method each (``vol_create`` is
``StorageMethods.vol_create``).

The core owns ``pool_list`` and every call that names a pool or a file system: it
checks what the contract lets it check generically (unknown pool, name in use or
missing, size not larger, volume still exported) and routes the call to the pool
object of the plugin that owns the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import pluggy

from .core import Core
from .errors import Code, TargetdError
from .introspect import openrpc_document
from .methods import RpcMethod, rpc_method
from .params import Name, PoolName, Size
from .pools import (
    BlockPool,
    FileSystem,
    FileSystemEntry,
    FsPool,
    PoolEntry,
    Snapshot,
    SnapshotEntry,
    Volume,
    VolumeEntry,
)
from .registry import Register
from .undo import undo_all

impl = pluggy.HookimplMarker("targetd")

E = Code
F = TypeVar("F", bound=Callable[..., Any])
_RPC = "__targetd_rpc__"


def _rpc(name: str | None = None, **flags: Any) -> Callable[[F], F]:
    """Mark a method of :class:`StorageMethods` as an RPC method (see rpc_method)."""

    def mark(func: F) -> F:
        setattr(func, _RPC, (name or func.__name__, flags))
        return func

    return mark


def _not_found(pool: BlockPool, name: str) -> TargetdError:
    return TargetdError(E.VOLUME_NOT_FOUND, f"volume {name!r} not found in pool {pool.name!r}")


def _name_taken(pool: BlockPool, name: str) -> TargetdError:
    return TargetdError(E.NAME_CONFLICT, f"volume {name!r} already exists in pool {pool.name!r}")


def _volume(pool: BlockPool, name: str) -> Volume:
    vol = pool.get_volume(name)
    if vol is None:
        raise _not_found(pool, name)
    return vol


def _free_volume_name(pool: BlockPool, name: str) -> None:
    if pool.get_volume(name) is not None:
        raise _name_taken(pool, name)


def _larger(size: int, current: int, what: str) -> None:
    if size <= current:
        raise TargetdError(
            E.INVALID_ARGUMENT,
            f"size {size} is not larger than {what}'s current size {current}",
        )


def _snapshot(pool: FsPool, fs: FileSystem, ss_uuid: str) -> Snapshot:
    for ss in pool.list_snapshots(fs):
        if ss.uuid == ss_uuid:
            return ss
    raise TargetdError(E.SNAPSHOT_NOT_FOUND, f"no snapshot with uuid {ss_uuid!r} of {fs.name!r}")


def _fs_name_free(pool: FsPool, name: str, code: Code) -> None:
    if any(fs.name == name for fs in pool.list_filesystems()):
        raise TargetdError(code, f"a file system named {name!r} exists in pool {pool.name!r}")


class StorageMethods:
    """The core's methods: pool_list, vol_*, fs_* and ss_list, and rpc.discover."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def rpc_methods(self) -> list[RpcMethod]:
        """Every method of this class marked with ``_rpc``, bound to this core."""
        out = []
        for attr in vars(type(self)).values():
            mark = getattr(attr, _RPC, None)
            if mark is not None:
                name, flags = mark
                out.append(rpc_method(name, **flags)(getattr(self, attr.__name__)))
        return out

    @_rpc(changes_storage=False)
    def pool_list(self) -> list[PoolEntry]:
        """Every configured pool, block and fs, with its size and free space."""
        pools: list[Any] = [*self.core.block_pools.values(), *self.core.fs_pools.values()]
        return [cast(PoolEntry, p.info().to_json()) for p in pools]

    @_rpc(changes_storage=False, errors=(E.INVALID_POOL,))
    def vol_list(self, pool: PoolName) -> list[VolumeEntry]:
        """The volumes of a block pool."""
        return [cast(VolumeEntry, v.to_json()) for v in self.core.block_pool(pool).list_volumes()]

    @_rpc(errors=(E.INVALID_POOL, E.NAME_CONFLICT))
    def vol_create(self, pool: PoolName, name: Name, size: Size) -> None:
        """Create a volume of ``size`` bytes."""
        if size == 0:
            raise TargetdError(E.INVALID_ARGUMENT, "size must be larger than 0")
        p = self.core.block_pool(pool)
        if not p.reports_name_conflicts:
            _free_volume_name(p, name)
        p.create_volume(name, size)

    @_rpc(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.VOLUME_MASKED))
    def vol_destroy(self, pool: PoolName, name: Name) -> None:
        """Destroy a volume and its data; refused while it is exported."""
        p = self.core.block_pool(pool)
        _volume(p, name)
        if self.core.volume_exported(p.name, name):
            raise TargetdError(
                E.VOLUME_MASKED,
                f"volume {name!r} is exported or mapped to an access group; "
                "remove its exports first",
            )
        for handler in self.core.export_handlers:
            handler.release_volume(p.name, name)
        p.destroy_volume(name)

    @_rpc(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.NAME_CONFLICT))
    def vol_copy(
        self,
        pool: PoolName,
        vol_orig: Name,
        vol_new: Name,
        size: Size | None = None,
        timeout: Any = None,
    ) -> None:
        """Create ``vol_new`` with the contents of ``vol_orig`` (grown to ``size``)."""
        p = self.core.block_pool(pool)
        volumes = {v.name: v for v in p.list_volumes()}  # one listing for both checks
        src = volumes.get(vol_orig)
        if src is None:
            raise _not_found(p, vol_orig)
        if vol_new in volumes:
            raise _name_taken(p, vol_new)
        if size is not None:
            _larger(size, src.size, vol_orig)
        p.copy_volume(vol_orig, vol_new, size)

    @_rpc(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND))
    def vol_resize(self, pool: PoolName, name: Name, size: Size) -> None:
        """Grow a volume to ``size`` bytes."""
        p = self.core.block_pool(pool)
        _larger(size, _volume(p, name).size, name)
        p.resize_volume(name, size)

    @_rpc(changes_storage=False)
    def fs_list(self) -> list[FileSystemEntry]:
        """Every file system of every fs pool."""
        return [
            cast(FileSystemEntry, fs.to_json())
            for p in self.core.fs_pools.values()
            for fs in p.list_filesystems()
        ]

    @_rpc(errors=(E.INVALID_POOL, E.FS_OR_SNAPSHOT_EXISTS))
    def fs_create(self, pool_name: PoolName, name: Name, size_bytes: Size) -> None:
        """Create a file system; ``size_bytes`` (0 for none) is its quota."""
        p = self.core.fs_pool(pool_name)
        _fs_name_free(p, name, E.FS_OR_SNAPSHOT_EXISTS)
        p.create_fs(name, size_bytes)

    @_rpc(errors=(E.FS_NOT_FOUND,))
    def fs_destroy(self, uuid: str) -> None:
        """Destroy a file system and every snapshot taken from it, and its NFS exports."""
        p, fs = self.core.find_fs(uuid)
        undo = self.core.prepare_fs_destroy(p.fs_paths(fs))
        try:
            p.destroy_fs(fs)
        except BaseException:
            undo_all(undo)
            raise

    @_rpc(errors=(E.FS_NOT_FOUND, E.SNAPSHOT_NOT_FOUND, E.FS_CLONE_EXISTS))
    def fs_clone(self, fs_uuid: str, dest_fs_name: Name, snapshot_id: str | None = None) -> None:
        """A writable copy of a file system, or of one of its snapshots."""
        p, fs = self.core.find_fs(fs_uuid)
        ss = _snapshot(p, fs, snapshot_id) if snapshot_id else None
        _fs_name_free(p, dest_fs_name, E.FS_CLONE_EXISTS)
        p.clone_fs(fs, dest_fs_name, ss)

    @_rpc(changes_storage=False, errors=(E.FS_NOT_FOUND,))
    def ss_list(self, fs_uuid: str) -> list[SnapshotEntry]:
        """The read-only snapshots of a file system."""
        p, fs = self.core.find_fs(fs_uuid)
        return [cast(SnapshotEntry, ss.to_json()) for ss in p.list_snapshots(fs)]

    @_rpc(errors=(E.FS_NOT_FOUND, E.FS_OR_SNAPSHOT_EXISTS))
    def fs_snapshot(self, fs_uuid: str, dest_ss_name: Name) -> None:
        """Take a read-only snapshot of a file system."""
        p, fs = self.core.find_fs(fs_uuid)
        if any(ss.name == dest_ss_name for ss in p.list_snapshots(fs)):
            raise TargetdError(
                E.FS_OR_SNAPSHOT_EXISTS, f"a snapshot named {dest_ss_name!r} of {fs.name!r} exists"
            )
        p.snapshot_fs(fs, dest_ss_name)

    @_rpc(errors=(E.FS_NOT_FOUND, E.SNAPSHOT_NOT_FOUND))
    def fs_snapshot_delete(self, fs_uuid: str, ss_uuid: str) -> None:
        """Delete a snapshot."""
        p, fs = self.core.find_fs(fs_uuid)
        p.delete_snapshot(fs, _snapshot(p, fs, ss_uuid))

    @_rpc("rpc.discover", changes_storage=False)
    def discover(self) -> dict[str, Any]:
        """An OpenRPC document describing every method of this daemon."""
        plugins = [n for n in self.core.plugins if n != "core"]
        return openrpc_document(
            self.core.methods,
            self.core.error_codes,
            f"plugins {', '.join(plugins)}" if plugins else "",
        )


@impl
def targetd_register(register: Register) -> None:
    register.rpc_methods(StorageMethods(register.core).rpc_methods())


@impl
def targetd_fs_destroy(core: Core, paths: list[str]) -> list[Callable[[], None]]:
    """Run the steps plugins gave ``register.on_fs_destroy``."""
    return core._run_fs_destroy_steps(paths)


@impl
def targetd_serve(core: Core) -> None:
    """Run the steps plugins gave ``register.on_serve``."""
    core._run_serve_steps()
