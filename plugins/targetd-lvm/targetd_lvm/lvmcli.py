"""Running LVM's command line tools: argument lists, JSON reports, clean error messages.

Every command goes through :func:`lvm` (the ``lvm`` binary with the sub-command as its
first argument). LVM prints warnings on stderr even when it succeeds (file descriptor
leaks, lock waits, over-provisioned thin pools); those are ignored on success and left
out of the error message on failure, so a client sees the line that says what failed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from targetd_core.plugin import run, tool_error

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
        cleaned = subprocess.CompletedProcess(
            argv, proc.returncode, proc.stdout, _without_warnings(proc.stderr or "")
        )
        raise tool_error(argv, cleaned, label)
    return proc.stdout


def lvs(target: str, fields: Sequence[str] = LV_FIELDS) -> list[Lv]:
    """One ``lvs`` run over ``target`` (a VG, or VG/LV)."""
    return parse_lvs(lvm("lvs", *REPORT_OPTS, "-o", ",".join(fields), target))


def vgs(target: str | None = None) -> list[Vg]:
    """One ``vgs`` run over ``target`` (every VG when None)."""
    args = ["vgs", *REPORT_OPTS, "-o", ",".join(VG_FIELDS)]
    if target is not None:
        args.append(target)
    return parse_vgs(lvm(*args))
