"""Running LVM's command line tools: argument lists, JSON reports, clean error messages.

Every command goes through :func:`lvm` (the ``lvm`` binary with the sub-command as its
first argument). LVM prints warnings on stderr even when it succeeds (file descriptor
leaks, lock waits, over-provisioned thin pools); those are ignored on success and left
out of the error message on failure, so a client sees the line that says what failed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence

from targetd_core.plugin import Code, TargetdError, run, tool_error

from .report import LV_FIELDS, VG_FIELDS, Lv, Vg, parse_lvs, parse_vgs

LVM_ENV = {"LVM_SUPPRESS_FD_WARNINGS": "1"}
REPORT_OPTS = ("--reportformat", "json", "--units", "b", "--nosuffix")


def _without_warnings(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    kept = [ln for ln in lines if not ln.strip().startswith("WARNING:")]
    return "\n".join(kept or lines)


def lvm(*args: str) -> str:
    """Run ``lvm ARGS...``; return stdout. A failure is a -1 TargetdError naming the
    sub-command and carrying LVM's error lines (warnings left out)."""
    argv = ["lvm", *args]
    label = args[0] if args else "lvm"  # messages name the sub-command: "lvcreate failed"
    proc = run(argv, env=LVM_ENV, check=False, label=label)
    if proc.returncode != 0:
        limit = _limit_reached(proc.stderr or "")
        if limit is not None:
            raise TargetdError(Code.UNEXPECTED, f"{args[0] if args else 'lvm'} failed: {limit}")
        cleaned = subprocess.CompletedProcess(
            argv, proc.returncode, proc.stdout, _without_warnings(proc.stderr or "")
        )
        raise tool_error(argv, cleaned, label)
    return proc.stdout


#: LVM's line when a VG's description no longer fits its metadata area (lib/format_text):
#: "VG <vg> <seqno> metadata on <pv> (<n> bytes) exceeds maximum metadata size (<m> bytes)"
_VG_METADATA_FULL = re.compile(
    r"VG (?P<vg>\S+) \d+ metadata on (?P<pv>\S+) \(\d+ bytes\) exceeds maximum metadata "
    r"size \((?P<max>\d+) bytes\)"
)


#: LVM's line when a thin pool's data or metadata use is past the point where it makes
#: no new thin volume or snapshot (lib/metadata/lv_manip.c, pool_below_threshold)
_THIN_POOL_FULL = re.compile(
    r"Cannot create new thin volume, free space in thin pool (?P<pool>\S+) reached threshold"
)
#: the warning before it when the data is full (LVM 2.03.16 in the appliance)
_THIN_DATA_FULL = re.compile(r"Thin pool \S+ is out of data space")
#: and the one when the metadata is the reason (lib/metadata/thin_manip.c)
_THIN_METADATA_LOW = re.compile(
    r"Remaining free space in metadata of thin pool \S+ is too low \((?P<used>[\d.]+)% >= "
    r"(?P<limit>[\d.]+)%\)"
)


def _limit_reached(stderr: str) -> str | None:
    """A message saying which storage limit a failed command hit and what to do, or None.

    LVM commits a change whole or not at all, so nothing is left half made; the
    administrator has to make room (docs/operations.md, "Pools for many volumes")."""
    m = _VG_METADATA_FULL.search(stderr)
    if m is not None:
        return (
            f"the metadata area of volume group {m['vg']} is full (at most {m['max']} bytes "
            f"on {m['pv']}): LVM cannot record another change in it; nothing was changed. "
            "Give the volume group a PV with a larger metadata area (pvcreate "
            "--metadatasize), see 'Pools for many volumes' in the operations guide"
        )
    m = _THIN_POOL_FULL.search(stderr)
    if m is not None:
        pool = m["pool"]
        low = _THIN_METADATA_LOW.search(stderr)
        if low is not None:
            why = (
                f"its metadata is {low['used']}% used, at or past the {low['limit']}% LVM "
                "keeps in reserve"
            )
            remedy = f"lvextend --poolmetadatasize +SIZE {pool}"
        elif _THIN_DATA_FULL.search(stderr):
            why = "its data space is full"
            remedy = f"lvextend -L +SIZE {pool}"
        else:
            why = "its data or its metadata is full (lvs -o data_percent,metadata_percent)"
            remedy = (
                f"lvextend -L +SIZE {pool} for data, lvextend --poolmetadatasize +SIZE {pool} "
                "for metadata"
            )
        return (
            f"thin pool {pool} takes no new volume or snapshot: {why}; nothing was made. "
            f"Extend it ({remedy}) or remove volumes no longer needed, see 'Pools for many "
            "volumes' in the operations guide"
        )
    return None


def lvs(target: str, fields: Sequence[str] = LV_FIELDS, select: str | None = None) -> list[Lv]:
    """One ``lvs`` run over ``target`` (a VG, or VG/LV), only the LVs matching ``select``
    (an LVM selection, ``-S``) when given."""
    args = ["lvs", *REPORT_OPTS, "-o", ",".join(fields)]
    if select is not None:
        args += ["-S", select]
    return parse_lvs(lvm(*args, target))


def vgs(target: str | None = None) -> list[Vg]:
    """One ``vgs`` run over ``target`` (every VG when None)."""
    args = ["vgs", *REPORT_OPTS, "-o", ",".join(VG_FIELDS)]
    if target is not None:
        args.append(target)
    return parse_vgs(lvm(*args))
