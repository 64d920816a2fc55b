"""The iSCSI export logic: exports, initiators' CHAP, access groups, on one LIO TPG.

Every changing call reads the TPG once (:meth:`Configfs.read`), decides, changes configfs
one object at a time while recording how to undo each step (a failure half way leaves
configfs as it was), and finally refreshes the persistent record of the ACLs it touched.
configfs is the truth for every listing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog

from targetd_core.plugin import BlockPool, Core, ExportHandler, TargetdError, Volume

from . import naming
from .cfs import Acl, Configfs, TpgLun, TpgView
from .errors import E
from .planning import MAX_TPG_LUN, Undo, group_free_lun, lowest_free
from .state import StateFile, check_acl_record, check_auth_record

log = structlog.get_logger("targetd.lio")


def _device_size(device: str | None) -> int:
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


class LioExports(ExportHandler):
    """Exports volumes of any block pool over iSCSI through one LIO target's TPG 1."""

    name = "iscsi"

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

    # -- helpers ---------------------------------------------------------------------------
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

    def _decode(self, view: TpgView, tpg_lun: int) -> tuple[str, str] | None:
        """(pool, volume) a TPG LUN exports: targetd's backstores by their name, the old
        daemon's (adopted) by theirs and their device; None for anything else."""
        lun = view.luns.get(tpg_lun)
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
        """The TPG LUN exporting ``pool``/``volume``: targetd's (a name look-up) or, while
        the old daemon's objects are around, an adopted one."""
        lun = view.lun_for(naming.backstore_name(pool, volume))
        if lun is not None:
            return lun
        names = naming.legacy_backstore_names(pool, volume)
        for lun in view.luns.values():
            if lun.name in names and self._decode(view, lun.number) == (pool, volume):
                return lun
        return None

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

    def _migrate(
        self, view: TpgView, lun: TpgLun, pool: BlockPool, volume: str, undo: Undo
    ) -> tuple[int, set[str]]:
        """Move an adopted export of the old daemon to targetd's naming, unless one of its
        initiators is logged in. Returns the TPG LUN to use and the ACLs changed.

        A backstore cannot be renamed and a device can back only one backstore, so its
        mapped LUNs, TPG LUN and backstore are removed and made again under targetd's
        name, with the same unit serial and the same LUN numbers for every initiator
        (each step undone on failure). An initiator logged in would see its LUN vanish
        and come back: then the old objects are kept (and used) as they are, and the
        move happens at a later change.
        """
        if naming.is_targetd_hba(lun.hba, lun.name):
            return lun.number, set()
        users = view.users_of(lun.number)
        busy = sorted(w for w, _ in users if self.cfs.acl_has_session(w))
        if busy:
            log.info(
                "an export made by the old daemon is kept as it is: its initiators are "
                "logged in; it moves to targetd's naming at a later change",
                pool=pool.name,
                volume=volume,
                backstore=lun.name,
                logged_in=busy,
            )
            return lun.number, set()
        old_device = self.cfs.backstore_device(lun.hba, lun.name) or ""
        serial = self.cfs.backstore_serial(lun.hba, lun.name)
        if not naming.is_serial(serial):
            serial = self._volume(pool.name, volume)[1].uuid
        for w, m in users:
            self.cfs.delete_mapped_lun(w, m)
            undo.add(lambda w=w, m=m: self.cfs.create_mapped_lun(w, m, lun.number))
            del view.acls[w].mapped[m]
        self.cfs.delete_lun(lun.number)
        undo.add(lambda: self.cfs.create_lun(lun.number, lun.hba, lun.name))
        del view.luns[lun.number]
        self.cfs.delete_backstore(lun.hba, lun.name)
        undo.add(lambda: self.cfs.create_backstore(lun.name, old_device, serial, at_hba=lun.hba))
        if self._legacy is not None:
            self._legacy.discard((lun.hba, lun.name))
        name = naming.backstore_name(pool.name, volume)
        hba = self.cfs.create_backstore(name, pool.device_path(volume), serial)
        undo.add(lambda: self.cfs.delete_backstore(hba, name, quiet=True))
        number = lowest_free(view.luns, MAX_TPG_LUN)
        assert number is not None  # one was just freed
        self.cfs.create_lun(number, hba, name)
        undo.add(lambda: self.cfs.delete_lun(number, quiet=True))
        view.luns[number] = TpgLun(number, hba, name)
        for w, m in users:
            self._map(view, w, m, number, undo)
        log.info(
            "an export made by the old daemon moved to targetd's naming",
            pool=pool.name,
            volume=volume,
            old_backstore=lun.name,
            backstore=name,
            initiators=sorted({w for w, _ in users}),
        )
        return number, {w for w, _ in users}

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
        hba = self.cfs.create_backstore(name, pool.device_path(vol.name), vol.uuid)
        undo.add(lambda: self.cfs.delete_backstore(hba, name, quiet=True))
        number = lowest_free(view.luns, MAX_TPG_LUN)
        if number is None:
            raise TargetdError(E.UNEXPECTED, "the TPG has no free LUN number (65536 in use)")
        self.cfs.create_lun(number, hba, name)
        undo.add(lambda: self.cfs.delete_lun(number, quiet=True))
        view.luns[number] = TpgLun(number, hba, name)
        return number

    def _new_acl(
        self, view: TpgView, wwn: str, tag: str | None, auth: dict[str, Any], undo: Undo
    ) -> None:
        self.cfs.create_acl(wwn)
        undo.add(lambda: self.cfs.delete_acl(wwn, quiet=True))
        if tag:
            self.cfs.set_tag(wwn, tag)
        creds = auth.get(wwn)
        if creds:
            problem = check_auth_record(creds)
            if problem is not None:  # never write what the rules refuse, nor drop CHAP
                raise TargetdError(
                    E.UNEXPECTED,
                    f"the recorded CHAP settings of {wwn} in {self.state.path} are invalid "
                    f"({problem}); set them again with initiator_set_auth",
                )
            self.cfs.set_acl_auth(
                wwn,
                creds.get("in_user", ""),
                creds.get("in_pass", ""),
                creds.get("out_user", ""),
                creds.get("out_pass", ""),
            )
        view.acls[wwn] = Acl(wwn, tag)

    def _map(self, view: TpgView, wwn: str, mapped: int, tpg_lun: int, undo: Undo) -> None:
        self.cfs.create_mapped_lun(wwn, mapped, tpg_lun)
        undo.add(lambda: self.cfs.delete_mapped_lun(wwn, mapped, quiet=True))
        view.acls[wwn].mapped[mapped] = tpg_lun

    def _drop_unused_luns(self, view: TpgView, tpg_luns: Iterable[int]) -> None:
        """Remove targetd's TPG LUNs (and backstores) that no ACL maps any more."""
        for number in set(tpg_luns):
            lun = view.luns.get(number)
            if lun is None or self._decode(view, number) is None:
                continue  # not targetd's, nor adopted from the old daemon
            if view.users_of(number):
                continue
            self.cfs.delete_lun(number)
            self.cfs.delete_backstore(lun.hba, lun.name)
            del view.luns[number]
            if self._legacy is not None:
                self._legacy.discard((lun.hba, lun.name))

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
                    lun = view.luns[t]
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
        """Run ``body`` with rollback on failure; then persist the touched ACLs."""
        if doc is None:
            doc = self.state.load()
        undo = Undo()
        try:
            body(undo)
        except BaseException:
            undo.rollback()
            # what is left in configfs (a removal that failed half way) is what a reboot
            # must restore: record it as it is
            with contextlib.suppress(Exception):
                self._record(doc, self.cfs.read(), touched)
            raise
        self._record(doc, view, touched)

    # -- ExportHandler ---------------------------------------------------------------------
    def volume_exported(self, pool: str, volume: str) -> bool:
        name = naming.backstore_name(pool, volume)
        hba = self.cfs.find_backstore(name)
        if hba is None:
            legacy = self._legacy_backstore(pool, volume)
            if legacy is None:
                return False
            hba, name = legacy
        view = self.cfs.read(tags=False)
        lun = next((x for x in view.luns.values() if (x.hba, x.name) == (hba, name)), None)
        if lun is not None and view.users_of(lun.number):
            return True
        # a backstore no ACL uses (left by a crash, or by the old daemon): remove it, it
        # would hold the device
        if lun is not None:
            self.cfs.delete_lun(lun.number)
        self.cfs.delete_backstore(hba, name)
        if self._legacy is not None:
            self._legacy.discard((hba, name))
        return False

    # -- exports ---------------------------------------------------------------------------
    def export_list(self) -> list[dict[str, Any]]:
        view = self.cfs.read(tags=False)
        info: dict[int, tuple[str, str, int, str] | None] = {}
        out = []
        for acl in sorted(view.acls.values(), key=lambda a: a.wwn):
            for m, t in sorted(acl.mapped.items()):
                if t not in info:
                    pv = self._decode(view, t)
                    if pv is None:
                        info[t] = None
                    else:
                        lun = view.luns[t]
                        size = _device_size(self.cfs.backstore_device(lun.hba, lun.name))
                        serial = self.cfs.backstore_serial(lun.hba, lun.name) or ""
                        info[t] = (pv[0], pv[1], size, serial)
                i = info[t]
                if i is None:
                    continue
                out.append(
                    {
                        "initiator_wwn": acl.wwn,
                        "lun": m,
                        "vol_name": i[1],
                        "vol_size": i[2],
                        "vol_uuid": i[3],
                        "pool": i[0],
                    }
                )
        return out

    def export_create(self, pool: str, vol: str, initiator_wwn: str, lun: int) -> None:
        wwn = naming.normalize_initiator(initiator_wwn)
        p = self.core.block_pool(pool)
        name = naming.backstore_name(p.name, vol)
        # only the TPG's LUNs and this initiator's ACL are needed: no scan of other ACLs
        view = self.cfs.read(acls=False)
        existing = self._lun_of(view, p.name, vol)
        if existing is not None and not naming.is_targetd_hba(existing.hba, existing.name):
            view = self.cfs.read()  # the old daemon's: moving it needs all its users
        # an exported volume exists (vol_destroy refuses it): no storage tool call then
        v = None if existing is not None else self._volume(pool, vol)[1]
        acl = view.acls.get(wwn) or self.cfs.read_acl(wwn)
        if acl is not None:
            view.acls[wwn] = acl
            if acl.tag:
                raise TargetdError(
                    E.INITIATOR_IN_USE,
                    f"initiator {wwn} is in access group {acl.tag!r}: map the volume to the "
                    "group (access_group_map_create) or remove it from the group first",
                )
            if lun in acl.mapped:
                if existing is not None and acl.mapped[lun] == existing.number:
                    return  # the same export exists
                other = self._decode(view, acl.mapped[lun])
                what = f"volume {other[1]!r} of pool {other[0]!r}" if other else "another volume"
                raise TargetdError(
                    E.INVALID_ARGUMENT,
                    f"LUN {lun} of initiator {wwn} already exports {what}; choose a free LUN "
                    "(export_list shows the LUNs in use)",
                )
            if existing is not None:
                for m, t in acl.mapped.items():
                    if t == existing.number:
                        raise TargetdError(
                            E.INVALID_ARGUMENT,
                            f"volume {vol!r} is already exported to {wwn} at LUN {m}; "
                            "export_destroy it first to move it",
                        )
        doc = self.state.load()
        touched = {wwn}

        def body(undo: Undo) -> None:
            self._ready()
            if existing is not None:
                tpg_lun, moved = self._migrate(view, existing, p, vol, undo)
                touched.update(moved)
            else:
                assert v is not None
                tpg_lun = self._ensure_lun(view, name, p, v, undo)
            if wwn not in view.acls:
                self._new_acl(view, wwn, None, doc["auth"], undo)
            self._map(view, wwn, lun, tpg_lun, undo)

        self._transaction(touched, view, body, doc)

    def export_destroy(self, pool: str, vol: str, initiator_wwn: str) -> None:
        wwn = naming.normalize_initiator(initiator_wwn)
        p = self.core.block_pool(pool)
        view = self.cfs.read(tags=False)
        acl = view.acls.get(wwn)
        if acl is not None:
            acl.tag = self.cfs.acl_tag(wwn)
        lun = self._lun_of(view, p.name, vol)
        maps = [m for m, t in acl.mapped.items() if t == lun.number] if acl and lun else []
        if not maps:
            raise TargetdError(
                E.EXPORT_NOT_FOUND, f"volume {vol!r} of pool {pool!r} is not exported to {wwn}"
            )
        assert acl is not None and lun is not None
        if acl.tag:
            raise TargetdError(
                E.EXPORT_NOT_FOUND,
                f"{wwn} sees volume {vol!r} through access group {acl.tag!r}, not through an "
                "export: use access_group_map_destroy",
            )

        touched = {wwn}

        def body(undo: Undo) -> None:
            for m in maps:
                self.cfs.delete_mapped_lun(wwn, m)
                del acl.mapped[m]
            if not acl.mapped:
                self.cfs.delete_acl(wwn)
                del view.acls[wwn]
            self._drop_unused_luns(view, [lun.number])
            if lun.number in view.luns:  # others still use it: move it if it is the old daemon's
                touched.update(self._migrate(view, lun, p, vol, undo)[1])

        self._transaction(touched, view, body)

    # -- initiators ------------------------------------------------------------------------
    def initiator_set_auth(
        self,
        initiator_wwn: str,
        in_user: str | None,
        in_pass: str | None,
        out_user: str | None,
        out_pass: str | None,
    ) -> None:
        wwn = naming.normalize_initiator(initiator_wwn)
        in_user, in_pass, out_user, out_pass = (
            naming.check_chap_value(x, what) if x else ""
            for x, what in (
                (in_user, "in_user"),
                (in_pass, "in_pass"),
                (out_user, "out_user"),
                (out_pass, "out_pass"),
            )
        )
        if not (in_user and in_pass):
            in_user = in_pass = ""
        if not (out_user and out_pass):
            out_user = out_pass = ""
        doc = self.state.load()
        if in_user or out_user:
            doc["auth"][wwn] = {
                "in_user": in_user,
                "in_pass": in_pass,
                "out_user": out_user,
                "out_pass": out_pass,
            }
        else:
            doc["auth"].pop(wwn, None)
        if self.cfs.acl_exists(wwn):
            self.cfs.set_acl_auth(wwn, in_user, in_pass, out_user, out_pass)
        self.state.save(doc)

    def initiator_list(self, standalone_only: bool = False) -> list[dict[str, str]]:
        view = self.cfs.read()
        return [
            {"init_id": acl.wwn, "init_type": "iscsi"}
            for acl in sorted(view.acls.values(), key=lambda a: a.wwn)
            if not (standalone_only and acl.tag)
        ]

    # -- access groups ---------------------------------------------------------------------
    def access_group_list(self) -> list[dict[str, Any]]:
        groups = self.cfs.read().groups()
        return [
            {"name": name, "init_ids": sorted(members), "init_type": "iscsi"}
            for name, members in sorted(groups.items())
        ]

    def _in_use(self, view: TpgView, wwn: str, group: str) -> TargetdError:
        acl = view.acls[wwn]
        where = f"access group {acl.tag!r}" if acl.tag else "a standalone export (export_create)"
        return TargetdError(
            E.INITIATOR_IN_USE,
            f"initiator {wwn} is already used by {where}; it cannot join access group {group!r}",
        )

    def access_group_create(self, ag_name: str, init_id: str, init_type: str) -> None:
        _check_init_type(init_type)
        naming.check_group_tag(ag_name)
        wwn = naming.normalize_initiator(init_id, "init_id")
        self._ready()
        view = self.cfs.read()
        if ag_name in view.groups():
            raise TargetdError(E.NAME_CONFLICT, f"access group {ag_name!r} already exists")
        if wwn in view.acls:
            raise self._in_use(view, wwn, ag_name)
        doc = self.state.load()
        self._transaction(
            {wwn}, view, lambda undo: self._new_acl(view, wwn, ag_name, doc["auth"], undo), doc
        )

    def access_group_destroy(self, ag_name: str) -> None:
        view = self.cfs.read()
        members = view.groups().get(ag_name, [])
        if not members:
            return

        def body(undo: Undo) -> None:
            luns: set[int] = set()
            for wwn in members:
                luns.update(view.acls[wwn].mapped.values())
                self.cfs.delete_acl(wwn)
                del view.acls[wwn]
            self._drop_unused_luns(view, luns)

        self._transaction(set(members), view, body)

    def access_group_init_add(self, ag_name: str, init_id: str, init_type: str) -> None:
        _check_init_type(init_type)
        naming.check_group_tag(ag_name)
        wwn = naming.normalize_initiator(init_id, "init_id")
        self._ready()
        view = self.cfs.read()
        acl = view.acls.get(wwn)
        if acl is not None:
            if acl.tag == ag_name:
                return
            raise self._in_use(view, wwn, ag_name)
        members = view.groups().get(ag_name, [])
        mapping: dict[int, int] = {}
        for member in members:
            mapping.update(view.acls[member].mapped)
        doc = self.state.load()

        def body(undo: Undo) -> None:
            self._new_acl(view, wwn, ag_name, doc["auth"], undo)
            for m, t in sorted(mapping.items()):
                self._map(view, wwn, m, t, undo)

        self._transaction({wwn}, view, body, doc)

    def access_group_init_del(self, ag_name: str, init_id: str, init_type: str) -> None:
        _check_init_type(init_type)
        wwn = naming.normalize_initiator(init_id, "init_id")
        view = self.cfs.read()
        acl = view.acls.get(wwn)
        if acl is None or acl.tag != ag_name:
            return

        def body(undo: Undo) -> None:
            luns = set(acl.mapped.values())
            self.cfs.delete_acl(wwn)
            del view.acls[wwn]
            self._drop_unused_luns(view, luns)

        self._transaction({wwn}, view, body)

    def access_group_map_list(self) -> list[dict[str, Any]]:
        view = self.cfs.read()
        seen: set[tuple[str, int, int]] = set()
        out = []
        for name, members in sorted(view.groups().items()):
            for wwn in members:
                for m, t in view.acls[wwn].mapped.items():
                    if (name, m, t) in seen:
                        continue
                    seen.add((name, m, t))
                    pv = self._decode(view, t)
                    if pv is None:
                        continue
                    out.append(
                        {"ag_name": name, "h_lun_id": m, "pool_name": pv[0], "vol_name": pv[1]}
                    )
        out.sort(key=lambda d: (d["ag_name"], d["h_lun_id"]))
        return out

    def access_group_map_create(
        self, pool_name: str, vol_name: str, ag_name: str, h_lun_id: int | None = None
    ) -> None:
        p, v = self._volume(pool_name, vol_name)
        view = self.cfs.read()
        members = view.groups().get(ag_name, [])
        if not members:
            raise TargetdError(E.ACCESS_GROUP_NOT_FOUND, f"access group {ag_name!r} not found")
        self._ready()
        name = naming.backstore_name(p.name, vol_name)
        existing = self._lun_of(view, p.name, vol_name)
        missing = members
        if existing is not None:
            missing = [w for w in members if existing.number not in view.acls[w].mapped.values()]
            if not missing:
                return  # already mapped
            # a partial mapping (e.g. a member that failed to get it): complete it at its LUN
            for w in members:
                for m, t in view.acls[w].mapped.items():
                    if t == existing.number:
                        h_lun_id = m
        if h_lun_id is None:
            h_lun_id = group_free_lun(view.acls[w].mapped for w in members)
            if h_lun_id is None:
                raise TargetdError(
                    E.NO_FREE_LUN, f"access group {ag_name!r} has no free LUN id in 0..255"
                )
        for w in missing:
            t = view.acls[w].mapped.get(h_lun_id)
            if t is not None:
                other = self._decode(view, t)
                what = f"volume {other[1]!r} of pool {other[0]!r}" if other else "another volume"
                raise TargetdError(
                    E.INVALID_ARGUMENT,
                    f"LUN {h_lun_id} of access group {ag_name!r} already maps {what} "
                    f"(for {w}); leave h_lun_id out to get a free one",
                )
        lun_id = h_lun_id
        touched = set(missing)

        def body(undo: Undo) -> None:
            if existing is not None:
                tpg_lun, moved = self._migrate(view, existing, p, vol_name, undo)
                touched.update(moved)
            else:
                tpg_lun = self._ensure_lun(view, name, p, v, undo)
            for w in missing:
                self._map(view, w, lun_id, tpg_lun, undo)

        self._transaction(touched, view, body)

    def access_group_map_destroy(self, pool_name: str, vol_name: str, ag_name: str) -> None:
        p = self.core.block_pool(pool_name)
        view = self.cfs.read()
        members = view.groups().get(ag_name, [])
        lun = self._lun_of(view, p.name, vol_name)
        if lun is None or not members:
            return
        todo = [(w, m) for w in members for m, t in view.acls[w].mapped.items() if t == lun.number]
        if not todo:
            return
        touched = {w for w, _ in todo}

        def body(undo: Undo) -> None:
            for w, m in todo:
                self.cfs.delete_mapped_lun(w, m)
                del view.acls[w].mapped[m]
            self._drop_unused_luns(view, [lun.number])
            if lun.number in view.luns:  # others still use it: move it if it is the old daemon's
                touched.update(self._migrate(view, lun, p, vol_name, undo)[1])

        self._transaction(touched, view, body)

    # -- start-up --------------------------------------------------------------------------
    def restore(self) -> dict[str, int]:
        """Re-create what the state file records and configfs lacks (after a reboot).

        Additive and idempotent: nothing is removed, what exists is left alone. Problems
        with one item (a pool no longer configured, a missing device) are logged and
        skipped. Returns counts of what was created.
        """
        doc = self.state.load()
        counts = {"acls": 0, "mapped_luns": 0, "backstores": 0, "skipped": 0}
        if not doc["acls"]:
            return counts
        self._ready()
        view = self.cfs.read()
        for wwn, entry in sorted(doc["acls"].items()):
            problem = check_acl_record(wwn, entry, doc["auth"].get(wwn))
            if problem is not None:
                log.error(
                    "restore: the state file's entry breaks the naming rules; skipped",
                    initiator=_shown(wwn),
                    reason=problem,
                )
                counts["skipped"] += 1
                continue
            try:
                if wwn not in view.acls:
                    self._new_acl(view, wwn, entry.get("tag"), doc["auth"], Undo())
                    counts["acls"] += 1
                for m_text, item in sorted(entry.get("luns", {}).items()):
                    m = int(m_text)  # checked by check_acl_record
                    if m in view.acls[wwn].mapped:
                        continue
                    pool = self.core.block_pools.get(item["pool"])
                    if pool is None:
                        log.warning(
                            "restore: pool is not configured any more; skipped",
                            initiator=wwn,
                            lun=m,
                            pool=item["pool"],
                        )
                        counts["skipped"] += 1
                        continue
                    name = naming.backstore_name(pool.name, item["volume"])
                    lun = self._lun_of(view, pool.name, item["volume"])
                    if lun is None:
                        hba = self.cfs.find_backstore(name)
                        if hba is None:
                            hba = self.cfs.create_backstore(
                                name, pool.device_path(item["volume"]), item["uuid"]
                            )
                            counts["backstores"] += 1
                        number = lowest_free(view.luns, MAX_TPG_LUN)
                        assert number is not None
                        self.cfs.create_lun(number, hba, name)
                        lun = view.luns[number] = TpgLun(number, hba, name)
                    self._map(view, wwn, m, lun.number, Undo())
                    counts["mapped_luns"] += 1
            except TargetdError as exc:
                log.error("restore: could not restore an export", initiator=wwn, error=exc.message)
                counts["skipped"] += 1
        return counts

    def adopt(self) -> int:
        """Take over the exports the old daemon (targetd 0.10.x) left in configfs.

        They are listed, protected (-303) and destroyed like targetd's own from the first
        call on (:meth:`_decode`); this records them, once, at start-up: every ACL that
        maps one of the old daemon's backstores gets its entry in the state file, and its
        CHAP settings (read from configfs) when targetd has none for it, so that they
        survive a reboot without the old ``saveconfig.json``. Returns how many ACLs were
        recorded.
        """
        if not self.cfs.tpg_exists():
            return 0
        view = self.cfs.read()
        old = {
            n
            for n, lun in view.luns.items()
            if not naming.is_targetd_hba(lun.hba, lun.name) and self._decode(view, n)
        }
        if not old:
            return 0
        doc = self.state.load()
        wwns: set[str] = set()
        for wwn, acl in view.acls.items():
            if not old.intersection(acl.mapped.values()):
                continue
            if check_acl_record(wwn, {"tag": acl.tag, "luns": {}}, None) is not None:
                log.warning(
                    "an ACL made by the old daemon breaks the naming rules: not recorded",
                    initiator=_shown(wwn),
                )
                continue
            wwns.add(wwn)
            if wwn in doc["auth"]:
                continue
            creds = self.cfs.acl_auth(wwn)
            if not (creds["in_user"] and creds["in_pass"]):
                creds["in_user"] = creds["in_pass"] = ""
            if not (creds["out_user"] and creds["out_pass"]):
                creds["out_user"] = creds["out_pass"] = ""
            if not any(creds.values()):
                continue
            problem = check_auth_record(creds)
            if problem is not None:
                log.warning(
                    "the CHAP settings the old daemon set cannot be recorded; set them "
                    "again with initiator_set_auth",
                    initiator=wwn,
                    reason=problem,
                )
                continue
            doc["auth"][wwn] = creds
        if wwns:
            self._record(doc, view, wwns)
        log.info(
            "exports made by the old daemon adopted: listed, protected and recorded; each "
            "moves to targetd's naming when its exports are next changed",
            acls=len(wwns),
            backstores=len(old),
        )
        return len(wwns)
