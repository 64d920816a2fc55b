"""The LVM plugin on a real kernel: thin pool vg-targetd/thin_pool and thick VG
vg-targetd-thick in the appliance. What targetd answers is checked against what LVM and
the block devices in the guest say."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.realkernel.client import RPCError
from tests.realkernel.lvm_helpers import (
    POOLS,
    THICK,
    THIN,
    MiB,
    device,
    guest_lvs,
    is_zero,
    new_client,
    pools_by_name,
    read_digest,
    unique,
    vg_of,
    write_random,
)


@pytest.fixture
def vols(rpc):
    """Remembers (pool, name) of volumes a test made; destroys what is left at the end."""
    made: list[tuple[str, str]] = []
    yield made
    for pool, name in made:
        try:
            rpc("vol_destroy", pool=pool, name=name)
        except RPCError as e:
            assert e.code == -103, e


def create(rpc, vols, pool, size, name=None):
    name = name or unique()
    rpc("vol_create", pool=pool, name=name, size=size)
    vols.append((pool, name))
    return name


def listed(rpc, pool) -> dict[str, dict]:
    return {v["name"]: v for v in rpc("vol_list", pool=pool)}


def error_code(call, *args, **kwargs) -> int:
    with pytest.raises(RPCError) as e:
        call(*args, **kwargs)
    return e.value.code


# --- pools ---------------------------------------------------------------------------------
def test_pool_list_matches_lvm(rpc, guest_exec):
    pools = pools_by_name(rpc)
    thin = guest_lvs(guest_exec, "vg-targetd")["thin_pool"]
    assert pools[THIN]["uuid"] == thin["lv_uuid"]
    assert pools[THIN]["size"] == int(thin["lv_size"])
    vg = guest_exec(["vgs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                     "vg_uuid,vg_size,vg_free", THICK]).stdout.decode().split()  # fmt: skip
    assert pools[THICK]["uuid"] == vg[0]
    assert pools[THICK]["size"] == int(vg[1]) and pools[THICK]["free_size"] == int(vg[2])
    for name in POOLS:
        assert (
            pools[name]["type"] == "block" and 0 <= pools[name]["free_size"] <= pools[name]["size"]
        )


def thin_usage(guest_exec) -> tuple[int, float, float]:
    out = guest_exec(["lvs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                      "lv_size,data_percent,metadata_percent", "vg-targetd/thin_pool"])  # fmt: skip
    size, data, meta = out.stdout.decode().split()
    return int(size), float(data), float(meta)


def test_thin_free_space_shrinks_when_a_volume_is_written(rpc, guest_exec, vols):
    name = create(rpc, vols, THIN, 96 * MiB)
    before = pools_by_name(rpc)[THIN]["free_size"]
    _, data_before, meta_before = thin_usage(guest_exec)
    write_random(guest_exec, device(guest_exec, THIN, name), 0, 64)
    after = pools_by_name(rpc)[THIN]["free_size"]
    size, data, meta = thin_usage(guest_exec)
    assert after < before, (before, after)
    # the pool really took the 64 MiB (data% has two decimals, ~2 MiB here) ...
    assert (data - data_before) / 100 * size >= 60 * MiB, (data_before, data)
    assert meta >= meta_before
    # ... and free space is what is left of the fuller of data and metadata
    assert after == int(size * (1 - max(data, meta) / 100)), (after, size, data, meta)


def test_thick_free_space_shrinks_by_the_volume(rpc, vols):
    before = pools_by_name(rpc)[THICK]["free_size"]
    create(rpc, vols, THICK, 64 * MiB)
    assert before - pools_by_name(rpc)[THICK]["free_size"] == 64 * MiB


# --- volumes: good paths ------------------------------------------------------------------
@pytest.mark.parametrize("pool", POOLS)
def test_create_list_destroy(rpc, guest_exec, vols, pool):
    name = create(rpc, vols, pool, 10 * MiB + 1)  # LVM rounds up to whole extents
    vol = listed(rpc, pool)[name]
    lv = guest_lvs(guest_exec, vg_of(pool))[name]
    assert vol == {"name": name, "size": int(lv["lv_size"]), "uuid": lv["lv_uuid"]}
    assert vol["size"] >= 10 * MiB + 1 and vol["size"] % (4 * MiB) == 0
    assert guest_exec(["test", "-b", lv["lv_path"]]).returncode == 0
    if pool == THIN:
        assert lv["pool_lv"] == "thin_pool"
    rpc("vol_destroy", pool=pool, name=name)
    assert name not in listed(rpc, pool)
    assert name not in guest_lvs(guest_exec, vg_of(pool))
    # the same name again is a new volume with a new uuid
    create(rpc, vols, pool, 4 * MiB, name)
    assert listed(rpc, pool)[name]["uuid"] != vol["uuid"]


@pytest.mark.parametrize("pool", POOLS)
def test_vol_list_sizes_and_uuids_match_lvs(rpc, guest_exec, vols, pool):
    for size in (4 * MiB, 12 * MiB):
        create(rpc, vols, pool, size)
    lvs = guest_lvs(guest_exec, vg_of(pool))
    got = rpc("vol_list", pool=pool)
    assert got, "no volumes listed"
    for v in got:
        assert set(v) == {"name", "size", "uuid"}
        assert (
            v["size"] == int(lvs[v["name"]]["lv_size"]) and v["uuid"] == lvs[v["name"]]["lv_uuid"]
        )
    names = {v["name"] for v in got}
    if pool == THIN:  # exactly the thin LVs of the pool, not the pool itself
        assert names == {n for n, lv in lvs.items() if lv["pool_lv"] == "thin_pool"}
    else:
        assert names == {n for n, lv in lvs.items() if lv["lv_attr"][0] == "-"}


def test_thin_lookups_from_device_mapper_match_lvs(rpc, guest_exec, vols):
    """A thin volume is looked up in device-mapper's sysfs (no lvs run): the same uuid
    and size as LVM reports, and only for the thin pool's own volumes; an inactive one
    is looked up through LVM and still found."""
    vol = create(rpc, vols, THIN, 12 * MiB, name=unique("dm-look-up"))
    copy = unique("dm-copy")
    rpc("vol_copy", pool=THIN, vol_orig=vol, vol_new=copy)
    vols.append((THIN, copy))
    inactive = create(rpc, vols, THIN, 4 * MiB)
    guest_exec(["lvchange", "-a", "n", f"{vg_of(THIN)}/{inactive}"])
    code = (
        "import json, sys\n"
        "from targetd_lvm import dmlookup\n"
        "out = {}\n"
        "for vg, lv in json.loads(sys.argv[1]):\n"
        "    f = dmlookup.active_lv(vg, lv)\n"
        "    out[lv] = None if f is None else [f.uuid, f.size,\n"
        "        dmlookup.is_in_thin_pool(f, 'vg-targetd', 'thin_pool')]\n"
        "print(json.dumps(out))\n"
    )
    thick = create(rpc, vols, THICK, 4 * MiB)
    asked = [["vg-targetd", n] for n in (vol, copy, inactive, "thin_pool")]
    asked.append([vg_of(THICK), thick])
    got = json.loads(
        guest_exec(
            ["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", code, json.dumps(asked)]
        ).stdout
    )
    lvs = guest_lvs(guest_exec, vg_of(THIN))
    for name in (vol, copy):
        assert got[name] == [lvs[name]["lv_uuid"], int(lvs[name]["lv_size"]), True], name
    assert got[inactive] is None  # no device: targetd asks LVM
    assert got["thin_pool"] is None or got["thin_pool"][2] is False
    assert got[thick] is not None and got[thick][2] is False
    # through the API the inactive one is found (through lvs) and resized
    assert rpc("vol_resize", pool=THIN, name=inactive, size=8 * MiB) is None
    assert listed(rpc, THIN)[inactive]["size"] == 8 * MiB


@pytest.mark.parametrize("pool", POOLS)
def test_copy_resize_destroy_origin_keep_data(rpc, guest_exec, vols, pool):
    orig = create(rpc, vols, pool, 16 * MiB)
    dev = device(guest_exec, pool, orig)
    head = write_random(guest_exec, dev, 0, 4)
    tail = write_random(guest_exec, dev, 12, 4)

    copy = unique("copy")
    rpc("vol_copy", pool=pool, vol_orig=orig, vol_new=copy)
    vols.append((pool, copy))
    vl = listed(rpc, pool)
    assert vl[copy]["size"] == vl[orig]["size"] and vl[copy]["uuid"] != vl[orig]["uuid"]
    cdev = device(guest_exec, pool, copy)
    assert read_digest(guest_exec, cdev, 0, 4) == head
    assert read_digest(guest_exec, cdev, 12, 4) == tail

    grown = unique("grown")
    rpc("vol_copy", pool=pool, vol_orig=orig, vol_new=grown, size=40 * MiB, timeout=10)
    vols.append((pool, grown))
    assert listed(rpc, pool)[grown]["size"] == 40 * MiB
    gdev = device(guest_exec, pool, grown)
    assert read_digest(guest_exec, gdev, 12, 4) == tail
    assert is_zero(guest_exec, gdev, 16, 24)

    # a copy is independent: writing the origin does not change it
    write_random(guest_exec, dev, 0, 4)
    assert read_digest(guest_exec, cdev, 0, 4) == head

    # resize keeps the data
    rpc("vol_resize", pool=pool, name=copy, size=32 * MiB)
    lv = guest_lvs(guest_exec, vg_of(pool))[copy]
    assert listed(rpc, pool)[copy]["size"] == int(lv["lv_size"]) == 32 * MiB
    assert read_digest(guest_exec, cdev, 0, 4) == head
    assert read_digest(guest_exec, cdev, 12, 4) == tail

    # the origin can go; the copies keep their data
    rpc("vol_destroy", pool=pool, name=orig)
    assert read_digest(guest_exec, cdev, 0, 4) == head
    assert read_digest(guest_exec, device(guest_exec, pool, grown), 0, 4) == head
    if pool == THIN:  # an ordinary thin LV: active, no activation-skip flag
        attr = guest_lvs(guest_exec, "vg-targetd")[copy]["lv_attr"]
        assert attr[4] == "a" and attr[9] != "k", attr


def test_new_thick_volume_shows_no_old_data(rpc, guest_exec, vols):
    name = create(rpc, vols, THICK, 16 * MiB)
    write_random(guest_exec, device(guest_exec, THICK, name), 0, 16)
    rpc("vol_destroy", pool=THICK, name=name)
    again = create(rpc, vols, THICK, 16 * MiB)
    assert is_zero(guest_exec, device(guest_exec, THICK, again), 0, 16)


def test_thick_copy_runs_outside_the_lock_and_hides_its_target(rpc, guest_exec, vols,
                                                               appliance_env):  # fmt: skip
    src = create(rpc, vols, THICK, 384 * MiB)
    dst = unique("big")
    vols.append((THICK, dst))
    done = threading.Event()
    failure: list[BaseException] = []

    def copy():
        client = new_client(appliance_env)
        try:
            client.call("vol_copy", pool=THICK, vol_orig=src, vol_new=dst)
        except BaseException as e:  # noqa: BLE001 - asserted below
            failure.append(e)
        finally:
            client.close()
            done.set()

    t = threading.Thread(target=copy)
    t.start()
    seen_hidden = False
    try:
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            lvs = guest_lvs(guest_exec, THICK)
            if dst in lvs and not done.is_set():
                # being filled: tagged, invisible to clients, its name taken, listings work
                names = set(listed(rpc, THICK))
                if not done.is_set():
                    assert "targetd_copying" in lvs[dst]["lv_tags"]
                    assert dst not in names
                    assert error_code(rpc, "vol_create", pool=THICK, name=dst, size=MiB) == -50
                    assert error_code(rpc, "vol_destroy", pool=THICK, name=dst) == -103
                    seen_hidden = True
                    break
            time.sleep(0.2)
    finally:
        t.join(300)
    assert not failure, failure
    assert seen_hidden, "the copy finished before it could be observed; make the source bigger"
    assert dst in listed(rpc, THICK)
    assert "targetd_copying" not in guest_lvs(guest_exec, THICK)[dst]["lv_tags"]


# --- errors --------------------------------------------------------------------------------
def test_unknown_pool_is_110(rpc):
    for method, params in (
        ("vol_list", {}),
        ("vol_create", {"name": "x", "size": MiB}),
        ("vol_destroy", {"name": "x"}),
        ("vol_copy", {"vol_orig": "x", "vol_new": "y"}),
        ("vol_resize", {"name": "x", "size": MiB}),
    ):
        for pool in ("vg-nope", "vg-targetd", "vg-targetd/nope"):
            assert error_code(rpc, method, pool=pool, **params) == -110, (method, pool)


@pytest.mark.parametrize("pool", POOLS)
def test_error_codes(rpc, guest_exec, vols, pool):
    name = create(rpc, vols, pool, 8 * MiB)
    missing = unique("missing")
    assert error_code(rpc, "vol_create", pool=pool, name=name, size=MiB) == -50
    assert error_code(rpc, "vol_copy", pool=pool, vol_orig=name, vol_new=name) == -50
    assert error_code(rpc, "vol_destroy", pool=pool, name=missing) == -103
    assert error_code(rpc, "vol_resize", pool=pool, name=missing, size=64 * MiB) == -103
    assert error_code(rpc, "vol_copy", pool=pool, vol_orig=missing, vol_new=unique()) == -103
    size = listed(rpc, pool)[name]["size"]
    for bad in (size, size - 1, 0):
        assert error_code(rpc, "vol_resize", pool=pool, name=name, size=bad) == -32602
        assert error_code(rpc, "vol_copy", pool=pool, vol_orig=name, vol_new=unique(),
                          size=bad) == -32602  # fmt: skip
    for bad in (-1, "1048576", 1.5, True, None):
        assert error_code(rpc, "vol_create", pool=pool, name=unique(), size=bad) == -32602
    assert error_code(rpc, "vol_create", pool=pool, name=unique(), size=0) == -32602
    # an LV of the VG that is not a volume of this pool: the thin pool itself
    other = "thin_pool" if pool == THIN else None
    if other:
        assert error_code(rpc, "vol_create", pool=pool, name=other, size=MiB) == -50
        assert error_code(rpc, "vol_destroy", pool=pool, name=other) == -103
    # too big for the pool: the tool's failure, -1, with LVM's message and no warnings
    if pool == THICK:
        with pytest.raises(RPCError) as e:
            rpc("vol_create", pool=pool, name=unique(), size=1 << 50)
        assert e.value.code == -1 and "WARNING" not in e.value.message, e.value
    assert listed(rpc, pool)[name]["size"] == size


BAD_NAMES = ["", "a b", "a/b", "../x", "x;rm", "ä", "a" * 128, "-lead", "snapshot1", "pvmove",
             "x_tdata", "y_tmeta", "a" * 125]  # fmt: skip


@pytest.mark.parametrize("pool", POOLS)
def test_bad_names_are_refused_before_any_tool_runs(rpc, guest_exec, vols, pool):
    src = create(rpc, vols, pool, 4 * MiB)
    before = set(guest_lvs(guest_exec, vg_of(pool)))
    for bad in BAD_NAMES:
        assert error_code(rpc, "vol_create", pool=pool, name=bad, size=MiB) == -32602, bad
        assert error_code(rpc, "vol_copy", pool=pool, vol_orig=src, vol_new=bad) == -32602, bad
        if len(bad) > 127 or not bad or any(c in bad for c in " /;.ä"):
            assert error_code(rpc, "vol_destroy", pool=pool, name=bad) == -32602, bad
            assert error_code(rpc, "vol_resize", pool=pool, name=bad, size=MiB) == -32602, bad
    assert set(guest_lvs(guest_exec, vg_of(pool))) == before


def test_destroying_an_exported_volume_is_303(rpc, guest_exec, vols):
    """Needs the LIO plugin; its own tests cover -303 in depth."""
    try:
        rpc("export_list")
    except RPCError as e:
        if e.code == -32601:
            pytest.skip("no iSCSI export methods in this build (LIO plugin missing)")
        raise
    name = create(rpc, vols, THIN, 4 * MiB)
    wwn = "iqn.2003-01.org.example:lvm-test-303"
    rpc("export_create", pool=THIN, vol=name, initiator_wwn=wwn, lun=7)
    try:
        assert error_code(rpc, "vol_destroy", pool=THIN, name=name) == -303
        assert name in listed(rpc, THIN)
        # LIO took the LV uuid (38 characters, with dashes) as the unit serial
        lv_uuid = listed(rpc, THIN)[name]["uuid"]
        serials = guest_exec(
            "cat /sys/kernel/config/target/core/*/*/wwn/vpd_unit_serial", check=False
        ).stdout.decode()
        assert lv_uuid in serials, serials
    finally:
        rpc("export_destroy", pool=THIN, vol=name, initiator_wwn=wwn)
    rpc("vol_destroy", pool=THIN, name=name)


# --- concurrency ---------------------------------------------------------------------------
def test_parallel_clients(rpc, guest_exec, appliance_env):
    """8 clients create and destroy volumes at once, half of them in the thin pool and half
    in the thick one (two creates, a listing after each, one destroy: 24 LVM changes at
    once in two VGs, plus the clean-up): each ends with exactly the volumes it should have
    and nobody sees an error. (Both pool kinds in one run: a thick volume is zeroed with
    the storage lock released, so thin changes run while thick volumes are being zeroed.)"""
    run = unique("par")
    errors: list[str] = []
    kept: dict[int, set[str]] = {}

    def pool_of(n: int) -> str:
        return POOLS[n % 2]

    def worker(n: int) -> None:
        client = new_client(appliance_env)
        pool = pool_of(n)
        mine = set()
        try:
            for i in range(2):
                name = f"{run}-{n}-{i}"
                client.call("vol_create", pool=pool, name=name, size=4 * MiB)
                mine.add(name)
                client.call("vol_list", pool=pool)
            gone = f"{run}-{n}-0"
            client.call("vol_destroy", pool=pool, name=gone)
            mine.discard(gone)
            client.call("pool_list")
        except Exception as e:  # noqa: BLE001 - every error is a failure, reported below
            errors.append(f"client {n}: {e!r}")
        finally:
            kept[n] = mine
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    try:
        assert not errors, errors
        for pool in POOLS:
            expected = {f"{run}-{n}-1" for n in range(8) if pool_of(n) == pool}
            listed_now = {n for n in listed(rpc, pool) if n.startswith(run)}
            in_lvm = {n for n in guest_lvs(guest_exec, vg_of(pool)) if n.startswith(run)}
            assert listed_now == expected == in_lvm, pool
    finally:
        for pool in POOLS:
            for name in {n for n in guest_lvs(guest_exec, vg_of(pool)) if n.startswith(run)}:
                rpc("vol_destroy", pool=pool, name=name)


# --- limits --------------------------------------------------------------------------------
#: Runs in the guest: the LVM plugin's ThinPool on a pool that is not in targetd's
#: configuration (a test's own, made and removed by the test), asked for a volume and a
#: snapshot; prints what each call raised and the pool's volumes afterwards.
_FULL_POOL_CALLS = r"""
import json, sys
from targetd_core.locking import StorageLock
from targetd_core.plugin import TargetdError
from targetd_lvm.pools import ThinPool

vg = sys.argv[1]
pool = ThinPool(vg + "/tp", vg, "tp", StorageLock("/tmp/" + vg + ".lock"))
out = {}
calls = {"create": lambda: pool.create_volume("b", 8 << 20),
         "copy": lambda: pool.copy_volume("a", "c", None)}
for what, call in calls.items():
    try:
        call()
        out[what] = None
    except TargetdError as exc:
        out[what] = [exc.code, exc.message]
out["volumes"] = sorted(v.name for v in pool.list_volumes())
print(json.dumps(out))
"""


def test_a_full_thin_pool_refuses_volumes_and_snapshots_cleanly(guest_exec):
    """A tiny thin pool of its own (8 MiB of data, 64 KiB chunks, on a loop file in the
    guest) filled to 100%: LVM refuses a new thin volume and a thin snapshot; targetd's
    LVM plugin says so with -1 naming the pool and the remedy, and nothing is left (no
    LV, no tag). LVM applies the same refusal when the metadata passes its reserve
    (75% of a metadata volume of 16 MiB or less), which would take hundreds of volumes
    to reach under TCG: that message is checked in the unit tests."""
    import json

    vg = unique("tl-full")
    guest_exec(
        f"set -e; truncate -s 64M /tmp/{vg}.img; losetup -f --show /tmp/{vg}.img > /tmp/{vg}.dev; "
        f"lvm vgcreate -q {vg} $(cat /tmp/{vg}.dev); "
        f"lvm lvcreate -q -y -L 8m --chunksize 64k --poolmetadatasize 2m --zero n "
        f"--errorwhenfull y -T {vg}/tp; "
        f"lvm lvcreate -q -y -n a -V 16m -T {vg}/tp; "
        # fill the pool's data (a write past the end fails at once: --errorwhenfull y)
        f"dd if=/dev/urandom of=/dev/{vg}/a bs=64K count=256 oflag=direct status=none || true"
    )  # fmt: skip
    try:
        pool = guest_lvs(guest_exec, vg)
        assert sorted(pool) == ["a", "tp"]
        data = guest_exec(["lvs", "--noheadings", "-o", "data_percent", f"{vg}/tp"])
        assert float(data.stdout.decode().strip()) == 100.0  # the premise: data full
        # what this LVM prints, which targetd's message is built from
        bare = guest_exec(["lvm", "lvcreate", "-y", "-n", "d", "-V", "1m", "-T", f"{vg}/tp"],
                          check=False)  # fmt: skip
        assert bare.returncode != 0
        lvm_says = bare.stderr.decode()
        print(f"LVM: {lvm_says.strip()}")
        assert f"free space in thin pool {vg}/tp reached threshold" in lvm_says

        cp = guest_exec(
            ["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", _FULL_POOL_CALLS, vg]
        )
        out = json.loads(cp.stdout.decode().strip().splitlines()[-1])
        for what in ("create", "copy"):
            assert out[what] is not None, f"{what} was not refused"
            code, message = out[what]
            assert code == -1, out[what]
            assert f"thin pool {vg}/tp takes no new volume or snapshot" in message, message
            assert "its data space is full" in message, message  # LVM's warning read
            assert "nothing was made" in message and f"lvextend -L +SIZE {vg}/tp" in message
        assert out["volumes"] == ["a"]
        left = guest_lvs(guest_exec, vg)
        assert sorted(left) == ["a", "tp"], left  # no half-made LV, hidden or not
        assert all(not lv["lv_tags"] for lv in left.values())
    finally:
        guest_exec(
            f"lvm vgremove -q -ff -y {vg}; losetup -d $(cat /tmp/{vg}.dev); rm -f /tmp/{vg}.*",
            check=False,
        )
