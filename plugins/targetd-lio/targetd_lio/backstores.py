"""Backstores and TPG LUNs: made when a volume is first exported, removed when no ACL
maps them any more."""

from __future__ import annotations

from collections.abc import Iterable

from targetd_core.plugin import BlockPool, Undo, Volume, detach_quietly

from . import naming
from .base import LioBase, log
from .cfs import TpgLun, TpgView


class BackstoresMixin(LioBase):
    """Backstores and TPG LUNs."""

    def _ensure_lun(
        self, view: TpgView, name: str, pool: BlockPool, vol: Volume, undo: Undo
    ) -> int:
        """The TPG LUN exporting ``name`` (created, with its backstore, if missing)."""
        lun = view.lun_for(name)
        if lun is not None:
            return lun.number
        stale = self.cfs.find_backstore(name)
        if stale is not None:  # left over without a LUN: make it afresh
            self.cfs.delete_backstore(stale, name)
        device = pool.attach(vol.name)  # a pool of network volumes maps it now
        undo.add(lambda: detach_quietly(pool, vol.name))
        hba = self.cfs.create_backstore(name, device, vol.uuid)
        undo.add(lambda: self.cfs.delete_backstore(hba, name, quiet=True))
        return self._new_lun(view, hba, name, undo)

    def _drop_unused_luns(self, view: TpgView, tpg_luns: Iterable[int], undo: Undo) -> None:
        """Remove targetd's TPG LUNs (and backstores) that no ACL maps any more; undone
        by making them again on the same device, unit serial, HBA and LUN number."""
        for number in set(tpg_luns):
            lun = self._tpg_lun(view, number)
            pv = None if lun is None else self._decode(view, number)
            if lun is None or pv is None:
                continue  # not targetd's, nor adopted from the old daemon
            if view.users_of(number):
                continue
            if not view.acls_complete and self.cfs.lun_in_use(number):
                continue  # an ACL that was not read maps it
            device = self.cfs.backstore_device(lun.hba, lun.name)
            serial = self.cfs.backstore_serial(lun.hba, lun.name)
            self.cfs.delete_lun(number)
            undo.add(lambda lun=lun: self.cfs.create_lun(lun.number, lun.hba, lun.name))
            self.cfs.delete_backstore(lun.hba, lun.name)
            owner = self.core.block_pools.get(pv[0])
            if owner is not None:
                detach_quietly(owner, pv[1])
            if device and serial:
                # undone on the device the pool attaches again (a network volume's
                # device may get another name when it is mapped again)
                undo.add(
                    lambda lun=lun, d=device, s=serial, p=owner, v=pv[1]: self._backstore_again(
                        lun, p.attach(v) if p is not None else d, s
                    )
                )
            del view.luns[number]
            if self._legacy is not None:
                self._legacy.discard((lun.hba, lun.name))

    def _backstore_again(self, lun: TpgLun, device: str, serial: str) -> None:
        """Make a removed backstore again where it was (undo of _drop_unused_luns)."""
        self.cfs.create_backstore(lun.name, device, serial, at_hba=lun.hba)
        if self._legacy is not None and not naming.is_targetd_hba(lun.hba, lun.name):
            self._legacy.add((lun.hba, lun.name))

    def release_volume(self, pool: str, volume: str) -> None:
        """Remove the backstore (and TPG LUN) of a volume that is about to be destroyed.

        Called by the core's ``vol_destroy`` once no handler exports the volume: a
        backstore no ACL uses any more (left by a crash between two steps, or by the old
        daemon) keeps the device open, and the pool could not remove it. Nothing is
        removed while an ACL still maps the volume.
        """
        found = self._backstore_of(pool, volume)
        if found is None:
            return
        hba, name = found
        view = self.cfs.read(tags=False)
        lun = view.lun_at(hba, name)
        if lun is not None:
            if view.users_of(lun.number):
                return
            self.cfs.delete_lun(lun.number)
        self.cfs.delete_backstore(hba, name)
        if self._legacy is not None:
            self._legacy.discard((hba, name))
        log.info("an unused backstore of a destroyed volume was removed", backstore=name)
        if pool in self.core.block_pools:
            detach_quietly(self.core.block_pools[pool], volume)
