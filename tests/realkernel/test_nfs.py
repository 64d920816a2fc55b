"""NFS exports (targetd-nfs) of btrfs file systems (targetd-btrfs-fs) on a real kernel:
mounted over the guest's loopback with NFSv3 and NFSv4, written through, root squashing
as exported. That exports are kept across a reboot of the appliance (and that a swapped-in
symlink is withdrawn then) is checked in test_appliance_reboot.py, in its one shared reboot."""

from __future__ import annotations

import uuid

import pytest

from tests.realkernel.client import RPCError

POOL = "/mnt/btrfs"
CLIENT = "127.0.0.1"
MiB = 1 << 20


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sh(guest_exec, cmd, check=True) -> str:
    return guest_exec(cmd, check=check).stdout.decode()


@pytest.fixture
def made(rpc, guest_exec):
    """Records what a test makes; removes mounts, exports and file systems afterwards."""
    state: dict[str, list] = {"mounts": [], "exports": [], "fs": []}
    yield state
    undo_made(rpc, guest_exec, state)


def undo_made(rpc, guest_exec, state: dict[str, list]) -> None:
    """Unmount, unexport and destroy what state records (see the made fixture)."""
    for m in reversed(state["mounts"]):
        guest_exec(["umount", "-f", m], check=False)
        guest_exec(["rmdir", m], check=False)
    for host, path in state["exports"]:
        try:
            rpc("nfs_export_remove", host=host, path=path)
        except RPCError:
            pass
    by_name = {f["name"]: f for f in rpc("fs_list") if f["pool"] == POOL}
    for name in state["fs"]:
        if name in by_name:
            rpc("fs_destroy", uuid=by_name[name]["uuid"])


def make_fs(rpc, made, size: int = 0) -> dict:
    name = unique("nfs")
    rpc("fs_create", pool_name=POOL, name=name, size_bytes=size)
    made["fs"].append(name)
    (fs,) = [f for f in rpc("fs_list") if f["name"] == name and f["pool"] == POOL]
    return fs


def export(rpc, made, path: str, options, **kw) -> None:
    res = rpc("nfs_export_add", host=CLIENT, path=path, options=options, **kw)
    assert res == {"host": CLIENT, "path": path}
    made["exports"].append((CLIENT, path))


def mount(guest_exec, made, path: str, vers: str) -> str:
    mnt = f"/tmp/{unique('mnt')}"
    guest_exec(["mkdir", "-p", mnt])
    made["mounts"].append(mnt)
    guest_exec(
        ["mount", "-t", "nfs", "-o", f"vers={vers},soft,timeo=100", f"{CLIENT}:{path}", mnt],
        timeout=120,
    )
    return mnt


@pytest.mark.parametrize("vers", ["3", "4.2"])
def test_mount_and_write_through(rpc, guest_exec, made, vers):
    fs = make_fs(rpc, made)
    path = fs["full_path"]
    guest_exec(f"echo from-server > {path}/server.txt")
    export(rpc, made, path, ["rw", "no_root_squash", "sync"])
    listed = [e for e in rpc("nfs_export_list") if e["path"] == path]
    assert listed and listed[0]["host"] == CLIENT and "rw" in listed[0]["options"]
    mnt = mount(guest_exec, made, path, vers)
    assert sh(guest_exec, f"grep -w {mnt} /proc/mounts").split()[2] in ("nfs", "nfs4")
    assert sh(guest_exec, f"cat {mnt}/server.txt") == "from-server\n"
    guest_exec(f"head -c {4 * MiB} /dev/urandom > {mnt}/client.bin && sync")
    a = sh(guest_exec, f"sha256sum < {mnt}/client.bin")
    b = sh(guest_exec, f"sha256sum < {path}/client.bin")
    assert a == b
    # removing the export: the server no longer offers it
    guest_exec(["umount", mnt])
    made["mounts"].remove(mnt)
    rpc("nfs_export_remove", host=CLIENT, path=path)
    made["exports"].remove((CLIENT, path))
    assert path not in sh(guest_exec, ["exportfs", "-v"])
    with pytest.raises(RPCError) as e:
        rpc("nfs_export_remove", host=CLIENT, path=path)
    assert e.value.code == -400


def test_root_squash_as_exported(rpc, guest_exec, made):
    squashed, trusted = make_fs(rpc, made), make_fs(rpc, made)
    # chown (allow_chown: true in the appliance) so that the squashed root may write
    export(rpc, made, squashed["full_path"], ["rw", "root_squash"], chown="65534:65534")
    export(rpc, made, trusted["full_path"], "rw,no_root_squash")
    assert sh(guest_exec, f"stat -c %u:%g {squashed['full_path']}") == "65534:65534\n"
    for fs, owner in ((squashed, "65534"), (trusted, "0")):
        for vers in ("3", "4.2"):
            mnt = mount(guest_exec, made, fs["full_path"], vers)
            guest_exec(f"touch {mnt}/by-root-v{vers}")
            got = sh(guest_exec, f"stat -c %u {fs['full_path']}/by-root-v{vers}").strip()
            assert got == owner, (fs["full_path"], vers, got)
    # a squashed root cannot write where only root may
    guest_exec(["chown", "0:0", squashed["full_path"]])
    guest_exec(["chmod", "755", squashed["full_path"]])
    mnt = made["mounts"][0]
    assert guest_exec(f"touch {mnt}/denied", check=False).returncode != 0


def test_btrfs_quota_and_snapshots_on_the_guest_kernel(rpc, guest_exec, made):
    fs = make_fs(rpc, made, size=32 * MiB)
    assert fs["total_space"] == 32 * MiB
    path = fs["full_path"]
    cp = guest_exec(f"dd if=/dev/zero of={path}/big bs=1M count=64 conv=fsync 2>&1", check=False)
    assert cp.returncode != 0 and b"Disk quota exceeded" in cp.stdout, cp.stdout
    rpc("fs_snapshot", fs_uuid=fs["uuid"], dest_ss_name="s1")
    (ss,) = rpc("ss_list", fs_uuid=fs["uuid"])
    assert guest_exec(f"touch {POOL}/targetd_ss/{fs['name']}/s1/x", check=False).returncode != 0
    clone = unique("clone")
    made["fs"].append(clone)
    rpc("fs_clone", fs_uuid=fs["uuid"], dest_fs_name=clone, snapshot_id=ss["uuid"])
    rpc("fs_destroy", uuid=fs["uuid"])
    made["fs"].remove(fs["name"])
    assert sh(guest_exec, f"ls {POOL}/targetd_fs/{clone}") == "big\n"
    assert sh(guest_exec, f"ls {POOL}/targetd_ss").split().count(fs["name"]) == 0


ZFS_FS_POOL = "/zfs-targetd/fs"


def mount_fails(guest_exec, path: str) -> bool:
    mnt = f"/tmp/{unique('nomnt')}"
    guest_exec(["mkdir", "-p", mnt])
    cp = guest_exec(
        ["mount", "-t", "nfs", "-o", "vers=4.2,soft,timeo=50,retrans=1", f"{CLIENT}:{path}", mnt],
        check=False,
        timeout=120,
    )
    if cp.returncode == 0:
        guest_exec(["umount", "-f", mnt], check=False)
    guest_exec(["rmdir", mnt], check=False)
    return cp.returncode != 0


@pytest.mark.parametrize("pool", [POOL, ZFS_FS_POOL])
def test_fs_destroy_removes_its_exports(rpc, guest_exec, made, pool):
    """No export outlives its file system: after fs_destroy the server offers nothing
    at that path, and a new file system of the same name is exported to nobody."""
    name = unique("gone")
    rpc("fs_create", pool_name=pool, name=name, size_bytes=0)
    made_here = [name]
    try:
        (fs,) = [f for f in rpc("fs_list") if f["name"] == name and f["pool"] == pool]
        path = fs["full_path"]
        export(rpc, made, path, ["rw", "no_root_squash"])
        mnt = mount(guest_exec, made, path, "4.2")
        guest_exec(["umount", mnt])
        made["mounts"].remove(mnt)
        rpc("fs_destroy", uuid=fs["uuid"])
        made_here.clear()
        assert path not in sh(guest_exec, ["exportfs", "-v"])
        assert f"{path} " not in sh(guest_exec, ["cat", "/etc/exports.d/targetd.exports"])
        rpc("fs_create", pool_name=pool, name=name, size_bytes=0)
        made_here.append(name)
        assert not [e for e in rpc("nfs_export_list") if e["path"] == path]
        assert mount_fails(guest_exec, path)
        with pytest.raises(RPCError) as e:
            rpc("nfs_export_remove", host=CLIENT, path=path)
        assert e.value.code == -400
        made["exports"].remove((CLIENT, path))
    finally:
        for f in rpc("fs_list"):
            if f["name"] in made_here and f["pool"] == pool:
                rpc("fs_destroy", uuid=f["uuid"])
