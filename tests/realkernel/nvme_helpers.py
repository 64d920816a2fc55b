"""Helpers for the NVMe/TCP tests of the real-kernel tier: nvme-cli in the guest connecting
over 127.0.0.1:4420 under any host NQN, and what nvmet's configfs really holds."""

from __future__ import annotations

import time
import uuid

ADDR, PORT = "127.0.0.1", "4420"
NVMET = "/sys/kernel/config/nvmet"
#: The appliance's nvme_subsystem_prefix (contrib/appliance's targetd.yaml).
PREFIX = "nqn.2003-01.org.targetd:appliance"
#: The contract's namespace for the namespace UUID: uuid5(IDENTITY, volume uuid).
IDENTITY = uuid.UUID("6f1c7c54-3f5e-4a55-9c3e-7a0b8d9e2d11")


def host_nqn(tag: str = "h") -> str:
    return f"nqn.2014-08.org.example.test:{tag}-{uuid.uuid4().hex[:8]}"


def ns_uuid(vol_uuid: str) -> str:
    return str(uuid.uuid5(IDENTITY, vol_uuid))


class Host:
    """One NVMe host identity (host NQN + host id) for nvme-cli in the guest."""

    def __init__(self, guest_exec, nqn: str) -> None:
        self.gx = guest_exec
        self.nqn = nqn
        self.hostid = str(uuid.uuid4())

    def connect(self, subsys: str, key: str | None = None, ctrl_key: str | None = None) -> int:
        """``nvme connect`` over TCP; returns its exit status (0 = connected)."""
        cmd = ["timeout", "90", "nvme", "connect", "-t", "tcp", "-a", ADDR, "-s", PORT,
               "-n", subsys, "-q", self.nqn, "-I", self.hostid]  # fmt: skip
        if key:
            cmd.append(f"--dhchap-secret={key}")
        if ctrl_key:
            cmd.append(f"--dhchap-ctrl-secret={ctrl_key}")
        return self.gx(cmd, check=False, timeout=120).returncode

    def discover(self) -> str:
        """The discovery log this host gets (nvme discover's text output)."""
        return self.gx(["timeout", "90", "nvme", "discover", "-t", "tcp", "-a", ADDR, "-s", PORT,
                        "-q", self.nqn, "-I", self.hostid], check=False,
                       timeout=120).stdout.decode()  # fmt: skip

    def disconnect(self, subsys: str) -> None:
        self.gx(["nvme", "disconnect", "-n", subsys], check=False, timeout=120)


def disks(guest_exec, subsys: str, want: int | None = None, timeout: float = 60) -> dict[int, str]:
    """nsid -> /dev/nvmeXnY of the connected subsystem (waits for ``want`` namespaces)."""
    script = f"""shopt -s nullglob
        for s in /sys/class/nvme-subsystem/*; do
            [ "$(cat $s/subsysnqn)" = '{subsys}' ] || continue
            for b in $s/nvme*n*; do echo "$(cat $b/nsid) /dev/${{b##*/}}"; done
        done"""
    deadline = time.monotonic() + timeout
    while True:
        out = guest_exec(script, check=False).stdout.decode().split("\n")
        found = {int(n): d for n, d in (line.split() for line in out if line.strip())}
        if want is None or len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(1)


def disk_attr(guest_exec, disk: str, attr: str) -> str:
    dev = disk.rsplit("/", 1)[1]
    return guest_exec(["cat", f"/sys/block/{dev}/{attr}"]).stdout.decode().strip()


def configfs(guest_exec) -> dict[str, list[str]]:
    """nvmet's subsystems, hosts and ports as configfs lists them."""

    def ls(path: str) -> list[str]:
        cp = guest_exec(["ls", "-1", path], check=False)
        return sorted(cp.stdout.decode().split()) if cp.returncode == 0 else []

    return {k: ls(f"{NVMET}/{k}") for k in ("subsystems", "hosts", "ports")}
