"""Access groups: ACLs sharing a tag, and volumes mapped to every member."""

from __future__ import annotations

from targetd_core.plugin import TargetdError, Undo

from . import naming
from .acls import AclsMixin
from .adoption import AdoptionMixin
from .backstores import BackstoresMixin
from .base import E, _check_init_type
from .cfs import TpgView
from .planning import group_free_lun


class GroupsMixin(AdoptionMixin, AclsMixin, BackstoresMixin):
    """The access_group_* changes."""

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
                self._drop_acl(view, wwn, undo)
            self._drop_unused_luns(view, luns, undo)

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
            self._drop_acl(view, wwn, undo)
            self._drop_unused_luns(view, luns, undo)

        self._transaction({wwn}, view, body)

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
                self._unmap(view, w, m, undo)
            self._drop_unused_luns(view, [lun.number], undo)
            if lun.number in view.luns:  # others still use it: move it if it is the old daemon's
                touched.update(self._migrate(view, lun, p, vol_name, undo)[1])

        self._transaction(touched, view, body)
