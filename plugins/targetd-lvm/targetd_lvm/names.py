"""LVM's own rules for names, on top of the contract's.

The contract allows ``^[a-zA-Z0-9_-]+$`` up to 127 characters. LVM refuses some of
those (a leading '-', reserved prefixes and infixes, names too long for the
device-mapper name). Refusing them here, before any tool runs, gives the client a
-32602 naming the rule instead of a -1 carrying lvcreate's complaint.
"""

from __future__ import annotations

import re

from targetd_core.plugin import Code, TargetdError

#: Prefixes LVM reserves for LV names (lvm2 2.03, checked with lvcreate).
RESERVED_PREFIXES = ("snapshot", "pvmove")
#: Substrings LVM reserves for its internal LVs (lvm2 2.03, checked with lvcreate).
RESERVED_INFIXES = (
    "_cdata",
    "_cmeta",
    "_corig",
    "_cpool",
    "_cvol",
    "_wcorig",
    "_mlog",
    "_mimage",
    "_pmspare",
    "_rimage",
    "_rmeta",
    "_tdata",
    "_tmeta",
    "_vdata",
    "_vorigin",
    "_iorig",
    "_imeta",
)
#: device-mapper names are at most 127 characters (DM_NAME_LEN 128 with the NUL).
DM_NAME_MAX = 127
#: lvcreate refuses "VG/LV" strings longer than this (measured: 125 is accepted).
VG_LV_MAX = 125

_LVM_NAME = re.compile(r"[A-Za-z0-9+_.][A-Za-z0-9+_.-]*")


def dm_name(vg: str, lv: str) -> str:
    """The device-mapper name of an LV: dashes doubled, joined by a dash."""
    return f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"


def lv_name_problem(vg: str, name: str) -> str | None:
    """Why LVM would refuse ``name`` as an LV name in ``vg``, or None."""
    if name.startswith("-"):
        return "LVM names must not start with '-'"
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"LVM reserves names starting with {prefix!r}"
    for infix in RESERVED_INFIXES:
        if infix in name:
            return f"LVM reserves names containing {infix!r}"
    if len(vg) + 1 + len(name) > VG_LV_MAX or len(dm_name(vg, name)) > DM_NAME_MAX:
        return f"too long for LVM in volume group {vg!r} (device-mapper names are limited)"
    return None


def check_lv_name(vg: str, name: str, what: str = "name") -> None:
    """Raise -32602 if LVM would refuse ``name`` (already a contract-valid name)."""
    problem = lv_name_problem(vg, name)
    if problem:
        raise TargetdError(Code.INVALID_ARGUMENT, f"invalid {what} {name!r}: {problem}")


def parse_pool_spec(spec: str) -> tuple[str, str | None]:
    """``"vg"`` -> (vg, None); ``"vg/thinpool"`` -> (vg, thinpool). ValueError if malformed."""
    parts = spec.split("/")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{spec!r} is not VG or VG/THINPOOL")
    for part in parts:
        if not _LVM_NAME.fullmatch(part) or part in (".", ".."):
            raise ValueError(f"{spec!r}: {part!r} is not a valid LVM name")
    return parts[0], (parts[1] if len(parts) == 2 else None)
