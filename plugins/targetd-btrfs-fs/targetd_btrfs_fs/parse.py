"""Parsing what btrfs-progs and findmnt print.

btrfs-progs 6.2 (Debian 12) has no JSON output for ``subvolume list`` or ``qgroup show``
(``--format json`` is refused or crashes), so the two listings are parsed from their
fixed ``key value`` / column layouts, which have been stable for years. Lines that do
not parse are skipped: they cannot be ours (our names are restricted).
"""

from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass

FS_TREE_PREFIX = "<FS_TREE>/"

_SUBVOL_RE = re.compile(
    r"ID (?P<id>\d+) gen \d+ (?:cgen \d+ )?top level (?P<top>\d+) "
    r"(?:otime (?P<otime>-|\S+ \S+) )?"
    r"(?:parent_uuid (?P<parent_uuid>\S+)\s+)?"
    r"(?:received_uuid \S+\s+)?"
    r"uuid (?P<uuid>\S+) path (?P<path>.*)"
)


@dataclass(frozen=True)
class Subvolume:
    """One line of ``btrfs subvolume list -a -u -q [-s]``.

    ``path`` is relative to the top of the file system tree (``<FS_TREE>/`` stripped), so
    it is comparable whatever subvolume the listing was run from.
    """

    id: int
    uuid: str
    parent_uuid: str | None
    path: str
    otime: int | None = None


def parse_otime(text: str) -> int | None:
    """``2026-11-28 09:04:08`` printed with ``TZ=UTC`` -> seconds since the epoch."""
    if text == "-":
        return None
    try:
        return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))
    except ValueError:
        return None


def parse_subvolume_list(text: str) -> list[Subvolume]:
    """Parse ``btrfs subvolume list -a -u -q [-s]`` output (run with ``TZ=UTC``).

    btrfs prints a path as it is, so a subvolume named with a newline (made outside
    targetd) spans several lines: a line that is not an entry continues the path of
    the entry before it (so that path holds the newline and is no name of ours). A
    name can also be made to look like a whole entry line; the pool checks every entry
    it uses against the file system (:meth:`BtrfsPool._verified`).
    """
    out = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    matches: list[tuple[re.Match[str], str]] = []
    for line in lines:
        m = _SUBVOL_RE.fullmatch(line)
        if m:
            matches.append((m, m["path"]))
        elif matches:
            matches[-1] = (matches[-1][0], f"{matches[-1][1]}\n{line}")
    for m, full_path in matches:
        path = full_path.removeprefix(FS_TREE_PREFIX)
        parent = m["parent_uuid"]
        out.append(
            Subvolume(
                id=int(m["id"]),
                uuid=m["uuid"],
                parent_uuid=None if parent in (None, "-") else parent,
                path=path,
                otime=parse_otime(m["otime"]) if m["otime"] else None,
            )
        )
    return out


@dataclass(frozen=True)
class Qgroup:
    referenced: int
    max_referenced: int | None


def parse_qgroup_show(text: str) -> dict[int, Qgroup]:
    """Parse ``btrfs qgroup show --raw -r -e``: level-0 qgroups by subvolume id.

    Columns: qgroupid, referenced, exclusive, max referenced, max exclusive[, path].
    """
    out: dict[int, Qgroup] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0].startswith("0/"):
            continue
        try:
            subvol_id = int(fields[0][2:])
            referenced = int(fields[1])
            limit = None if fields[3] == "none" else int(fields[3])
        except ValueError:
            continue
        out[subvol_id] = Qgroup(referenced, limit)
    return out


@dataclass(frozen=True)
class Mount:
    """The mount holding a path, as ``findmnt -J --target`` reports it."""

    target: str
    fstype: str
    fsroot: str
    uuid: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def parse_findmnt(text: str) -> Mount | None:
    """Parse ``findmnt -J -o TARGET,FSTYPE,FSROOT,UUID,OPTIONS --target PATH``."""
    try:
        entries = json.loads(text)["filesystems"]
        fs = entries[-1]
        return Mount(
            target=fs["target"],
            fstype=fs.get("fstype") or "",
            fsroot=fs.get("fsroot") or "/",
            uuid=fs.get("uuid") or "",
            options=tuple((fs.get("options") or "").split(",")),
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return None
