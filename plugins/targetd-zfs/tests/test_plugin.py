"""The hooks, through the core's own start-up (zfs scripted)."""

import pytest
from targetd_zfs import plugin
from targetd_zfs.mounts import parse_mountinfo
from test_parsing import MOUNTINFO

from targetd_core import testing
from targetd_core.testing import StartupError


def build_core(raw, env=None):
    """The core the daemon builds from ``raw`` (its plugins loaded by the test kit)."""
    t = testing.build(raw, raw["plugins"])
    return t.core, t.warnings


@pytest.fixture
def mounts(monkeypatch):
    monkeypatch.setattr(plugin, "read_mounts", lambda: parse_mountinfo(MOUNTINFO))


def config(tmp_path, **kw):
    return {"password": "x", "state_dir": str(tmp_path), "plugins": ["zfs"], **kw}


def test_fs_pools_takes_only_zfs_mounts(fake, mounts, tmp_path):
    fake.on(["zfs", "list", "-Hp", "-o", "name,type"], "zfs-targetd/fs\tfilesystem\n")
    fake.on(["zfs", "get"], "mountpoint\t/zfs-targetd/fs\n")
    with pytest.raises(StartupError) as e:
        build_core(raw=config(tmp_path, fs_pools=["/zfs-targetd/fs/", "/mnt/nothing"]), env={})
    # the unmounted entry is left to the core, which names it; ours is taken
    assert len(e.value.problems) == 1 and "/mnt/nothing" in e.value.problems[0]
    core, _ = build_core(raw=config(tmp_path, fs_pools=["/zfs-targetd/fs/"]), env={})
    pool = core.fs_pool("/zfs-targetd/fs")
    assert pool.dataset == "zfs-targetd/fs" and pool.name == "/zfs-targetd/fs"
    assert core.fs_pool("/zfs-targetd/fs/") is pool


def test_missing_block_dataset_stops_startup(fake, tmp_path):
    fake.missing("tank/nope")
    with pytest.raises(StartupError) as e:
        build_core(raw=config(tmp_path, zfs_block_pools=["tank/nope"]), env={})
    assert any(p.startswith("zfs_block_pools") and "tank/nope" in p for p in e.value.problems)


def test_bad_dataset_name_in_config(tmp_path):
    with pytest.raises(StartupError) as e:
        build_core(raw=config(tmp_path, zfs_block_pools=["/tank"]), env={})
    assert any(p.startswith("zfs_block_pools") for p in e.value.problems)


def test_enable_copy_is_accepted(fake, tmp_path):
    fake.on(["zfs", "list", "-Hp", "-o", "name,type"], "tank/v\tfilesystem\n")
    core, warnings = build_core(
        raw=config(tmp_path, zfs_block_pools=["tank/v"], zfs_enable_copy=True), env={}
    )
    assert not warnings


def test_pool_list_through_the_core(fake, tmp_path):
    fake.on(["zfs", "list", "-Hp", "-o", "name,type"], "tank/v\tfilesystem\n")
    fake.on(["zfs", "list", "-Hp", "-o", "used,available,guid"], "10\t90\t77\n")
    t = testing.build(config(tmp_path, zfs_block_pools=["tank/v"]), ["zfs"])
    assert t.call("pool_list") == [
        {"name": "tank/v", "size": 100, "free_size": 90, "type": "block", "uuid": "77"}
    ]
