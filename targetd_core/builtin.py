"""The core's own RPC methods, registered as the built-in plugin ``core``.

The core owns ``pool_list`` and every call that names a pool or a file system: it
checks what the contract lets it check generically (unknown pool, name in use or
missing, size not larger, volume still exported) and routes the call to the pool
object of the plugin that owns the pool.
"""

from __future__ import annotations

from typing import Any

import pluggy
import structlog

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
    SnapshotEntry,
    Volume,
    VolumeEntry,
)

impl = pluggy.HookimplMarker("targetd")

E = Code
log = structlog.get_logger("targetd.core")


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


def _snapshot(pool: FsPool, fs: FileSystem, ss_uuid: str):  # type: ignore[no-untyped-def]
    for ss in pool.list_snapshots(fs):
        if ss.uuid == ss_uuid:
            return ss
    raise TargetdError(E.SNAPSHOT_NOT_FOUND, f"no snapshot with uuid {ss_uuid!r} of {fs.name!r}")


def _fs_name_free(pool: FsPool, name: str, code: Code) -> None:
    if any(fs.name == name for fs in pool.list_filesystems()):
        raise TargetdError(code, f"a file system named {name!r} exists in pool {pool.name!r}")


def methods(core: Core) -> list[RpcMethod]:
    @rpc_method(changes_storage=False)
    def pool_list() -> list[PoolEntry]:
        """Every configured pool, block and fs, with its size and free space."""
        pools: list[Any] = [*core.block_pools.values(), *core.fs_pools.values()]
        return [p.info().to_json() for p in pools]  # type: ignore[misc]

    @rpc_method(changes_storage=False, errors=(E.INVALID_POOL,))
    def vol_list(pool: PoolName) -> list[VolumeEntry]:
        """The volumes of a block pool."""
        return [v.to_json() for v in core.block_pool(pool).list_volumes()]

    @rpc_method(errors=(E.INVALID_POOL, E.NAME_CONFLICT))
    def vol_create(pool: PoolName, name: Name, size: Size) -> None:
        """Create a volume of ``size`` bytes."""
        if size == 0:
            raise TargetdError(E.INVALID_ARGUMENT, "size must be larger than 0")
        p = core.block_pool(pool)
        if not p.reports_name_conflicts:
            _free_volume_name(p, name)
        p.create_volume(name, size)

    @rpc_method(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.VOLUME_MASKED))
    def vol_destroy(pool: PoolName, name: Name) -> None:
        """Destroy a volume and its data; refused while it is exported."""
        p = core.block_pool(pool)
        _volume(p, name)
        if core.volume_exported(p.name, name):
            raise TargetdError(
                E.VOLUME_MASKED,
                f"volume {name!r} is exported or mapped to an access group; "
                "remove its exports first",
            )
        for handler in core.export_handlers:
            handler.release_volume(p.name, name)
        p.destroy_volume(name)

    @rpc_method(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND, E.NAME_CONFLICT))
    def vol_copy(
        pool: PoolName,
        vol_orig: Name,
        vol_new: Name,
        size: Size | None = None,
        timeout: Any = None,
    ) -> None:
        """Create ``vol_new`` with the contents of ``vol_orig`` (grown to ``size``)."""
        p = core.block_pool(pool)
        volumes = {v.name: v for v in p.list_volumes()}  # one listing for both checks
        src = volumes.get(vol_orig)
        if src is None:
            raise _not_found(p, vol_orig)
        if vol_new in volumes:
            raise _name_taken(p, vol_new)
        if size is not None:
            _larger(size, src.size, vol_orig)
        p.copy_volume(vol_orig, vol_new, size)

    @rpc_method(errors=(E.INVALID_POOL, E.VOLUME_NOT_FOUND))
    def vol_resize(pool: PoolName, name: Name, size: Size) -> None:
        """Grow a volume to ``size`` bytes."""
        p = core.block_pool(pool)
        _larger(size, _volume(p, name).size, name)
        p.resize_volume(name, size)

    @rpc_method(changes_storage=False)
    def fs_list() -> list[FileSystemEntry]:
        """Every file system of every fs pool."""
        return [fs.to_json() for p in core.fs_pools.values() for fs in p.list_filesystems()]

    @rpc_method(errors=(E.INVALID_POOL, E.FS_OR_SNAPSHOT_EXISTS))
    def fs_create(pool_name: PoolName, name: Name, size_bytes: Size) -> None:
        """Create a file system; ``size_bytes`` (0 for none) is its quota."""
        p = core.fs_pool(pool_name)
        _fs_name_free(p, name, E.FS_OR_SNAPSHOT_EXISTS)
        p.create_fs(name, size_bytes)

    @rpc_method(errors=(E.FS_NOT_FOUND,))
    def fs_destroy(uuid: str) -> None:
        """Destroy a file system and every snapshot taken from it, and its NFS exports."""
        p, fs = core.find_fs(uuid)
        undo = [u for u in core.hook.targetd_fs_destroy(core=core, paths=p.fs_paths(fs)) if u]
        try:
            p.destroy_fs(fs)
        except BaseException:
            for step in reversed(undo):
                try:
                    step()
                except Exception as exc:  # keep going; the destroy's error is what counts
                    log.error("cannot restore after a failed fs_destroy", error=repr(exc))
            raise

    @rpc_method(errors=(E.FS_NOT_FOUND, E.SNAPSHOT_NOT_FOUND, E.FS_CLONE_EXISTS))
    def fs_clone(fs_uuid: str, dest_fs_name: Name, snapshot_id: str | None = None) -> None:
        """A writable copy of a file system, or of one of its snapshots."""
        p, fs = core.find_fs(fs_uuid)
        ss = _snapshot(p, fs, snapshot_id) if snapshot_id else None
        _fs_name_free(p, dest_fs_name, E.FS_CLONE_EXISTS)
        p.clone_fs(fs, dest_fs_name, ss)

    @rpc_method(changes_storage=False, errors=(E.FS_NOT_FOUND,))
    def ss_list(fs_uuid: str) -> list[SnapshotEntry]:
        """The read-only snapshots of a file system."""
        p, fs = core.find_fs(fs_uuid)
        return [ss.to_json() for ss in p.list_snapshots(fs)]

    @rpc_method(errors=(E.FS_NOT_FOUND, E.FS_OR_SNAPSHOT_EXISTS))
    def fs_snapshot(fs_uuid: str, dest_ss_name: Name) -> None:
        """Take a read-only snapshot of a file system."""
        p, fs = core.find_fs(fs_uuid)
        if any(ss.name == dest_ss_name for ss in p.list_snapshots(fs)):
            raise TargetdError(
                E.FS_OR_SNAPSHOT_EXISTS, f"a snapshot named {dest_ss_name!r} of {fs.name!r} exists"
            )
        p.snapshot_fs(fs, dest_ss_name)

    @rpc_method(errors=(E.FS_NOT_FOUND, E.SNAPSHOT_NOT_FOUND))
    def fs_snapshot_delete(fs_uuid: str, ss_uuid: str) -> None:
        """Delete a snapshot."""
        p, fs = core.find_fs(fs_uuid)
        p.delete_snapshot(fs, _snapshot(p, fs, ss_uuid))

    @rpc_method("rpc.discover", changes_storage=False)
    def discover() -> dict[str, Any]:
        """An OpenRPC document describing every method of this daemon."""
        return openrpc_document(core.methods)

    return [
        discover,
        pool_list,
        vol_list,
        vol_create,
        vol_destroy,
        vol_copy,
        vol_resize,
        fs_list,
        fs_create,
        fs_destroy,
        fs_clone,
        ss_list,
        fs_snapshot,
        fs_snapshot_delete,
    ]


@impl
def targetd_rpc_methods(core: Core) -> list[RpcMethod]:
    return methods(core)
