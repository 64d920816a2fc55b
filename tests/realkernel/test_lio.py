"""iSCSI exports on a real kernel: targetd's LIO plugin in the appliance, checked with an
open-iscsi initiator in the guest logging in over 127.0.0.1:3260 under chosen initiator
names, and against what LIO's configfs holds."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from tests.realkernel.appliance import restart_targetd
from tests.realkernel.client import RPCError
from tests.realkernel.lio_helpers import (
    CORE,
    TARGET,
    TPG,
    Initiator,
    MiB,
    configfs_listing,
    device_id_page,
    iqn,
    unit_serial,
)
from tests.realkernel.lvm_helpers import read_digest, unique, write_random

THIN = "vg-targetd/thin_pool"
ZVOLS = "zfs-targetd/block"


STATE = "/etc/target/targetd_lio.json"


def write_state(guest_exec, doc: dict) -> None:
    """Replace targetd's LIO state file in the guest (atomically, mode 0600)."""
    guest_exec(f"cat > {STATE}.new && chmod 600 {STATE}.new && mv {STATE}.new {STATE}",
               input=json.dumps(doc).encode())  # fmt: skip


def code_of(call, *args, **kwargs) -> int:
    with pytest.raises(RPCError) as e:
        call(*args, **kwargs)
    return e.value.code


@pytest.fixture
def vols(rpc):
    """(pool, name) of volumes a test made; destroyed (after their exports) at the end."""
    made: list[tuple[str, str]] = []
    yield made
    destroy_volumes(rpc, made)


def destroy_volumes(rpc, made: list[tuple[str, str]]) -> None:
    """Destroy the (pool, name) volumes in made, after their exports and group mappings."""
    exports = rpc("export_list")
    for pool, name in made:
        for e in exports:
            if (e["pool"], e["vol_name"]) == (pool, name):
                rpc("export_destroy", pool=pool, vol=name, initiator_wwn=e["initiator_wwn"])
    for g in rpc("access_group_map_list"):
        if (g["pool_name"], g["vol_name"]) in made:
            rpc("access_group_map_destroy", pool_name=g["pool_name"], vol_name=g["vol_name"],
                ag_name=g["ag_name"])  # fmt: skip
    for pool, name in made:
        try:
            rpc("vol_destroy", pool=pool, name=name)
        except RPCError as e:
            assert e.code == -103, e


@pytest.fixture
def initiators(guest_exec):
    """initiators(n) -> n fresh Initiators; all logged out and removed at the end."""
    made: list[Initiator] = []

    def make(n: int = 1, tag: str = "") -> list[Initiator]:
        new = [Initiator(guest_exec, iqn(tag)) for _ in range(n)]
        made.extend(new)
        return new

    yield make
    for i in made:
        i.remove()


def new_volume(rpc, vols, pool=THIN, size=32 * MiB) -> dict:
    name = unique("lio")
    rpc("vol_create", pool=pool, name=name, size=size)
    vols.append((pool, name))
    return next(v for v in rpc("vol_list", pool=pool) if v["name"] == name)


def export_of(rpc, initiator: str) -> list[dict]:
    return sorted((e for e in rpc("export_list") if e["initiator_wwn"] == initiator),
                  key=lambda e: e["lun"])  # fmt: skip


# --- exports ---------------------------------------------------------------------------------
def test_export_login_serial_and_data(rpc, guest_exec, vols, initiators):
    vol = new_volume(rpc, vols)
    a, stranger = initiators(2)
    assert rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=3) is None
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=3)  # no change
    assert export_of(rpc, a.name) == [{
        "initiator_wwn": a.name, "lun": 3, "vol_name": vol["name"], "vol_size": vol["size"],
        "vol_uuid": vol["uuid"], "pool": THIN,
    }]  # fmt: skip
    assert {"init_id": a.name, "init_type": "iscsi"} in rpc("initiator_list")

    assert a.login() == 0
    disks = a.disks(want=1)
    assert list(disks) == [3], disks
    disk = disks[3]
    assert unit_serial(guest_exec, disk) == vol["uuid"]
    assert vol["uuid"].encode() in device_id_page(guest_exec, disk)
    digest = write_random(guest_exec, disk, 1, 4)
    lv = f"/dev/vg-targetd/{vol['name']}"
    assert read_digest(guest_exec, lv, 1, 4) == digest  # it landed on the volume

    # an initiator without an export is refused at login
    assert stranger.login() != 0
    assert stranger.name not in {i["init_id"] for i in rpc("initiator_list")}

    # -303 while exported; the export goes, the LUN, backstore and ACL go with it
    assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303
    a.logout()
    rpc("export_destroy", pool=THIN, vol=vol["name"], initiator_wwn=a.name)
    assert export_of(rpc, a.name) == []
    cfs = configfs_listing(guest_exec)
    assert a.name not in cfs["acls"] and not any(vol["name"] in b for b in cfs["backstores"])
    assert a.login() != 0
    rpc("vol_destroy", pool=THIN, name=vol["name"])
    vols.remove((THIN, vol["name"]))


def test_same_serial_after_reexport_and_zvol_exports(rpc, guest_exec, vols, initiators):
    """The unit serial is the volume's uuid whatever the pool plugin, and stays across
    re-exports; one volume can go to several initiators."""
    pools = {p["name"] for p in rpc("pool_list")}
    thin = new_volume(rpc, vols)
    a, b = initiators(2)
    targets = [(THIN, thin)]
    if ZVOLS in pools:
        targets.append((ZVOLS, new_volume(rpc, vols, pool=ZVOLS)))
    for lun, (pool, vol) in enumerate(targets):
        rpc("export_create", pool=pool, vol=vol["name"], initiator_wwn=a.name, lun=lun)
    rpc("export_create", pool=THIN, vol=thin["name"], initiator_wwn=b.name, lun=7)
    assert a.login() == 0 and b.login() == 0
    disks = a.disks(want=len(targets))
    for lun, (_, vol) in enumerate(targets):
        assert unit_serial(guest_exec, disks[lun]) == vol["uuid"]
    assert unit_serial(guest_exec, b.disks(want=1)[7]) == thin["uuid"]
    assert len([e for e in rpc("export_list") if e["vol_name"] == thin["name"]]) == 2
    a.logout()
    rpc("export_destroy", pool=THIN, vol=thin["name"], initiator_wwn=a.name)
    rpc("export_create", pool=THIN, vol=thin["name"], initiator_wwn=a.name, lun=5)
    assert a.login() == 0
    assert unit_serial(guest_exec, a.disks(want=len(targets))[5]) == thin["uuid"]


def test_export_errors(rpc, vols, initiators):
    vol = new_volume(rpc, vols)
    other = new_volume(rpc, vols)
    (a,) = initiators(1)
    assert code_of(rpc, "export_create", pool="nope", vol=vol["name"], initiator_wwn=a.name,
                   lun=0) == -110  # fmt: skip
    assert code_of(rpc, "export_create", pool=THIN, vol="missing", initiator_wwn=a.name,
                   lun=0) == -103  # fmt: skip
    for bad in ({"lun": 256}, {"lun": -1}, {"initiator_wwn": "not an iqn"}, {"vol": "a b"}):
        args = {"pool": THIN, "vol": vol["name"], "initiator_wwn": a.name, "lun": 0, **bad}
        assert code_of(rpc, "export_create", **args) == -32602, bad
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=0)
    assert code_of(rpc, "export_create", pool=THIN, vol=other["name"], initiator_wwn=a.name,
                   lun=0) == -32602  # LUN 0 of a is taken  # fmt: skip
    assert code_of(rpc, "export_destroy", pool=THIN, vol=other["name"],
                   initiator_wwn=a.name) == -151  # fmt: skip
    assert code_of(rpc, "export_destroy", pool=THIN, vol=vol["name"],
                   initiator_wwn=iqn("nobody")) == -151  # fmt: skip
    assert code_of(rpc, "export_destroy", pool="nope", vol=vol["name"],
                   initiator_wwn=a.name) == -110  # fmt: skip
    assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303
    rpc("vol_destroy", pool=THIN, name=other["name"])  # not exported
    vols.remove((THIN, other["name"]))


def test_failed_export_create_leaves_configfs_as_it_was(rpc, guest_exec, vols, initiators):
    """The kernel refuses the backstore (the volume is mounted): nothing is left behind."""
    vol = new_volume(rpc, vols, size=16 * MiB)
    (a,) = initiators(1)
    lv = f"/dev/vg-targetd/{vol['name']}"
    mnt = f"/tmp/{vol['name']}"
    guest_exec(f"mkfs.ext4 -q {lv} && mkdir -p {mnt} && mount {lv} {mnt}")
    try:
        before = configfs_listing(guest_exec)
        with pytest.raises(RPCError) as e:
            rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=0)
        assert e.value.code == -1 and "busy" in e.value.message.lower(), e.value
        assert configfs_listing(guest_exec) == before
        assert export_of(rpc, a.name) == []
    finally:
        guest_exec(f"umount {mnt}")
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=0)
    assert len(export_of(rpc, a.name)) == 1


def test_rtslib_versions(guest_exec):
    """targetd runs with PyPI's rtslib-fb 2.2.4 (installed with it); the target set-up it
    does through rtslib also works with Debian's python3-rtslib-fb 2.1.75."""
    probe = "import rtslib_fb, importlib.metadata as m; print(m.version('rtslib-fb'), rtslib_fb.__file__)"
    cp = guest_exec(["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", probe])
    out = cp.stdout.decode()
    assert out.startswith("2.2.4 /opt/targetd/site/"), out
    name = "iqn.2003-01.org.example.test:debian-rtslib"
    script = (
        "import sys; sys.path.insert(0, '/usr/lib/python3/dist-packages'); import rtslib_fb; "
        "assert rtslib_fb.__file__.startswith('/usr/lib/python3/dist-packages'); "
        "from targetd_lio.target import ensure_target; "
        f"ensure_target('{name}', ['0.0.0.0']); ensure_target('{name}', ['0.0.0.0']); "
        f"t = rtslib_fb.Target(rtslib_fb.FabricModule('iscsi'), '{name}', 'lookup'); "
        "tpg = list(t.tpgs)[0]; "
        "print(tpg.get_attribute('authentication'), tpg.get_attribute('generate_node_acls'), "
        "tpg.enable, [p.ip_address for p in tpg.network_portals]); t.delete()"
    )
    out = guest_exec(["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c", script])
    assert out.stdout.decode().split() == ["0", "0", "True", "['0.0.0.0']"], out


# --- CHAP ------------------------------------------------------------------------------------
def test_chap_and_mutual_chap_are_enforced(rpc, guest_exec, vols, initiators):
    vol = new_volume(rpc, vols)
    a, plain = initiators(2)
    rpc("initiator_set_auth", initiator_wwn=a.name, in_user="alice", in_pass="alice-secret-1",
        out_user=None, out_pass=None)  # fmt: skip
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=0)
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=plain.name, lun=0)
    # initiators without credentials keep working
    assert plain.login() == 0 and list(plain.disks(want=1)) == [0]
    plain.logout()
    # CHAP required for a
    assert a.login() != 0
    assert a.login("alice", "wrong-secret-99") != 0
    assert a.login("mallory", "alice-secret-1") != 0
    assert a.login("alice", "alice-secret-1") == 0
    assert list(a.disks(want=1)) == [0]
    a.logout()
    # mutual CHAP: the target proves itself too
    rpc("initiator_set_auth", initiator_wwn=a.name, in_user="alice", in_pass="alice-secret-1",
        out_user="target1", out_pass="target-secret-2")  # fmt: skip
    assert a.login("alice", "alice-secret-1", "target1", "target-secret-2") == 0
    a.logout()
    assert a.login("alice", "alice-secret-1", "target1", "not-the-target-9") != 0
    assert a.login("alice", "wrong-secret-99", "target1", "target-secret-2") != 0
    # nulls / empty turn it off again
    rpc("initiator_set_auth", initiator_wwn=a.name, in_user="", in_pass="", out_user=None,
        out_pass=None)  # fmt: skip
    assert a.login() == 0
    a.logout()
    acl = f"{TPG}/acls/{a.name}"
    assert guest_exec(["cat", f"{acl}/auth/userid"]).stdout.decode().strip() in ("", "NULL")
    # secrets are never in targetd's log
    log = guest_exec(["cat", "/var/log/targetd.log"]).stdout
    assert b"alice-secret-1" not in log and b"target-secret-2" not in log
    assert code_of(rpc, "initiator_set_auth", initiator_wwn=a.name, in_user="x",
                   in_pass="has space", out_user=None, out_pass=None) == -32602  # fmt: skip


# --- access groups ---------------------------------------------------------------------------
def test_access_groups(rpc, guest_exec, vols, initiators):
    v1, v2 = new_volume(rpc, vols), new_volume(rpc, vols)
    a, b, c, d = initiators(4, "ag")
    ag = unique("ag")
    try:
        rpc("access_group_create", ag_name=ag, init_id=a.name, init_type="iscsi")
        assert code_of(rpc, "access_group_create", ag_name=ag, init_id=c.name,
                       init_type="iscsi") == -50  # fmt: skip
        assert code_of(rpc, "access_group_create", ag_name=unique("ag"), init_id=a.name,
                       init_type="iscsi") == -52  # fmt: skip
        assert code_of(rpc, "access_group_create", ag_name=unique("ag"), init_id=c.name,
                       init_type="fc") == -153  # fmt: skip
        assert code_of(rpc, "access_group_create", ag_name="bad name", init_id=c.name,
                       init_type="iscsi") == -32602  # fmt: skip
        assert code_of(rpc, "access_group_map_create", pool_name=THIN, vol_name=v1["name"],
                       ag_name=unique("none")) == -200  # fmt: skip
        rpc("export_create", pool=THIN, vol=v1["name"], initiator_wwn=d.name, lun=0)
        assert code_of(rpc, "access_group_init_add", ag_name=ag, init_id=d.name,
                       init_type="iscsi") == -52  # standalone ACL  # fmt: skip
        rpc("access_group_init_add", ag_name=ag, init_id=b.name, init_type="iscsi")
        rpc("access_group_init_add", ag_name=ag, init_id=b.name, init_type="iscsi")  # silent
        rpc("access_group_map_create", pool_name=THIN, vol_name=v1["name"], ag_name=ag)
        rpc("access_group_map_create", pool_name=THIN, vol_name=v1["name"], ag_name=ag)
        rpc("access_group_map_create", pool_name=THIN, vol_name=v2["name"], ag_name=ag,
            h_lun_id=None)  # fmt: skip
        assert [g for g in rpc("access_group_list") if g["name"] == ag] == [
            {"name": ag, "init_ids": sorted([a.name, b.name]), "init_type": "iscsi"}
        ]
        maps = sorted((m["h_lun_id"], m["vol_name"]) for m in rpc("access_group_map_list")
                      if m["ag_name"] == ag)  # fmt: skip
        assert maps == [(0, v1["name"]), (1, v2["name"])]
        standalone = {i["init_id"] for i in rpc("initiator_list", standalone_only="True")}
        assert d.name in standalone and a.name not in standalone
        assert a.name in {i["init_id"] for i in rpc("initiator_list", standalone_only=False)}
        # both members see both volumes at the group's LUNs
        for member in (a, b):
            assert member.login() == 0
            disks = member.disks(want=2)
            assert unit_serial(guest_exec, disks[0]) == v1["uuid"]
            assert unit_serial(guest_exec, disks[1]) == v2["uuid"]
        assert code_of(rpc, "vol_destroy", pool=THIN, name=v2["name"]) == -303
        # a member leaves: its session loses access, the other keeps it
        b.logout()
        rpc("access_group_init_del", ag_name=ag, init_id=b.name, init_type="iscsi")
        rpc("access_group_init_del", ag_name=ag, init_id=b.name, init_type="iscsi")  # silent
        assert b.login() != 0
        rpc("access_group_map_destroy", pool_name=THIN, vol_name=v2["name"], ag_name=ag)
        rpc("access_group_map_destroy", pool_name=THIN, vol_name=v2["name"], ag_name=ag)
        a.logout()
        rpc("vol_destroy", pool=THIN, name=v2["name"])  # no longer mapped
        vols.remove((THIN, v2["name"]))
    finally:
        rpc("access_group_destroy", ag_name=ag)
    rpc("access_group_destroy", ag_name=ag)  # silent
    assert ag not in {g["name"] for g in rpc("access_group_list")}
    cfs = configfs_listing(guest_exec)
    assert a.name not in cfs["acls"] and b.name not in cfs["acls"]


# --- scale -----------------------------------------------------------------------------------
def test_100_exports_listed_in_one_call(rpc, guest_exec, vols):
    """10 volumes x 10 initiators: 100 exports, one listing, nothing stale afterwards."""
    before = configfs_listing(guest_exec)
    volumes = [new_volume(rpc, vols, size=8 * MiB) for _ in range(10)]
    names = [iqn("many") for _ in range(10)]
    for lun, vol in enumerate(volumes):
        for wwn in names:
            rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=wwn, lun=lun)
    t = time.monotonic()
    listing = rpc("export_list")
    elapsed = time.monotonic() - t
    mine = [e for e in listing if e["initiator_wwn"] in names]
    assert len(mine) == 100
    by_name = {v["name"]: v for v in volumes}
    for e in mine:
        v = by_name[e["vol_name"]]
        assert (e["vol_uuid"], e["vol_size"], e["pool"]) == (v["uuid"], v["size"], THIN)
    print(f"export_list with {len(listing)} exports: {elapsed:.3f} s")
    assert elapsed < 5
    for vol in volumes:
        for wwn in names:
            rpc("export_destroy", pool=THIN, vol=vol["name"], initiator_wwn=wwn)
    assert configfs_listing(guest_exec) == before


def test_export_list_follows_mapped_luns_changed_behind_its_back(rpc, guest_exec, vols):
    """export_list reads an ACL it has seen before with a stat (its link count) and the
    known mapped LUNs' links instead of a listing: changes made by another tool that keep
    the number of mapped LUNs (one moved to another LUN id, one relinked to another TPG
    LUN) must show at once, and configfs must count links as the plugin expects (or the
    faster read would silently never be taken)."""
    a, b = new_volume(rpc, vols, size=8 * MiB), new_volume(rpc, vols, size=8 * MiB)
    w, x = iqn("hint"), iqn("hint")
    rpc("export_create", pool=THIN, vol=a["name"], initiator_wwn=w, lun=0)
    rpc("export_create", pool=THIN, vol=b["name"], initiator_wwn=w, lun=1)
    rpc("export_create", pool=THIN, vol=b["name"], initiator_wwn=x, lun=0)  # b's TPG LUN
    for _ in range(4):  # every worker has read (and keeps a hint of) w's mapped LUNs
        assert [(e["lun"], e["vol_name"]) for e in export_of(rpc, w)] == [
            (0, a["name"]), (1, b["name"])]  # fmt: skip
    acl = f"{TPG}/acls/{w}"
    links = guest_exec(f"readlink {acl}/lun_0/targetd {acl}/lun_1/targetd").stdout.split()
    tpg_a, tpg_b = (link.decode().rstrip("/").rsplit("/", 1)[1] for link in links)
    # lun 0 moves to lun 7 (same count), and lun 1 is relinked to a's TPG LUN
    guest_exec(f"rm {acl}/lun_0/targetd && rmdir {acl}/lun_0 && mkdir {acl}/lun_7 && "
               f"ln -s {TPG}/lun/{tpg_a} {acl}/lun_7/targetd && "
               f"rm {acl}/lun_1/targetd && ln -s {TPG}/lun/{tpg_a} {acl}/lun_1/x")  # fmt: skip
    for _ in range(4):
        assert [(e["lun"], e["vol_name"]) for e in export_of(rpc, w)] == [
            (1, a["name"]), (7, a["name"])]  # fmt: skip
    # configfs counts an ACL's subdirectories in its link count, as the plugin relies on
    check = guest_exec(
        ["env", "PYTHONPATH=/opt/targetd/site", "python3", "-c",
         "from targetd_lio.cfs import Configfs; import sys; c = Configfs(sys.argv[1]); "
         "c.read(); print(c._acl_subdirs)", TARGET])  # fmt: skip
    assert check.stdout.decode().strip() == "4", check.stdout
    nlink = guest_exec(["stat", "-c", "%h", acl]).stdout.decode().strip()
    assert nlink == str(2 + 4 + 2)
    guest_exec(f"rm {acl}/lun_1/x && ln -s {TPG}/lun/{tpg_b} {acl}/lun_1/targetd")


# --- hostile initiator names (issue 10, item 2) ------------------------------------------------
def _configfs_tree(guest_exec) -> list[str]:
    """Every entry of the iSCSI target's configfs tree and of the backstores' (paths only)."""
    cp = guest_exec(f"find {TPG} {CORE} -maxdepth 6 2>/dev/null | sort", check=False)
    return cp.stdout.decode().splitlines()


def test_initiator_names_cannot_leave_configfs(rpc, guest_exec, vols):
    """The issue's reproduction: after one ordinary export to iqn.2003-01.org.example:x, an
    export_create (and an initiator_set_auth) with '/../' in the name made
    /tmp/y/lun_1/targetd as root. Now every such name is -32602 and nothing changes."""
    vol, vol2 = new_volume(rpc, vols), new_volume(rpc, vols)
    good = f"iqn.2003-01.org.example:x{uuid.uuid4().hex[:8]}"
    marker = f"y{uuid.uuid4().hex[:8]}"
    escape = f"{good}/../../../../../../../../../tmp/{marker}"
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=good, lun=0)
    exports, tree = rpc("export_list"), _configfs_tree(guest_exec)
    state = guest_exec(["cat", STATE]).stdout
    hostile = [escape, f"{good}/../{marker}", good + "\n", good + "\0", " " + good,
               f"iqn.2003-01.org.example:{marker}\n", "eui.0123456789abcdef/..", ".."]  # fmt: skip
    for name in hostile:
        assert code_of(rpc, "export_create", pool=THIN, vol=vol2["name"], initiator_wwn=name,
                       lun=1) == -32602, name  # fmt: skip
        assert code_of(rpc, "initiator_set_auth", initiator_wwn=name, in_user="user",
                       in_pass="secret-123", out_user=None, out_pass=None) == -32602, name  # fmt: skip
        assert code_of(rpc, "export_destroy", pool=THIN, vol=vol["name"],
                       initiator_wwn=name) == -32602, name  # fmt: skip
    for value in ("secret\n123", "secret\x00123"):
        assert code_of(rpc, "initiator_set_auth", initiator_wwn=good, in_user="user",
                       in_pass=value, out_user=None, out_pass=None) == -32602  # fmt: skip
    assert guest_exec(["ls", "-d", f"/tmp/{marker}"], check=False).returncode != 0
    found = guest_exec(["find", "/tmp", "/sys/kernel/config", "-name", f"*{marker}*"],
                       check=False).stdout.decode()  # fmt: skip
    assert found == ""
    assert _configfs_tree(guest_exec) == tree
    assert rpc("export_list") == exports
    assert guest_exec(["cat", STATE]).stdout == state


def test_state_file_entries_with_bad_names_are_skipped_at_start(rpc, rpc_client, guest_exec,
                                                                vols):  # fmt: skip
    """A state file holding a name that breaks the rules (written by an older version or by
    hand) is replayed without it: logged, skipped, nothing written outside configfs."""
    vol = new_volume(rpc, vols)
    good = f"iqn.2003-01.org.example:s{uuid.uuid4().hex[:8]}"
    marker = f"z{uuid.uuid4().hex[:8]}"
    escape = f"{good}/../../../../../../../../../tmp/{marker}"
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=good, lun=0)
    doc = json.loads(guest_exec(["cat", STATE]).stdout)
    entry = doc["acls"][good]
    # what a reboot leaves: configfs without the export, the record with it (plus bad names)
    rpc("export_destroy", pool=THIN, vol=vol["name"], initiator_wwn=good)
    doc = json.loads(guest_exec(["cat", STATE]).stdout)
    doc["acls"].update({good: entry, escape: entry, good + "x\n": entry})
    doc["auth"][escape] = {"in_user": "u", "in_pass": "p", "out_user": "", "out_pass": ""}
    write_state(guest_exec, doc)
    try:
        restart_targetd(rpc, rpc_client, guest_exec)
        assert [(e["initiator_wwn"], e["vol_name"]) for e in rpc("export_list")
                if e["vol_name"] == vol["name"]] == [(good, vol["name"])]  # fmt: skip
        assert guest_exec(["ls", "-d", f"/tmp/{marker}"], check=False).returncode != 0
        found = guest_exec(["find", "/tmp", "/sys/kernel/config", "-name", f"*{marker}*"],
                           check=False).stdout.decode()  # fmt: skip
        assert found == ""
        log = guest_exec(["cat", "/var/log/targetd.log"]).stdout.decode()
        assert "breaks the naming rules; skipped" in log
    finally:
        doc = json.loads(guest_exec(["cat", STATE]).stdout)
        for key in [k for k in doc["acls"] if k != good and k.startswith(good)]:
            del doc["acls"][key]
        doc["auth"].pop(escape, None)
        write_state(guest_exec, doc)


# --- exports made by the old daemon (issue 12, item 5) -----------------------------------------
# What targetd 0.10.x did for export_create / initiator_set_auth, with the rtslib-fb of the
# guest's Debian (targetcli's): a block backstore "<vg>:<lv>" in rtslib's lowest free HBA,
# unit serial = the LV's uuid, TPG 1 enabled with authentication 0 and a portal on 0.0.0.0,
# one TPG LUN, the initiator's ACL and a mapped LUN.
OLD_DAEMON_EXPORT = """
import sys
from rtslib_fb import (BlockStorageObject, FabricModule, LUN, MappedLUN, NetworkPortal, NodeACL,
                       RTSLibError, Target, TPG)
target, vg, vol, serial, wwn, lun, user, password = sys.argv[1:]
so_name = "%s:%s" % (vg, vol)
try:
    so = BlockStorageObject(so_name)
except RTSLibError:
    so = BlockStorageObject(so_name, dev="/dev/%s/%s" % (vg, vol))
    so.wwn = serial
try:
    so.set_attribute("emulate_model_alias", "1")
except RTSLibError:
    pass
tpg = TPG(Target(FabricModule("iscsi"), target), 1)
tpg.enable = True
tpg.set_attribute("authentication", "0")
NetworkPortal(tpg, "0.0.0.0")
na = NodeACL(tpg, wwn)
for tmp in tpg.luns:
    if tmp.storage_object.name == so.name and tmp.storage_object.plugin == "block":
        tpg_lun = tmp
        break
else:
    tpg_lun = LUN(tpg, storage_object=so)
MappedLUN(na, int(lun), tpg_lun)
if user:
    na.chap_userid, na.chap_password = user, password
print(so.path)
"""


def old_daemon_export(guest_exec, vol: dict, wwn: str, lun: int, user: str = "",
                      password: str = "") -> str:  # fmt: skip
    """Export ``vol`` (of the thin pool) the way the old daemon did; returns the backstore's
    configfs path."""
    cp = guest_exec(["python3", "-c", OLD_DAEMON_EXPORT, TARGET, "vg-targetd", vol["name"],
                     vol["uuid"], wwn, str(lun), user, password])  # fmt: skip
    return cp.stdout.decode().strip()


def test_old_daemon_exports_are_adopted(rpc, rpc_client, guest_exec, vols, initiators):
    vol, vol2 = new_volume(rpc, vols), new_volume(rpc, vols)
    a, b, c, d = initiators(4, "old")
    old_path = old_daemon_export(guest_exec, vol, a.name, 1, "olduser", "old-secret-123")
    old_daemon_export(guest_exec, vol, b.name, 2)
    old_path2 = old_daemon_export(guest_exec, vol2, d.name, 0)
    old_name = f"vg-targetd:{vol['name']}"
    hba = old_path.split("/")[-2]
    assert int(hba.split("_")[1]) < 1 << 30  # rtslib's lowest free index: not targetd's
    try:
        restart_targetd(rpc, rpc_client, guest_exec)

        # listed (as the old daemon listed them), recorded with the CHAP settings
        def mine():
            return sorted((e["initiator_wwn"], e["lun"], e["vol_name"], e["vol_uuid"],
                           e["vol_size"], e["pool"]) for e in rpc("export_list")
                          if e["vol_name"] in (vol["name"], vol2["name"]))  # fmt: skip

        assert mine() == sorted([
            (a.name, 1, vol["name"], vol["uuid"], vol["size"], THIN),
            (b.name, 2, vol["name"], vol["uuid"], vol["size"], THIN),
            (d.name, 0, vol2["name"], vol2["uuid"], vol2["size"], THIN),
        ])  # fmt: skip
        doc = json.loads(guest_exec(["cat", STATE]).stdout)
        assert {a.name, b.name, d.name} <= set(doc["acls"])
        assert doc["acls"][b.name]["luns"]["2"] == {"pool": THIN, "volume": vol["name"],
                                                    "uuid": vol["uuid"]}  # fmt: skip
        assert doc["auth"][a.name]["in_user"] == "olduser"
        log = guest_exec(["cat", "/var/log/targetd.log"]).stdout.decode()
        assert "exports made by the old daemon adopted" in log

        # protected
        assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303
        assert code_of(rpc, "vol_destroy", pool=THIN, name=vol2["name"]) == -303

        # destroyed: the last export takes the old backstore and its HBA with it
        rpc("export_destroy", pool=THIN, vol=vol2["name"], initiator_wwn=d.name)
        assert guest_exec(["ls", "-d", os.path.dirname(old_path2)], check=False).returncode
        rpc("vol_destroy", pool=THIN, name=vol2["name"])
        vols.remove((THIN, vol2["name"]))

        # a change while an initiator is logged in keeps the old objects (and uses them).
        # The old daemon's initiators log in without CHAP: it left the TPG's authentication
        # at 0, and with its settings a CHAP login is refused by the kernel
        rc = a.login()
        assert rc == 0, (rc, guest_exec("dmesg | tail -20", check=False).stdout.decode())
        assert unit_serial(guest_exec, a.disks(want=1)[1]) == vol["uuid"]
        rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=c.name, lun=3)
        assert old_name in configfs_listing(guest_exec)["backstores"]
        assert c.login() == 0
        assert unit_serial(guest_exec, c.disks(want=1)[3]) == vol["uuid"]
        c.logout()
        a.logout()

        # the next change moves it to targetd's naming: same LUNs, same serial, same data
        rpc("export_destroy", pool=THIN, vol=vol["name"], initiator_wwn=b.name)
        backstores = configfs_listing(guest_exec)["backstores"]
        assert old_name not in backstores
        assert f"vg-targetd%2Fthin_pool:{vol['name']}" in backstores
        assert guest_exec(["ls", "-d", os.path.dirname(old_path)], check=False).returncode
        assert [(w, m) for w, m, *_ in mine()] == sorted([(a.name, 1), (c.name, 3)])
        assert a.login() == 0
        disk = a.disks(want=1)[1]
        assert unit_serial(guest_exec, disk) == vol["uuid"]
        digest = write_random(guest_exec, disk, 0, 2)
        assert read_digest(guest_exec, f"/dev/vg-targetd/{vol['name']}", 0, 2) == digest
        a.logout()
        assert code_of(rpc, "vol_destroy", pool=THIN, name=vol["name"]) == -303

        # the recorded credentials, set through targetd, are enforced from then on
        rpc("initiator_set_auth", initiator_wwn=a.name, in_user="olduser",
            in_pass="old-secret-123", out_user=None, out_pass=None)  # fmt: skip
        assert a.login() != 0
        assert a.login("olduser", "old-secret-123") == 0
        a.logout()
    finally:
        rpc("initiator_set_auth", initiator_wwn=a.name, in_user=None, in_pass=None,
            out_user=None, out_pass=None)  # fmt: skip
