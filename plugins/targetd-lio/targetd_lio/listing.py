"""The questions: listings, and whether a volume is exported. None of them changes
anything; each is one pass over configfs."""

from __future__ import annotations

from typing import Any

from targetd_core.plugin import device_size

from .base import LioBase
from .cfs import TpgLun

#: (TPG LUN number, its directory's inode, backstore HBA, backstore name)
_LunKey = tuple[int, int, str, str]


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

    def _backstore_facts(
        self,
        lun: TpgLun,
        known: dict[_LunKey, tuple[str, str]],
        seen: dict[_LunKey, tuple[str, str]],
    ) -> tuple[str | None, str]:
        """The device and unit serial of the backstore a listed TPG LUN exports.

        Both are fixed while the LUN directory is the same one (same inode: configfs
        numbers each new inode with ``get_next_ino()``, never reusing a freed number as a
        disk file system would) and links to the same backstore: the backstore cannot be
        removed while a LUN links to it, and LIO refuses a new unit serial while the
        device is exported. So they are read from
        configfs once per LUN and process (two attribute reads saved per export and
        listing: half a listing's cost under TCG), and kept for the LUNs of the last
        listing only.
        """
        key = (lun.number, lun.ino, lun.hba, lun.name)
        facts = known.get(key) if lun.ino else None
        if facts is None:
            device = self.cfs.backstore_device(lun.hba, lun.name)
            serial = self.cfs.backstore_serial(lun.hba, lun.name) or ""
            if not (device and serial and lun.ino):
                return device, serial  # not cached: read again next time
            facts = (device, serial)
        seen[key] = facts
        return facts

    def export_list(self) -> list[dict[str, Any]]:
        view = self.cfs.read(tags=False)
        info: dict[int, tuple[str, str, int, str] | None] = {}
        known = self._lun_facts
        seen: dict[_LunKey, tuple[str, str]] = {}
        out = []
        for acl in sorted(view.acls.values(), key=lambda a: a.wwn):
            for m, t in sorted(acl.mapped.items()):
                if t not in info:
                    pv = self._decode(view, t)
                    if pv is None:
                        info[t] = None
                    else:
                        device, serial = self._backstore_facts(view.luns[t], known, seen)
                        info[t] = (pv[0], pv[1], device_size(device), serial)
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
