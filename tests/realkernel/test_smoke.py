"""Smoke tests of the real-kernel tier: the appliance's pools exist in the guest and through
the API, and the exec channel returns exit status, output and stdin faithfully."""

import hashlib
import json
import os
import subprocess
import threading
import uuid

import pytest

from tests.realkernel.client import RPCError

BLOCK_POOLS = {"vg-targetd/thin_pool", "vg-targetd-thick", "zfs-targetd/block"}
FS_POOLS = {"/mnt/btrfs", "/zfs-targetd/fs"}


# --- the API ------------------------------------------------------------------------------
def test_pool_list_has_the_appliance_pools(rpc):
    pools = {p["name"]: p for p in rpc("pool_list")}
    missing = (BLOCK_POOLS | FS_POOLS) - set(pools)
    assert not missing, f"pool_list lacks {sorted(missing)}; got {sorted(pools)}"
    for name in BLOCK_POOLS | FS_POOLS:
        p = pools[name]
        assert p["type"] == ("block" if name in BLOCK_POOLS else "fs"), p
        assert isinstance(p["size"], int) and p["size"] > 0, p
        assert isinstance(p["free_size"], int) and 0 <= p["free_size"] <= p["size"], p
    for name in BLOCK_POOLS:
        assert isinstance(pools[name].get("uuid"), str) and pools[name]["uuid"], pools[name]


def test_unknown_method_is_a_json_rpc_error(rpc):
    with pytest.raises(RPCError) as e:
        rpc("no_such_method")
    assert e.value.code == -32601


# --- the pools, seen from inside the guest ------------------------------------------------
def test_guest_lvm_pools(guest_exec):
    out = guest_exec(
        ["lvs", "--reportformat", "json", "-o", "vg_name,lv_name,lv_attr,lv_size"]
    ).stdout
    lvs = json.loads(out)["report"][0]["lv"]
    thin = [lv for lv in lvs if (lv["vg_name"], lv["lv_name"]) == ("vg-targetd", "thin_pool")]
    assert thin, lvs
    assert thin[0]["lv_attr"].startswith("t"), thin  # a thin pool
    assert thin[0]["lv_attr"][4] == "a", thin  # active
    vgs = json.loads(guest_exec(["vgs", "--reportformat", "json", "-o", "vg_name,vg_size"]).stdout)
    names = {vg["vg_name"] for vg in vgs["report"][0]["vg"]}
    assert {"vg-targetd", "vg-targetd-thick"} <= names, names


def test_guest_zfs_pool(guest_exec):
    out = guest_exec(["zfs", "list", "-Hp", "-o", "name,type,mountpoint,mounted"]).stdout.decode()
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert "zfs-targetd" in rows and "zfs-targetd/block" in rows, out
    assert rows["zfs-targetd/fs"][1:] == ["filesystem", "/zfs-targetd/fs", "yes"], out
    health = (
        guest_exec(["zpool", "list", "-H", "-o", "health", "zfs-targetd"]).stdout.decode().strip()
    )
    assert health == "ONLINE"


def test_guest_btrfs_pool(guest_exec):
    out = json.loads(guest_exec(["findmnt", "-J", "-o", "TARGET,FSTYPE", "/mnt/btrfs"]).stdout)
    assert out["filesystems"][0] == {"target": "/mnt/btrfs", "fstype": "btrfs"}


def test_guest_storage_kernel_is_real(guest_exec):
    """configfs with LIO, nfsd and the NVMe target are there: the point of this tier."""
    cp = guest_exec(
        "ls -d /sys/kernel/config/target/core /sys/kernel/config/nvmet /proc/fs/nfsd/threads "
        "&& grep -qw ^iscsi_target_mod /proc/modules && pgrep -x iscsid && pgrep -x rpc.mountd"
    )
    assert cp.returncode == 0


def test_zvol_links_appear_and_go(guest_exec):
    """No udev in the guest: the agent keeps /dev/zvol/POOL/NAME links for zvols."""
    name = f"zfs-targetd/block/smoke-{uuid.uuid4().hex[:8]}"
    guest_exec(["zfs", "create", "-V", "16M", name])
    try:
        guest_exec(
            f"for i in $(seq 100); do [ -b /dev/zvol/{name} ] && exit 0; sleep 0.1; done; exit 1"
        )
        dev = guest_exec(["readlink", "-f", f"/dev/zvol/{name}"]).stdout.decode().strip()
        assert dev.startswith("/dev/zd"), dev
    finally:
        guest_exec(["zfs", "destroy", name])
    guest_exec(
        f"for i in $(seq 100); do [ -e /dev/zvol/{name} ] || exit 0; sleep 0.1; done; exit 1"
    )


# --- the exec channel ---------------------------------------------------------------------
def test_exec_exit_status_and_output(guest_exec):
    cp = guest_exec(["sh", "-c", "echo out; echo err >&2; exit 7"], check=False)
    assert (cp.returncode, cp.stdout, cp.stderr) == (7, b"out\n", b"err\n")
    with pytest.raises(subprocess.CalledProcessError) as e:
        guest_exec("exit 3")
    assert e.value.returncode == 3
    assert guest_exec(["uname", "-r"]).stdout.decode().strip().endswith("-cloud-amd64")
    assert guest_exec("id -u").stdout == b"0\n"


def test_exec_missing_command_and_signal(guest_exec):
    cp = guest_exec(["/no/such/command"], check=False)
    assert cp.returncode == 127 and b"No such file" in cp.stderr
    cp = guest_exec("kill -TERM $$", check=False)
    assert cp.returncode == -15


def test_exec_stdin_binary_roundtrip(guest_exec):
    data = os.urandom(3 << 20)
    cp = guest_exec(["sha256sum"], input=data)
    assert cp.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
    assert guest_exec(["cat"], input=data).stdout == data


def test_exec_timeout_kills_the_command(guest_exec):
    with pytest.raises(subprocess.TimeoutExpired):
        guest_exec(["sleep", "30"], timeout=1)
    # the killed command is gone (its process group was killed)
    guest_exec(
        "for i in $(seq 50); do pgrep -x -f 'sleep 30' >/dev/null || exit 0; sleep 0.1; done; exit 1"
    )


def test_exec_many_calls_and_concurrency(guest_exec):
    for i in range(60):
        assert guest_exec(["echo", str(i)]).stdout == f"{i}\n".encode()
    errors = []

    def worker(n):
        try:
            for i in range(15):
                out = guest_exec(["echo", f"{n}-{i}"]).stdout
                assert out == f"{n}-{i}\n".encode(), out
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
