"""Running storage tools: argument lists only, failures as TargetdErrors."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

import structlog

from .errors import Code, TargetdError

log = structlog.get_logger("targetd.tools")


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (never through a shell) and return its result.

    With ``check`` (the default) a non-zero exit becomes a -1 TargetdError whose message
    names the tool and carries its last error line(s), which is what a person needs.
    """
    argv = [str(a) for a in argv]
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise TargetdError(Code.UNEXPECTED, f"{argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise TargetdError(Code.UNEXPECTED, f"{argv[0]} timed out after {timeout} s") from exc
    log.debug("tool", argv=argv, rc=proc.returncode)
    if check and proc.returncode != 0:
        raise tool_error(argv, proc)
    return proc


def tool_error(argv: Sequence[str], proc: subprocess.CompletedProcess[str]) -> TargetdError:
    """The TargetdError for a failed tool run."""
    text = (proc.stderr or proc.stdout or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = "; ".join(lines[-3:]) if lines else f"exit status {proc.returncode}"
    name = os.path.basename(argv[0])
    if name == "lvm" and len(argv) > 1:
        name = argv[1]
    elif name in ("zfs", "zpool", "btrfs") and len(argv) > 1:
        name = f"{name} {argv[1]}"
    return TargetdError(Code.UNEXPECTED, f"{name} failed: {detail}")
