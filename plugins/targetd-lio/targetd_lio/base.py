"""What every part of the iSCSI plugin shares: the service's state, the TPG's
readiness, which (pool, volume) a TPG LUN exports (targetd's names and the old daemon's),
and the transaction that runs a change with its undo and records the touched ACLs.

Every changing call reads the TPG once (:meth:`Configfs.read`), decides, changes configfs
one object at a time while recording how to undo each step (a failure half way leaves
configfs as it was), and finally refreshes the persistent record of the ACLs it touched.
configfs is the truth for every listing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog

from targetd_core.plugin import BlockPool, Core, TargetdError, Undo, Volume

from . import naming
from .cfs import Configfs, TpgLun, TpgView
from .errors import E
from .planning import MAX_TPG_LUN, lowest_free
from .state import StateFile

log = structlog.get_logger("targetd.lio")


def _is_targetd_range(hba: str) -> bool:
    """True for an HBA directory in targetd's index range (never rtslib's)."""
    number = hba.rpartition("_")[2]
    return number.isdigit() and int(number) >= naming.HBA_BASE


def _shown(value: object, limit: int = 100) -> str:
    """``repr`` of a value read from a file, cut for a log line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_init_type(init_type: str) -> None:
    if init_type != "iscsi":
        raise TargetdError(
            E.NOT_SUPPORTED, f"initiator type {init_type!r} is not supported: only 'iscsi'"
        )


class LioBase:
    """The state and the shared steps of :class:`targetd_lio.service.LioExports`."""

    def __init__(
        self,
        core: Core,
        target_name: str,
        portals: list[str],
        state_path: Path,
        cfs: Configfs | None = None,
        ensure_target: Callable[[str, list[str]], None] | None = None,
    ) -> None:
        self.core = core
        self.target_name = target_name
        self.portals = portals
        self.cfs = cfs or Configfs(target_name)
        self.state = StateFile(state_path)
        if ensure_target is None:
            from .target import ensure_target as ensure_target_impl

            ensure_target = ensure_target_impl
        self._ensure_target = ensure_target
        self._target_ready = False
        self._names: dict[tuple[str, str], tuple[str, str] | None] = {}
        #: the old daemon's backstores (HBA, name) seen in this process; None: not looked yet
        self._legacy: set[tuple[str, str]] | None = None
        #: pool, volume, device and unit serial of the LUNs of the last export_list
        #: (None: not a volume's), by LUN number, inode and backstore (see listing.py)
        self._lun_facts: dict[
            tuple[int, int, str, str], tuple[str, str, str | None, str] | None
        ] = {}

    def _ready(self) -> None:
        """Make sure the target and TPG exist (rtslib, once per process)."""
        if not self._target_ready or not self.cfs.tpg_exists():
            self._ensure_target(self.target_name, self.portals)
            self._target_ready = True

    def _volume(self, pool: str, vol: str) -> tuple[BlockPool, Volume]:
        p = self.core.block_pool(pool)
        v = p.get_volume(vol)
        if v is None:
            raise TargetdError(E.VOLUME_NOT_FOUND, f"volume {vol!r} not found in pool {pool!r}")
        return p, v

    def _tpg_lun(self, view: TpgView, number: int) -> TpgLun | None:
        """TPG LUN ``number`` from ``view``, looked up (and added) when the view does not
        list every LUN."""
        lun = view.luns.get(number)
        if lun is None and not view.luns_complete:
            lun = self.cfs.read_lun(number)
            if lun is not None:
                view.luns[number] = lun
        return lun

    def _decode(self, view: TpgView, tpg_lun: int) -> tuple[str, str] | None:
        """(pool, volume) a TPG LUN exports: targetd's backstores by their name, the old
        daemon's (adopted) by theirs and their device; None for anything else."""
        lun = self._tpg_lun(view, tpg_lun)
        if lun is None:
            return None
        key = (lun.hba, lun.name)
        try:
            return self._names[key]
        except KeyError:
            if naming.is_targetd_hba(lun.hba, lun.name):
                pv = naming.parse_backstore_name(lun.name, self.core.block_pools)
            else:
                pv = self._decode_legacy(lun.hba, lun.name)
            if len(self._names) < 65536:  # pools are fixed for the process' life
                self._names[key] = pv
            return pv

    def _decode_legacy(self, hba: str, name: str) -> tuple[str, str] | None:
        """(pool, volume) of a backstore the old daemon made (``<vg>:<lv>``, or
        ``<pool with / as %>:<volume>`` for ZFS, in an rtslib HBA), or None.

        The name must match a configured pool by the old rules and the backstore's device
        must be the one the old daemon used for it; two thin pools of one volume group
        share both, and only then a pool is asked which holds the volume.
        """
        if _is_targetd_range(hba):
            return None
        candidates = naming.legacy_candidates(name, self.core.block_pools)
        if not candidates:
            return None
        device = self.cfs.backstore_device(hba, name)
        found = [(p, v) for p, v, dev in candidates if dev == device]
        if len(found) > 1:
            found = [(p, v) for p, v in found if self.core.block_pools[p].get_volume(v)]
        return found[0] if len(found) == 1 else None

    def _lun_of(self, view: TpgView, pool: str, volume: str) -> TpgLun | None:
        """The TPG LUN exporting ``pool``/``volume``: targetd's or, while the old daemon's
        objects are around, an adopted one.

        With a view that does not list the LUNs, targetd's is found by paths (its
        backstore's HBA, then its LUN's candidate numbers): no pass over the TPG. The
        LUNs are listed (into ``view``) only for an older layout or the old daemon's.
        """
        name = naming.backstore_name(pool, volume)
        if not view.luns_complete:
            hba = self.cfs.find_backstore(name)
            if hba is not None:
                lun = self.cfs.find_lun(hba, name)
                if lun is not None:
                    view.luns[lun.number] = lun
                    return lun
            elif self._legacy_backstore(pool, volume) is None:
                return None  # no backstore: no LUN can export it
            self.cfs.read_luns(view)
        lun = view.lun_for(name)
        if lun is not None:
            return lun
        names = naming.legacy_backstore_names(pool, volume)
        for lun in view.luns.values():
            if lun.name in names and self._decode(view, lun.number) == (pool, volume):
                return lun
        return None

    def _new_lun(self, view: TpgView, hba: str, name: str, undo: Undo) -> int:
        """Make a TPG LUN for backstore ``hba``/``name`` (at a number derived from the
        name; the lowest free one if all of those are taken) and return its number."""
        number = self.cfs.create_lun_for(hba, name)
        if number is None:
            if not view.luns_complete:
                self.cfs.read_luns(view)
            number = lowest_free(view.luns, MAX_TPG_LUN)
            if number is None:
                raise TargetdError(
                    E.UNEXPECTED,
                    f"the iSCSI target has no free LUN number: all {MAX_TPG_LUN + 1} are in "
                    "use (one per exported volume); remove the exports of volumes that no "
                    "longer need them",
                )
            self.cfs.create_lun(number, hba, name)
        undo.add(lambda: self.cfs.delete_lun(number, quiet=True))
        view.luns[number] = TpgLun(number, hba, name)
        return number

    def _legacy_backstore(self, pool: str, volume: str) -> tuple[str, str] | None:
        """(HBA, name) of the old daemon's backstore of ``pool``/``volume``, or None.

        The old daemon's HBAs are found with one listing of ``core`` per process; later
        calls only check that those still exist (none are made any more: they go away as
        they are migrated or destroyed).
        """
        if self._legacy is None:
            self._legacy = set(self.cfs.legacy_backstores())
        names = naming.legacy_backstore_names(pool, volume)
        for hba, name in sorted(self._legacy):
            if name not in names:
                continue
            if not self.cfs.so_dir(hba, name).is_dir():
                self._legacy.discard((hba, name))
                continue
            if self._decode_legacy(hba, name) == (pool, volume):
                return hba, name
        return None

    def _backstore_of(self, pool: str, volume: str) -> tuple[str, str] | None:
        """(HBA, name) of the backstore of ``pool``/``volume``: targetd's (a path look-up)
        or the old daemon's; None if there is none."""
        name = naming.backstore_name(pool, volume)
        hba = self.cfs.find_backstore(name)
        if hba is not None:
            return hba, name
        return self._legacy_backstore(pool, volume)

    def _map(self, view: TpgView, wwn: str, mapped: int, tpg_lun: int, undo: Undo) -> None:
        self.cfs.create_mapped_lun(wwn, mapped, tpg_lun)
        undo.add(lambda: self.cfs.delete_mapped_lun(wwn, mapped, quiet=True))
        view.acls[wwn].mapped[mapped] = tpg_lun

    def _unmap(self, view: TpgView, wwn: str, mapped: int, undo: Undo) -> None:
        """Remove one mapped LUN of an ACL (undone by mapping it again)."""
        tpg_lun = view.acls[wwn].mapped[mapped]
        self.cfs.delete_mapped_lun(wwn, mapped)
        undo.add(lambda: self.cfs.create_mapped_lun(wwn, mapped, tpg_lun))
        del view.acls[wwn].mapped[mapped]

    def _drop_acl(self, view: TpgView, wwn: str, undo: Undo) -> None:
        """Remove an ACL and its mapped LUNs; undone by making it again as it was (tag,
        CHAP settings as LIO holds them, mapped LUNs), skipping what is still there."""
        acl = view.acls[wwn]
        tag, mapped = acl.tag, dict(acl.mapped)
        auth = self.cfs.acl_auth(wwn)
        self.cfs.delete_acl(wwn)

        def again() -> None:
            if not self.cfs.acl_exists(wwn):
                self.cfs.create_acl(wwn)
                if tag:
                    self.cfs.set_tag(wwn, tag)
                if any(auth.values()):
                    self.cfs.put_acl_auth(wwn, auth)
            present = self.cfs.acl_mapped(wwn)
            for m, t in sorted(mapped.items()):
                if m not in present:
                    self.cfs.create_mapped_lun(wwn, m, t)

        undo.add(again)
        del view.acls[wwn]

    def _record(self, doc: dict[str, Any], view: TpgView, wwns: Iterable[str]) -> None:
        """Refresh the persistent record of some ACLs from ``view`` and save it."""
        serials: dict[int, str | None] = {}
        for wwn in set(wwns):
            acl = view.acls.get(wwn)
            if acl is None:
                doc["acls"].pop(wwn, None)
                continue
            luns: dict[str, Any] = {}
            for m, t in sorted(acl.mapped.items()):
                pv = self._decode(view, t)
                if pv is None:
                    continue
                if t not in serials:
                    lun = self._tpg_lun(view, t)
                    assert lun is not None  # _decode found it
                    serials[t] = self.cfs.backstore_serial(lun.hba, lun.name)
                luns[str(m)] = {"pool": pv[0], "volume": pv[1], "uuid": serials[t]}
            doc["acls"][wwn] = {"tag": acl.tag, "luns": luns}
        self.state.save(doc)

    def _transaction(
        self,
        touched: set[str],
        view: TpgView,
        body: Callable[[Undo], None],
        doc: dict[str, Any] | None = None,
    ) -> None:
        """Run ``body``, then persist the touched ACLs; if either fails, undo every step
        of ``body`` (newest first), so the call changes nothing.

        A change the state file cannot record (its file system full or read-only, an I/O
        error) is undone too: it would be live now and gone after a reboot.
        """
        if doc is None:
            doc = self.state.load()
        undo = Undo()
        try:
            body(undo)
            self._record(doc, view, touched)
        except BaseException:
            undo.rollback()
            # what is left in configfs (an undo step the kernel refused too) is what a
            # reboot must restore: record it as it is (the old file stays if that fails)
            with contextlib.suppress(Exception):
                self._record(doc, self.cfs.read(), touched)
            raise
