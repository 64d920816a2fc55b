"""The live export table, through exportfs(8).

``exportfs -v`` lists every export in force (from /etc/exports, /etc/exports.d/*.exports,
ours, or added by hand), with each one's effective options, defaults included::

    /srv/a        192.0.2.1(sync,wdelay,hide,no_subtree_check,sec=sys,rw,...)
    /a/path/longer/than/the/column
                <world>(sync,...)

``<world>`` is ``*``. A path that does not fit the column stands on a line of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from targetd_core.plugin import Code, TargetdError, run

from .hosts import exportfs_spec

#: Seconds one exportfs run may take (the ``nfs_exportfs_timeout`` key sets it). exportfs
#: resolves the host names of every export it knows, so slow DNS makes it slow.
TIMEOUT = 30.0

_ENTRY_RE = re.compile(r"(?P<path>\S.*?)\s+(?P<host>[^\s()]+)\((?P<opts>[^()]*)\)\s*")
_CONT_RE = re.compile(r"\s+(?P<host>[^\s()]+)\((?P<opts>[^()]*)\)\s*")


@dataclass(frozen=True)
class LiveExport:
    host: str
    path: str
    options: list[str]

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "path": self.path, "options": list(self.options)}


def _host(text: str) -> str:
    return "*" if text == "<world>" else text


def parse_exportfs_v(text: str) -> list[LiveExport]:
    out = []
    pending: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _ENTRY_RE.fullmatch(line)
        if m and not line[0].isspace():
            opts = [o for o in m["opts"].split(",") if o]
            out.append(LiveExport(_host(m["host"]), m["path"], opts))
            pending = None
            continue
        m = _CONT_RE.fullmatch(line)
        if m and pending is not None:
            opts = [o for o in m["opts"].split(",") if o]
            out.append(LiveExport(_host(m["host"]), pending, opts))
            continue
        if not line[0].isspace():
            pending = line.rstrip()
    return out


def live() -> list[LiveExport]:
    return parse_exportfs_v(run(["exportfs", "-v"], timeout=TIMEOUT).stdout)


def export(host: str, path: str, options: list[str] | tuple[str, ...]) -> None:
    """Add or update one export, and make sure it is in force.

    exportfs reports some failures with exit status 0 (an unresolvable host name:
    "Failed to resolve"), and also prints warnings about other lines of the exports
    files, so the export is looked up in the live table afterwards instead of trusting
    the exit status or the absence of messages.
    """
    argv = ["exportfs"]
    if options:
        argv += ["-o", ",".join(options)]
    argv.append(exportfs_spec(host, path))
    proc = run(argv, check=False, timeout=TIMEOUT)
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    failed = [ln for ln in lines if "Failed to" in ln or "unknown keyword" in ln]
    if proc.returncode != 0 or failed or not _in_force(host, path):
        mine = failed or [ln for ln in lines if path in ln or host in ln] or lines[-2:]
        detail = "; ".join(mine) or f"exit status {proc.returncode}, not in the export table"
        raise TargetdError(Code.UNEXPECTED, f"exportfs failed to export {path} to {host}: {detail}")


def _in_force(host: str, path: str) -> bool:
    entries = [e for e in live() if e.path == path]
    if any(e.host == host for e in entries):
        return True
    # exportfs shows a plain host name as the resolver's canonical name
    return _plain_name(host) and bool(entries)


def _plain_name(host: str) -> bool:
    return not any(c in host for c in "*?@:/") and not host.replace(".", "").isdigit()


def unexport(host: str, path: str) -> None:
    """Remove one export from the live table; absent already is fine."""
    proc = run(["exportfs", "-u", exportfs_spec(host, path)], check=False, timeout=TIMEOUT)
    if proc.returncode != 0 and "Could not find" not in proc.stderr:
        raise TargetdError(
            Code.UNEXPECTED,
            f"exportfs failed to unexport {path} from {host}: {proc.stderr.strip()}",
        )
