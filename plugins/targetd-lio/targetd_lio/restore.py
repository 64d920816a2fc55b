"""Replaying the state file into configfs at start-up (after a reboot)."""

from __future__ import annotations

from targetd_core.plugin import TargetdError, Undo

from . import naming
from .acls import AclsMixin
from .base import _shown, log
from .state import check_acl_record


class RestoreMixin(AclsMixin):
    """restore."""

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
                        number = self._new_lun(view, hba, name, Undo())
                        lun = view.luns[number]
                    self._map(view, wwn, m, lun.number, Undo())
                    counts["mapped_luns"] += 1
            except TargetdError as exc:
                log.error("restore: could not restore an export", initiator=wwn, error=exc.message)
                counts["skipped"] += 1
        return counts
