"""Ceph RBD block pools on a real kernel, one gateway: targetd's rbd plugin on gateway A
of this tier (tests/gateways/conftest.py: the Ceph cluster runs in A, targetd serves its
pool "rbd" as client.targetd), volumes checked through kernel RBD devices in A, an iSCSI
export logged into and written from A itself. (They ran in the real-kernel tier with a
cluster of their own until it was one Ceph bring-up, two minutes under TCG, too many.)

Under TCG each `rbd`/`ceph` command in the guest costs seconds (see contrib/appliance.md),
so the checks use few of them."""

from __future__ import annotations

import time

import pytest

from tests.gateways.gateway import Gateway
from tests.realkernel.client import RPCError
from tests.realkernel.lio_helpers import Initiator, MiB, iqn
from tests.realkernel.lvm_helpers import read_digest, unique, write_random

POOL = "rbd"
ADMIN = ["--id", "admin", "--pool", POOL]


@pytest.fixture
def ceph(gateways: tuple[Gateway, Gateway]) -> Gateway:
    """Gateway A: the cluster up and targetd serving the RBD pool (the tier's fixture)."""
    return gateways[0]


@pytest.fixture
def rpc(ceph: Gateway):  # noqa: ANN201 - the gateway's call
    return ceph.rpc


@pytest.fixture
def guest_exec(ceph: Gateway):  # noqa: ANN201 - the gateway's exec, as the real-kernel tier's
    return ceph.exec


def rbd(guest_exec, *args: str, timeout: float = 120) -> str:
    return guest_exec(["rbd", *ADMIN, *args], timeout=timeout).stdout.decode().strip()


def mapped(guest_exec) -> dict[str, str]:
    """image name -> /dev/rbdN of the guest's kernel RBD mappings (sysfs)."""
    cp = guest_exec("cd /sys/bus/rbd/devices 2>/dev/null && for d in *; do "
                    "[ -e \"$d/name\" ] && echo \"$d $(cat $d/name)\"; done; true")  # fmt: skip
    out = {}
    for line in cp.stdout.decode().split("\n"):
        if line.strip():
            n, name = line.split(" ", 1)
            out[name] = f"/dev/rbd{n}"
    return out


def size_of(guest_exec, dev: str) -> int:
    return int(guest_exec(["blockdev", "--getsize64", dev]).stdout)


def timed(label: str, call, *args, **kwargs):
    t0 = time.monotonic()
    r = call(*args, **kwargs)
    print(f"{label}: {time.monotonic() - t0:.2f} s")
    return r


def test_pool_is_listed_with_the_clusters_sizes(ceph, rpc) -> None:
    deadline = time.monotonic() + 180
    while True:  # the manager reports usage some time after the cluster came up
        p = {p["name"]: p for p in timed("pool_list", rpc, "pool_list")}[POOL]
        if p["free_size"] > 0 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert p["type"] == "block"
    assert 0 < p["free_size"] <= p["size"] <= 11 << 30  # one 10 GiB OSD
    assert ":" in p["uuid"]  # cluster fsid : pool id


def test_volume_lifecycle_with_data(ceph, rpc, guest_exec) -> None:
    a, b = unique("ra"), unique("rb")
    timed("vol_create", rpc, "vol_create", pool=POOL, name=a, size=16 * MiB)
    vols = {v["name"]: v for v in timed("vol_list", rpc, "vol_list", pool=POOL)}
    assert vols[a]["size"] == 16 * MiB
    assert a in rbd(guest_exec, "ls").split()  # the cluster has the image
    # data through a kernel RBD mapping of the image (made by hand: no export here)
    dev = rbd(guest_exec, "device", "map", "--options", "noudev", a)
    try:
        written = write_random(guest_exec, dev, 2, 4)
        timed("vol_resize", rpc, "vol_resize", pool=POOL, name=a, size=24 * MiB)
        assert size_of(guest_exec, dev) == 24 * MiB  # the mapping sees the new size
        timed("vol_copy", rpc, "vol_copy", pool=POOL, vol_orig=a, vol_new=b)
        write_random(guest_exec, dev, 2, 4)  # the origin changes after the copy ...
    finally:
        rbd(guest_exec, "device", "unmap", "--options", "noudev", dev)
    vols = {v["name"]: v for v in rpc("vol_list", pool=POOL)}
    assert vols[b]["size"] == 24 * MiB and vols[b]["uuid"] != vols[a]["uuid"]
    timed("vol_destroy", rpc, "vol_destroy", pool=POOL, name=a)
    assert a not in {v["name"] for v in rpc("vol_list", pool=POOL)}
    # ... and, with the origin gone, the copy still holds the data of copy time
    dev = rbd(guest_exec, "device", "map", "--options", "noudev", "--read-only", b)
    try:
        assert read_digest(guest_exec, dev, 2, 4) == written
    finally:
        rbd(guest_exec, "device", "unmap", "--options", "noudev", dev)
    rpc("vol_destroy", pool=POOL, name=b)
    assert b not in rbd(guest_exec, "ls").split()


def test_iscsi_export_maps_logs_in_writes_and_unmaps(ceph, rpc, guest_exec) -> None:
    name = unique("re")
    rpc("vol_create", pool=POOL, name=name, size=16 * MiB)
    assert name not in mapped(guest_exec)  # no device until exported
    init = Initiator(guest_exec, iqn("rbd"))
    try:
        timed("export_create (maps)", rpc, "export_create", pool=POOL, vol=name,
              initiator_wwn=init.name, lun=0)  # fmt: skip
        dev = mapped(guest_exec)[name]
        exports = timed("export_list", rpc, "export_list")
        (e,) = [e for e in exports if e["vol_name"] == name]
        assert (e["pool"], e["lun"], e["vol_size"]) == (POOL, 0, 16 * MiB)
        assert init.login() == 0
        disk = init.disks(want=1)[0]
        digest = write_random(guest_exec, disk, 1, 4)
        assert read_digest(guest_exec, dev, 1, 4) == digest  # through iSCSI to the image
        # exported: not destroyed, not unmapped
        with pytest.raises(RPCError) as ei:
            rpc("vol_destroy", pool=POOL, name=name)
        assert ei.value.code == -303
        assert mapped(guest_exec).get(name) == dev
        init.logout()
        timed("export_destroy (unmaps)", rpc, "export_destroy", pool=POOL, vol=name,
              initiator_wwn=init.name)  # fmt: skip
        assert name not in mapped(guest_exec)
    finally:
        init.remove()
        for e in rpc("export_list"):
            if e["vol_name"] == name:
                rpc("export_destroy", pool=POOL, vol=name, initiator_wwn=e["initiator_wwn"])
    rpc("vol_destroy", pool=POOL, name=name)


def test_image_open_elsewhere_is_not_destroyed(ceph, rpc, guest_exec) -> None:
    """Another client of the cluster (as another gateway would be) holds the image open:
    vol_destroy is -303 and the image stays."""
    name = unique("rw")
    rpc("vol_create", pool=POOL, name=name, size=4 * MiB)
    # it closes the image when it is told to stop (SIGTERM): a killed client's watch would
    # stay on the image until the OSDs time it out (30 s)
    holder = ("import rados, rbd, signal, sys, time\n"
              "c = rados.Rados(conffile='/etc/ceph/ceph.conf', rados_id='admin'); c.connect()\n"
              "io = c.open_ioctx('rbd'); img = rbd.Image(io, sys.argv[1])\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
              "open('/tmp/holder-ready', 'w').close()\n"
              "try:\n    time.sleep(600)\n"
              "finally:\n    img.close(); io.close(); c.shutdown()\n")  # fmt: skip
    guest_exec(f"rm -f /tmp/holder-ready; cat > /tmp/holder.py; setsid python3 /tmp/holder.py "
               f"{name} >/tmp/holder.log 2>&1 & echo $! > /tmp/holder.pid",
               input=holder.encode())  # fmt: skip
    try:
        guest_exec("for i in $(seq 120); do [ -e /tmp/holder-ready ] && exit 0; sleep 0.5; done; "
                   "cat /tmp/holder.log; exit 1", timeout=120)  # fmt: skip
        with pytest.raises(RPCError) as ei:
            rpc("vol_destroy", pool=POOL, name=name)
        assert ei.value.code == -303
        assert name in {v["name"] for v in rpc("vol_list", pool=POOL)}
    finally:
        guest_exec("kill $(cat /tmp/holder.pid)", check=False)
    # the other client closed the image: the destroy goes through
    deadline = time.monotonic() + 120
    while True:
        try:
            rpc("vol_destroy", pool=POOL, name=name)
            break
        except RPCError as e:
            if e.code != -303 or time.monotonic() > deadline:
                raise
            time.sleep(1)
