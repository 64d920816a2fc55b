"""The questions: listings, and whether a volume is exported. None of them changes
anything; each is one pass over configfs."""

from __future__ import annotations

from typing import Any

from targetd_core.plugin import device_size

from .base import LioBase
from .cfs import TpgView

#: (TPG LUN number, its directory's inode, backstore HBA, backstore name)
_LunKey = tuple[int, int, str, str]
#: (pool, volume, device, unit serial) of what a TPG LUN exports
_Facts = tuple[str, str, str | None, str]


class ListingMixin(LioBase):
    """export_list, initiator_list, access_group_list, access_group_map_list and
    volume_exported."""

    def volume_exported(self, pool: str, volume: str) -> bool:
        """True while an ACL maps the volume (an export or an access group mapping).

        A question only: a backstore that no ACL uses (left by a crash, or by the old
        daemon) is not touched here; :meth:`release_volume` removes it when the volume is
        destroyed.
        """
        found = self._backstore_of(pool, volume)
        if found is None:
            return False  # the common case: one stat() per candidate HBA, no configfs pass
        view = self.cfs.read(tags=False)
        lun = view.lun_at(*found)
        return lun is not None and bool(view.users_of(lun.number))

    def _lun_facts_of(
        self,
        view: TpgView,
        number: int,
        known: dict[_LunKey, _Facts | None],
        seen: dict[_LunKey, _Facts | None],
    ) -> _Facts | None:
        """(pool, volume, device, unit serial) of what TPG LUN ``number`` exports, or None
        when it is not a volume of a configured pool.

        All four are fixed while the LUN directory is the same one (same inode: configfs
        numbers each new inode with ``get_next_ino()``, never reusing a freed number as a
        disk file system would) and links to the same backstore (read in this pass: a
        LUN directory can be relinked to another backstore): the backstore cannot be
        removed while a LUN links to it, and LIO refuses a new unit serial while the
        device is exported. So they are worked out once per LUN and process (the name
        decoded, two attribute reads: half a listing's cost under TCG), and kept for the
        LUNs of the last listing only.
        """
        lun = self._tpg_lun(view, number)
        if lun is None:
            return None
        key = (lun.number, lun.ino, lun.hba, lun.name)
        if lun.ino and key in known:
            facts = seen[key] = known[key]
            return facts
        pv = self._decode(view, number)
        if pv is None:
            facts = None
        else:
            device = self.cfs.backstore_device(lun.hba, lun.name)
            serial = self.cfs.backstore_serial(lun.hba, lun.name) or ""
            facts = (pv[0], pv[1], device, serial)
            if not (device and serial):
                return facts  # not kept: read again next time
        if lun.ino:
            seen[key] = facts
        return facts

    def export_list(self) -> list[dict[str, Any]]:
        view = self.cfs.read(tags=False)
        known = self._lun_facts
        seen: dict[_LunKey, _Facts | None] = {}
        #: TPG LUN -> (pool, volume, size, unit serial), or None: not a volume's
        rows: dict[int, tuple[str, str, int, str] | None] = {}
        out = []
        acls = view.acls
        for wwn in sorted(acls):
            mapped = acls[wwn].mapped
            for m, t in sorted(mapped.items()) if len(mapped) > 1 else mapped.items():
                if t in rows:
                    row = rows[t]
                else:
                    facts = self._lun_facts_of(view, t, known, seen)
                    row = rows[t] = (
                        None
                        if facts is None
                        else (facts[0], facts[1], device_size(facts[2]), facts[3])
                    )
                if row is not None:
                    out.append(
                        {
                            "initiator_wwn": wwn,
                            "lun": m,
                            "vol_name": row[1],
                            "vol_size": row[2],
                            "vol_uuid": row[3],
                            "pool": row[0],
                        }
                    )
        self._lun_facts = seen
        return out

    def initiator_list(self, standalone_only: bool = False) -> list[dict[str, str]]:
        view = self.cfs.read()
        return [
            {"init_id": acl.wwn, "init_type": "iscsi"}
            for acl in sorted(view.acls.values(), key=lambda a: a.wwn)
            if not (standalone_only and acl.tag)
        ]

    def access_group_list(self) -> list[dict[str, Any]]:
        groups = self.cfs.read().groups()
        return [
            {"name": name, "init_ids": sorted(members), "init_type": "iscsi"}
            for name, members in sorted(groups.items())
        ]

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
