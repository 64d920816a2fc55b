"""Export options, checked against exports(5) of nfs-utils 2.6 before anything runs.

Every option is a known flag or ``key=value`` with a checked value; unknown options,
conflicting pairs and a key given twice with different values are refused (-32602).
Options are returned in the order given, without duplicates.
"""

from __future__ import annotations

import re
from typing import Any

from targetd_core.plugin import Code, TargetdError

#: Flags exportfs 2.6 accepts (``mp``/``mountpoint`` also take ``=path``).
FLAGS = frozenset(
    """ro rw secure insecure sync async wdelay no_wdelay hide nohide crossmnt nocrossmnt
    subtree_check no_subtree_check auth_nlm no_auth_nlm secure_locks insecure_locks
    root_squash no_root_squash all_squash no_all_squash acl no_acl nordirplus pnfs no_pnfs
    security_label mp mountpoint""".split()
)

#: Pairs that contradict each other. ``auth_nlm`` is ``secure_locks`` and
#: ``no_auth_nlm`` is ``insecure_locks`` under another name.
CONFLICTS: tuple[tuple[str, str], ...] = (
    ("rw", "ro"),
    ("sync", "async"),
    ("secure", "insecure"),
    ("hide", "nohide"),
    ("wdelay", "no_wdelay"),
    ("root_squash", "no_root_squash"),
    ("all_squash", "no_all_squash"),
    ("subtree_check", "no_subtree_check"),
    ("crossmnt", "nocrossmnt"),
    ("secure_locks", "insecure_locks"),
    ("auth_nlm", "no_auth_nlm"),
    ("secure_locks", "no_auth_nlm"),
    ("auth_nlm", "insecure_locks"),
    ("acl", "no_acl"),
    ("pnfs", "no_pnfs"),
)

SEC_FLAVOURS = ("sys", "krb5", "krb5i", "krb5p")
_ID_MIN, _ID_MAX = -1, 2**32 - 1
# An absolute path in an option value: none of the characters that end an option
# (',', ')'), start another entry (whitespace, '(') or a comment, or quote.
_OPT_PATH_RE = re.compile(r"/[^\s,()#\"'\\:@+]*")
_REFER_HOST_RE = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_FSID_UUID_RE = re.compile(r"[0-9A-Fa-f:.-]+")


def _bad(message: str) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, message)


def _check_id(key: str, value: str) -> str:
    try:
        n = int(value)
    except ValueError:
        raise _bad(f"{key}= must be an integer, got {value!r}") from None
    if not _ID_MIN <= n <= _ID_MAX:
        raise _bad(f"{key}= must be between {_ID_MIN} and {_ID_MAX}, got {n}")
    return str(n)


def _check_sec(key: str, value: str) -> str:
    flavours = value.split(":")
    unknown = [f for f in flavours if f not in SEC_FLAVOURS]
    if unknown:
        raise _bad(f"sec= takes a ':'-list of {', '.join(SEC_FLAVOURS)}; unknown {unknown}")
    if len(set(flavours)) != len(flavours):
        raise _bad(f"sec= lists a flavour twice: {value!r}")
    return value


def _check_fsid(key: str, value: str) -> str:
    if value == "root":
        return value
    if value.isdigit():
        if int(value) > _ID_MAX:
            raise _bad(f"fsid= number too large: {value}")
        return value
    if _FSID_UUID_RE.fullmatch(value) and sum(c in "0123456789abcdefABCDEF" for c in value) == 32:
        return value
    raise _bad(f"fsid= must be a number, 'root' or a UUID of 32 hex digits, got {value!r}")


def _check_path(key: str, value: str) -> str:
    if not _OPT_PATH_RE.fullmatch(value) or len(value) > 4096:
        raise _bad(f"{key}= must be an absolute path without spaces or , ( ) # : @ +")
    return value


def _check_locations(key: str, value: str) -> str:
    """``path@host[+host][:path@host[+host]]``"""
    for location in value.split(":"):
        path, sep, hosts = location.partition("@")
        if not sep or not _OPT_PATH_RE.fullmatch(path):
            raise _bad(f"{key}= must be path@host[+host][:path@host...], got {value!r}")
        if not all(_REFER_HOST_RE.fullmatch(h) for h in hosts.split("+")):
            raise _bad(f"{key}=: invalid host in {location!r}")
    return value


KEYS = {
    "anonuid": _check_id,
    "anongid": _check_id,
    "sec": _check_sec,
    "fsid": _check_fsid,
    "mountpoint": _check_path,
    "mp": _check_path,
    "refer": _check_locations,
    "replicas": _check_locations,
}


def split_options(options: Any) -> list[str]:
    """A list of options, one string (possibly comma-separated), or None -> a list."""
    if options is None:
        return []
    items = [options] if isinstance(options, str) else list(options)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise _bad(f"an option must be a string, got {item!r}")
        if any(ord(c) < 32 or ord(c) == 127 for c in item):
            # whole strings: "rw\n" is not "rw"
            raise _bad(f"an option must not contain control characters, got {item!r}")
        out += [part.strip() for part in item.split(",") if part.strip()]
    return out


def check_options(options: Any) -> list[str]:
    """Check and normalise ``options``; raise -32602 on any problem."""
    out: list[str] = []
    values: dict[str, str] = {}
    for opt in split_options(options):
        key, sep, value = opt.partition("=")
        if sep:
            if key not in KEYS:
                raise _bad(f"unknown NFS export option {opt!r}")
            value = KEYS[key](key, value)
            if key in values and values[key] != value:
                raise _bad(f"option {key}= given twice with different values")
            opt = f"{key}={value}"
            values[key] = value
        elif opt not in FLAGS:
            raise _bad(f"unknown NFS export option {opt!r}")
        if opt not in out:
            out.append(opt)
    given = set(out)
    for a, b in CONFLICTS:
        if a in given and b in given:
            raise _bad(f"NFS export options {a!r} and {b!r} conflict")
    for flag, key in (("mp", "mp"), ("mountpoint", "mountpoint")):
        if flag in given and key in values:
            raise _bad(f"{flag} is given both with and without a path")
    return out
