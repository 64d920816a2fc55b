"""What must survive a reboot of the appliance, checked after ONE shared reboot (a reboot
costs 70-90 s under TCG; one per area cost five).

The module fixture makes every area's state first: the appliance's own pools and persistent
state (LVM, ZFS and btrfs objects, /etc/target, /etc/exports.d, /etc/iscsi), LIO exports with
CHAP and an access group, NVMe/TCP exports, an NFS export, and an NFS export whose directory a
client swapped for a symlink to /etc. Then it reboots the guest once, and each test checks one
area afterwards, so a failure still names the area. Later modules run on the rebooted guest.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.realkernel.appliance import reboot
from tests.realkernel.client import RPCError
from tests.realkernel.lio_helpers import Initiator, configfs_listing, iqn, unit_serial
from tests.realkernel.lvm_helpers import read_digest, unique, write_random
from tests.realkernel.nvme_helpers import NVMET, Host, disk_attr, disks, host_nqn, ns_uuid
from tests.realkernel.test_lio import THIN, code_of
from tests.realkernel.test_lio import destroy_volumes as destroy_lio_volumes
from tests.realkernel.test_lio import new_volume as lio_volume
from tests.realkernel.test_nfs import CLIENT, export, make_fs, mount, mount_fails, sh, undo_made
from tests.realkernel.test_nvmet import ZVOLS
from tests.realkernel.test_nvmet import destroy_volumes as destroy_nvme_volumes
from tests.realkernel.test_nvmet import new_volume as nvme_volume

BOOT_ID_AND_INITIATOR = "cat /proc/sys/kernel/random/boot_id /etc/iscsi/initiatorname.iscsi"


# --- state made before the reboot, one function per area ---------------------------------------
def _appliance_state(guest_exec, undo: contextlib.ExitStack) -> SimpleNamespace:
    """LVM thin and thick LVs, a ZFS file system and zvol, a btrfs subvolume, a file in
    /etc/target and an exports file in /etc/exports.d, all made by hand."""
    t = uuid.uuid4().hex[:8]
    s = SimpleNamespace(
        t=t,
        lv=f"vg-targetd/rb_{t}",
        zfs=f"zfs-targetd/fs/rb_{t}",
        sv=f"/mnt/btrfs/rb_{t}",
        zvol=f"zfs-targetd/block/rb_{t}",
    )
    undo.callback(
        guest_exec,
        f"""
        rm -f /etc/exports.d/rb_{t}.exports /etc/target/rb_{t}; exportfs -ra
        btrfs -q subvolume delete {s.sv}
        zfs destroy {s.zvol}; zfs destroy {s.zfs}
        lvremove -q -y {s.lv} vg-targetd-thick/rb_{t}""",
        check=False,
    )
    guest_exec(f"""set -e
        lvcreate -q -V 16M -T vg-targetd/thin_pool -n rb_{t}
        lvcreate -q -L 8M -n rb_{t} vg-targetd-thick
        zfs create {s.zfs}
        zfs create -V 16M {s.zvol}
        btrfs -q subvolume create {s.sv}
        echo {t} > /etc/target/rb_{t}
        echo '{s.sv} 127.0.0.1(rw,no_subtree_check)' > /etc/exports.d/rb_{t}.exports
        exportfs -ra""")
    return s


def _lio_state(rpc, guest_exec, undo: contextlib.ExitStack) -> SimpleNamespace:
    """A CHAP-protected export at LUN 2 with data written through it, and a volume mapped to
    an access group at LUN 4."""
    vols: list[tuple[str, str]] = []
    undo.callback(destroy_lio_volumes, rpc, vols)
    a, member = Initiator(guest_exec, iqn("boot")), Initiator(guest_exec, iqn("boot"))
    undo.callback(member.remove)
    undo.callback(a.remove)
    vol, gvol = lio_volume(rpc, vols), lio_volume(rpc, vols)
    ag = unique("ag")
    undo.callback(_quietly, rpc, "access_group_destroy", ag_name=ag)
    undo.callback(_quietly, rpc, "initiator_set_auth", initiator_wwn=a.name, in_user=None,
                  in_pass=None, out_user=None, out_pass=None)  # fmt: skip
    rpc("initiator_set_auth", initiator_wwn=a.name, in_user="bob", in_pass="bob-secret-123",
        out_user=None, out_pass=None)  # fmt: skip
    rpc("export_create", pool=THIN, vol=vol["name"], initiator_wwn=a.name, lun=2)
    rpc("access_group_create", ag_name=ag, init_id=member.name, init_type="iscsi")
    rpc("access_group_map_create", pool_name=THIN, vol_name=gvol["name"], ag_name=ag, h_lun_id=4)
    assert a.login("bob", "bob-secret-123") == 0
    digest = write_random(guest_exec, a.disks(want=1)[2], 0, 2)
    a.logout()
    return SimpleNamespace(
        vol=vol,
        gvol=gvol,
        a=a,
        member=member,
        ag=ag,
        digest=digest,
        exports=rpc("export_list"),
        maps=rpc("access_group_map_list"),
    )


def _nvme_state(rpc, guest_exec, undo: contextlib.ExitStack) -> SimpleNamespace:
    """A thin volume at nsid 3 (data written through it) and a zvol at nsid 5, one host."""
    vols: list[tuple[str, str]] = []
    undo.callback(destroy_nvme_volumes, rpc, vols)
    undo.callback(guest_exec, "nvme disconnect-all >/dev/null 2>&1; true", check=False,
                  timeout=120)  # fmt: skip
    vol, zvol = nvme_volume(rpc, vols), nvme_volume(rpc, vols, pool=ZVOLS)
    h = Host(guest_exec, host_nqn("boot"))
    sub = rpc("nvme_export_create", pool=THIN, vol=vol["name"], host_nqn=h.nqn, nsid=3)[
        "subsystem_nqn"
    ]
    rpc("nvme_export_create", pool=ZVOLS, vol=zvol["name"], host_nqn=h.nqn, nsid=5)
    assert h.connect(sub) == 0
    digest = write_random(guest_exec, disks(guest_exec, sub, want=2)[3], 0, 2)
    h.disconnect(sub)
    return SimpleNamespace(
        vol=vol,
        zvol=zvol,
        h=h,
        sub=sub,
        digest=digest,
        exports=rpc("nvme_export_list"),
        serial=guest_exec(["cat", f"{NVMET}/subsystems/{sub}/attr_serial"]).stdout,
    )


def _nfs_state(rpc, guest_exec, undo: contextlib.ExitStack) -> SimpleNamespace:
    """An exported btrfs file system with a file in it; and an exported directory that a
    client with write access then replaced with a symlink to /etc."""
    made: dict[str, list] = {"mounts": [], "exports": [], "fs": []}
    undo.callback(undo_made, rpc, guest_exec, made)
    fs = make_fs(rpc, made)
    path = fs["full_path"]
    export(rpc, made, path, ["rw", "no_root_squash"])
    guest_exec(f"echo before > {path}/f")
    assert f"{path} 127.0.0.1(rw,no_root_squash,no_subtree_check)" in sh(
        guest_exec, ["cat", "/etc/exports.d/targetd.exports"]
    )
    swapped = make_fs(rpc, made)
    sub = f"{swapped['full_path']}/sub"
    guest_exec(["mkdir", sub])
    export(rpc, made, sub, ["rw", "no_root_squash"])
    guest_exec(["rmdir", sub])
    guest_exec(["ln", "-s", "/etc", sub])
    return SimpleNamespace(made=made, path=path, sub=sub)


def _quietly(rpc, method: str, **params) -> None:
    """A clean-up call whose object the test may have removed already."""
    with contextlib.suppress(RPCError):
        rpc(method, **params)


@pytest.fixture(scope="module")
def rebooted(rpc, rpc_client, guest_exec) -> Iterator[SimpleNamespace]:
    """Every area's state made, then one reboot; everything is removed after the module."""
    with contextlib.ExitStack() as undo:
        s = SimpleNamespace(
            appliance=_appliance_state(guest_exec, undo),
            lio=_lio_state(rpc, guest_exec, undo),
            nvme=_nvme_state(rpc, guest_exec, undo),
            nfs=_nfs_state(rpc, guest_exec, undo),
            before=guest_exec(BOOT_ID_AND_INITIATOR).stdout,
        )
        reboot()
        rpc_client.close()
        yield s


# --- the checks after the reboot --------------------------------------------------------------
def test_reboot_keeps_pools_and_state(rebooted, guest_exec, rpc):
    s, before = rebooted.appliance, rebooted.before
    after = guest_exec(BOOT_ID_AND_INITIATOR).stdout
    assert after.splitlines()[0] != before.splitlines()[0], "the guest did not reboot"
    assert after.splitlines()[1:] == before.splitlines()[1:], "initiator name changed"
    guest_exec(f"""set -e
        lvs {s.lv} vg-targetd-thick/rb_{s.t}
        [ -b /dev/{s.lv} ]
        zfs list {s.zfs} {s.zvol}
        [ "$(findmnt -n -o TARGET /zfs-targetd/fs/rb_{s.t})" = /zfs-targetd/fs/rb_{s.t} ]
        for i in $(seq 100); do [ -b /dev/zvol/{s.zvol} ] && break; sleep 0.1; done
        [ -b /dev/zvol/{s.zvol} ]
        btrfs subvolume show {s.sv} >/dev/null
        [ "$(cat /etc/target/rb_{s.t})" = {s.t} ]
        exportfs -v | grep -q '^{s.sv}'
        grep -q '^ready$' /run/appliance/status""")
    names = {p["name"] for p in rpc("pool_list")}
    assert {"vg-targetd/thin_pool", "/mnt/btrfs"} <= names


def test_lio_exports_groups_and_chap_survive_a_reboot(rebooted, rpc, guest_exec):
    s = rebooted.lio
    assert rpc("export_list") == s.exports
    assert rpc("access_group_map_list") == s.maps
    assert any(s.vol["name"] in b for b in configfs_listing(guest_exec)["backstores"])
    # the iface records live in /etc/iscsi (persistent): log in again
    assert s.a.login() != 0  # CHAP still required
    assert s.a.login("bob", "bob-secret-123") == 0
    disk = s.a.disks(want=1)[2]
    assert unit_serial(guest_exec, disk) == s.vol["uuid"]
    assert read_digest(guest_exec, disk, 0, 2) == s.digest
    s.a.logout()
    assert s.member.login() == 0
    assert unit_serial(guest_exec, s.member.disks(want=1)[4]) == s.gvol["uuid"]
    s.member.logout()
    rpc("access_group_destroy", ag_name=s.ag)
    rpc("initiator_set_auth", initiator_wwn=s.a.name, in_user=None, in_pass=None, out_user=None,
        out_pass=None)  # fmt: skip


def test_nvme_exports_survive_a_reboot(rebooted, rpc, guest_exec):
    s = rebooted.nvme
    assert rpc("nvme_export_list") == s.exports
    assert guest_exec(["cat", f"{NVMET}/subsystems/{s.sub}/attr_serial"]).stdout == s.serial
    assert s.h.connect(s.sub) == 0
    found = disks(guest_exec, s.sub, want=2)
    assert sorted(found) == [3, 5]
    assert disk_attr(guest_exec, found[3], "uuid") == ns_uuid(s.vol["uuid"])
    assert disk_attr(guest_exec, found[5], "uuid") == ns_uuid(s.zvol["uuid"])
    assert read_digest(guest_exec, found[3], 0, 2) == s.digest
    s.h.disconnect(s.sub)
    assert code_of(rpc, "vol_destroy", pool=THIN, name=s.vol["name"]) == -303


def test_nfs_exports_survive_a_reboot(rebooted, rpc, guest_exec):
    s = rebooted.nfs
    listed = [e for e in rpc("nfs_export_list") if e["path"] == s.path]
    assert listed and listed[0]["host"] == CLIENT and "no_root_squash" in listed[0]["options"]
    mnt = mount(guest_exec, s.made, s.path, "4.2")
    assert sh(guest_exec, f"cat {mnt}/f") == "before\n"


def test_nfs_symlink_swap_is_not_exported_after_a_reboot(rebooted, rpc, guest_exec):
    """A client with write access replaced an exported directory with a link to /etc;
    after the reboot the export is withdrawn (logged), not re-applied to /etc."""
    sub = rebooted.nfs.sub
    live = rpc("nfs_export_list")
    assert not [e for e in live if e["path"] in (sub, "/etc")], live
    assert "/etc" not in [
        ln.split()[0] for ln in sh(guest_exec, ["exportfs", "-v"]).splitlines() if ln.strip()
    ]
    assert f"{sub} " not in sh(guest_exec, ["cat", "/etc/exports.d/targetd.exports"])
    assert mount_fails(guest_exec, sub) and mount_fails(guest_exec, "/etc")
    assert "nfs export withdrawn" in sh(guest_exec, ["cat", "/var/log/targetd.log"])
