"""Running storage tools: argument lists only, a time limit on every run, failures as
TargetdErrors."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Collection, Mapping, Sequence

import structlog

from .errors import Code, TargetdError

log = structlog.get_logger("targetd.tools")

#: Seconds a tool may run unless the caller says otherwise. Storage tools called under
#: the storage lock finish in well under a second normally; a tool that takes longer
#: is hung (a dead device, slow name resolution) and holds every other change up.
#: Long work (data copies, waiting for btrfs's cleaner) passes its own ``timeout``
#: and runs with the lock released.
DEFAULT_TIMEOUT = 120.0
#: After a kill, how long to wait for the tool's output pipes to close.
_REAP_TIMEOUT = 5.0


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    pass_fds: Collection[int] = (),
    label: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (never through a shell) and return its result.

    With ``check`` (the default) a non-zero exit becomes a -1 TargetdError whose message
    names the tool and carries its last error line(s), which is what a person needs.

    The tool runs in a session of its own; if it is still running after ``timeout``
    seconds (``None``: no limit) it is killed with everything it started, and a -1
    TargetdError says so. The caller undoes what it did before, as for any failure.
    ``pass_fds`` are file descriptors the tool inherits (for ``/proc/self/fd/N`` paths).
    ``label`` is how messages name the tool (default: the program and its sub-command).
    """
    argv = [str(a) for a in argv]
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise TargetdError(Code.UNEXPECTED, f"{argv[0]} is not installed") from exc
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        log.error("tool timed out", argv=argv, timeout=timeout)
        raise TargetdError(
            Code.UNEXPECTED,
            f"{_name(argv, label)} did not finish within {timeout:g} s and was stopped "
            "(a hung device or tool, or slow name resolution on this host)",
        ) from None
    except BaseException:
        _kill(proc)
        raise
    log.debug("tool", argv=argv, rc=proc.returncode)
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise tool_error(argv, result, label)
    return result


def _kill(proc: subprocess.Popen[str]) -> None:
    """Kill the tool's whole session (a script's children too) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=_REAP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # a child that left the session still holds a pipe: stop reading
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        proc.wait()


_SUBCOMMAND = re.compile(r"[a-z][a-z0-9-]*")


def _name(argv: Sequence[str], label: str | None = None) -> str:
    """How a message names the tool: ``label``, else the program's name and its
    sub-command when the first argument is one (``zfs list``; ``losetup`` for
    ``losetup -f``)."""
    if label:
        return label
    name = os.path.basename(argv[0])
    if len(argv) > 1 and _SUBCOMMAND.fullmatch(argv[1]):
        name = f"{name} {argv[1]}"
    return name


def tool_error(
    argv: Sequence[str], proc: subprocess.CompletedProcess[str], label: str | None = None
) -> TargetdError:
    """The TargetdError for a failed tool run (``label``: see :func:`run`)."""
    text = (proc.stderr or proc.stdout or "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = "; ".join(lines[-3:]) if lines else f"exit status {proc.returncode}"
    return TargetdError(Code.UNEXPECTED, f"{_name(argv, label)} failed: {detail}")
