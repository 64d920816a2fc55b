"""Exports: a volume mapped to one initiator's ACL at a LUN."""

from __future__ import annotations

from targetd_core.plugin import TargetdError, Undo

from . import naming
from .acls import AclsMixin
from .adoption import AdoptionMixin
from .backstores import BackstoresMixin
from .base import E


class ExportsMixin(AdoptionMixin, AclsMixin, BackstoresMixin):
    """export_create and export_destroy."""

    def export_create(self, pool: str, vol: str, initiator_wwn: str, lun: int) -> None:
        wwn = naming.normalize_initiator(initiator_wwn)
        p = self.core.block_pool(pool)
        name = naming.backstore_name(p.name, vol)
        # only the volume's TPG LUN and this initiator's ACL are needed, each found by its
        # path: no pass over the TPG's LUNs or ACLs
        view = self.cfs.read(acls=False, luns=False)
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
        # only this initiator's ACL and the volume's TPG LUN, each found by its path;
        # whether another ACL still maps that LUN is asked of the kernel when it is
        # about to go (Configfs.lun_in_use): no pass over every ACL
        view = self.cfs.read(acls=False, luns=False)
        view.acls_complete = False
        acl = self.cfs.read_acl(wwn)
        if acl is not None:
            view.acls[wwn] = acl
        lun = self._lun_of(view, p.name, vol)
        if lun is not None and not naming.is_targetd_hba(lun.hba, lun.name):
            # the old daemon's: moving it to targetd's naming needs all its users
            view = self.cfs.read(tags=False, luns=False)
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
                self._unmap(view, wwn, m, undo)
            if not acl.mapped:
                self._drop_acl(view, wwn, undo)
            self._drop_unused_luns(view, [lun.number], undo)
            if lun.number in view.luns:  # others still use it: move it if it is the old daemon's
                touched.update(self._migrate(view, lun, p, vol, undo)[1])

        self._transaction(touched, view, body)
