"""ZFS file system pools: a mounted dataset whose child datasets are the file systems."""

from __future__ import annotations

import os
import stat

import structlog

from targetd_core.plugin import (
    Code,
    ConfigError,
    FileSystem,
    FsPool,
    PoolInfo,
    Snapshot,
    StorageLock,
    TargetdError,
    check_name,
    tool_error,
)

from . import zfs as Z
from .mounts import read_mounts
from .transfer import copy_dataset, destroy_with_dependents, report_leftovers

log = structlog.get_logger("targetd.zfs")

CONFIG_KEY = "fs_pools"
FS_FIELDS = ("name", "guid", "used", "available", "refquota", "mountpoint")
SS_FIELDS = ("name", "guid", "creation")


class ZfsFsPool(FsPool):
    """``name`` is the mount point as configured; ``dataset`` is what is mounted there."""

    def __init__(self, lock: StorageLock, name: str, dataset: str, mount_point: str) -> None:
        super().__init__(name)
        self.lock = lock  # the storage lock: a clone steps out of it
        self.dataset = dataset
        self.mount_point = mount_point
        #: Do children inherit their mount point? Decided once, at start-up: it depends on
        #: how the administrator mounts the pool, which the configuration relies on too.
        self._inherits: bool | None = None

    def _ds(self, name: str) -> str:
        return f"{self.dataset}/{name}"

    def check(self) -> None:
        try:
            row = Z.lookup(self.dataset, ("name", "type"))
        except TargetdError as exc:
            raise ConfigError(CONFIG_KEY, f"{self.name!r}: {exc.message}") from None
        if row is None or row["type"] != "filesystem":
            raise ConfigError(
                CONFIG_KEY, f"{self.name!r} is mounted from {self.dataset!r}, not a ZFS dataset"
            )
        self._mount_options("x")
        report_leftovers(self.dataset)

    def info(self) -> PoolInfo:
        (row,) = Z.list_rows(("used", "available", "guid"), self.dataset)
        avail = Z.to_int(row["available"])
        return PoolInfo(self.name, Z.to_int(row["used"]) + avail, avail, "fs", row["guid"])

    def _fs(self, row: dict[str, str]) -> FileSystem | None:
        name = Z.child_component(self.dataset, row["name"])
        if name is None:
            return None
        used, avail = Z.to_int(row["used"]), Z.to_int(row["available"])
        quota = Z.to_int(row["refquota"])
        # With a refquota, 'available' is already min(pool free, quota - referenced).
        total = quota if quota else used + avail
        mountpoint = row["mountpoint"]
        if not mountpoint.startswith("/"):  # legacy / none: where fs_create would put it
            mountpoint = os.path.join(self.name, name)
        return FileSystem(
            name=name,
            uuid=row["guid"],
            total_space=total,
            free_space=min(avail, total),
            pool=self.name,
            full_path=mountpoint,
        )

    def list_filesystems(self) -> list[FileSystem]:
        rows = Z.children(self.dataset, "filesystem", FS_FIELDS)
        return [fs for fs in map(self._fs, rows) if fs is not None]

    def _mount_options(self, name: str) -> list[str]:
        """Children inherit their mount point when the pool's dataset is mounted by its
        own ``mountpoint`` property; under a legacy mount they get an explicit one."""
        if self._inherits is None:
            mountpoint = Z.get(self.dataset, ("mountpoint",))["mountpoint"]
            self._inherits = mountpoint == self.mount_point
        if self._inherits:
            return []
        return ["-o", f"mountpoint={os.path.join(self.mount_point, name)}"]

    # -- where a new file system is mounted ---------------------------------------
    #
    # mount(2) follows symbolic links. A client that can write to the pool's directory
    # (an export of the pool itself) could leave a link named like the next file
    # system, pointing at /etc; zfs would mount the new file system over /etc. So the
    # place is checked before (nothing there, or a real directory) and after (the
    # dataset is mounted there and nowhere else; otherwise it is destroyed again).

    def _target(self, name: str) -> str:
        return os.path.join(self.mount_point, check_name(name, "file system name"))

    def _check_target(self, name: str) -> None:
        target = self._target(name)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            log.error("refusing to mount a file system over a link", path=target)
            raise TargetdError(
                Code.UNEXPECTED,
                f"{target} exists and is not a directory (a symbolic link?); the new file "
                "system would be mounted where it leads: remove it first",
            )

    def _check_mounted_at_target(self, name: str) -> None:
        dataset, target = self._ds(name), self._target(name)
        try:
            wrong = [m.mount_point for m in read_mounts() if m.source == dataset]
        except OSError:
            return
        wrong = [w for w in wrong if w != target]
        if wrong:
            log.error("file system mounted through a link; destroying it", dataset=dataset)
            destroy_with_dependents(dataset)
            raise TargetdError(
                Code.UNEXPECTED,
                f"{dataset} was mounted at {', '.join(wrong)} instead of {target} (a link "
                "was put there meanwhile); it was destroyed again",
            )

    def create_fs(self, name: str, size_bytes: int) -> None:
        opts = self._mount_options(name)
        if size_bytes > 0:
            opts += ["-o", f"refquota={size_bytes}"]
        self._check_target(name)
        Z.zfs("create", *opts, self._ds(name))
        self._check_mounted_at_target(name)

    def destroy_fs(self, fs: FileSystem) -> None:
        destroy_with_dependents(self._ds(fs.name))

    def clone_fs(self, fs: FileSystem, dest_name: str, snapshot: Snapshot | None) -> None:
        self._check_target(dest_name)
        source = self._ds(fs.name)
        opts = self._mount_options(dest_name)
        quota = Z.to_int(Z.get(source, ("refquota",))["refquota"])

        def prepare(tmp: str) -> None:
            # A writable copy keeps the origin's limit (never below what it holds: an
            # old snapshot may predate a smaller quota).
            if quota and Z.run([Z.ZFS, "set", f"refquota={quota}", tmp], check=False).returncode:
                referenced = Z.to_int(Z.get(tmp, ("referenced",))["referenced"])
                Z.zfs("set", f"refquota={max(quota, referenced)}", tmp)

        def finish(dest: str) -> None:
            try:
                self._check_target(dest_name)
            except TargetdError:
                destroy_with_dependents(dest)
                raise
            argv = [Z.ZFS, "mount", dest]
            proc = Z.run(argv, check=False)
            if proc.returncode != 0 and "already mounted" not in proc.stderr:
                destroy_with_dependents(dest)
                raise tool_error(argv, proc)
            self._check_mounted_at_target(dest_name)

        copy_dataset(
            self.lock,
            source,
            self._ds(dest_name),
            snapshot=snapshot.name if snapshot else None,
            recv_options=opts,
            prepare=prepare,
            finish=finish,
            conflict=Code.FS_CLONE_EXISTS,
        )

    def list_snapshots(self, fs: FileSystem) -> list[Snapshot]:
        ds = self._ds(fs.name)
        out = []
        for row in Z.children(ds, "snapshot", SS_FIELDS, sort="createtxg"):
            name = Z.snapshot_component(ds, row["name"])
            if name is not None:
                out.append(Snapshot(name, row["guid"], Z.to_int(row["creation"])))
        return out

    def snapshot_fs(self, fs: FileSystem, name: str) -> None:
        Z.zfs("snapshot", f"{self._ds(fs.name)}@{name}")

    def delete_snapshot(self, fs: FileSystem, snapshot: Snapshot) -> None:
        Z.zfs("destroy", f"{self._ds(fs.name)}@{snapshot.name}")
