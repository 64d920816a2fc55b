"""What a storage plugin contributes: block pools, fs pools and export handlers.

These abstract classes are part of the public plugin API. The core routes every call
that names a pool (or a file system uuid) to the object that owns it and performs the
contract's generic checks first (name rules, unknown pool, existing or missing volume,
size not larger, volume still exported), so an implementation only does the storage
work. All methods run while the core holds the storage lock (shared for the listing
methods, exclusive for the others); see :class:`targetd_core.locking.StorageLock`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, NotRequired, TypedDict, cast

import structlog

log = structlog.get_logger("targetd.pools")


class PoolEntry(TypedDict):
    """A ``pool_list`` entry on the wire."""

    name: str
    size: int
    free_size: int
    type: str
    uuid: NotRequired[str]


class VolumeEntry(TypedDict):
    name: str
    size: int
    uuid: str


class FileSystemEntry(TypedDict):
    name: str
    uuid: str
    total_space: int
    free_space: int
    pool: str
    full_path: str


class SnapshotEntry(TypedDict):
    name: str
    uuid: str
    timestamp: int


@dataclass(frozen=True)
class PoolInfo:
    """One ``pool_list`` entry."""

    name: str
    size: int
    free_size: int
    type: str  # "block" or "fs"
    uuid: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["uuid"] is None:
            del d["uuid"]
        return d


class _Record:
    """A dataclass that goes on the wire as the object of its fields."""

    def to_json(self) -> dict[str, Any]:
        return asdict(cast(Any, self))


@dataclass(frozen=True)
class Volume(_Record):
    """A block volume. ``uuid`` is stable for the volume's life, new for a new volume of
    the same name, and is used as the SCSI unit serial by export handlers, so it must
    be printable ASCII without spaces."""

    name: str
    size: int
    uuid: str


@dataclass(frozen=True)
class FileSystem(_Record):
    name: str
    uuid: str
    total_space: int
    free_space: int
    pool: str
    full_path: str


@dataclass(frozen=True)
class Snapshot(_Record):
    name: str
    uuid: str
    timestamp: int


class BlockPool(ABC):
    """A pool of block volumes (an LVM VG or thin pool, a ZFS dataset of zvols, ...).

    ``name`` is the pool's name as configured and as clients see it.
    """

    type: ClassVar[str] = "block"
    #: True if :meth:`create_volume` itself raises -50 for a name in use; the core then
    #: skips its own lookup before creating (one listing less per ``vol_create``).
    reports_name_conflicts: ClassVar[bool] = False

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self) -> None:
        """Called once at start-up. Raise :class:`~targetd_core.errors.ConfigError`
        (naming the configuration key) if the pool does not exist on the host."""

    @abstractmethod
    def info(self) -> PoolInfo:
        """Size, free space and a stable string uuid of the pool."""

    @abstractmethod
    def list_volumes(self) -> list[Volume]:
        """Every volume of the pool, with one storage-tool call at most."""

    def get_volume(self, name: str) -> Volume | None:
        """The named volume, or None. Override when a single lookup is cheaper."""
        for vol in self.list_volumes():
            if vol.name == name:
                return vol
        return None

    @abstractmethod
    def create_volume(self, name: str, size: int) -> None:
        """Create a volume. The core has checked the name is free (unless
        ``reports_name_conflicts``)."""

    @abstractmethod
    def destroy_volume(self, name: str) -> None:
        """Destroy a volume and its data. The core has checked it exists and is not
        exported."""

    @abstractmethod
    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        """Create ``dst`` with ``src``'s contents (grown to ``size`` when given). The
        core has checked ``src`` exists, ``dst`` is free and ``size`` is larger. On
        failure nothing of ``dst`` may be left behind."""

    @abstractmethod
    def resize_volume(self, name: str, size: int) -> None:
        """Grow a volume. The core has checked it exists and ``size`` is larger."""

    @abstractmethod
    def device_path(self, name: str) -> str:
        """The block device node of a volume, e.g. ``/dev/vg/lv`` or ``/dev/zvol/p/v``."""

    def attach(self, name: str) -> str:
        """Make sure the volume has a block device on this host and return its path.

        Export handlers call this (instead of :meth:`device_path`) when they make the
        first export of a volume, and :meth:`detach` when they removed their last. Pools
        whose volumes always have a device (LVM, ZFS) keep the default: the device path.
        A pool of network volumes (Ceph RBD) maps the volume here; calling it again for
        a volume already attached returns the same device."""
        return self.device_path(name)

    def detach(self, name: str) -> None:
        """Let go of the device :meth:`attach` made, if nothing holds it open any more.

        Called after an export handler removed its last use of the volume (and when it
        rolls back a failed export). Another handler may still export the same volume
        through the same device: a pool must then leave the device alone (kernel RBD
        refuses to unmap an open device, which is the check). Errors are logged by the
        caller, never fail the export removal. The default has nothing to release."""


class FsPool(ABC):
    """A pool of file systems (a btrfs mount point, a ZFS dataset, ...)."""

    type: ClassVar[str] = "fs"

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self) -> None:
        """Called once at start-up; raise ConfigError if the pool is unusable."""

    @abstractmethod
    def info(self) -> PoolInfo: ...

    @abstractmethod
    def list_filesystems(self) -> list[FileSystem]: ...

    @abstractmethod
    def create_fs(self, name: str, size_bytes: int) -> None:
        """Create a file system; ``size_bytes`` > 0 is its quota. Name checked free."""

    def fs_paths(self, fs: FileSystem) -> list[str]:
        """Directories through which ``fs`` and its snapshots are reached (what
        other plugins must let go of before it is destroyed). By default its
        ``full_path``; a pool that keeps snapshots elsewhere adds their directory."""
        return [fs.full_path]

    @abstractmethod
    def destroy_fs(self, fs: FileSystem) -> None:
        """Destroy a file system and every snapshot taken from it."""

    @abstractmethod
    def clone_fs(self, fs: FileSystem, dest_name: str, snapshot: Snapshot | None) -> None:
        """A writable copy of ``fs`` (or of its ``snapshot``) named ``dest_name``."""

    @abstractmethod
    def list_snapshots(self, fs: FileSystem) -> list[Snapshot]: ...

    @abstractmethod
    def snapshot_fs(self, fs: FileSystem, name: str) -> None:
        """A read-only snapshot of ``fs``; the core has checked the name is free."""

    @abstractmethod
    def delete_snapshot(self, fs: FileSystem, snapshot: Snapshot) -> None: ...


class ExportHandler(ABC):
    """Something that makes volumes reachable by hosts (iSCSI, NVMe-oF, ...).

    The core asks every handler before a volume is destroyed, and lets each release the
    volume when none exports it.
    """

    name: str = "export"

    @abstractmethod
    def volume_exported(self, pool: str, volume: str) -> bool:
        """True while ``pool``/``volume`` is exported or mapped to an access group.

        A question: it must change nothing (use :meth:`release_volume` for clean-up)."""

    def release_volume(self, pool: str, volume: str) -> None:
        """Let go of ``pool``/``volume``, which ``vol_destroy`` destroys next (no handler
        exports it): e.g. remove an unused object a crash left that keeps the device
        open. Called under the storage lock. The default holds nothing."""

    def export_count(self) -> int | None:
        """How many exports this handler has (for metrics); None if unknown."""
        return None


def device_size(device: str | None) -> int:
    """The size in bytes of a block device (or file), 0 if there is none or it cannot be
    opened: what an export handler's listing shows as ``vol_size`` for a device that went
    away, rather than failing the whole listing."""
    if not device:
        return 0
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def detach_quietly(pool: BlockPool, volume: str) -> None:
    """``pool.detach(volume)`` after a volume's last export is gone; a failure is logged,
    not raised: the export is gone either way, and a device still attached is found
    again by the volume's next export."""
    try:
        pool.detach(volume)
    except Exception as exc:  # noqa: BLE001 - never fail the removal for it
        log.warning("could not detach a volume", pool=pool.name, volume=volume, error=str(exc))
