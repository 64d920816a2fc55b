"""Two appliance guests as two targetd gateways in front of one Ceph cluster.

Guest A runs the cluster (appliance-ceph-up on its private-link address) and targetd A;
guest B runs targetd B with A's ceph.conf and client.targetd keyring. The guests are joined
by `contrib/appliance up --link` (a second NIC, eth1, on a UDP link over the host's
127.0.0.1: no outside network); the addresses below are set on eth1 by this module.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

from tests.realkernel.appliance import Instance, PhaseTimer, appliance
from tests.realkernel.client import RPCClient, RPCError

NETWORK = "10.99.0.0/24"
ADDRS = {"a": "10.99.0.1", "b": "10.99.0.2"}
POOL = "rbd"
CONFIG = "/etc/target/targetd.yaml"
STATE_BASE = Path(os.environ.get("TARGETD_GATEWAYS_DIR", "/var/lib/targetd-appliance"))


class Phases(PhaseTimer):
    """Wall-clock seconds of the tier's phases, printed at the end (conftest.py)."""

    tag = "gateways"
    done: list[tuple[str, float]] = []


class Gateway:
    """One guest: its targetd's API (``rpc``) and a root shell (``exec``)."""

    def __init__(self, name: str, state_dir: Path) -> None:
        self.name = name
        self.id = f"gw-{name}"
        self.addr = ADDRS[name]
        self.dir = state_dir
        self._client: RPCClient | None = None

    @classmethod
    def up(cls, name: str, state_dir: Path, link: str) -> Gateway:
        # targetd starts once, with the RBD pool, when the cluster is up (serve_rbd)
        appliance("--dir", str(state_dir), "up", "--port", "0", "--link", link, "--no-targetd")
        g = cls(name, state_dir)
        g.exec(f"ip addr replace {g.addr}/24 dev eth1 && ip link set eth1 up")
        return g

    def down(self) -> None:
        if self._client is not None:
            self._client.close()
        appliance("--dir", str(self.dir), "down", "--purge", timeout=600)

    @property
    def client(self) -> RPCClient:
        if self._client is None:
            inst = json.loads((self.dir / "instance.json").read_text())
            secrets = json.loads((self.dir / "secrets.json").read_text())
            self._client = RPCClient(
                f"https://127.0.0.1:{inst['port']}/targetrpc",
                "admin",
                secrets["password"],
                str(self.dir / "ca.pem"),
            )
        return self._client

    def rpc(self, method: str, **params):  # noqa: ANN201 - the JSON result
        return self.client.call(method, **params)

    def exec(
        self,
        cmd: list[str] | str,
        input: bytes | None = None,
        check: bool = True,
        timeout: float | None = 300,
    ) -> subprocess.CompletedProcess:
        return Instance(str(self.dir)).exec(cmd, input=input, check=check, timeout=timeout)

    def out(self, cmd: list[str] | str, timeout: float | None = 300) -> str:
        return self.exec(cmd, timeout=timeout).stdout.decode().strip()

    def restart_targetd(self, timeout: float = 300) -> None:
        self.exec(["targetd-ctl", "restart"], timeout=120)
        self.client.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.rpc("pool_list")
                return
            except (OSError, AssertionError, RPCError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def serve_rbd(self) -> None:
        """targetd with the RBD pool, as client.targetd, under this gateway's id (started,
        or restarted in a guest that was booted with it running)."""
        if self.exec(["grep", "-q", "^rbd_gateway_id:", CONFIG], check=False).returncode == 0:
            return
        extra = (
            f"\n# added by tests/gateways\nrbd_pools: [{POOL}]\nrbd_client: targetd\n"
            f"rbd_gateway_id: {self.id}\n"
        )
        self.exec(f"cat >> {CONFIG}", input=extra.encode())
        self.restart_targetd()


def free_udp_ports() -> tuple[int, int]:
    """Two UDP ports on 127.0.0.1 that are free now, for the guests' link."""
    import socket

    while True:
        a, b = random.sample(range(40000, 60000), 2)
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s1,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2,
            ):
                s1.bind(("127.0.0.1", a))
                s2.bind(("127.0.0.1", b))
            return a, b
        except OSError:
            continue
