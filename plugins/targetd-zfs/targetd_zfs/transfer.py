"""Copying a dataset with ``zfs send | zfs receive``, leaving nothing behind on failure.

Why send/receive and not ``zfs clone``: a clone depends on its origin's snapshot, so the
origin can never be destroyed while the clone lives (the old daemon's volume copies had
exactly that problem), and ``zfs promote`` only turns the dependency around (then the copy
can never be destroyed while the origin lives). A received stream is a dataset of its own:
either side can be destroyed at any time. The cost is a full read and write of the data
(time and space proportional to the source's referenced data).
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import IO

import structlog

from targetd_core.plugin import Code, StorageLock, TargetdError, tool_error

from . import zfs as Z

log = structlog.get_logger("targetd.zfs")


#: A copy may take ``COPY_BASE_TIMEOUT`` seconds plus one second per
#: ``COPY_MIN_RATE`` bytes of the source's referenced data before it counts as hung
#: (a dead pool, a stuck receive) and is stopped: far slower than any working disk,
#: so only a hang reaches it.
COPY_BASE_TIMEOUT = 300.0
COPY_MIN_RATE = 4 * 1024 * 1024


def copy_timeout(referenced: int) -> float:
    """Seconds a send | receive of ``referenced`` bytes may take."""
    return COPY_BASE_TIMEOUT + referenced / COPY_MIN_RATE


def pipe(send_argv: Sequence[str], recv_argv: Sequence[str], timeout: float | None = None) -> None:
    """Run ``send_argv | recv_argv`` as two processes (argument lists, no shell).

    Raises a -1 TargetdError naming the process(es) that failed with their messages.
    If both have not finished after ``timeout`` seconds, both are killed and the
    TargetdError says so.
    """
    send_argv, recv_argv = [str(a) for a in send_argv], [str(a) for a in recv_argv]
    with tempfile.TemporaryFile() as send_err, tempfile.TemporaryFile() as recv_err:
        try:
            send = subprocess.Popen(
                send_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=send_err
            )
        except FileNotFoundError as exc:
            raise TargetdError(Code.UNEXPECTED, f"{send_argv[0]} is not installed") from exc
        assert send.stdout is not None
        try:
            recv = subprocess.Popen(
                recv_argv, stdin=send.stdout, stdout=subprocess.DEVNULL, stderr=recv_err
            )
        except BaseException as exc:
            send.kill()
            send.wait()
            if isinstance(exc, FileNotFoundError):
                raise TargetdError(Code.UNEXPECTED, f"{recv_argv[0]} is not installed") from exc
            raise
        finally:
            send.stdout.close()  # the receiver holds the only read end: EPIPE reaches send
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            rc_recv = recv.wait(timeout)
            if rc_recv != 0 and send.poll() is None:
                send.kill()
            rc_send = send.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for proc in (send, recv):
                proc.kill()
                proc.wait()
            log.error("copy timed out", send=send_argv, receive=recv_argv, timeout=timeout)
            raise TargetdError(
                Code.UNEXPECTED,
                f"{send_argv[0]} | {recv_argv[0]} did not finish within {timeout:g} s and was "
                "stopped (a hung pool or device)",
            ) from None
        errors = []
        # A sender killed by SIGPIPE (or by us) only says that the receiver stopped.
        if rc_send not in (0, -signal.SIGPIPE, -signal.SIGKILL) or (rc_send != 0 and rc_recv == 0):
            errors.append(_failure(send_argv, rc_send, send_err))
        if rc_recv != 0:
            errors.append(_failure(recv_argv, rc_recv, recv_err))
        if errors:
            raise TargetdError(Code.UNEXPECTED, "; ".join(e.message for e in errors))


def _failure(argv: list[str], rc: int, err_file: IO[bytes]) -> TargetdError:
    err_file.seek(0)
    text = err_file.read().decode(errors="replace")
    return tool_error(argv, subprocess.CompletedProcess(argv, rc, "", text))


def copy_dataset(
    lock: StorageLock,
    source: str,
    dest: str,
    *,
    snapshot: str | None = None,
    recv_options: Sequence[str] = (),
    prepare: Callable[[str], None] | None = None,
    finish: Callable[[str], None] | None = None,
    conflict: Code = Code.NAME_CONFLICT,
) -> None:
    """Make ``dest`` an independent copy of ``source`` (of its ``snapshot`` if given,
    else of its current contents through a temporary snapshot).

    The stream is received into a hidden temporary sibling of ``dest`` (invisible to
    listings), so the storage lock is released during the transfer; ``prepare(tmp)``
    then adjusts the received dataset (size, reservation), it is renamed to ``dest`` and
    ``finish(dest)`` runs (mount, device). The snapshots the copy needed are destroyed
    on both sides; on failure the temporary dataset is destroyed too. ``conflict``
    (-50 for volumes, -51 for fs clones) if ``dest`` was created by another call meanwhile.
    """
    parent = dest.rpartition("/")[0]
    t = Z.tag()
    snap = snapshot or f"{Z.TMP_SNAPSHOT_PREFIX}{t}"
    tmp = f"{parent}/{Z.TMP_DATASET_PREFIX}{t}"
    if snapshot is None:
        Z.zfs("snapshot", f"{source}@{snap}")
    try:
        try:
            size = Z.get(f"{source}@{snap}", ("referenced",)).get("referenced", "0")
            with lock.released():
                pipe(
                    [Z.ZFS, "send", "-L", "-e", "-c", f"{source}@{snap}"],
                    [Z.ZFS, "receive", "-u", *recv_options, tmp],
                    timeout=copy_timeout(Z.to_int(size)),
                )
            Z.zfs("destroy", f"{tmp}@{snap}")
            if prepare:
                prepare(tmp)
            argv = [Z.ZFS, "rename", tmp, dest]
            proc = Z.run(argv, check=False)
            if proc.returncode != 0:
                if "exists" in proc.stderr:
                    raise TargetdError(
                        conflict, f"{dest!r} was created by another call during the copy"
                    )
                raise tool_error(argv, proc)
        except BaseException:
            _destroy_quietly(tmp, recursive=True)
            raise
    finally:
        if snapshot is None:
            _destroy_quietly(f"{source}@{snap}")
    if finish:
        finish(dest)


def _destroy_quietly(name: str, recursive: bool = False) -> None:
    """Clean-up: destroy ``name`` if it exists; log (not raise) other errors."""
    argv = [Z.ZFS, "destroy", *(["-r"] if recursive else []), name]
    proc = Z.run(argv, check=False)
    if proc.returncode != 0 and "does not exist" not in proc.stderr:
        log.error(
            "zfs clean-up failed; destroy it by hand",
            dataset=name,
            error=tool_error(argv, proc).message,
        )


def destroy_with_dependents(dataset: str) -> None:
    """``zfs destroy -r`` a dataset. If snapshots of it have clones (made by hand, or by
    the old daemon's copies), first hand them over to a clone with ``zfs promote`` so the
    clones survive; the promoted clone keeps the snapshots up to its branch point (they
    hold the data it shares). The common case costs one ``zfs`` call."""
    argv = [Z.ZFS, "destroy", "-r", dataset]
    proc = Z.run(argv, check=False)
    if proc.returncode == 0:
        return
    if "dependent clones" not in proc.stderr:
        raise tool_error(argv, proc)
    for _ in range(100):
        snaps = Z.children(dataset, "snapshot", ("name", "clones"), sort="createtxg")
        with_clones = [s for s in snaps if Z.split_list(s["clones"])]
        if not with_clones:
            break
        # Promoting a clone of the newest such snapshot moves every older snapshot too,
        # so one promotion leaves the dataset without dependents.
        clone = Z.split_list(with_clones[-1]["clones"])[0]
        log.info("promoting a clone before destroying its origin", clone=clone, origin=dataset)
        Z.zfs("promote", clone)
    Z.zfs("destroy", "-r", dataset)


def report_leftovers(parent: str) -> None:
    """Log the temporaries of copies interrupted by a crash (never destroyed
    automatically: another daemon process may be copying right now)."""
    rows = Z.list_rows(("name",), "-t", "all", "-r", "-d", "2", parent)
    names = [
        r["name"]
        for r in rows
        if Z.TMP_DATASET_PREFIX in r["name"] or "@" + Z.TMP_SNAPSHOT_PREFIX in r["name"]
    ]
    if names:
        log.warning(
            "temporaries of interrupted copies found; destroy them once no copy is running",
            names=names,
        )
