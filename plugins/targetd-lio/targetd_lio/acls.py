"""Initiators' ACLs and their CHAP settings."""

from __future__ import annotations

import contextlib
from typing import Any

from targetd_core.plugin import TargetdError, Undo

from . import naming
from .base import E, LioBase
from .cfs import Acl, TpgView
from .state import check_auth_record


class AclsMixin(LioBase):
    """ACLs (made with their recorded CHAP settings) and initiator_set_auth."""

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
            self.cfs.put_acl_auth(wwn, creds)
        view.acls[wwn] = Acl(wwn, tag)

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
        if not self.cfs.acl_exists(wwn):
            self.state.save(doc)
            return
        old = self.cfs.acl_auth(wwn)
        self.cfs.set_acl_auth(wwn, in_user, in_pass, out_user, out_pass)
        try:
            self.state.save(doc)
        except BaseException:  # not recorded: put LIO's settings back as they were
            with contextlib.suppress(Exception):
                self.cfs.put_acl_auth(wwn, old)
            raise
