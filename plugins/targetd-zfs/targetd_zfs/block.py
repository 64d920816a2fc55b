"""ZFS block pools: a dataset whose child zvols are the pool's volumes."""

from __future__ import annotations

import structlog

from targetd_core.plugin import (
    BlockPool,
    Code,
    ConfigError,
    PoolInfo,
    StorageLock,
    TargetdError,
    Volume,
)

from . import devices
from . import zfs as Z
from .transfer import copy_dataset, destroy_with_dependents, report_leftovers

log = structlog.get_logger("targetd.zfs")

CONFIG_KEY = "zfs_block_pools"
#: New volumes are rounded up to this: a multiple of every default ``volblocksize``
#: (8 KiB up to OpenZFS 2.1, 16 KiB from 2.2), since ``volsize`` must be a multiple of it.
CREATE_ALIGN = 16384
VOL_FIELDS = ("name", "volsize", "guid")


class ZfsBlockPool(BlockPool):
    """Volumes are thick zvols (``zfs create -V``, which reserves ``volsize``): an
    exported LUN never fails a write because the pool is overcommitted."""

    def __init__(self, lock: StorageLock, dataset: str) -> None:
        super().__init__(dataset)
        self.lock = lock  # the storage lock: a copy steps out of it
        self.dataset = dataset

    def _ds(self, name: str) -> str:
        return f"{self.dataset}/{name}"

    def check(self) -> None:
        try:
            row = Z.lookup(self.dataset, ("name", "type"))
        except TargetdError as exc:
            raise ConfigError(
                CONFIG_KEY, f"cannot look up {self.dataset!r}: {exc.message}"
            ) from None
        if row is None:
            raise ConfigError(
                CONFIG_KEY,
                f"ZFS dataset {self.dataset!r} does not exist (create it with "
                f"'zfs create {self.dataset}', or remove it from {CONFIG_KEY})",
            )
        if row["type"] != "filesystem":
            raise ConfigError(
                CONFIG_KEY,
                f"{self.dataset!r} is a ZFS {row['type']}, not a file system dataset "
                "that can hold zvols",
            )
        report_leftovers(self.dataset)

    def info(self) -> PoolInfo:
        (row,) = Z.list_rows(("used", "available", "guid"), self.dataset)
        avail = Z.to_int(row["available"])
        return PoolInfo(
            name=self.name,
            size=Z.to_int(row["used"]) + avail,
            free_size=avail,
            type="block",
            uuid=row["guid"],
        )

    def _volume(self, row: dict[str, str]) -> Volume | None:
        name = Z.child_component(self.dataset, row["name"])
        if name is None:
            return None
        return Volume(name=name, size=Z.to_int(row["volsize"]), uuid=row["guid"])

    def list_volumes(self) -> list[Volume]:
        rows = Z.children(self.dataset, "volume", VOL_FIELDS)
        return [v for v in map(self._volume, rows) if v is not None]

    def get_volume(self, name: str) -> Volume | None:
        row = Z.lookup(self._ds(name), VOL_FIELDS, kind="volume")
        return self._volume(row) if row else None

    def create_volume(self, name: str, size: int) -> None:
        if size <= 0:
            raise TargetdError(Code.INVALID_ARGUMENT, "size must be larger than 0 bytes")
        ds = self._ds(name)
        Z.zfs("create", "-V", str(Z.round_up(size, CREATE_ALIGN)), ds)
        self._await_device(ds)

    def destroy_volume(self, name: str) -> None:
        destroy_with_dependents(self._ds(name))

    def resize_volume(self, name: str, size: int) -> None:
        ds = self._ds(name)
        block = Z.to_int(Z.get(ds, ("volblocksize",))["volblocksize"])
        Z.zfs("set", f"volsize={Z.round_up(size, block)}", ds)

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        source = self._ds(src)
        props = Z.get(source, ("volblocksize", "refreservation"))
        thick = Z.to_int(props["refreservation"]) > 0
        block = Z.to_int(props["volblocksize"])

        def prepare(tmp: str) -> None:
            if size is not None:
                Z.zfs("set", f"volsize={Z.round_up(size, block)}", tmp)
            if thick:  # a received stream carries no reservation: give the copy the source's
                Z.zfs("set", "refreservation=auto", tmp)

        def finish(dest: str) -> None:
            try:
                Z.zfs("inherit", "volmode", dest)
            except TargetdError:
                destroy_with_dependents(dest)
                raise
            self._await_device(dest)

        # volmode=none: the hidden temporary gets no device node; the copy gets its
        # device under its final name only.
        copy_dataset(
            self.lock,
            source,
            self._ds(dst),
            recv_options=("-o", "volmode=none"),
            prepare=prepare,
            finish=finish,
        )

    def device_path(self, name: str) -> str:
        return devices.find_device(self._ds(name))

    def _await_device(self, ds: str) -> None:
        """Return once the new zvol's device exists (an export may follow at once);
        a slow device is logged, not an error: :meth:`device_path` waits again."""
        try:
            devices.find_device(ds)
        except TargetdError as exc:
            log.warning("zvol device not ready", dataset=ds, error=exc.message)
