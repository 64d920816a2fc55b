"""The persistent record of targetd's NVMe exports and host keys, replayed at start-up.

The kernel forgets nvmet's configfs tree at every reboot. targetd keeps a small JSON
document, rewritten atomically after each change (mode 0600: it holds DH-HMAC-CHAP
secrets)::

    {"version": 1,
     "hosts": {"<host NQN>": {"namespaces": {"<nsid>": {"pool": "...", "volume": "...",
                                                        "uuid": "<volume uuid>",
                                                        "device": "<device path>"}},
                              "auth": {"host_key": "DHHC-1:...", "ctrl_key": "...",
                                       "hash": "hmac(sha256)", "dhgroup": "null"}}}}

Nothing read from it is trusted: :func:`check_host_record` applies the rules of a
client's request before anything is replayed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from targetd_core.plugin import Code, TargetdError, check_name

from . import naming

VERSION = 1


def empty() -> dict[str, Any]:
    return {"version": VERSION, "hosts": {}}


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
                Code.UNEXPECTED, f"cannot read the NVMe state file {self.path}: {exc.strerror}"
            ) from None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise TargetdError(
                Code.UNEXPECTED,
                f"the NVMe state file {self.path} is damaged ({exc}); move it away and "
                "re-create the exports",
            ) from None
        if (
            not isinstance(doc, dict)
            or doc.get("version") != VERSION
            or not isinstance(doc.setdefault("hosts", {}), dict)
        ):
            raise TargetdError(
                Code.UNEXPECTED, f"the NVMe state file {self.path} has an unknown format"
            )
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        """Write atomically (temporary file, fsync, rename, fsync of the directory)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)
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
                Code.UNEXPECTED, f"cannot write the NVMe state file {self.path}: {exc.strerror}"
            ) from None


def check_auth_record(auth: object) -> str | None:
    if not isinstance(auth, dict):
        return "its auth entry is not an object"
    try:
        naming.check_dhchap_secret(auth.get("host_key"), "host key")
        if auth.get("ctrl_key") is not None:
            naming.check_dhchap_secret(auth.get("ctrl_key"), "controller key")
        naming.check_choice(auth.get("hash"), naming.DHCHAP_HASHES, "hash")
        naming.check_choice(auth.get("dhgroup"), naming.DHCHAP_DHGROUPS, "DH group")
    except TargetdError as exc:
        return exc.message
    return None


def check_host_record(host: object, entry: object) -> str | None:
    """What is wrong with a recorded host, or None if it may be replayed."""
    try:
        naming.check_nqn(host)
    except TargetdError as exc:
        return exc.message
    if not isinstance(entry, dict):
        return "the entry is not an object"
    namespaces = entry.get("namespaces", {})
    if not isinstance(namespaces, dict):
        return "its namespaces are not an object"
    for key, item in namespaces.items():
        if not (isinstance(key, str) and key.isdigit() and key == str(int(key))):
            return f"namespace id {key!r} is not a number"
        try:
            naming.check_nsid(int(key))
            if not isinstance(item, dict):
                return f"namespace {key} is not an object"
            check_name(item.get("volume"), "volume name")
        except TargetdError as exc:
            return f"namespace {key}: {exc.message}"
        for k in ("pool", "uuid", "device"):
            if not isinstance(item.get(k), str) or not item[k]:
                return f"namespace {key} has no {k}"
    if entry.get("auth") is not None:
        return check_auth_record(entry["auth"])
    return None
