"""Fixtures of the gateways tier: two appliance guests joined by a private link, a Ceph
cluster in guest A, targetd on both serving its RBD pool (tests/gateways/gateway.py).

Run with `contrib/run-tests gateways` or `python3 -m pytest tests/gateways` as root: the
fixture boots both guests itself and removes them after (in `contrib/run-tests` it runs
beside whichever of the real-kernel and storage-host tiers ends last).
TARGETD_GATEWAY_DIRS=DIR_A:DIR_B reuses two guests booted before with `contrib/appliance
up --link` (development; they are left running). This tier never skips.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateways.gateway import ADDRS, NETWORK, STATE_BASE, Gateway, Phases, free_udp_ports

KEYRING = "/etc/ceph/ceph.client.targetd.keyring"


def _boot_both() -> tuple[Gateway, Gateway]:
    pa, pb = free_udp_ports()
    tag = os.getpid()
    dirs = {"a": STATE_BASE / f"gateways-a-{tag}", "b": STATE_BASE / f"gateways-b-{tag}"}
    links = {"a": f"{pa}:{pb}", "b": f"{pb}:{pa}"}
    booted: dict[str, Gateway] = {}
    errors: list[BaseException] = []

    def boot(name: str) -> None:
        try:
            booted[name] = Gateway.up(name, dirs[name], links[name])
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    # both at once: the image and wheel builds are shared (cached), the boots overlap
    threads = [threading.Thread(target=boot, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for g in booted.values():
            g.down()
        raise errors[0]
    return booted["a"], booted["b"]


@pytest.fixture(scope="session")
def gateways() -> Iterator[tuple[Gateway, Gateway]]:
    reuse = os.environ.get("TARGETD_GATEWAY_DIRS")
    if reuse:
        da, db = reuse.split(":")
        a, b = Gateway("a", Path(da)), Gateway("b", Path(db))
        for g in (a, b):
            g.exec(f"ip addr replace {g.addr}/24 dev eth1 && ip link set eth1 up")
    else:
        with Phases.timed("boot both guests (in parallel)"):
            a, b = _boot_both()
    try:
        with Phases.timed("Ceph cluster in A (appliance-ceph-up on the link's address)"):
            print(
                a.out(
                    f"CEPH_ADDR={ADDRS['a']} CEPH_NETWORK={NETWORK} appliance-ceph-up",
                    timeout=1200,
                )
            )
        with Phases.timed("B: A's monitor over the link, ceph.conf and keyring from A, rbd.ko"):
            b.exec(f"timeout 60 bash -c 'echo > /dev/tcp/{ADDRS['a']}/3300'", timeout=90)
            b.exec("mkdir -p /etc/ceph")
            for f in ("/etc/ceph/ceph.conf", KEYRING):
                data = a.exec(["cat", f]).stdout
                b.exec(f"cat > {f}.new && chmod 600 {f}.new && mv {f}.new {f}", input=data)
            b.exec(["modprobe", "rbd"])
        with Phases.timed("targetd A and B with the RBD pool (started in parallel)"):
            threads = [threading.Thread(target=g.serve_rbd) for g in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for g in (a, b):  # what a failed start raised in its thread, raised here
                g.rpc("vol_list", pool="rbd")
        yield a, b
    finally:
        if not reuse:
            with Phases.timed("both guests down"):
                for g in (a, b):
                    g.down()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's own type
    if Phases.done:
        terminalreporter.section("gateways phases (wall clock)")
        for name, dt in Phases.done:
            terminalreporter.write_line(f"{dt:7.0f} s  {name}")
