"""Planning of the fs pool against a scripted zfs (logic only)."""

import pytest
from targetd_zfs import transfer
from targetd_zfs.fs import ZfsFsPool

from targetd_core.locking import StorageLock
from targetd_core.plugin import FileSystem, Snapshot, TargetdError

DS = "zfs-targetd/fs"
MNT = "/zfs-targetd/fs"


class StubCore:
    def __init__(self, tmp_path):
        self.lock = StorageLock(tmp_path / "lock")


@pytest.fixture
def pool(tmp_path):
    return ZfsFsPool(StubCore(tmp_path).lock, MNT, DS, MNT)


def fs(name="a"):
    return FileSystem(name, "1", 0, 0, MNT, f"{MNT}/{name}")


def test_list_filesystems_quota_and_paths(fake, pool):
    fake.on(
        ["zfs", "list"],
        f"{DS}/a\t101\t24576\t9000000000\t0\t{MNT}/a\n"
        f"{DS}/q\t102\t1048576\t103809024\t104857600\t{MNT}/q\n"
        f"{DS}/targetd.tmp-1\t103\t0\t1\t0\t{MNT}/targetd.tmp-1\n"
        f"{DS}/leg\t104\t1\t2\t0\tlegacy\n",
    )
    out = {f.name: f.to_json() for f in pool.list_filesystems()}
    assert set(out) == {"a", "q", "leg"}
    assert out["a"] == {
        "name": "a",
        "uuid": "101",
        "total_space": 24576 + 9000000000,
        "free_space": 9000000000,
        "pool": MNT,
        "full_path": f"{MNT}/a",
    }
    assert out["q"]["total_space"] == 104857600 and out["q"]["free_space"] == 103809024
    assert out["leg"]["full_path"] == f"{MNT}/leg"
    assert len(fake.calls) == 1


def test_create_with_and_without_quota(fake, pool):
    fake.on(["zfs", "get"], f"mountpoint\t{MNT}\n")
    pool.create_fs("a", 0)
    pool.create_fs("b", 10485760)
    assert fake.commands("create") == [
        ["zfs", "create", f"{DS}/a"],
        ["zfs", "create", "-o", "refquota=10485760", f"{DS}/b"],
    ]


def test_create_under_legacy_mount_sets_mountpoint(fake, pool):
    fake.on(["zfs", "get"], "mountpoint\tlegacy\n")
    pool.create_fs("a", 0)
    assert fake.commands("create") == [["zfs", "create", "-o", f"mountpoint={MNT}/a", f"{DS}/a"]]


def test_snapshots_sorted_hidden_and_typed(fake, pool):
    fake.on(
        ["zfs", "list"],
        f"{DS}/a@s1\t9001\t1764320000\n{DS}/a@targetd.copy-ff\t9002\t1764320001\n{DS}/a@s2\t9003\t1764320002\n",
    )
    snaps = [s.to_json() for s in pool.list_snapshots(fs())]
    assert snaps == [
        {"name": "s1", "uuid": "9001", "timestamp": 1764320000},
        {"name": "s2", "uuid": "9003", "timestamp": 1764320002},
    ]
    argv = fake.calls[0]
    assert argv[-1] == f"{DS}/a" and "snapshot" in argv and "createtxg" in argv


def test_snapshot_and_delete(fake, pool):
    pool.snapshot_fs(fs(), "s1")
    pool.delete_snapshot(fs(), Snapshot("s1", "9", 0))
    assert fake.commands("snapshot") == [["zfs", "snapshot", f"{DS}/a@s1"]]
    assert fake.commands("destroy") == [["zfs", "destroy", f"{DS}/a@s1"]]


def test_destroy_is_recursive(fake, pool):
    pool.destroy_fs(fs())
    assert fake.commands("destroy") == [["zfs", "destroy", "-r", f"{DS}/a"]]


@pytest.fixture
def piped(monkeypatch):
    calls = []
    monkeypatch.setattr(transfer, "pipe", lambda s, r, timeout=None: calls.append((s, r)))
    monkeypatch.setattr(transfer.Z, "tag", lambda: "t1")
    return calls


def test_clone_from_snapshot_keeps_it_and_quota(fake, pool, piped):
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "mountpoint"], f"mountpoint\t{MNT}\n")
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "refquota"], "refquota\t1048576\n")
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "referenced"], "referenced\t2097152\n")
    fake.on(["zfs", "set", "refquota=1048576"], rc=1, stderr="size is less than current used")
    pool.clone_fs(fs(), "c", Snapshot("s1", "9", 0))
    tmp = f"{DS}/targetd.tmp-t1"
    assert piped == [
        (["zfs", "send", "-L", "-e", "-c", f"{DS}/a@s1"], ["zfs", "receive", "-u", tmp])
    ]
    changing = [c for c in fake.calls if c[1] not in ("list", "get")]
    assert changing == [
        ["zfs", "destroy", f"{tmp}@s1"],
        ["zfs", "set", "refquota=1048576", tmp],
        ["zfs", "set", "refquota=2097152", tmp],
        ["zfs", "rename", tmp, f"{DS}/c"],
        ["zfs", "mount", f"{DS}/c"],
    ]


def test_clone_of_live_fs_uses_and_drops_a_temporary_snapshot(fake, pool, piped):
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "mountpoint"], f"mountpoint\t{MNT}\n")
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "refquota"], "refquota\t0\n")
    fake.on(["zfs", "mount"], rc=1, stderr="cannot mount 'x': filesystem already mounted")
    pool.clone_fs(fs(), "c", None)
    assert fake.commands("snapshot") == [["zfs", "snapshot", f"{DS}/a@targetd.copy-t1"]]
    assert fake.commands("destroy") == [
        ["zfs", "destroy", f"{DS}/targetd.tmp-t1@targetd.copy-t1"],
        ["zfs", "destroy", f"{DS}/a@targetd.copy-t1"],
    ]
    assert len(fake.commands("mount")) == 1  # already mounted by the rename: fine


def test_clone_mount_failure_destroys_the_clone(fake, pool, piped):
    from targetd_core.plugin import TargetdError

    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "mountpoint"], f"mountpoint\t{MNT}\n")
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "refquota"], "refquota\t0\n")
    fake.on(["zfs", "mount"], rc=1, stderr="cannot mount: mountpoint is not empty")
    with pytest.raises(TargetdError) as e:
        pool.clone_fs(fs(), "c", None)
    assert "not empty" in e.value.message
    assert ["zfs", "destroy", "-r", f"{DS}/c"] in fake.calls


def test_clone_into_a_name_taken_meanwhile_is_51(fake, pool, piped):
    from targetd_core.plugin import TargetdError

    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "mountpoint"], f"mountpoint\t{MNT}\n")
    fake.on(["zfs", "get", "-Hp", "-o", "property,value", "refquota"], "refquota\t0\n")
    fake.on(["zfs", "rename"], rc=1, stderr="cannot rename to 'x': dataset already exists")
    with pytest.raises(TargetdError) as e:
        pool.clone_fs(fs(), "c", None)
    assert e.value.code == -51


def test_no_mount_through_a_link(fake, tmp_path):
    """A link named like the new file system (left by a client that can write to the
    pool's directory) is refused before zfs runs: mount(2) would follow it."""
    mnt = tmp_path / "pool"
    mnt.mkdir()
    (mnt / "a").symlink_to("/etc")
    (mnt / "f").write_text("")
    (mnt / "d").mkdir()  # an empty real directory is fine
    p = ZfsFsPool(StubCore(tmp_path).lock, str(mnt), DS, str(mnt))
    fake.on(["zfs", "get"], f"mountpoint\t{mnt}\n")
    for name in ("a", "f"):
        with pytest.raises(TargetdError) as info:
            p.create_fs(name, 0)
        assert info.value.code == -1 and "not a directory" in info.value.message
        with pytest.raises(TargetdError):
            p.clone_fs(fs(), name, None)
    assert fake.commands("create") == [] and fake.commands("send") == []
    p.create_fs("d", 0)
    assert fake.commands("create") == [["zfs", "create", f"{DS}/d"]]


def test_mounted_elsewhere_is_destroyed(fake, pool, monkeypatch):
    """A link put in place between the check and the mount: the dataset is found
    mounted elsewhere, destroyed again, and the call fails."""
    from targetd_zfs import fs as fsmod
    from targetd_zfs.mounts import Mount

    monkeypatch.setattr(fsmod, "read_mounts", lambda: [Mount("/etc", "zfs", f"{DS}/a")])
    fake.on(["zfs", "get"], f"mountpoint\t{MNT}\n")
    with pytest.raises(TargetdError) as info:
        pool.create_fs("a", 0)
    assert "instead of" in info.value.message
    assert fake.commands("destroy") == [["zfs", "destroy", "-r", f"{DS}/a"]]
