"""Which configured ``fs_pools`` entries are ZFS datasets: the kernel's mount table."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """Mounts in table order (a later mount on the same point hides an earlier one)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lf, rf = left.split(" "), right.split(" ")
        if len(lf) < 5 or len(rf) < 2:
            continue
        mounts.append(Mount(_unescape(lf[4]), rf[0], _unescape(rf[1])))
    return mounts


def mount_at(path: str, mounts: list[Mount]) -> Mount | None:
    """The visible mount whose mount point is exactly ``path`` (symlinks resolved)."""
    target = os.path.realpath(path)
    found = None
    for m in mounts:
        if m.mount_point == target:
            found = m
    return found


def read_mounts() -> list[Mount]:
    return parse_mountinfo(MOUNTINFO.read_text())
