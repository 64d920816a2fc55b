"""Helpers for tests that run against the disposable storage appliance (contrib/appliance).

The running instance is found through $TARGETD_APPLIANCE_DIR (set by `contrib/appliance run`,
or written to <state dir>/env by `contrib/appliance up`).

    from tests.realkernel.appliance import guest_exec
    cp = guest_exec(["lvs", "--reportformat", "json"])        # CompletedProcess, bytes output
    guest_exec("dd of=/tmp/x bs=1M", input=b"..." )            # a string runs under bash -c
"""

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

_AD = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib", "appliance.d")
)
if _AD not in sys.path:
    sys.path.insert(0, _AD)

from appliance_client import ApplianceError, Instance  # noqa: E402

__all__ = ["ApplianceError", "PhaseTimer", "appliance", "guest_exec", "instance", "reboot"]

APPLIANCE = os.path.join(os.path.dirname(_AD), "appliance")


def appliance(*args: str, timeout: float = 3600) -> None:
    """contrib/appliance with args; its progress goes to this process's stderr."""
    subprocess.run([sys.executable, APPLIANCE, *args], check=True, timeout=timeout)


class PhaseTimer:
    """Wall-clock seconds of a guest tier's phases (build, boot, install, ...), for its
    conftest to print at the end so that a CI log shows where the time went. A tier
    subclasses it with its own ``tag`` and its own ``done`` list."""

    tag = "guests"
    done: list[tuple[str, float]] = []

    @classmethod
    @contextlib.contextmanager
    def timed(cls, name: str) -> Iterator[None]:
        t = time.monotonic()
        try:
            yield
        finally:
            cls.done.append((name, time.monotonic() - t))
            print(f"[{cls.tag}] {name}: {time.monotonic() - t:.0f} s", file=sys.stderr)


def instance() -> Instance:
    d = os.environ.get("TARGETD_APPLIANCE_DIR")
    if not d:
        raise ApplianceError(
            "TARGETD_APPLIANCE_DIR is not set: run the tests with "
            "`contrib/appliance run -- python3 -m pytest tests/realkernel`"
        )
    return Instance(d)


def guest_exec(
    cmd: list[str] | str,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = 300,
) -> subprocess.CompletedProcess:
    """Run cmd as root in the appliance; a string runs with `bash -c`.

    Returns CompletedProcess(args, returncode, stdout: bytes, stderr: bytes); returncode -N
    means killed by signal N. check=True raises CalledProcessError on a non-zero status;
    timeout raises subprocess.TimeoutExpired (the command is killed in the guest).
    """
    return instance().exec(cmd, input=input, check=check, timeout=timeout)


def reboot(timeout: int = 900) -> None:
    """Reboot the appliance, keeping its disks and /etc/target, /etc/exports.d, /etc/iscsi.

    Returns when targetd's API answers again (same URL, credentials and CA)."""
    subprocess.run(
        [sys.executable, APPLIANCE, "--dir", instance().dir, "reboot", "--timeout", str(timeout)],
        check=True,
    )


def restart_targetd(rpc, rpc_client, guest_exec, timeout: float = 300) -> None:
    """``targetd-ctl restart`` in the guest, then wait until the API answers again."""
    import time

    from tests.realkernel.client import RPCError

    guest_exec(["targetd-ctl", "restart"], timeout=120)
    rpc_client.close()
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpc("pool_list")
            return
        except (OSError, AssertionError, RPCError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
