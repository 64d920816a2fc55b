"""A btrfs fs pool: file systems are subvolumes, snapshots read-only subvolumes.

The on-disk layout is the old daemon's, so a host keeps its file systems when it moves
to this one::

    <pool>/targetd_fs/<fs>            a file system (a subvolume)
    <pool>/targetd_ss/<fs>/<snapshot> a read-only snapshot of <fs>

``targetd_fs`` and ``targetd_ss`` are plain directories. Nothing about the storage is
cached: every call asks btrfs (one ``subvolume list`` for all file systems, plus one
``qgroup show`` for their quotas).
"""

from __future__ import annotations

import contextlib
import os
import uuid as uuidlib
from collections.abc import Callable

import structlog

from targetd_core.plugin import (
    Code,
    ConfigError,
    FileSystem,
    FsPool,
    PoolInfo,
    Snapshot,
    TargetdError,
    check_name,
    run,
)

from .parse import Mount, Qgroup, Subvolume, parse_qgroup_show, parse_subvolume_list

log = structlog.get_logger("targetd.btrfs")

FS_DIR = "targetd_fs"
SS_DIR = "targetd_ss"
#: Namespace for pool uuids of pools that are not the top of their file system.
POOL_UUID_NS = uuidlib.UUID("6f1d7a52-4a0e-4b5e-9a57-3b1f2f1b7c11")
#: Environment for btrfs: it prints creation times in local time, without a zone.
UTC_ENV = {"TZ": "UTC"}


def _btrfs(*args: str) -> str:
    return run(["btrfs", *args], env=UTC_ENV).stdout


class BtrfsPool(FsPool):
    """A configured ``fs_pools`` entry that lives on btrfs.

    ``path`` is the resolved directory; ``mount`` the mount holding it (from findmnt);
    ``released`` steps out of the core's storage lock for long waits.
    """

    def __init__(
        self,
        name: str,
        path: str,
        mount: Mount,
        released: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
    ) -> None:
        super().__init__(name)
        self.path = path
        self.mount = mount
        self._released = released or contextlib.nullcontext
        rel = os.path.relpath(path, mount.target)
        root = os.path.normpath(os.path.join(mount.fsroot, rel)).strip("/")
        #: The pool's path from the top of the btrfs tree, "" or ending in "/".
        self.tree_prefix = f"{root}/" if root and root != "." else ""
        if not self.tree_prefix and mount.uuid:
            self.uuid = mount.uuid
        else:
            self.uuid = str(uuidlib.uuid5(POOL_UUID_NS, f"{mount.uuid}:{self.tree_prefix}"))

    # -- paths (every name is checked before it becomes part of a path) --------------

    def fs_path(self, name: str) -> str:
        return os.path.join(self.path, FS_DIR, check_name(name, "file system name"))

    def ss_dir(self, fs_name: str) -> str:
        return os.path.join(self.path, SS_DIR, check_name(fs_name, "file system name"))

    def ss_path(self, fs_name: str, ss_name: str) -> str:
        return os.path.join(self.ss_dir(fs_name), check_name(ss_name, "snapshot name"))

    def _relative(self, sv: Subvolume) -> list[str] | None:
        """The subvolume's path components below the pool, or None if outside it."""
        if not sv.path.startswith(self.tree_prefix):
            return None
        return sv.path[len(self.tree_prefix) :].split("/")

    # -- start-up -------------------------------------------------------------------

    def check(self) -> None:
        what = f"{self.name!r} (btrfs)"
        if self.mount.read_only:
            raise ConfigError("fs_pools", f"{what} is mounted read-only")
        try:
            _btrfs("subvolume", "list", "-a", self.path)
        except TargetdError as exc:
            raise ConfigError("fs_pools", f"{what} is not usable: {exc.message}") from None
        for sub in (FS_DIR, SS_DIR):
            d = os.path.join(self.path, sub)
            try:
                os.makedirs(d, mode=0o755, exist_ok=True)
            except OSError as exc:
                raise ConfigError("fs_pools", f"{what}: cannot create {d}: {exc}") from None
            if os.path.islink(d) or not os.path.isdir(d):
                raise ConfigError("fs_pools", f"{what}: {d} is not a directory")

    # -- listings -------------------------------------------------------------------

    def _subvolumes(self, snapshots_only: bool = False) -> list[Subvolume]:
        args = ["subvolume", "list", "-a", "-u", "-q"]
        if snapshots_only:
            args.append("-s")
        return parse_subvolume_list(_btrfs(*args, self.path))

    def _qgroups(self) -> dict[int, Qgroup]:
        """Level-0 qgroups by subvolume id; empty when quotas are off."""
        proc = run(["btrfs", "qgroup", "show", "--raw", "-r", "-e", self.path], check=False)
        if proc.returncode != 0:
            if "not enabled" in proc.stderr:
                return {}
            raise TargetdError(Code.UNEXPECTED, f"btrfs qgroup show failed: {proc.stderr.strip()}")
        return parse_qgroup_show(proc.stdout)

    def _statvfs(self) -> tuple[int, int]:
        st = os.statvfs(self.path)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def info(self) -> PoolInfo:
        size, free = self._statvfs()
        return PoolInfo(self.name, size, min(free, size), "fs", self.uuid)

    def _fs_subvolumes(self) -> list[tuple[str, Subvolume]]:
        out = []
        for sv in self._subvolumes():
            parts = self._relative(sv)
            if parts and len(parts) == 2 and parts[0] == FS_DIR and _valid(parts[1]):
                out.append((parts[1], sv))
        return out

    def list_filesystems(self) -> list[FileSystem]:
        subvols = self._fs_subvolumes()
        if not subvols:
            return []
        qgroups = self._qgroups()
        size, free = self._statvfs()
        out = []
        for name, sv in subvols:
            total, avail = size, free
            q = qgroups.get(sv.id)
            if q is not None and q.max_referenced is not None:
                total = q.max_referenced
                avail = max(0, min(q.max_referenced - q.referenced, free))
            out.append(
                FileSystem(
                    name=name,
                    uuid=sv.uuid,
                    total_space=total,
                    free_space=min(avail, total),
                    pool=self.name,
                    # resolved, so it is the path NFS exports are listed under
                    full_path=os.path.join(self.path, FS_DIR, name),
                )
            )
        return out

    def _snapshot_subvolumes(self, fs_name: str | None) -> list[tuple[str, str, Subvolume]]:
        """(fs name, snapshot name, subvolume) of the snapshots of one fs (or of all)."""
        out = []
        for sv in self._subvolumes(snapshots_only=True):
            parts = self._relative(sv)
            if not parts or len(parts) != 3 or parts[0] != SS_DIR:
                continue
            if (fs_name is None or parts[1] == fs_name) and _valid(parts[1]) and _valid(parts[2]):
                out.append((parts[1], parts[2], sv))
        return out

    def list_snapshots(self, fs: FileSystem) -> list[Snapshot]:
        return [
            Snapshot(name=ss, uuid=sv.uuid, timestamp=sv.otime or 0)
            for _, ss, sv in self._snapshot_subvolumes(fs.name)
        ]

    # -- changes --------------------------------------------------------------------

    def _ensure_dirs(self) -> None:
        for sub in (FS_DIR, SS_DIR):
            os.makedirs(os.path.join(self.path, sub), mode=0o755, exist_ok=True)

    def create_fs(self, name: str, size_bytes: int) -> None:
        path = self.fs_path(name)
        self._ensure_dirs()
        _btrfs("subvolume", "create", path)
        if size_bytes > 0:
            try:
                # Idempotent: a no-op when quotas are already on. The first time, the
                # kernel rescans the whole file system (costly on a big one).
                _btrfs("quota", "enable", self.path)
                _btrfs("qgroup", "limit", str(size_bytes), path)
            except TargetdError:
                self._delete([path])
                raise

    def fs_paths(self, fs: FileSystem) -> list[str]:
        return [fs.full_path, self.ss_dir(fs.name)]

    def destroy_fs(self, fs: FileSystem) -> None:
        snaps = self._snapshot_subvolumes(fs.name)
        paths = [self.ss_path(fs.name, ss) for _, ss, _ in snaps]
        paths.append(self.fs_path(fs.name))
        ids = [sv.id for _, _, sv in snaps]
        ids += [sv.id for n, sv in self._fs_subvolumes() if n == fs.name]
        self._delete(paths)
        with contextlib.suppress(OSError):
            os.rmdir(self.ss_dir(fs.name))
        self._clear_stale(ids)

    def clone_fs(self, fs: FileSystem, dest_name: str, snapshot: Snapshot | None) -> None:
        """A writable snapshot. It keeps the source's quota: btrfs copies the qgroup
        limit of the source into the new subvolume's qgroup."""
        src = self.fs_path(fs.name) if snapshot is None else self.ss_path(fs.name, snapshot.name)
        self._ensure_dirs()
        _btrfs("subvolume", "snapshot", src, self.fs_path(dest_name))

    def snapshot_fs(self, fs: FileSystem, name: str) -> None:
        dest_dir = self.ss_dir(fs.name)
        dest = self.ss_path(fs.name, name)
        created = not os.path.isdir(dest_dir)
        os.makedirs(dest_dir, mode=0o755, exist_ok=True)
        try:
            _btrfs("subvolume", "snapshot", "-r", self.fs_path(fs.name), dest)
        except TargetdError:
            if created:
                with contextlib.suppress(OSError):
                    os.rmdir(dest_dir)
            raise

    def delete_snapshot(self, fs: FileSystem, snapshot: Snapshot) -> None:
        ids = [sv.id for _, ss, sv in self._snapshot_subvolumes(fs.name) if ss == snapshot.name]
        self._delete([self.ss_path(fs.name, snapshot.name)])
        with contextlib.suppress(OSError):
            os.rmdir(self.ss_dir(fs.name))  # only if it was the last one
        self._clear_stale(ids)

    def _delete(self, paths: list[str]) -> None:
        if paths:
            _btrfs("subvolume", "delete", "-c", *paths)

    def _clear_stale(self, ids: list[int]) -> None:
        """Drop the qgroups of deleted subvolumes, once btrfs has cleaned them up."""
        if not ids or not self._quota_enabled():
            return
        with self._released():
            # The subvolumes are gone from every listing already; waiting for the
            # cleaner need not block other calls.
            _btrfs("subvolume", "sync", self.path, *map(str, ids))
        proc = run(["btrfs", "qgroup", "clear-stale", self.path], check=False)
        if proc.returncode != 0:
            log.warning("btrfs qgroup clear-stale failed", pool=self.name, error=proc.stderr)

    def _quota_enabled(self) -> bool:
        proc = run(["btrfs", "qgroup", "show", "--raw", self.path], check=False)
        return proc.returncode == 0


def _valid(name: str) -> bool:
    try:
        check_name(name)
    except TargetdError:
        return False
    return True
