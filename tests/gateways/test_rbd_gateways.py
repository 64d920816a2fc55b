"""Two targetd gateways in front of one Ceph cluster, on real kernels (two appliance guests):
one truth about volumes, -303 across gateways, the cluster-wide change lock, and one image
exported from both and used through dm-multipath while one gateway's target stops.

Each `rbd`/`rados` command in a guest costs seconds under TCG, so the checks use few."""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
import uuid

import pytest

from tests.gateways.gateway import ADDRS, POOL, Gateway
from tests.realkernel.client import RPCError
from tests.realkernel.lvm_helpers import read_digest, write_random

MiB = 1 << 20
TARGET = "iqn.2003-01.org.linux-iscsi.appliance:targetd"  # the same name on both guests


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def timed(label: str, call, *args, **kwargs):  # noqa: ANN001, ANN201
    t0 = time.monotonic()
    r = call(*args, **kwargs)
    print(f"{label}: {time.monotonic() - t0:.2f} s")
    return r


def code_of(call, *args, **kwargs) -> int:  # noqa: ANN001
    with pytest.raises(RPCError) as e:
        call(*args, **kwargs)
    return e.value.code


def rbd(g: Gateway, *args: str) -> str:
    return g.out(["rbd", "--id", "targetd", "--pool", POOL, *args], timeout=180)


def mapped(g: Gateway) -> dict[str, str]:
    """image name -> /dev/rbdN of the guest's kernel RBD mappings (sysfs)."""
    out = g.out("cd /sys/bus/rbd/devices 2>/dev/null && for d in *; do "
                "[ -e \"$d/name\" ] && echo \"$d $(cat $d/name)\"; done; true")  # fmt: skip
    return {name: f"/dev/rbd{n}" for n, name in (line.split(" ", 1) for line in out.splitlines())}


def vols(g: Gateway) -> dict[str, dict]:
    return {v["name"]: v for v in g.rpc("vol_list", pool=POOL)}


def test_both_gateways_see_the_same_pool_and_volumes(gateways) -> None:  # noqa: ANN001
    a, b = gateways
    pa = {p["name"]: p for p in a.rpc("pool_list")}[POOL]
    pb = {p["name"]: p for p in b.rpc("pool_list")}[POOL]
    assert pa["uuid"] == pb["uuid"] and ":" in pa["uuid"]
    name = unique("gv")
    timed("vol_create (A)", a.rpc, "vol_create", pool=POOL, name=name, size=16 * MiB)
    va, vb = timed("vol_list (A)", vols, a)[name], timed("vol_list (B)", vols, b)[name]
    assert va == vb and va["size"] == 16 * MiB  # same size, same uuid (the image id)
    assert code_of(b.rpc, "vol_create", pool=POOL, name=name, size=16 * MiB) == -50
    timed("vol_resize (B)", b.rpc, "vol_resize", pool=POOL, name=name, size=32 * MiB)
    assert vols(a)[name]["size"] == 32 * MiB
    timed("vol_destroy (B)", b.rpc, "vol_destroy", pool=POOL, name=name)
    assert name not in vols(a)


def test_volume_exported_by_a_is_not_destroyed_through_b(gateways) -> None:  # noqa: ANN001
    """-303 from B while A exports it; still -303 with A's mapping gone (no watcher left:
    only the export record in the image tells); destroyable once A removed the export."""
    a, b = gateways
    name, wwn = unique("gx"), f"iqn.1994-05.org.example.test:gx-{uuid.uuid4().hex[:8]}"
    a.rpc("vol_create", pool=POOL, name=name, size=16 * MiB)
    timed("export_create (A, maps)", a.rpc, "export_create", pool=POOL, vol=name,
          initiator_wwn=wwn, lun=0)  # fmt: skip
    try:
        assert name in mapped(a)
        meta = rbd(a, "image-meta", "list", name, "--format", "json")
        assert '"targetd.export.gw-a"' in meta
        with pytest.raises(RPCError) as e:
            timed("vol_destroy (B, refused)", b.rpc, "vol_destroy", pool=POOL, name=name)
        assert e.value.code == -303 and "gw-a" in e.value.message
        # A's mapping goes away under LIO's feet (as when A's kernel client is cut off)
        a.exec(["rbd", "device", "unmap", "--options", "noudev,force", mapped(a)[name]])
        assert json.loads(rbd(a, "status", name, "--format", "json"))["watchers"] == []
        with pytest.raises(RPCError) as e:
            b.rpc("vol_destroy", pool=POOL, name=name)
        assert e.value.code == -303 and "gw-a" in e.value.message
        assert name in vols(b)
    finally:
        for ex in a.rpc("export_list"):
            if ex["vol_name"] == name:
                a.rpc("export_destroy", pool=POOL, vol=name, initiator_wwn=ex["initiator_wwn"])
    assert "targetd.export" not in rbd(a, "image-meta", "list", name, "--format", "json")
    b.rpc("vol_destroy", pool=POOL, name=name)
    assert name not in vols(a)


def test_a_change_lock_held_in_the_cluster_stops_the_other_gateway(gateways) -> None:  # noqa: ANN001
    """The lock is Ceph's: held from A's shell with the rados tool, B's create, resize and
    destroy of that image are refused (-1, nothing made or changed); another image is not."""
    a, b = gateways
    name, other = unique("gl"), unique("gl")
    b.rpc("vol_create", pool=POOL, name=other, size=8 * MiB)
    lock = ["rados", "--id", "admin", "--pool", POOL, "lock"]
    a.exec([*lock, "get", f"targetd.lock.{name}", "targetd", "--lock-cookie", "held-by-test",
            "--lock-duration", "600"])  # fmt: skip
    try:
        with pytest.raises(RPCError) as e:
            b.rpc("vol_create", pool=POOL, name=name, size=8 * MiB)
        assert e.value.code == -1 and "another targetd gateway" in e.value.message
        assert name not in vols(b)
        b.rpc("vol_resize", pool=POOL, name=other, size=16 * MiB)  # its own lock: free
    finally:
        a.exec([*lock, "break", f"targetd.lock.{name}", "targetd",
                _locker(a, name), "--lock-cookie", "held-by-test"])  # fmt: skip
    b.rpc("vol_create", pool=POOL, name=name, size=8 * MiB)
    for n in (name, other):
        b.rpc("vol_destroy", pool=POOL, name=n)
    # the lock objects went with their images
    objs = a.out(["rados", "--id", "admin", "--pool", POOL, "ls"])
    assert f"targetd.lock.{name}" not in objs and f"targetd.lock.{other}" not in objs


def _locker(g: Gateway, name: str) -> str:
    info = g.out(["rados", "--id", "admin", "--pool", POOL, "lock", "info",
                  f"targetd.lock.{name}", "targetd"])  # fmt: skip
    m = re.search(r'"name":\s*"(client\.\d+)"', info)
    assert m, info
    return m.group(1)


def test_concurrent_conflicting_calls_one_wins(gateways) -> None:  # noqa: ANN001
    """vol_create of one name on both gateways at once: exactly one image, of the winner's
    size; then resize on A against destroy on B: the end state is one of the serial ones."""
    a, b = gateways
    outcomes = []
    for _ in range(3):
        name = unique("gc")
        res = _at_once(
            (a, "vol_create", {"pool": POOL, "name": name, "size": 8 * MiB}),
            (b, "vol_create", {"pool": POOL, "name": name, "size": 12 * MiB}),
        )
        outcomes.append(res)
        assert res.count(0) == 1, res  # exactly one wins ...
        assert all(r in (0, -50, -1) for r in res), res  # ... the other: name in use or lock
        size = vols(a)[name]["size"]
        assert size == (8 * MiB if res[0] == 0 else 12 * MiB)  # the winner's, whole
        res = _at_once(
            (a, "vol_resize", {"pool": POOL, "name": name, "size": 16 * MiB}),
            (b, "vol_destroy", {"pool": POOL, "name": name}),
        )
        outcomes.append(res)
        now = vols(b).get(name)
        if res[1] == 0:  # destroyed (after or instead of the resize)
            assert now is None and res[0] in (0, -1, -103), res
        else:  # refused by the lock: the resize won
            assert res == [0, -1] and now is not None and now["size"] == 16 * MiB, res
            b.rpc("vol_destroy", pool=POOL, name=name)
    print(f"outcomes (A, B): {outcomes}")
    objs = a.out(["rados", "--id", "admin", "--pool", POOL, "ls"])
    assert "targetd.lock.gc" not in objs  # no lock object of a destroyed image left


def _at_once(*calls) -> list[int]:  # noqa: ANN002
    """Run (gateway, method, params) calls in threads released together; 0 or the code."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def one(i: int, g: Gateway, method: str, params: dict) -> None:
        barrier.wait()
        try:
            g.rpc(method, **params)
            out[i] = 0
        except RPCError as e:
            out[i] = e.code

    threads = [threading.Thread(target=one, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out  # type: ignore[return-value]


# -- one image behind both gateways, dm-multipath in front ----------------------------------


class MultipathInitiator:
    """One open-iscsi initiator (in guest B) logged into both gateways' portals, and a
    dm-multipath device made with dmsetup over the two paths: priority group 1 through A,
    group 2 through B (active/passive). multipath-tools is not used: its daemon finds paths
    through udev, which the appliance does not run."""

    def __init__(self, g: Gateway, name: str) -> None:
        self.g, self.name = g, name
        self.iface = "m" + uuid.uuid4().hex[:10]
        self.dm = "mp" + uuid.uuid4().hex[:8]
        g.exec(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "new"])
        for key, value in (("iface.initiatorname", name), ("iface.transport_name", "tcp")):
            g.exec(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "update", "-n", key,
                    "-v", value])  # fmt: skip

    def _node(self, portal: str, *args: str, check: bool = True):  # noqa: ANN202
        return self.g.exec(["iscsiadm", "-m", "node", "-T", TARGET, "-p", portal, "-I",
                            self.iface, *args], check=check, timeout=120)  # fmt: skip

    def login(self, portal: str) -> None:
        self._node(portal, "-o", "new")
        for key, value in (
            # hand a dead path's I/O back to dm-multipath after 5 s, not open-iscsi's 120
            ("node.session.timeo.replacement_timeout", "5"),
            ("node.conn[0].timeo.noop_out_interval", "2"),
            ("node.conn[0].timeo.noop_out_timeout", "5"),
            ("node.session.initial_login_retry_max", "2"),
        ):
            self._node(portal, "-o", "update", "-n", key, "-v", value)
        self._node(portal, "--login")

    def disks(self, want: int, timeout: float = 90) -> dict[str, str]:
        """portal address -> /dev/sdX of this initiator's sessions."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.g.exec(["iscsiadm", "-m", "session", "-P3"], check=False).stdout.decode()
            found: dict[str, str] = {}
            mine = False
            portal = ""
            for line in out.splitlines():
                line = line.strip()
                if m := re.match(r"Current Portal: ([\d.]+):", line):
                    portal = m.group(1)
                elif m := re.match(r"Iface Initiatorname: (\S+)", line):
                    mine = m.group(1) == self.name
                elif (m := re.match(r"Attached scsi disk (\w+)", line)) and mine:
                    found[portal] = f"/dev/{m.group(1)}"
            if len(found) >= want or time.monotonic() > deadline:
                return found
            time.sleep(2)

    def make_multipath(self, active: str, passive: str) -> str:
        g = self.g
        g.exec(["modprobe", "-a", "dm-multipath", "dm-round-robin"])
        size = g.out(["blockdev", "--getsz", active])
        assert size == g.out(["blockdev", "--getsz", passive])
        majmin = [
            g.out(["cat", f"/sys/block/{d.rsplit('/', 1)[1]}/dev"]) for d in (active, passive)
        ]
        table = (f"0 {size} multipath 0 0 2 1 round-robin 0 1 1 {majmin[0]} 1 "
                 f"round-robin 0 1 1 {majmin[1]} 1")  # fmt: skip
        g.exec(["dmsetup", "create", self.dm, "--table", table])
        g.exec(["mknod", f"/dev/mapper/{self.dm}", "b", *self._dm_majmin()], check=False)
        return f"/dev/mapper/{self.dm}"

    def _dm_majmin(self) -> list[str]:
        out = self.g.out(["dmsetup", "info", "-c", "--noheadings", "-o", "major,minor", self.dm])
        return out.split(":")

    def status(self) -> str:
        return self.g.out(["dmsetup", "status", self.dm])

    def remove(self) -> None:
        self.g.exec(["dmsetup", "remove", "--force", self.dm], check=False)
        for portal in (f"{ADDRS['a']}:3260", f"{ADDRS['b']}:3260"):
            self._node(portal, "--logout", check=False)
            self._node(portal, "-o", "delete", check=False)
        self.g.exec(["iscsiadm", "-m", "iface", "-I", self.iface, "-o", "delete"], check=False)


def _groups(status: str) -> list[tuple[str, str]]:
    """(group state, its one path's state) per priority group of a ``dmsetup status`` line
    of our table: group A(ctive)/E(nabled)/D(isabled), path A(ctive)/F(ailed)."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r" ([AED]) 0 1 0 \d+:\d+ ([AF]) ", status + " ")
    ]


def _tpg_enable(g: Gateway, on: bool) -> None:
    g.exec(f"echo {int(on)} > /sys/kernel/config/target/iscsi/{TARGET}/tpgt_1/enable")


def test_one_image_through_both_gateways_survives_one_target_stopping(gateways) -> None:  # noqa: ANN001
    a, b = gateways
    name = unique("gm")
    wwn = f"iqn.1994-05.org.example.test:mp-{uuid.uuid4().hex[:8]}"
    a.rpc("vol_create", pool=POOL, name=name, size=48 * MiB)
    vol = vols(a)[name]
    init = MultipathInitiator(b, wwn)
    stopped = False
    try:
        for g in (a, b):
            timed(f"export_create ({g.name.upper()}, maps)", g.rpc, "export_create", pool=POOL,
                  vol=name, initiator_wwn=wwn, lun=0)  # fmt: skip
            exports = timed(f"export_list ({g.name.upper()})", g.rpc, "export_list")
            assert [e["lun"] for e in exports if e["vol_name"] == name] == [0]
        meta = rbd(a, "image-meta", "list", name, "--format", "json")
        assert '"targetd.export.gw-a"' in meta and '"targetd.export.gw-b"' in meta
        init.login(f"{ADDRS['a']}:3260")
        init.login(f"{ADDRS['b']}:3260")
        disks = init.disks(want=2)
        assert set(disks) == {ADDRS["a"], ADDRS["b"]}, disks
        serials = {
            p: b.exec(["cat", f"/sys/block/{d.rsplit('/', 1)[1]}/device/vpd_pg80"]).stdout[4:]
            for p, d in disks.items()
        }
        # one unit serial on both paths: what lets multipath pair them (the image id)
        assert len(set(serials.values())) == 1, serials
        assert vol["uuid"].encode() in serials[ADDRS["a"]], serials
        mp = init.make_multipath(disks[ADDRS["a"]], disks[ADDRS["b"]])
        before = write_random(b.exec, mp, 0, 4)
        groups = _groups(init.status())
        assert groups[0][0] == "A" and groups[1][0] == "E", groups  # written through A
        # a writer in the background: 32 MiB, one direct 1 MiB write after another with a
        # pause between (an application writing on; a single dd of 16 MiB was done in
        # under 2 s, before the stop). A's iSCSI target (its TPG) is stopped while it runs.
        src = f"/tmp/{name}.src"
        b.exec(
            f"rm -f {src}.rc {src}.n {src}.t; dd if=/dev/urandom of={src} bs=1M count=32 status=none"
        )
        during = b.out(f"sha256sum {src} | cut -d' ' -f1")
        writer = (
            f"for i in $(seq 0 31); do dd if={src} of={mp} bs=1M skip=$i seek=$((8 + i)) "
            "count=1 oflag=direct conv=fsync,notrunc status=none || { echo $? > "
            f"{src}.rc; exit; }}; echo $i > {src}.n; date +%s.%N >> {src}.t; sleep 0.2; "
            f"done; echo 0 > {src}.rc"
        )
        # its own session, and no pipe of the exec agent held (or the exec waits for it)
        b.exec(f"setsid -f bash -c {shlex.quote(writer)} </dev/null >/dev/null 2>&1")
        b.exec(f"while [ ! -s {src}.n ]; do sleep 0.2; done", timeout=120)  # it has begun
        t0 = time.monotonic()
        _tpg_enable(a, False)
        stopped = True
        in_flight = b.exec(["test", "-e", f"{src}.rc"], check=False).returncode != 0
        rc = b.out(f"while [ ! -s {src}.rc ]; do sleep 0.5; done; cat {src}.rc", timeout=300)
        done = b.out(f"cat {src}.n")
        stamps = [float(t) for t in b.out(f"cat {src}.t").split()]
        gaps = [round(y - x, 1) for x, y in zip(stamps, stamps[1:], strict=False)]
        print(f"seconds between the writer's 1 MiB writes (0.2 s of it a pause): {gaps}")
        print(
            f"writer: {time.monotonic() - t0:.1f} s after the stop of A's target, "
            f"still writing when it stopped: {in_flight}, last MiB written: {done}"
        )
        assert rc == "0"  # the writer saw no error
        assert in_flight  # (else the stop came too late to test anything)
        st = init.status()
        print(f"dmsetup status: {st}")
        groups = _groups(st)
        assert groups[0][1] == "F" and groups[1] == ("A", "A"), groups  # through B now ...
        assert read_digest(b.exec, mp, 0, 4) == before  # ... the data written before is there
        assert read_digest(b.exec, mp, 8, 32) == during  # ... and all of the writer's
        # and it is in the image: read through B's own kernel RBD mapping, not via iSCSI
        dev_b = mapped(b)[name]
        assert read_digest(b.exec, dev_b, 8, 32) == during
    finally:
        if stopped:
            _tpg_enable(a, True)
        init.remove()
        for g in (a, b):
            for ex in g.rpc("export_list"):
                if ex["vol_name"] == name:
                    g.rpc("export_destroy", pool=POOL, vol=name, initiator_wwn=ex["initiator_wwn"])
    assert name not in mapped(a) and name not in mapped(b)
    b.rpc("vol_destroy", pool=POOL, name=name)
