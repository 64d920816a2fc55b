"""The persistent record of targetd's LIO configuration, replayed at start-up.

configfs is lost at every reboot. targetd does not use rtslib's ``save_to_file()``, which
dumps every object's every attribute (2.75 s at 100 exports in the reference, after every
change); it keeps a small JSON document instead, rewritten atomically after each change
(a few kilobytes at 100 exports: the cost is the ``fsync``, not the size)::

    {"version": 1,
     "acls": {"<initiator>": {"tag": "<group>" | null,
                               "luns": {"<mapped lun>": {"pool": "...", "volume": "...",
                                                          "uuid": "<unit serial>"}}}},
     "auth": {"<initiator>": {"in_user": "...", "in_pass": "...",
                               "out_user": "...", "out_pass": "..."}}}

``acls`` mirrors configfs (each ACL entry is refreshed from configfs after the operation
that touched it), ``auth`` holds the CHAP credentials set with ``initiator_set_auth``,
kept while the initiator has no ACL so they apply again when it gets one. The file holds
CHAP secrets, like rtslib's ``saveconfig.json``: it is written with mode 0600.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from targetd_core.plugin import Code, TargetdError

VERSION = 1


def empty() -> dict[str, Any]:
    return {"version": VERSION, "acls": {}, "auth": {}}


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return empty()
        except OSError as exc:
            raise TargetdError(
                Code.UNEXPECTED, f"cannot read the LIO state file {self.path}: {exc.strerror}"
            ) from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise TargetdError(
                Code.UNEXPECTED,
                f"the LIO state file {self.path} is damaged ({exc}); move it away and "
                "re-create the exports",
            ) from None
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise TargetdError(
                Code.UNEXPECTED, f"the LIO state file {self.path} has an unknown format"
            )
        doc.setdefault("acls", {})
        doc.setdefault("auth", {})
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        """Write atomically (temporary file, fsync, rename, fsync of the directory)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise TargetdError(
                Code.UNEXPECTED,
                f"cannot write the LIO state file {self.path}: {exc.strerror}; the change is "
                "live but will not survive a reboot",
            ) from None
