"""Planning of the block pool against a scripted zfs (logic only)."""

import pytest
from targetd_zfs import block, transfer
from targetd_zfs.block import ZfsBlockPool

from targetd_core.locking import StorageLock
from targetd_core.plugin import ConfigError, TargetdError

POOL = "zfs-targetd/block"


class StubCore:
    def __init__(self, tmp_path):
        self.lock = StorageLock(tmp_path / "lock")


@pytest.fixture
def pool(tmp_path, monkeypatch):
    monkeypatch.setattr(block.devices, "find_device", lambda ds, **kw: f"/dev/zvol/{ds}")
    return ZfsBlockPool(StubCore(tmp_path).lock, POOL)


def test_check_missing_dataset_names_key_and_dataset(fake, pool):
    fake.missing(POOL)
    with pytest.raises(ConfigError) as e:
        pool.check()
    assert e.value.key == "zfs_block_pools" and POOL in e.value.message


def test_check_refuses_a_zvol(fake, pool):
    fake.on(["zfs", "list"], f"{POOL}\tvolume\n")
    with pytest.raises(ConfigError):
        pool.check()


def test_check_ok(fake, pool):
    fake.on(["zfs", "list", "-Hp", "-o", "name,type"], f"{POOL}\tfilesystem\n")
    pool.check()


def test_info_uuid_is_a_string(fake, pool):
    fake.on(["zfs", "list"], "1073741824\t9663676416\t5829376312785946473\n")
    info = pool.info().to_json()
    assert info == {
        "name": POOL,
        "size": 1073741824 + 9663676416,
        "free_size": 9663676416,
        "type": "block",
        "uuid": "5829376312785946473",
    }
    assert fake.calls[0] == ["zfs", "list", "-Hp", "-o", "used,available,guid", POOL]


def test_list_volumes_one_call_hides_temporaries(fake, pool):
    fake.on(
        ["zfs", "list"],
        f"{POOL}/v1\t104857600\t111\n{POOL}/targetd.tmp-abc\t8192\t222\n{POOL}/v2\t16384\t333\n",
    )
    vols = [v.to_json() for v in pool.list_volumes()]
    assert vols == [
        {"name": "v1", "size": 104857600, "uuid": "111"},
        {"name": "v2", "size": 16384, "uuid": "333"},
    ]
    assert len(fake.calls) == 1
    assert fake.calls[0][:3] == ["zfs", "list", "-Hp"]
    assert ["-t", "volume"] == fake.calls[0][5:7] and fake.calls[0][-1] == POOL


def test_get_volume_missing_is_none(fake, pool):
    fake.missing(f"{POOL}/nope")
    assert pool.get_volume("nope") is None


def test_get_volume_other_error_is_raised(fake, pool):
    fake.on(["zfs", "list"], rc=1, stderr="internal error: out of memory")
    with pytest.raises(TargetdError) as e:
        pool.get_volume("v")
    assert "out of memory" in e.value.message


def test_destroy_other_failure_is_raised(fake, pool):
    fake.on(["zfs", "destroy"], rc=1, stderr="cannot destroy 'x': dataset is busy")
    with pytest.raises(TargetdError) as e:
        pool.destroy_volume("v")
    assert "dataset is busy" in e.value.message and e.value.code == -1
    assert fake.commands("promote") == []


def test_create_rounds_up_to_16k(fake, pool):
    pool.create_volume("v", 10_000_000)
    assert fake.commands("create") == [["zfs", "create", "-V", str(10_010_624), f"{POOL}/v"]]
    assert 10_010_624 % 16384 == 0


def test_create_zero_refused(fake, pool):
    with pytest.raises(TargetdError) as e:
        pool.create_volume("v", 0)
    assert e.value.code == -32602


def test_resize_rounds_to_volblocksize(fake, pool):
    fake.on(["zfs", "get"], "volblocksize\t8192\n")
    pool.resize_volume("v", 8193)
    assert fake.commands("set") == [["zfs", "set", "volsize=16384", f"{POOL}/v"]]


def test_destroy_without_clones_is_one_call(fake, pool):
    pool.destroy_volume("v")
    assert len(fake.calls) == 1
    assert fake.commands("destroy") == [["zfs", "destroy", "-r", f"{POOL}/v"]]
    assert fake.commands("promote") == []


def test_destroy_promotes_clone_of_newest_cloned_snapshot(fake, pool):
    listing = f"{POOL}/v@a\t{POOL}/c1\n{POOL}/v@b\t-\n{POOL}/v@c\t{POOL}/c2,{POOL}/c3\n"
    fake.sequence(["zfs", "list", "-Hp", "-o", "name,clones"], [listing, ""])
    busy = (1, "", "cannot destroy 'x': volume has dependent clones\nuse '-R' to destroy")
    fake.sequence(["zfs", "destroy"], [busy, ""])
    pool.destroy_volume("v")
    assert fake.commands("promote") == [["zfs", "promote", f"{POOL}/c2"]]
    assert fake.commands("destroy") == [["zfs", "destroy", "-r", f"{POOL}/v"]] * 2


@pytest.fixture
def piped(monkeypatch):
    calls = []

    def pipe(s, r, timeout=None):
        assert timeout is not None and timeout >= transfer.COPY_BASE_TIMEOUT
        calls.append((s, r))

    monkeypatch.setattr(transfer, "pipe", pipe)
    monkeypatch.setattr(transfer.Z, "tag", lambda: "t1")
    return calls


def test_copy_plan(fake, pool, piped):
    fake.on(["zfs", "get"], "volblocksize\t16384\nrefreservation\t105000000\n")
    pool.copy_volume("src", "dst", 200_000_000)
    tmp = f"{POOL}/targetd.tmp-t1"
    assert piped == [
        (
            ["zfs", "send", "-L", "-e", "-c", f"{POOL}/src@targetd.copy-t1"],
            ["zfs", "receive", "-u", "-o", "volmode=none", tmp],
        )
    ]
    changing = [c for c in fake.calls if c[1] not in ("list", "get")]
    assert changing == [
        ["zfs", "snapshot", f"{POOL}/src@targetd.copy-t1"],
        ["zfs", "destroy", f"{tmp}@targetd.copy-t1"],
        ["zfs", "set", f"volsize={200_015_872}", tmp],
        ["zfs", "set", "refreservation=auto", tmp],
        ["zfs", "rename", tmp, f"{POOL}/dst"],
        ["zfs", "destroy", f"{POOL}/src@targetd.copy-t1"],
        ["zfs", "inherit", "volmode", f"{POOL}/dst"],
    ]


def test_copy_of_sparse_volume_stays_sparse(fake, pool, piped):
    fake.on(["zfs", "get"], "volblocksize\t8192\nrefreservation\t0\n")
    pool.copy_volume("src", "dst", None)
    assert fake.commands("set") == []


def test_copy_failure_leaves_nothing(fake, pool, monkeypatch):
    monkeypatch.setattr(transfer.Z, "tag", lambda: "t1")

    def boom(s, r, timeout=None):
        raise TargetdError(-1, "zfs receive failed: out of space")

    monkeypatch.setattr(transfer, "pipe", boom)
    fake.on(["zfs", "get"], "volblocksize\t8192\nrefreservation\t0\n")
    with pytest.raises(TargetdError):
        pool.copy_volume("src", "dst", None)
    assert fake.commands("destroy") == [
        ["zfs", "destroy", "-r", f"{POOL}/targetd.tmp-t1"],
        ["zfs", "destroy", f"{POOL}/src@targetd.copy-t1"],
    ]
    assert fake.commands("rename") == []


def test_copy_into_a_name_taken_meanwhile_is_50(fake, pool, piped):
    fake.on(["zfs", "get"], "volblocksize\t8192\nrefreservation\t0\n")
    # dst appeared during the transfer
    fake.on(["zfs", "rename"], rc=1, stderr="cannot rename to 'p/dst': dataset already exists")
    with pytest.raises(TargetdError) as e:
        pool.copy_volume("src", "dst", None)
    assert e.value.code == -50
    assert ["zfs", "destroy", "-r", f"{POOL}/targetd.tmp-t1"] in fake.calls
    assert fake.commands("destroy")[-2:] == [
        ["zfs", "destroy", "-r", f"{POOL}/targetd.tmp-t1"],
        ["zfs", "destroy", f"{POOL}/src@targetd.copy-t1"],
    ]


def test_check_reports_leftovers_without_destroying_them(fake, pool, monkeypatch):
    logged = []

    class Log:
        def warning(self, event, **kw):
            logged.append((event, kw))

    monkeypatch.setattr(transfer, "log", Log())
    fake.on(["zfs", "list", "-Hp", "-o", "name,type"], f"{POOL}\tfilesystem\n")
    fake.on(
        ["zfs", "list", "-Hp", "-o", "name"],
        f"{POOL}\n{POOL}/v\n{POOL}/targetd.tmp-1a\n{POOL}/v@targetd.copy-2b\n{POOL}/v@mine\n",
    )
    pool.check()
    assert logged and logged[0][1]["names"] == [
        f"{POOL}/targetd.tmp-1a",
        f"{POOL}/v@targetd.copy-2b",
    ]
    assert fake.commands("destroy") == []
