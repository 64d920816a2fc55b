"""The storage-host guest of the storagehost tier: boot it with contrib/appliance, run commands.

`contrib/appliance --kind host` boots a Debian 12 system (systemd, udev, the appliance's kernel
and pool disks, a persistent root disk, no network beyond two forwarded ports); `repo` prepares
the apt repository disk that is its only package source. See contrib/appliance.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.realkernel.appliance import APPLIANCE, Instance

ROOT = Path(__file__).resolve().parents[2]
STATE_BASE = Path(os.environ.get("TARGETD_STORAGEHOST_DIR", "/var/lib/targetd-appliance"))


def appliance(*args: str, timeout: float = 3600) -> None:
    """contrib/appliance with args; its progress goes to this process's stderr."""
    subprocess.run([sys.executable, APPLIANCE, *args], check=True, timeout=timeout)


class Guest:
    """A running storage-host instance (its state dir, URL, credentials, CA)."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.inst = Instance(str(state_dir))

    @classmethod
    def boot(cls, name: str, repo: Path) -> Guest:
        sd = STATE_BASE / name
        if sd.exists():  # left over from an interrupted run
            appliance("--dir", str(sd), "down", "--purge")
        appliance("--dir", str(sd), "up", "--kind", "host", "--port", "0", "--repo", str(repo))
        return cls(sd)

    def down(self) -> None:
        appliance("--dir", str(self.dir), "down", "--purge")

    def reboot(self) -> None:
        """systemctl poweroff in the guest, then a new boot of the same disks."""
        appliance("--dir", str(self.dir), "reboot")

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in (self.dir / "env").read_text().splitlines():
            k, _, v = line.partition("=")
            out[k] = v
        return out

    def run(
        self,
        cmd: str | list[str],
        check: bool = True,
        timeout: float = 900,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess:
        """cmd as root in the guest (a string runs under bash -c); output decoded."""
        cp = self.inst.exec(cmd, input=input, timeout=timeout)
        cp = subprocess.CompletedProcess(
            cp.args,
            cp.returncode,
            cp.stdout.decode(errors="replace"),
            cp.stderr.decode(errors="replace"),
        )
        if check and cp.returncode != 0:
            raise AssertionError(
                f"guest command failed (exit {cp.returncode}): {cmd}\n"
                f"--- stdout ---\n{cp.stdout[-4000:]}\n--- stderr ---\n{cp.stderr[-4000:]}"
            )
        return cp

    def out(self, cmd: str | list[str], timeout: float = 900) -> str:
        return self.run(cmd, timeout=timeout).stdout.strip()

    def wait_for(self, cmd: str, what: str, timeout: float = 180) -> str:
        """Run cmd until it succeeds; its output."""
        deadline = time.monotonic() + timeout
        while True:
            cp = self.run(cmd, check=False, timeout=60)
            if cp.returncode == 0:
                return cp.stdout.strip()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: still failing after {timeout:.0f} s: {cmd}\n{cp.stdout}{cp.stderr}"
                )
            time.sleep(2)
