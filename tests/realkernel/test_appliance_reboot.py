"""The appliance keeps its pools and persistent state across a reboot (later tests of
persistence rely on it): LVM, ZFS and btrfs objects, /etc/target, /etc/exports.d, /etc/iscsi."""

import uuid

from tests.realkernel.appliance import reboot


def test_reboot_keeps_pools_and_state(guest_exec, rpc):
    t = uuid.uuid4().hex[:8]
    lv, zfs, sv = f"vg-targetd/rb_{t}", f"zfs-targetd/fs/rb_{t}", f"/mnt/btrfs/rb_{t}"
    zvol = f"zfs-targetd/block/rb_{t}"
    guest_exec(f"""set -e
        lvcreate -q -V 16M -T vg-targetd/thin_pool -n rb_{t}
        lvcreate -q -L 8M -n rb_{t} vg-targetd-thick
        zfs create {zfs}
        zfs create -V 16M {zvol}
        btrfs -q subvolume create {sv}
        echo {t} > /etc/target/rb_{t}
        echo '{sv} 127.0.0.1(rw,no_subtree_check)' > /etc/exports.d/rb_{t}.exports
        exportfs -ra""")
    before = guest_exec("cat /proc/sys/kernel/random/boot_id /etc/iscsi/initiatorname.iscsi").stdout
    try:
        reboot()
        after = guest_exec(
            "cat /proc/sys/kernel/random/boot_id /etc/iscsi/initiatorname.iscsi"
        ).stdout
        assert after.splitlines()[0] != before.splitlines()[0], "the guest did not reboot"
        assert after.splitlines()[1:] == before.splitlines()[1:], "initiator name changed"
        guest_exec(f"""set -e
            lvs {lv} vg-targetd-thick/rb_{t}
            [ -b /dev/{lv} ]
            zfs list {zfs} {zvol}
            [ "$(findmnt -n -o TARGET /zfs-targetd/fs/rb_{t})" = /zfs-targetd/fs/rb_{t} ]
            for i in $(seq 100); do [ -b /dev/zvol/{zvol} ] && break; sleep 0.1; done
            [ -b /dev/zvol/{zvol} ]
            btrfs subvolume show {sv} >/dev/null
            [ "$(cat /etc/target/rb_{t})" = {t} ]
            exportfs -v | grep -q '^{sv}'
            grep -q '^ready$' /run/appliance/status""")
        names = {p["name"] for p in rpc("pool_list")}
        assert {"vg-targetd/thin_pool", "/mnt/btrfs"} <= names
    finally:
        guest_exec(
            f"""
            rm -f /etc/exports.d/rb_{t}.exports /etc/target/rb_{t}; exportfs -ra
            btrfs -q subvolume delete {sv}
            zfs destroy {zvol}; zfs destroy {zfs}
            lvremove -q -y {lv} vg-targetd-thick/rb_{t}""",
            check=False,
        )
