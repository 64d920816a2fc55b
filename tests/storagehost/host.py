"""The storage-host guest of the storagehost tier: boot it with contrib/appliance, run commands.

`contrib/appliance --kind host` boots a Debian 12 system (systemd, udev, the appliance's kernel
and pool disks, a persistent root disk, no network beyond two forwarded ports); `repo` prepares
the apt repository disk that is its only package source. See contrib/appliance.md.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from pathlib import Path

from tests.realkernel.appliance import Instance, PhaseTimer, appliance

ROOT = Path(__file__).resolve().parents[2]
# a step line of contrib/quickstart: "quickstart: installing ... (12 s)"
STEP_LINE = re.compile(r"^(\S+: .*) \((\d+) s\)$", re.M)
STATE_BASE = Path(os.environ.get("TARGETD_STORAGEHOST_DIR", "/var/lib/targetd-appliance"))


DIAGNOSE = """
echo "== systemctl --failed"; systemctl --failed --no-legend --no-pager
echo "== dpkg --audit"; dpkg --audit
echo "== apt/dpkg processes"; ps -eo pid,etimes,args | grep -E '[a]pt|[d]pkg' || true
echo "== journalctl -n 60"; journalctl -n 60 --no-pager -o short-monotonic
"""


def _text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode(errors="replace")


class Phases(PhaseTimer):
    """The storage-host tier's phases, printed at the end of the run (see conftest.py)."""

    tag = "storagehost"
    done: list[tuple[str, float]] = []

    @classmethod
    def record_steps(cls, output: str, prefix: str = "  ") -> list[tuple[str, float]]:
        """Sub-phases from a script's "NAME: WHAT (N s)" step lines (N: seconds since it
        started, as contrib/quickstart prints them): each step lasts until the next one;
        the last step, which only says that it is done, is not one. Returns them too."""
        marks = [(m[1], int(m[2])) for m in STEP_LINE.finditer(output)]
        steps = [(prefix + what, float(b - a)) for (what, a), (_, b) in itertools.pairwise(marks)]
        cls.done.extend(steps)
        return steps


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
        with Phases.timed(f"boot {name.split('-')[1]} guest (copy root disk, repo disk, systemd)"):
            appliance(
                "--dir",
                str(sd),
                "up",
                "--kind",
                "host",
                "--port",
                "0",
                "--repo",
                str(repo),
                timeout=900,
            )
        return cls(sd)

    def down(self) -> None:
        with Phases.timed("power off and remove a guest"):
            appliance("--dir", str(self.dir), "down", "--purge", timeout=300)

    def reboot(self) -> None:
        """systemctl poweroff in the guest, then a new boot of the same disks."""
        with Phases.timed("reboot (systemd poweroff, boot)"):
            appliance("--dir", str(self.dir), "reboot", timeout=900)

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
        """cmd as root in the guest (a string runs under bash -c); output decoded. A timeout
        fails with what the guest says about itself (diagnostics())."""
        try:
            cp = self.inst.exec(cmd, input=input, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(
                f"guest command still running after {timeout:.0f} s (killed): {cmd}\n"
                f"--- its output so far ---\n{_text(e.stdout)[-3000:]}{_text(e.stderr)[-3000:]}\n"
                + self.diagnostics()
            ) from None
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

    def diagnostics(self) -> str:
        """What the guest prints about its state: failed units, dpkg's audit and any running
        apt/dpkg, the journal's last lines (for a failure message)."""
        try:
            cp = self.inst.exec(DIAGNOSE, timeout=60)
        except Exception as e:  # noqa: BLE001 - the guest may be gone; say so
            return f"(no diagnostics from the guest: {e})"
        return "--- guest diagnostics ---\n" + _text(cp.stdout)[-12000:] + _text(cp.stderr)[-2000:]

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
                    f"{what}: still failing after {timeout:.0f} s: {cmd}\n{cp.stdout}{cp.stderr}\n"
                    + self.diagnostics()
                )
            time.sleep(2)
