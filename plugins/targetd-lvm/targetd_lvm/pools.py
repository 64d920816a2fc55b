"""The two kinds of LVM block pool: a volume group (thick LVs) and a thin pool (thin LVs).

Every listing is one ``lvs`` run over the pool's VG, filtered here (see
:mod:`targetd_lvm.report` for which LVs belong to which pool). Nothing is cached: other
workers and the administrator change LVM behind our back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

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

from . import blockcopy, dmlookup
from .lvmcli import lvm, lvs, vgs
from .names import check_lv_name
from .report import COPYING_TAG, Lv, is_thin_volume, is_vg_volume, thin_pool_free

log = structlog.get_logger("targetd.lvm")

SECTOR = 512
#: the characters LVM allows in an LV name (lvm(8) "VALID NAMES"); nothing else can be
#: quoted into a selection
LV_NAME = re.compile(r"[A-Za-z0-9+_.-]+")


def size_arg(size: int) -> str:
    """A byte size for lvcreate/lvextend: LVM takes only whole 512-byte sectors in
    ``b`` units, so round up (LVM rounds up to whole extents anyway)."""
    return f"{-(-size // SECTOR) * SECTOR}b"


class LvmPool(BlockPool):
    """What thick and thin pools share: listing, removing, growing, device paths."""

    #: a failed lvcreate is looked into and answered -50 (see _create_failed)
    reports_name_conflicts = True

    def __init__(
        self, name: str, vg: str, lock: StorageLock, config_key: str = "block_pools"
    ) -> None:
        super().__init__(name)
        self.vg = vg
        self.lock = lock  # the storage lock: a long copy steps out of it
        self.config_key = config_key

    # -- what subclasses decide -----------------------------------------------------

    def owns(self, lv: Lv) -> bool:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------

    def _check_vg(self) -> None:
        if not any(vg.name == self.vg for vg in vgs()):
            raise ConfigError(
                self.config_key,
                f"pool {self.name!r}: volume group {self.vg!r} does not exist on this host "
                "(volume group not found); create it or remove the pool from the configuration",
            )

    def _lv_ref(self, name: str) -> str:
        return f"{self.vg}/{name}"

    def list_volumes(self) -> list[Volume]:
        return [Volume(lv.name, lv.size, lv.uuid) for lv in lvs(self.vg) if self.owns(lv)]

    def get_volume(self, name: str) -> Volume | None:
        """One ``lvs`` of the VG selecting that LV by name: the report and its parsing
        stay one row however many LVs the VG has (LVM still reads the VG's metadata)."""
        if not LV_NAME.fullmatch(name):
            return None  # no LV can have that name
        found = [lv for lv in lvs(self.vg, select=f'lv_name="{name}"') if lv.name == name]
        return next((Volume(lv.name, lv.size, lv.uuid) for lv in found if self.owns(lv)), None)

    def device_path(self, name: str) -> str:
        """``/dev/VG/LV``, activating the LV first if it has no device node (a thin
        snapshot made with the activation-skip flag, an LV left inactive at boot)."""
        path = f"/dev/{self.vg}/{name}"
        if not os.path.exists(path):
            lvm("lvchange", "-a", "y", "-K", self._lv_ref(name))
        return path

    def destroy_volume(self, name: str) -> None:
        lvm("lvremove", "-f", self._lv_ref(name))

    def resize_volume(self, name: str, size: int) -> None:
        lvm("lvextend", "-L", size_arg(size), self._lv_ref(name))

    def _check_new(self, name: str, size: int | None) -> None:
        """LVM's own rules for a new volume, checked before any tool runs."""
        check_lv_name(self.vg, name)
        if size is not None and size < 1:
            raise TargetdError(Code.INVALID_ARGUMENT, f"size must be at least 1 byte, got {size}")

    def _create_failed(self, name: str, exc: TargetdError) -> TargetdError:
        """Turn a failed lvcreate into -50 when the name is taken by an LV of the VG
        that is not a volume of this pool (the core only sees this pool's volumes)."""
        try:
            other = next((lv for lv in lvs(self.vg) if lv.name == name), None)
        except TargetdError:
            return exc
        if other is None:
            return exc
        if self.owns(other):
            return TargetdError(
                Code.NAME_CONFLICT, f"volume {name!r} already exists in pool {self.name!r}"
            )
        if COPYING_TAG in other.tags:
            why = "a copy into a volume of that name is in progress"
        else:
            why = "another LV of the volume group, outside this pool, has that name"
        return TargetdError(Code.NAME_CONFLICT, f"name {name!r} is in use in {self.vg!r}: {why}")

    def _lvcreate(self, name: str, *args: str) -> None:
        try:
            lvm("lvcreate", "-y", "-n", name, *args)
        except TargetdError as exc:
            raise self._create_failed(name, exc) from None

    def _remove_after_failure(self, name: str, exc: TargetdError) -> TargetdError:
        """Remove a half-made volume; say so in the error if even that fails."""
        try:
            lvm("lvremove", "-f", self._lv_ref(name))
        except TargetdError as rm_exc:
            log.error("cleanup failed", lv=self._lv_ref(name), error=rm_exc.message)
            return TargetdError(
                exc.code,
                f"{exc.message}; removing the incomplete volume {self._lv_ref(name)} "
                f"also failed: {rm_exc.message}",
            )
        return exc


class VgPool(LvmPool):
    """A volume group: volumes are plain (thick) LVs.

    A new volume is zeroed and a copy is a full block copy. Both fill the new LV with
    the storage lock released, while the LV carries the ``targetd_copying`` tag that
    hides it from every listing, so no other call can touch it.
    """

    def __init__(
        self,
        name: str,
        vg: str,
        lock: StorageLock,
        config_key: str = "block_pools",
        zero_new: bool = True,
    ) -> None:
        super().__init__(name, vg, lock, config_key)
        self.zero_new = zero_new

    def check(self) -> None:
        self._check_vg()

    def owns(self, lv: Lv) -> bool:
        return is_vg_volume(lv)

    def info(self) -> PoolInfo:
        found = vgs(self.vg)
        if len(found) != 1:
            raise TargetdError(Code.UNEXPECTED, f"vgs did not report volume group {self.vg!r}")
        vg = found[0]
        return PoolInfo(self.name, vg.size, min(vg.free, vg.size), "block", vg.uuid)

    def _create_filled(self, name: str, size: int, fill: Callable[[str], None]) -> None:
        """Create a hidden LV, fill it outside the storage lock, then reveal it."""
        self._lvcreate(name, "-L", size_arg(size), "--addtag", COPYING_TAG, self.vg)
        try:
            path = self.device_path(name)
            with self.lock.released():
                fill(path)
            lvm("lvchange", "--deltag", COPYING_TAG, self._lv_ref(name))
        except TargetdError as exc:
            raise self._remove_after_failure(name, exc) from None
        except BaseException as exc:
            self._remove_after_failure(name, TargetdError(Code.UNEXPECTED, str(exc)))
            raise

    def create_volume(self, name: str, size: int) -> None:
        self._check_new(name, size)
        if not self.zero_new:
            self._lvcreate(name, "-L", size_arg(size), self.vg)
            return
        self._create_filled(name, size, blockcopy.zero_device)

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        self._check_new(dst, size)
        source = self.get_volume(src)
        if source is None:  # the core checked; someone removed it since
            raise TargetdError(Code.VOLUME_NOT_FOUND, f"volume {src!r} not found")
        src_path = self.device_path(src)

        def fill(dst_path: str) -> None:
            blockcopy.copy_device(src_path, dst_path, source.size)

        self._create_filled(dst, max(size or 0, source.size), fill)


class ThinPool(LvmPool):
    """A thin pool ``VG/POOL``: volumes are its thin LVs; a copy is a thin snapshot."""

    def __init__(
        self, name: str, vg: str, lv: str, lock: StorageLock, config_key: str = "block_pools"
    ) -> None:
        super().__init__(name, vg, lock, config_key)
        self.lv = lv

    def check(self) -> None:
        self._check_vg()
        pool = next((lv for lv in lvs(self.vg) if lv.name == self.lv), None)
        if pool is None:
            raise ConfigError(
                self.config_key,
                f"pool {self.name!r}: volume group {self.vg!r} has no LV {self.lv!r} "
                "(thin pool not found)",
            )
        if pool.segtype != "thin-pool":
            raise ConfigError(
                self.config_key,
                f"pool {self.name!r}: LV {self.lv!r} is not a thin pool "
                f"(its segment type is {pool.segtype!r})",
            )

    def owns(self, lv: Lv) -> bool:
        return is_thin_volume(lv, self.lv)

    def get_volume(self, name: str) -> Volume | None:
        """An active thin LV from device-mapper's sysfs (a few small reads, whatever
        the number of LVs: see :mod:`targetd_lvm.dmlookup`); anything else (an inactive
        LV, a name that is not a volume) from ``lvs`` as before."""
        if LV_NAME.fullmatch(name) and name != self.lv:
            found = dmlookup.active_lv(self.vg, name)
            if found is not None and dmlookup.is_in_thin_pool(found, self.vg, self.lv):
                return Volume(name, found.size, found.uuid)
        return super().get_volume(name)

    def info(self) -> PoolInfo:
        found = lvs(self._lv_ref(self.lv))
        if len(found) != 1:
            raise TargetdError(Code.UNEXPECTED, f"lvs did not report thin pool {self.name!r}")
        pool = found[0]
        free = thin_pool_free(pool.size, pool.data_percent, pool.metadata_percent)
        return PoolInfo(self.name, pool.size, free, "block", pool.uuid)

    def create_volume(self, name: str, size: int) -> None:
        self._check_new(name, size)
        self._lvcreate(name, "-V", size_arg(size), "--thinpool", self._lv_ref(self.lv))

    def copy_volume(self, src: str, dst: str, size: int | None) -> None:
        """A thin snapshot, made an ordinary thin LV: no activation-skip flag, active."""
        self._check_new(dst, size)
        self._lvcreate(dst, "-s", "--setactivationskip", "n", "-a", "y", self._lv_ref(src))
        if size is not None:
            try:
                self.resize_volume(dst, size)
            except TargetdError as exc:
                raise self._remove_after_failure(dst, exc) from None
