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
import errno
import fcntl
import os
import struct
import uuid as uuidlib
from collections.abc import Callable, Iterator

import structlog

from targetd_core.plugin import (
    Code,
    ConfigError,
    FileSystem,
    FsPool,
    PoolInfo,
    Snapshot,
    TargetdError,
    check_component,
    check_name,
    run,
)

from .parse import Mount, Qgroup, Subvolume, parse_qgroup_show, parse_subvolume_list

log = structlog.get_logger("targetd.btrfs")

FS_DIR = "targetd_fs"
SS_DIR = "targetd_ss"
#: Prefix of a subvolume being made (see create_fs); never a valid fs name.
NEW_PREFIX = ".new-"
#: Namespace for pool uuids of pools that are not the top of their file system.
POOL_UUID_NS = uuidlib.UUID("6f1d7a52-4a0e-4b5e-9a57-3b1f2f1b7c11")
#: Environment for btrfs: it prints creation times in local time, without a zone.
UTC_ENV = {"TZ": "UTC"}


#: Waiting for btrfs's cleaner after a delete (done with the storage lock released).
SYNC_TIMEOUT = 3600.0
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Inode number of the root directory of every subvolume.
SUBVOL_ROOT_INO = 256
#: BTRFS_IOC_INO_LOOKUP = _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args /* 4096 */)
_IOC_INO_LOOKUP = (3 << 30) | (4096 << 16) | (0x94 << 8) | 18


def _btrfs(*args: str, fds: tuple[int, ...] = ()) -> str:
    return run(["btrfs", *args], env=UTC_ENV, pass_fds=fds).stdout


def _at(fd: int, name: str) -> str:
    """``name`` in the directory open as ``fd``, as a path a child process can use
    (it inherits ``fd``): the directory is the one we opened, whatever is renamed or
    replaced by a link meanwhile."""
    return f"/proc/self/fd/{fd}/{name}"


def subvolume_id(fd: int) -> int:
    """The id of the subvolume an open directory is in (BTRFS_IOC_INO_LOOKUP with
    tree id 0 answers it)."""
    buf = bytearray(4096)
    struct.pack_into("=QQ", buf, 0, 0, SUBVOL_ROOT_INO)
    fcntl.ioctl(fd, _IOC_INO_LOOKUP, buf)
    return int(struct.unpack_from("=Q", buf, 0)[0])


def _subvolume_here(dir_fd: int, name: str, expect_id: int | None = None) -> bool:
    """Is ``name`` in ``dir_fd`` a subvolume (not a link), with id ``expect_id``?"""
    try:
        fd = os.open(name, _O_DIR, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_ino != SUBVOL_ROOT_INO:
            return False
        return expect_id is None or subvolume_id(fd) == expect_id
    except OSError:
        return False
    finally:
        os.close(fd)


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

    @contextlib.contextmanager
    def _dir(self, *components: str, create: bool = False) -> Iterator[int]:
        """An open directory ``<pool>/<components...>``, each component opened without
        following a link (so a client that replaced one with a link to /etc cannot
        lead a path operation there), created first when ``create``. The pool's own
        path is the configured one, checked at start-up."""
        fds: list[int] = []
        where = self.path
        try:
            fds.append(os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
            for comp in components:
                where = os.path.join(where, check_component(comp))
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(comp, 0o755, dir_fd=fds[-1])
                try:
                    fds.append(os.open(comp, _O_DIR, dir_fd=fds[-1]))
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        log.error("not following a link in an fs pool", path=where)
                        raise TargetdError(
                            Code.UNEXPECTED,
                            f"{where} is not a directory (a symbolic link?); targetd does "
                            "not follow it: make it the directory it should be",
                        ) from None
                    raise
            yield fds[-1]
        finally:
            for fd in reversed(fds):
                os.close(fd)

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
        found = []
        for sv in self._subvolumes():
            parts = self._relative(sv)
            if parts and len(parts) == 2 and parts[0] == FS_DIR and _valid(parts[1]):
                found.append((parts[1], sv))
        return self._verified(found, FS_DIR)

    def _verified(
        self, found: list[tuple[str, Subvolume]], *where: str
    ) -> list[tuple[str, Subvolume]]:
        """Keep the listed subvolumes that are really there: a directory (no link) of
        that name, the root of a subvolume with the listed id, named once. A name
        crafted to look like a line of the listing cannot make an object visible."""
        if not found:
            return []
        try:
            with self._dir(*where) as dfd:
                ok = [(n, sv) for n, sv in found if _subvolume_here(dfd, n, sv.id)]
        except (OSError, TargetdError):
            return []
        names = [n for n, _ in ok]
        dup = {n for n in names if names.count(n) > 1}
        if dup or len(ok) != len(found):
            log.warning(
                "btrfs listing entries that are not what they claim were ignored",
                pool=self.name,
                names=sorted({n for n, _ in found} - {n for n, _ in ok} | dup),
            )
        return [(n, sv) for n, sv in ok if n not in dup]

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
        by_fs: dict[str, list[tuple[str, Subvolume]]] = {}
        for sv in self._subvolumes(snapshots_only=True):
            parts = self._relative(sv)
            if not parts or len(parts) != 3 or parts[0] != SS_DIR:
                continue
            if (fs_name is None or parts[1] == fs_name) and _valid(parts[1]) and _valid(parts[2]):
                by_fs.setdefault(parts[1], []).append((parts[2], sv))
        return [
            (fs, ss, sv)
            for fs, found in by_fs.items()
            for ss, sv in self._verified(found, SS_DIR, fs)
        ]

    def list_snapshots(self, fs: FileSystem) -> list[Snapshot]:
        return [
            Snapshot(name=ss, uuid=sv.uuid, timestamp=sv.otime or 0)
            for _, ss, sv in self._snapshot_subvolumes(fs.name)
        ]

    # -- changes --------------------------------------------------------------------

    def create_fs(self, name: str, size_bytes: int) -> None:
        """A subvolume, with its quota set before it gets its name: it is made as
        ``.new-<name>`` (not a valid fs name, so never listed), limited, then renamed,
        so a daemon killed half way never leaves an fs without the quota it was asked
        for (leftover temporaries are removed by the next create with a quota)."""
        check_name(name, "file system name")
        with self._dir(FS_DIR, create=True) as fsd:
            if size_bytes <= 0:
                _btrfs("subvolume", "create", _at(fsd, name), fds=(fsd,))
                return
            tmp = NEW_PREFIX + name
            # Temporaries of creates cut short (killed); none is in flight: the storage
            # lock is held.
            stale = [n for n in os.listdir(fsd) if n.startswith(NEW_PREFIX)]
            self._delete(fsd, [n for n in stale if _subvolume_here(fsd, n)])
            _btrfs("subvolume", "create", _at(fsd, tmp), fds=(fsd,))
            try:
                # Idempotent: a no-op when quotas are already on. The first time,
                # the kernel rescans the whole file system (costly on a big one).
                _btrfs("quota", "enable", self.path)
                _btrfs("qgroup", "limit", str(size_bytes), _at(fsd, tmp), fds=(fsd,))
                try:
                    os.stat(name, dir_fd=fsd, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    raise TargetdError(Code.FS_OR_SNAPSHOT_EXISTS, f"{name!r} exists in the pool")
                os.rename(tmp, name, src_dir_fd=fsd, dst_dir_fd=fsd)
            except (TargetdError, OSError) as exc:
                self._delete(fsd, [tmp])
                if isinstance(exc, OSError):
                    raise TargetdError(Code.UNEXPECTED, f"cannot name the new fs: {exc}") from exc
                raise

    def fs_paths(self, fs: FileSystem) -> list[str]:
        return [fs.full_path, self.ss_dir(fs.name)]

    def destroy_fs(self, fs: FileSystem) -> None:
        snaps = self._snapshot_subvolumes(fs.name)
        ids = [sv.id for _, _, sv in snaps]
        ids += [sv.id for n, sv in self._fs_subvolumes() if n == fs.name]
        if snaps:
            with self._dir(SS_DIR, fs.name) as ssd:
                self._delete(ssd, [ss for _, ss, _ in snaps])
        with self._dir(FS_DIR) as fsd:
            self._delete(fsd, [fs.name])
        self._remove_ss_dir(fs.name)
        self._clear_stale(ids)

    def clone_fs(self, fs: FileSystem, dest_name: str, snapshot: Snapshot | None) -> None:
        """A writable snapshot. It keeps the source's quota: btrfs copies the qgroup
        limit of the source into the new subvolume's qgroup."""
        check_name(dest_name, "file system name")
        src_dir = (FS_DIR,) if snapshot is None else (SS_DIR, fs.name)
        src = fs.name if snapshot is None else snapshot.name
        with self._dir(*src_dir) as sd, self._dir(FS_DIR, create=True) as fsd:
            if not _subvolume_here(sd, src):
                raise TargetdError(Code.UNEXPECTED, f"{src!r} is not a subvolume any more")
            _btrfs("subvolume", "snapshot", _at(sd, src), _at(fsd, dest_name), fds=(sd, fsd))

    def snapshot_fs(self, fs: FileSystem, name: str) -> None:
        check_name(name, "snapshot name")
        with self._dir(SS_DIR, create=True) as top:
            created = False
            try:
                os.mkdir(check_name(fs.name), 0o755, dir_fd=top)
                created = True
            except FileExistsError:
                pass
            try:
                with self._dir(FS_DIR) as fsd, self._dir(SS_DIR, fs.name) as ssd:
                    if not _subvolume_here(fsd, fs.name):
                        raise TargetdError(
                            Code.UNEXPECTED, f"{fs.name!r} is not a subvolume any more"
                        )
                    _btrfs(
                        "subvolume",
                        "snapshot",
                        "-r",
                        _at(fsd, fs.name),
                        _at(ssd, name),
                        fds=(fsd, ssd),
                    )
            except TargetdError:
                if created:
                    with contextlib.suppress(OSError):
                        os.rmdir(fs.name, dir_fd=top)
                raise

    def delete_snapshot(self, fs: FileSystem, snapshot: Snapshot) -> None:
        ids = [sv.id for _, ss, sv in self._snapshot_subvolumes(fs.name) if ss == snapshot.name]
        with self._dir(SS_DIR, fs.name) as ssd:
            self._delete(ssd, [snapshot.name])
        self._remove_ss_dir(fs.name)  # only if it was the last one
        self._clear_stale(ids)

    def _remove_ss_dir(self, fs_name: str) -> None:
        with self._dir(SS_DIR) as top, contextlib.suppress(OSError):
            os.rmdir(check_name(fs_name), dir_fd=top)

    def _delete(self, dir_fd: int, names: list[str]) -> None:
        """Delete subvolumes ``names`` of an open directory; each must be a subvolume
        there (not a link to one elsewhere)."""
        for n in names:
            if not _subvolume_here(dir_fd, check_component(n)):
                raise TargetdError(
                    Code.UNEXPECTED, f"{n!r} is not a subvolume (a link?); not deleting it"
                )
        if names:
            _btrfs("subvolume", "delete", "-c", *(_at(dir_fd, n) for n in names), fds=(dir_fd,))

    def _clear_stale(self, ids: list[int]) -> None:
        """Drop the qgroups of deleted subvolumes, once btrfs has cleaned them up."""
        if not ids or not self._quota_enabled():
            return
        try:
            with self._released():
                # The subvolumes are gone from every listing already; waiting for the
                # cleaner need not block other calls.
                run(
                    ["btrfs", "subvolume", "sync", self.path, *map(str, ids)],
                    env=UTC_ENV,
                    timeout=SYNC_TIMEOUT,
                )
        except TargetdError as exc:
            log.warning(
                "btrfs subvolume sync failed; qgroups left", pool=self.name, error=exc.message
            )
            return
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
