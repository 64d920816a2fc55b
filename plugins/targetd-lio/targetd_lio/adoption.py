"""The exports targetd 0.10.x (the old daemon) left in configfs: found, recorded at
start-up, and moved to targetd's naming at their first change."""

from __future__ import annotations

from targetd_core.plugin import BlockPool, Undo

from . import naming
from .backstores import BackstoresMixin
from .base import _shown, log
from .cfs import TpgLun, TpgView
from .state import check_acl_record, check_auth_record


class AdoptionMixin(BackstoresMixin):
    """The old daemon's backstores: look-up, recording (adopt) and the move (_migrate)."""

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
        number = self._new_lun(view, hba, name, undo)
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
