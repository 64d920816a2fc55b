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

Nothing read from the file is trusted: :func:`check_acl_record` checks every entry with the
same rules as a client's request before it is replayed (an entry written by an older
version, or edited by hand, that breaks them is logged and skipped).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from targetd_core.plugin import Code, TargetdError, check_name

from . import naming

VERSION = 1


def empty() -> dict[str, Any]:
    return {"version": VERSION, "acls": {}, "auth": {}}


class StateFile:
    """The state file, with what keeps a change's cost flat as the file grows.

    - **load** reuses the document this process saved last while the path still names
      that same file: a descriptor kept open on it pins its inode (no other file can get
      its number), and size and times must match too. Another worker's save (a rename)
      or an edit makes it read the file again. The document handed out is the caller's:
      it is not cached again until it is saved.
    - **save** re-encodes only the entries that were replaced since the last save (each
      top-level entry's JSON text is kept with the entry object it came from): callers
      replace an entry (``doc["acls"][wwn] = {...}``), never change one in place.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: tuple[int, tuple[int, int, int, int], dict[str, Any]] | None = None
        self._texts: dict[tuple[str, str], tuple[object, str]] = {}

    def _forget(self) -> None:
        if self._saved is not None:
            os.close(self._saved[0])
            self._saved = None

    @staticmethod
    def _key(st: os.stat_result) -> tuple[int, int, int, int]:
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def load(self) -> dict[str, Any]:
        if self._saved is not None:
            fd, key, doc = self._saved
            self._forget()
            try:
                current = os.stat(self.path)
            except OSError:
                current = None
            if current is not None and self._key(current) == key:
                return doc
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
        if not isinstance(doc["acls"], dict) or not isinstance(doc["auth"], dict):
            raise TargetdError(
                Code.UNEXPECTED, f"the LIO state file {self.path} has an unknown format"
            )
        return doc

    def _encode(self, doc: dict[str, Any]) -> bytes:
        """``json.dumps(doc, sort_keys=True, separators=(",", ":"))``, reusing the text of
        every entry of ``acls`` and ``auth`` that is the same object as at the last save."""
        texts: dict[tuple[str, str], tuple[object, str]] = {}
        parts = []
        for section in sorted(doc):
            value = doc[section]
            if section in ("acls", "auth") and isinstance(value, dict):
                items = []
                for name in sorted(value):
                    entry = value[name]
                    known = self._texts.get((section, name))
                    if known is not None and known[0] is entry:
                        item = known[1]
                    else:
                        text = json.dumps(entry, sort_keys=True, separators=(",", ":"))
                        item = f"{json.dumps(name)}:{text}"
                    texts[(section, name)] = (entry, item)
                    items.append(item)
                encoded = "{" + ",".join(items) + "}"
            else:
                encoded = json.dumps(value, sort_keys=True, separators=(",", ":"))
            parts.append(f"{json.dumps(section)}:{encoded}")
        self._texts = texts
        return ("{" + ",".join(parts) + "}").encode()

    def save(self, doc: dict[str, Any]) -> None:
        """Write atomically (temporary file, fsync, rename, fsync of the directory)."""
        self._forget()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            data = self._encode(doc)
        except BaseException:
            self._texts = {}
            raise
        replaced = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:  # a nearly full file system may take only part of it
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            replaced = True
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            self._texts = {}
            if not replaced:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # the previous file is intact; give back the space
            raise TargetdError(
                Code.UNEXPECTED,
                f"cannot write the LIO state file {self.path}: {exc.strerror or exc} (is its "
                "file system full or read-only?); the change was undone",
            ) from None
        try:
            pin = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        self._saved = (pin, self._key(os.fstat(pin)), doc)


def check_auth_record(creds: object) -> str | None:
    """What is wrong with a recorded ``auth`` entry, or None if it may be written to LIO."""
    if not isinstance(creds, dict):
        return "its CHAP entry is not an object"
    for key in ("in_user", "in_pass", "out_user", "out_pass"):
        value = creds.get(key, "")
        if value == "":
            continue
        try:
            naming.check_chap_value(value, key)
        except TargetdError as exc:
            return f"its CHAP entry is invalid: {exc.message}"
    return None


def check_acl_record(wwn: object, entry: object, creds: object) -> str | None:
    """What is wrong with a recorded ACL (name, tag, LUNs and its CHAP entry), or None.

    The same rules as for a client's request: an iSCSI name in its normalised form, a
    contract name as tag, LUN numbers 0..255, contract volume names, unit serials LIO
    can store. An ACL whose CHAP entry is invalid is refused as a whole (re-creating it
    without its credentials would open it to anyone using the name).
    """
    try:
        if naming.normalize_initiator(wwn) != wwn:
            return "the initiator name is not in its normalised (lower-case) form"
    except TargetdError as exc:
        return exc.message
    if not isinstance(entry, dict):
        return "the entry is not an object"
    tag = entry.get("tag")
    if tag is not None:
        try:
            naming.check_group_tag(check_name(tag, "access group name"))
        except TargetdError as exc:
            return exc.message
    luns = entry.get("luns", {})
    if not isinstance(luns, dict):
        return "its LUNs are not an object"
    for key, item in luns.items():
        if naming.parse_lun_key(key) is None:
            return f"LUN {key!r} is not a number in 0..255"
        if not isinstance(item, dict) or not isinstance(item.get("pool"), str):
            return f"LUN {key} has no pool"
        try:
            check_name(item.get("volume"), "volume name")
        except TargetdError as exc:
            return f"LUN {key}: {exc.message}"
        if not naming.is_serial(item.get("uuid")):
            return f"LUN {key} has no valid unit serial"
    if creds is not None:
        return check_auth_record(creds)
    return None
