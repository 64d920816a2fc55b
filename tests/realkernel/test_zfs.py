"""The ZFS plugin on a real kernel: block pool zfs-targetd/block (zvols) and fs pool
/zfs-targetd/fs, through the API, checked from inside the guest."""

import pytest

from tests.realkernel.client import RPCError
from tests.realkernel.zfs_helpers import (
    BLOCK,
    FS_DS,
    FS_POOL,
    guest_python,
    leftovers,
    out,
    read_sha,
    unique,
    wait_block_device,
    write_pattern,
    zexists,
    zget,
)

MiB = 1 << 20


def err(rpc, method, **params) -> int:
    with pytest.raises(RPCError) as e:
        rpc(method, **params)
    return e.value.code


def vols(rpc) -> dict:
    return {v["name"]: v for v in rpc("vol_list", pool=BLOCK)}


def fss(rpc) -> dict:
    return {f["name"]: f for f in rpc("fs_list") if f["pool"] == FS_POOL}


@pytest.fixture
def cleanup(guest_exec):
    """Names to destroy (recursively, hand-made clones first) after the test, pass or fail."""
    names: list[str] = []
    yield names
    for ds in reversed(names):
        guest_exec(["zfs", "destroy", "-R", ds], check=False)


# --- block pool ---------------------------------------------------------------------------
def test_block_pool_in_pool_list(rpc, guest_exec):
    pool = {p["name"]: p for p in rpc("pool_list")}[BLOCK]
    assert pool["type"] == "block"
    assert pool["uuid"] == zget(guest_exec, "guid", BLOCK) and isinstance(pool["uuid"], str)
    avail = int(zget(guest_exec, "available", BLOCK))
    used = int(zget(guest_exec, "used", BLOCK))
    assert pool["size"] == used + avail and pool["free_size"] == avail


def test_volume_life_data_copy_resize(rpc, guest_exec, cleanup):
    a, b = unique("zta"), unique("ztb")
    cleanup += [f"{BLOCK}/{a}", f"{BLOCK}/{b}"]
    rpc("vol_create", pool=BLOCK, name=a, size=20 * MiB + 1)
    va = vols(rpc)[a]
    volsize = int(zget(guest_exec, "volsize", f"{BLOCK}/{a}"))
    assert va["size"] == volsize >= 20 * MiB + 1
    assert volsize % int(zget(guest_exec, "volblocksize", f"{BLOCK}/{a}")) == 0
    assert va["uuid"] == zget(guest_exec, "guid", f"{BLOCK}/{a}")
    assert va["uuid"].isascii() and va["uuid"].isprintable() and len(va["uuid"]) <= 40
    assert zget(guest_exec, "refreservation", f"{BLOCK}/{a}") != "0"  # thick

    # the zvol appears in /dev (link and node), the daemon's device is the same node
    node = wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{a}")
    assert node.startswith("/dev/zd"), node
    sha0 = write_pattern(guest_exec, f"/dev/zvol/{BLOCK}/{a}", 0, b"first")
    sha1 = write_pattern(guest_exec, f"/dev/zvol/{BLOCK}/{a}", 19, b"last")

    # resize: grows, size as ZFS says, data survives
    rpc("vol_resize", pool=BLOCK, name=a, size=40 * MiB)
    assert vols(rpc)[a]["size"] == int(zget(guest_exec, "volsize", f"{BLOCK}/{a}")) == 40 * MiB
    guest_exec(
        f"for i in $(seq 100); do [ $(blockdev --getsize64 {node}) = {40 * MiB} ] && exit 0; "
        "sleep 0.1; done; exit 1"
    )
    assert read_sha(guest_exec, node, 0) == sha0 and read_sha(guest_exec, node, 19) == sha1

    # copy, grown: same data, own uuid, own device; no temporaries left
    rpc("vol_copy", pool=BLOCK, vol_orig=a, vol_new=b, size=64 * MiB + 5)
    vb = vols(rpc)[b]
    assert vb["size"] == int(zget(guest_exec, "volsize", f"{BLOCK}/{b}")) >= 64 * MiB + 5
    assert vb["uuid"] != va["uuid"]
    assert zget(guest_exec, "origin", f"{BLOCK}/{b}") == "-"  # not a clone
    assert zget(guest_exec, "refreservation", f"{BLOCK}/{b}") != "0"  # thick like its origin
    assert leftovers(guest_exec, BLOCK) == []
    bnode = wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{b}")
    assert bnode != node
    assert read_sha(guest_exec, bnode, 0) == sha0 and read_sha(guest_exec, bnode, 19) == sha1

    # the copy's origin can be destroyed; the copy keeps its data
    rpc("vol_destroy", pool=BLOCK, name=a)
    assert a not in vols(rpc) and not zexists(guest_exec, f"{BLOCK}/{a}")
    assert read_sha(guest_exec, bnode, 0) == sha0

    # a new volume of the same name is a new volume (new uuid)
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    assert vols(rpc)[a]["uuid"] not in (va["uuid"], vb["uuid"])
    rpc("vol_destroy", pool=BLOCK, name=a)
    rpc("vol_destroy", pool=BLOCK, name=b)
    assert not {a, b} & set(vols(rpc))
    guest_exec(
        f"for i in $(seq 100); do [ -e /dev/zvol/{BLOCK}/{b} ] || exit 0; sleep 0.1; done; exit 1"
    )


def test_copy_without_size_and_plain_copy_destroyable_both_ways(rpc, guest_exec, cleanup):
    a, b = unique("ztc"), unique("ztd")
    cleanup += [f"{BLOCK}/{a}", f"{BLOCK}/{b}"]
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    rpc("vol_copy", pool=BLOCK, vol_orig=a, vol_new=b)
    v = vols(rpc)
    assert v[b]["size"] == v[a]["size"]
    rpc("vol_destroy", pool=BLOCK, name=b)  # the copy first this time
    rpc("vol_destroy", pool=BLOCK, name=a)
    assert leftovers(guest_exec, BLOCK) == []


def test_failed_copy_leaves_nothing(rpc, guest_exec, cleanup):
    a, b = unique("zte"), unique("ztf")
    cleanup += [f"{BLOCK}/{a}", f"{BLOCK}/{b}"]
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    # a thick copy far larger than the pool: the reservation cannot be made
    assert err(rpc, "vol_copy", pool=BLOCK, vol_orig=a, vol_new=b, size=1 << 50) == -1
    assert b not in vols(rpc) and not zexists(guest_exec, f"{BLOCK}/{b}")
    assert leftovers(guest_exec, BLOCK) == []
    rpc("vol_destroy", pool=BLOCK, name=a)


def test_old_style_clone_survives_origin_destroy(rpc, guest_exec, cleanup):
    """Copies made by the old daemon were `zfs clone`s: destroying their origin promotes them."""
    a, c = unique("ztg"), unique("zth")
    cleanup += [f"{BLOCK}/{c}", f"{BLOCK}/{a}"]
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    sha = write_pattern(
        guest_exec, wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{a}"), 0, b"o"
    )
    guest_exec(["zfs", "snapshot", f"{BLOCK}/{a}@{c}"])
    guest_exec(["zfs", "clone", f"{BLOCK}/{a}@{c}", f"{BLOCK}/{c}"])
    rpc("vol_destroy", pool=BLOCK, name=a)
    assert a not in vols(rpc) and c in vols(rpc)
    assert read_sha(guest_exec, wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{c}"), 0) == sha
    rpc("vol_destroy", pool=BLOCK, name=c)
    assert not zexists(guest_exec, f"{BLOCK}/{c}")


def test_block_errors(rpc, guest_exec, cleanup):
    a, b = unique("zti"), unique("ztj")
    cleanup += [f"{BLOCK}/{a}", f"{BLOCK}/{b}"]
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    rpc("vol_create", pool=BLOCK, name=b, size=8 * MiB)
    size = vols(rpc)[a]["size"]
    assert err(rpc, "vol_create", pool=BLOCK, name=a, size=8 * MiB) == -50
    assert err(rpc, "vol_create", pool="zfs-targetd/nope", name=a, size=MiB) == -110
    assert err(rpc, "vol_list", pool="zfs-targetd/nope") == -110
    assert err(rpc, "vol_destroy", pool=BLOCK, name="zt_missing") == -103
    assert err(rpc, "vol_copy", pool=BLOCK, vol_orig="zt_missing", vol_new="zt_x") == -103
    assert err(rpc, "vol_copy", pool=BLOCK, vol_orig=a, vol_new=b) == -50
    assert err(rpc, "vol_copy", pool=BLOCK, vol_orig=a, vol_new="zt_x", size=size) == -32602
    assert err(rpc, "vol_resize", pool=BLOCK, name=a, size=size) == -32602
    assert err(rpc, "vol_resize", pool=BLOCK, name=a, size=size - 8192) == -32602
    assert err(rpc, "vol_resize", pool=BLOCK, name="zt_missing", size=size * 2) == -103
    assert err(rpc, "vol_create", pool=BLOCK, name="zt_zero", size=0) == -32602
    for bad in ("has space", "a/b", "a@b", "..", "x.y", "", "targetd.tmp-1"):
        assert err(rpc, "vol_create", pool=BLOCK, name=bad, size=MiB) == -32602, bad
        assert err(rpc, "vol_copy", pool=BLOCK, vol_orig=a, vol_new=bad) == -32602, bad
        assert err(rpc, "vol_destroy", pool=BLOCK, name=bad) == -32602, bad
    assert not zexists(guest_exec, f"{BLOCK}/zt_zero")
    assert vols(rpc)[a]["size"] == size
    rpc("vol_destroy", pool=BLOCK, name=a)
    rpc("vol_destroy", pool=BLOCK, name=b)


def test_missing_block_dataset_is_a_config_error(guest_exec):
    code = (
        "import tempfile\n"
        "from targetd_core.plugins import build_core, StartupError\n"
        "try:\n"
        "    build_core(raw={'password': 'x', 'state_dir': tempfile.mkdtemp(), 'plugins': ['zfs'],\n"
        "                    'zfs_block_pools': ['zfs-targetd/nope']}, env={})\n"
        "except StartupError as e:\n"
        "    print('\\n'.join('PROBLEM ' + p for p in e.problems))\n"
        "else:\n"
        "    print('STARTED')\n"
    )
    text = guest_python(guest_exec, code, check=True).stdout.decode()
    problems = [ln[8:] for ln in text.splitlines() if ln.startswith("PROBLEM ")]
    assert len(problems) == 1, text
    assert problems[0].startswith("zfs_block_pools:") and "zfs-targetd/nope" in problems[0], text


# --- fs pool ------------------------------------------------------------------------------
def test_fs_pool_in_pool_list(rpc, guest_exec):
    pool = {p["name"]: p for p in rpc("pool_list")}[FS_POOL]
    assert pool["type"] == "fs" and pool["uuid"] == zget(guest_exec, "guid", FS_DS)
    assert 0 < pool["free_size"] <= pool["size"]


def test_fs_create_list_quota_destroy(rpc, guest_exec, cleanup):
    a, q = unique("ztfa"), unique("ztfq")
    cleanup += [f"{FS_DS}/{a}", f"{FS_DS}/{q}"]
    rpc("fs_create", pool_name=FS_POOL, name=a, size_bytes=0)
    rpc("fs_create", pool_name=FS_POOL + "/", name=q, size_bytes=8 * MiB)
    f = fss(rpc)
    assert f[a]["uuid"] == zget(guest_exec, "guid", f"{FS_DS}/{a}")
    assert f[a]["full_path"] == f"{FS_POOL}/{a}" and f[a]["pool"] == FS_POOL
    assert zget(guest_exec, "mounted", f"{FS_DS}/{a}") == "yes"
    assert zget(guest_exec, "refquota", f"{FS_DS}/{a}") == "0"
    assert 0 < f[a]["free_space"] <= f[a]["total_space"]
    assert f[q]["total_space"] == 8 * MiB == int(zget(guest_exec, "refquota", f"{FS_DS}/{q}"))
    assert f[q]["free_space"] <= 8 * MiB

    # the quota is enforced: writing past it fails in the guest
    cp = guest_exec(
        f"dd if=/dev/urandom of={FS_POOL}/{q}/big bs=1M count=16 conv=fsync status=none",
        check=False,
    )
    assert cp.returncode != 0 and b"quota" in cp.stderr.lower(), cp.stderr
    used = int(out(guest_exec, f"du -B1 --apparent-size {FS_POOL}/{q}/big | cut -f1"))
    assert used <= 10 * MiB
    # while a file system without quota takes the same write
    guest_exec(f"dd if=/dev/urandom of={FS_POOL}/{a}/big bs=1M count=16 conv=fsync status=none")

    assert err(rpc, "fs_create", pool_name=FS_POOL, name=a, size_bytes=0) == -53
    assert err(rpc, "fs_create", pool_name="/zfs-targetd/nope", name="ztx", size_bytes=0) == -110
    for bad in ("a b", "a/b", "a@b", "x.y", ".."):
        assert err(rpc, "fs_create", pool_name=FS_POOL, name=bad, size_bytes=0) == -32602, bad

    guest_exec(["zfs", "snapshot", f"{FS_DS}/{a}@by-hand"])
    rpc("fs_destroy", uuid=f[a]["uuid"])
    rpc("fs_destroy", uuid=f[q]["uuid"])
    assert not {a, q} & set(fss(rpc))
    assert not zexists(guest_exec, f"{FS_DS}/{a}") and not zexists(
        guest_exec, f"{FS_DS}/{a}@by-hand"
    )
    assert err(rpc, "fs_destroy", uuid=f[a]["uuid"]) == -104


def test_snapshots_and_clones(rpc, guest_exec, cleanup):
    a, c1, c2, c3 = (unique(p) for p in ("ztsa", "ztsc", "ztsd", "ztse"))
    cleanup += [f"{FS_DS}/{n}" for n in (c1, c2, c3, a)]
    rpc("fs_create", pool_name=FS_POOL, name=a, size_bytes=32 * MiB)
    fa = fss(rpc)[a]
    guest_exec(f"echo v1 > {FS_POOL}/{a}/data && sync")

    t0 = int(out(guest_exec, "date +%s"))
    rpc("fs_snapshot", fs_uuid=fa["uuid"], dest_ss_name="s1")
    t1 = int(out(guest_exec, "date +%s"))
    (ss,) = rpc("ss_list", fs_uuid=fa["uuid"])
    assert ss["name"] == "s1" and ss["uuid"] == zget(guest_exec, "guid", f"{FS_DS}/{a}@s1")
    assert ss["timestamp"] == int(zget(guest_exec, "creation", f"{FS_DS}/{a}@s1"))
    assert t0 <= ss["timestamp"] <= t1
    assert err(rpc, "fs_snapshot", fs_uuid=fa["uuid"], dest_ss_name="s1") == -53
    assert err(rpc, "fs_snapshot", fs_uuid="0", dest_ss_name="s9") == -104
    for bad in ("a@b", "a.b", "a/b", ""):
        assert err(rpc, "fs_snapshot", fs_uuid=fa["uuid"], dest_ss_name=bad) == -32602, bad
    assert err(rpc, "ss_list", fs_uuid="0") == -104

    # read-only: writing into the snapshot fails
    snapdir = f"{FS_POOL}/{a}/.zfs/snapshot/s1"
    assert out(guest_exec, f"cat {snapdir}/data") == "v1\n"
    cp = guest_exec(f"echo x > {snapdir}/new", check=False)
    assert cp.returncode != 0 and b"read-only" in cp.stderr.lower(), cp.stderr

    guest_exec(f"echo v2 > {FS_POOL}/{a}/data && sync")
    # clone from the snapshot: the snapshot's data; from the live fs ("" and null): today's
    rpc("fs_clone", fs_uuid=fa["uuid"], dest_fs_name=c1, snapshot_id=ss["uuid"])
    rpc("fs_clone", fs_uuid=fa["uuid"], dest_fs_name=c2, snapshot_id=None)
    rpc("fs_clone", fs_uuid=fa["uuid"], dest_fs_name=c3, snapshot_id="")
    f = fss(rpc)
    assert out(guest_exec, f"cat {f[c1]['full_path']}/data") == "v1\n"
    assert out(guest_exec, f"cat {f[c2]['full_path']}/data") == "v2\n"
    assert out(guest_exec, f"cat {f[c3]['full_path']}/data") == "v2\n"
    assert len({f[n]["uuid"] for n in (a, c1, c2, c3)}) == 4
    assert f[c1]["total_space"] == 32 * MiB  # the clone keeps the quota
    guest_exec(f"echo mine > {f[c2]['full_path']}/data")  # writable, and its own
    assert out(guest_exec, f"cat {FS_POOL}/{a}/data") == "v2\n"
    assert [s["name"] for s in rpc("ss_list", fs_uuid=fa["uuid"])] == ["s1"]
    assert rpc("ss_list", fs_uuid=f[c1]["uuid"]) == []
    assert leftovers(guest_exec, FS_DS) == []

    assert err(rpc, "fs_clone", fs_uuid=fa["uuid"], dest_fs_name=c1, snapshot_id=None) == -51
    assert err(rpc, "fs_clone", fs_uuid="0", dest_fs_name="ztq", snapshot_id=None) == -104
    assert err(rpc, "fs_clone", fs_uuid=fa["uuid"], dest_fs_name="ztq", snapshot_id="0") == -112
    assert err(rpc, "fs_clone", fs_uuid=fa["uuid"], dest_fs_name="a.b", snapshot_id=None) == -32602
    assert err(rpc, "fs_snapshot_delete", fs_uuid=fa["uuid"], ss_uuid="0") == -112

    # the clones are independent: their origin (and its snapshot) can go
    rpc("fs_snapshot_delete", fs_uuid=fa["uuid"], ss_uuid=ss["uuid"])
    assert rpc("ss_list", fs_uuid=fa["uuid"]) == []
    assert not zexists(guest_exec, f"{FS_DS}/{a}@s1")
    rpc("fs_destroy", uuid=fa["uuid"])
    assert out(guest_exec, f"cat {f[c1]['full_path']}/data") == "v1\n"
    for n in (c1, c2, c3):
        rpc("fs_destroy", uuid=f[n]["uuid"])
    assert not {a, c1, c2, c3} & set(fss(rpc))


def test_fs_destroy_keeps_hand_made_clones(rpc, guest_exec, cleanup):
    """A `zfs clone` of a snapshot (old daemon's fs_clone) survives its origin's destruction."""
    a, h = unique("ztha"), unique("zthc")
    cleanup += [f"{FS_DS}/{h}", f"{FS_DS}/{a}"]
    rpc("fs_create", pool_name=FS_POOL, name=a, size_bytes=0)
    guest_exec(f"echo old > {FS_POOL}/{a}/data")
    rpc("fs_snapshot", fs_uuid=fss(rpc)[a]["uuid"], dest_ss_name="s1")
    guest_exec(["zfs", "clone", f"{FS_DS}/{a}@s1", f"{FS_DS}/{h}"])
    rpc("fs_destroy", uuid=fss(rpc)[a]["uuid"])
    assert a not in fss(rpc) and not zexists(guest_exec, f"{FS_DS}/{a}")
    assert out(guest_exec, f"cat {FS_POOL}/{h}/data") == "old\n"
    rpc("fs_destroy", uuid=fss(rpc)[h]["uuid"])


def test_zvol_device_found_without_links(rpc, guest_exec, cleanup):
    """Where no /dev/zvol link exists (no udev), the plugin finds /dev/zdN by BLKZNAME."""
    a = unique("ztk")
    cleanup.append(f"{BLOCK}/{a}")
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    node = wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{a}")
    code = (
        "from targetd_zfs import devices\n"
        f"print('NAME', devices.zvol_name({node!r}))\n"
        f"print('SCAN', devices.scan('{BLOCK}/{a}'))\n"
        f"print('LINK', devices.find_device('{BLOCK}/{a}', timeout=5))\n"
    )
    lines = guest_python(guest_exec, code, check=True).stdout.decode().splitlines()
    got = dict(ln.split(" ", 1) for ln in lines if ln[:5] in ("NAME ", "SCAN ", "LINK "))
    assert got == {"NAME": f"{BLOCK}/{a}", "SCAN": node, "LINK": f"/dev/zvol/{BLOCK}/{a}"}
    rpc("vol_destroy", pool=BLOCK, name=a)


def test_zvol_export_through_lio(rpc, guest_exec, cleanup):
    """The LIO plugin backs an export with the zvol's device; its uuid is the unit serial."""
    a = unique("ztl")
    cleanup.append(f"{BLOCK}/{a}")
    iqn = f"iqn.2003-01.org.example:{a}"
    rpc("vol_create", pool=BLOCK, name=a, size=8 * MiB)
    uuid = vols(rpc)[a]["uuid"]
    rpc("export_create", pool=BLOCK, vol=a, initiator_wwn=iqn, lun=3)
    try:
        (exp,) = [e for e in rpc("export_list") if e["vol_name"] == a]
        assert (exp["pool"], exp["vol_uuid"], exp["lun"]) == (BLOCK, uuid, 3)
        text = out(
            guest_exec,
            "grep -r . /sys/kernel/config/target/core/*/*/udev_path "
            "/sys/kernel/config/target/core/*/*/wwn/vpd_unit_serial",
        )
        assert f":/dev/zvol/{BLOCK}/{a}\n" in text, text
        assert f"Unit Serial Number: {uuid}\n" in text, text
        assert err(rpc, "vol_destroy", pool=BLOCK, name=a) == -303
    finally:
        rpc("export_destroy", pool=BLOCK, vol=a, initiator_wwn=iqn)
    rpc("vol_destroy", pool=BLOCK, name=a)


def test_copy_steps_out_of_the_lock_and_hides_its_temporary(
    rpc, appliance_env, guest_exec, cleanup
):
    """A long vol_copy lets other calls run meanwhile, and they never see the partial copy."""
    import threading
    import time

    from tests.realkernel.client import RPCClient

    a, b = unique("ztm"), unique("ztn")
    cleanup += [f"{BLOCK}/{a}", f"{BLOCK}/{b}"]
    rpc("vol_create", pool=BLOCK, name=a, size=128 * MiB)
    dev = wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{a}")
    guest_exec(f"dd if=/dev/urandom of={dev} bs=1M count=32 conv=fsync status=none")
    other = RPCClient(
        appliance_env["TARGETD_URL"],
        appliance_env["TARGETD_USER"],
        appliance_env["TARGETD_PASSWORD"],
        appliance_env["TARGETD_CA"],
    )
    done, seen = threading.Event(), []

    def lister():
        while not done.is_set():
            t0 = time.monotonic()
            names = [v["name"] for v in other.call("vol_list", pool=BLOCK)]
            seen.append((t0, time.monotonic(), names))

    t = threading.Thread(target=lister)
    start = time.monotonic()
    t.start()
    try:
        rpc("vol_copy", pool=BLOCK, vol_orig=a, vol_new=b)
    finally:
        end = time.monotonic()
        done.set()
        t.join()
        other.close()
    inside = [names for t0, t1, names in seen if t0 > start and t1 < end]
    assert inside, f"no vol_list completed during a {end - start:.1f} s copy"
    assert all(b not in names and a in names for names in inside), inside
    assert read_sha(guest_exec, dev, 31) == read_sha(
        guest_exec, wait_block_device(guest_exec, f"/dev/zvol/{BLOCK}/{b}"), 31
    )
    rpc("vol_destroy", pool=BLOCK, name=a)
    rpc("vol_destroy", pool=BLOCK, name=b)


def test_fs_pool_on_a_legacy_mount(guest_exec):
    """An fs pool whose dataset is mounted by hand (mountpoint=legacy): children get explicit
    mount points under it, clones too (the daemon's own code, run in the guest)."""
    ds, mnt = f"zfs-targetd/{unique('ztleg')}", f"/mnt/{unique('ztleg')}"
    guest_exec(["zfs", "create", "-o", "mountpoint=legacy", ds])
    guest_exec(f"mkdir -p {mnt} && mount -t zfs {ds} {mnt}")
    code = f"""
import tempfile
from targetd_core.params import bind
from targetd_core.plugins import build_core
core, _ = build_core(raw={{'password': 'x', 'state_dir': tempfile.mkdtemp(), 'plugins': ['zfs'],
                          'fs_pools': ['{mnt}/']}}, env={{}})
def call(method_, **kw):
    m = core.methods[method_]
    return m.func(**bind(m.func, kw))
call('fs_create', pool_name='{mnt}', name='a', size_bytes=0)
open('{mnt}/a/data', 'w').write('legacy')
(fs,) = call('fs_list')
call('fs_clone', fs_uuid=fs['uuid'], dest_fs_name='c', snapshot_id=None)
for f in call('fs_list'):
    print('FS', f['name'], f['pool'], f['full_path'])
print('CLONE', open('{mnt}/c/data').read())
"""
    try:
        text = guest_python(guest_exec, code, check=True).stdout.decode()
        lines = sorted(ln for ln in text.splitlines() if ln.startswith(("FS ", "CLONE ")))
        assert lines == [
            "CLONE legacy",
            f"FS a {mnt} {mnt}/a",
            f"FS c {mnt} {mnt}/c",
        ], text
        mounts = out(guest_exec, ["findmnt", "-rn", "-o", "TARGET,FSTYPE,SOURCE", "-R", mnt])
        assert f"{mnt}/a zfs {ds}/a" in mounts and f"{mnt}/c zfs {ds}/c" in mounts, mounts
    finally:
        guest_exec(f"umount -R {mnt}; zfs destroy -r {ds}; rmdir {mnt}", check=False)
    assert not zexists(guest_exec, ds)
