"""btrfs fs pools on a real btrfs (loop file) on this host: every fs_* method, quotas
enforced by the kernel, the old daemon's layout, clean-up of snapshots and qgroups."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from targetd_core.errors import Code, TargetdError
from targetd_core.plugins import StartupError

from .fsfixtures import InProcess, btrfs_loop, btrfs_pool, make_core, require  # noqa: F401

MiB = 1 << 20
PLUGIN = "btrfs-fs"


def sh(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def subvol_uuid(path: Path) -> str:
    for line in sh("btrfs", "subvolume", "show", str(path)).splitlines():
        key, _, value = line.strip().partition(":")
        if key == "UUID":
            return value.strip()
    raise AssertionError("no UUID")


def qgroup_ids(mnt: Path) -> set[int]:
    out = sh("btrfs", "qgroup", "show", "--raw", str(mnt))
    return {int(line.split()[0][2:]) for line in out.splitlines() if line.startswith("0/")}


def subvol_id(path: Path) -> int:
    return int(sh("btrfs", "inspect-internal", "rootid", str(path)).strip())


@pytest.fixture()
def t(tmp_path: Path, btrfs_pool: Path) -> InProcess:  # noqa: F811
    return make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool)])


def fs_named(t: InProcess, name: str) -> dict:
    (fs,) = [f for f in t.call("fs_list") if f["name"] == name]
    return fs


def write(path: Path, nbytes: int) -> None:
    with open(path, "wb") as f:
        chunk = os.urandom(MiB)
        for _ in range(nbytes // MiB):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


# -- pools ---------------------------------------------------------------------------


def test_pool_is_taken_and_listed(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    (pool,) = t.call("pool_list")
    assert pool["name"] == str(btrfs_pool) and pool["type"] == "fs"
    assert 0 < pool["free_size"] <= pool["size"] <= 1 << 30
    assert isinstance(pool["uuid"], str) and len(pool["uuid"]) == 36
    assert (btrfs_pool / "targetd_fs").is_dir() and (btrfs_pool / "targetd_ss").is_dir()
    assert t.core.plugins[PLUGIN].fs_pools == [str(btrfs_pool)]
    # a trailing slash names the same pool
    t.call("fs_create", pool_name=str(btrfs_pool) + "/", name="a", size_bytes=0)


def test_entry_not_on_btrfs_is_left_to_others(tmp_path: Path) -> None:
    require("btrfs", "findmnt")
    plain = tmp_path / "plain"
    plain.mkdir()
    if sh("findmnt", "-n", "-o", "FSTYPE", "--target", str(plain)).strip() == "btrfs":
        pytest.skip("the temp dir is on btrfs")
    with pytest.raises(StartupError) as info:
        make_core(tmp_path, [PLUGIN], fs_pools=[str(plain)])
    assert any(str(plain) in p for p in info.value.problems)


def test_readonly_btrfs_is_a_config_error(tmp_path: Path, btrfs_pool: Path) -> None:  # noqa: F811
    sh("mount", "-o", "remount,ro", str(btrfs_pool))
    try:
        with pytest.raises(StartupError) as info:
            make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool)])
        assert any(p.startswith("fs_pools:") and "read-only" in p for p in info.value.problems)
    finally:
        sh("mount", "-o", "remount,rw", str(btrfs_pool))


def test_same_place_twice_is_refused(tmp_path: Path, btrfs_pool: Path) -> None:  # noqa: F811
    with pytest.raises(StartupError) as info:
        make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool), str(btrfs_pool) + "/"])
    assert any("same place" in p for p in info.value.problems)


def test_pool_through_a_symlink(tmp_path: Path, btrfs_pool: Path) -> None:  # noqa: F811
    link = tmp_path / "link"
    link.symlink_to(btrfs_pool)
    t = make_core(tmp_path, [PLUGIN], fs_pools=[str(link)])
    t.call("fs_create", pool_name=str(link), name="viaLink", size_bytes=0)
    (fs,) = t.call("fs_list")
    assert fs["pool"] == str(link)
    assert fs["full_path"] == str(btrfs_pool / "targetd_fs" / "viaLink")


def test_pool_on_a_mounted_subvolume(tmp_path: Path) -> None:
    with btrfs_loop(tmp_path, subvol="data") as mnt:
        t = make_core(tmp_path, [PLUGIN], fs_pools=[str(mnt)])
        t.call("fs_create", pool_name=str(mnt), name="f1", size_bytes=0)
        fs = fs_named(t, "f1")
        assert fs["uuid"] == subvol_uuid(mnt / "targetd_fs" / "f1")
        t.call("fs_snapshot", fs_uuid=fs["uuid"], dest_ss_name="s1")
        (ss,) = t.call("ss_list", fs_uuid=fs["uuid"])
        assert ss["uuid"] == subvol_uuid(mnt / "targetd_ss" / "f1" / "s1")
        t.call("fs_destroy", uuid=fs["uuid"])
        assert t.call("fs_list") == []
        # the top level of that btrfs (mounted elsewhere) is not part of the pool
        assert not (tmp_path / "top" / "targetd_fs").exists()


# -- file systems --------------------------------------------------------------------


def test_create_list_and_errors(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    pool = str(btrfs_pool)
    assert t.call("fs_list") == []
    t.call("fs_create", pool_name=pool, name="fs1", size_bytes=0)
    fs = fs_named(t, "fs1")
    path = btrfs_pool / "targetd_fs" / "fs1"
    assert fs["full_path"] == str(path) and fs["pool"] == pool
    assert fs["uuid"] == subvol_uuid(path)
    info = t.call("pool_list")[0]
    assert fs["total_space"] == info["size"]
    assert 0 < fs["free_space"] <= fs["total_space"]
    assert t.error("fs_create", pool_name=pool, name="fs1", size_bytes=0).code == -53
    for bad in ("../x", "a/b", "", "a b", ".", "x" * 128):
        assert t.error("fs_create", pool_name=pool, name=bad, size_bytes=0).code == -32602
    assert t.error("fs_create", pool_name="/nope", name="y", size_bytes=0).code == -110
    assert t.error("fs_create", pool_name=pool, name="y", size_bytes=-1).code == -32602
    assert t.error("fs_destroy", uuid="00000000-0000-0000-0000-000000000000").code == -104
    assert sorted(os.listdir(btrfs_pool / "targetd_fs")) == ["fs1"]


def test_quota_is_enforced_and_reported(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    t.call("fs_create", pool_name=str(btrfs_pool), name="q", size_bytes=40 * MiB)
    fs = fs_named(t, "q")
    assert fs["total_space"] == 40 * MiB
    assert 39 * MiB < fs["free_space"] <= 40 * MiB
    path = btrfs_pool / "targetd_fs" / "q"
    write(path / "ten", 10 * MiB)
    sh("btrfs", "filesystem", "sync", str(path))
    fs = fs_named(t, "q")
    assert 28 * MiB < fs["free_space"] <= 30 * MiB, fs
    with pytest.raises(OSError) as info:
        write(path / "big", 60 * MiB)
    assert info.value.errno == errno.EDQUOT  # "Disk quota exceeded"
    # size 0 means no quota: the pool's size
    t.call("fs_create", pool_name=str(btrfs_pool), name="free", size_bytes=0)
    assert fs_named(t, "free")["total_space"] == t.call("pool_list")[0]["size"]


def test_snapshots(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    pool = str(btrfs_pool)
    t.call("fs_create", pool_name=pool, name="src", size_bytes=0)
    uuid = fs_named(t, "src")["uuid"]
    (btrfs_pool / "targetd_fs" / "src" / "data").write_text("v1")
    assert t.call("ss_list", fs_uuid=uuid) == []
    before = time.time()
    t.call("fs_snapshot", fs_uuid=uuid, dest_ss_name="s1")
    after = time.time()
    (ss,) = t.call("ss_list", fs_uuid=uuid)
    ss_path = btrfs_pool / "targetd_ss" / "src" / "s1"
    assert ss["name"] == "s1" and ss["uuid"] == subvol_uuid(ss_path)
    assert int(before) <= ss["timestamp"] <= after and isinstance(ss["timestamp"], int)
    assert (ss_path / "data").read_text() == "v1"
    with pytest.raises(OSError) as info:
        (ss_path / "data").write_text("v2")
    assert info.value.errno == errno.EROFS
    assert "ro=true" in sh("btrfs", "property", "get", "-ts", str(ss_path), "ro")
    assert t.error("fs_snapshot", fs_uuid=uuid, dest_ss_name="s1").code == -53
    assert t.error("fs_snapshot", fs_uuid="nope", dest_ss_name="s2").code == -104
    assert t.error("fs_snapshot", fs_uuid=uuid, dest_ss_name="../s").code == -32602
    # snapshots are not file systems, and their uuids are unique
    assert [f["name"] for f in t.call("fs_list")] == ["src"]
    t.call("fs_snapshot", fs_uuid=uuid, dest_ss_name="s2")
    uuids = {s["uuid"] for s in t.call("ss_list", fs_uuid=uuid)} | {uuid}
    assert len(uuids) == 3
    # another fs's snapshots are its own
    t.call("fs_create", pool_name=pool, name="other", size_bytes=0)
    assert t.call("ss_list", fs_uuid=fs_named(t, "other")["uuid"]) == []
    # delete
    s2 = [s for s in t.call("ss_list", fs_uuid=uuid) if s["name"] == "s2"][0]
    t.call("fs_snapshot_delete", fs_uuid=uuid, ss_uuid=s2["uuid"])
    assert [s["name"] for s in t.call("ss_list", fs_uuid=uuid)] == ["s1"]
    assert t.error("fs_snapshot_delete", fs_uuid=uuid, ss_uuid=s2["uuid"]).code == -112
    assert t.error("fs_snapshot_delete", fs_uuid="nope", ss_uuid=ss["uuid"]).code == -104
    t.call("fs_snapshot_delete", fs_uuid=uuid, ss_uuid=ss["uuid"])
    assert t.call("ss_list", fs_uuid=uuid) == []
    assert not (btrfs_pool / "targetd_ss" / "src").exists()


def test_clones(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    pool = str(btrfs_pool)
    t.call("fs_create", pool_name=pool, name="src", size_bytes=30 * MiB)
    src = fs_named(t, "src")
    src_dir = btrfs_pool / "targetd_fs" / "src"
    (src_dir / "f").write_text("at snapshot")
    t.call("fs_snapshot", fs_uuid=src["uuid"], dest_ss_name="snap")
    (src_dir / "f").write_text("live")
    (ss,) = t.call("ss_list", fs_uuid=src["uuid"])

    t.call("fs_clone", fs_uuid=src["uuid"], dest_fs_name="c_live", snapshot_id=None)
    t.call("fs_clone", fs_uuid=src["uuid"], dest_fs_name="c_snap", snapshot_id=ss["uuid"])
    t.call("fs_clone", fs_uuid=src["uuid"], dest_fs_name="c_empty_id", snapshot_id="")
    fs_dir = btrfs_pool / "targetd_fs"
    assert (fs_dir / "c_live" / "f").read_text() == "live"
    assert (fs_dir / "c_snap" / "f").read_text() == "at snapshot"
    assert (fs_dir / "c_empty_id" / "f").read_text() == "live"
    (fs_dir / "c_snap" / "f").write_text("writable")  # a clone of a snapshot is writable
    (fs_dir / "c_live" / "g").write_text("new")
    assert not (src_dir / "g").exists()
    listed = {f["name"]: f for f in t.call("fs_list")}
    assert set(listed) == {"src", "c_live", "c_snap", "c_empty_id"}
    assert len({f["uuid"] for f in listed.values()}) == 4
    # the clone keeps the source's quota
    assert listed["c_live"]["total_space"] == 30 * MiB
    assert listed["c_snap"]["total_space"] == 30 * MiB
    # errors
    assert t.error("fs_clone", fs_uuid=src["uuid"], dest_fs_name="c_live").code == -51
    assert t.error("fs_clone", fs_uuid="nope", dest_fs_name="zz").code == -104
    assert (
        t.error("fs_clone", fs_uuid=src["uuid"], dest_fs_name="zz", snapshot_id="nope").code == -112
    )
    assert t.error("fs_clone", fs_uuid=src["uuid"], dest_fs_name="../zz").code == -32602


def test_destroy_removes_snapshots_and_stale_qgroups(
    t: InProcess,
    btrfs_pool: Path,  # noqa: F811
) -> None:
    pool = str(btrfs_pool)
    t.call("fs_create", pool_name=pool, name="victim", size_bytes=20 * MiB)
    victim = fs_named(t, "victim")
    vdir = btrfs_pool / "targetd_fs" / "victim"
    (vdir / "f").write_text("data")
    t.call("fs_snapshot", fs_uuid=victim["uuid"], dest_ss_name="s1")
    t.call("fs_snapshot", fs_uuid=victim["uuid"], dest_ss_name="s2")
    (s1,) = [s for s in t.call("ss_list", fs_uuid=victim["uuid"]) if s["name"] == "s1"]
    t.call("fs_clone", fs_uuid=victim["uuid"], dest_fs_name="survivor", snapshot_id=s1["uuid"])
    ids = {
        subvol_id(vdir),
        subvol_id(btrfs_pool / "targetd_ss" / "victim" / "s1"),
        subvol_id(btrfs_pool / "targetd_ss" / "victim" / "s2"),
    }
    assert ids <= qgroup_ids(btrfs_pool)

    t.call("fs_destroy", uuid=victim["uuid"])
    assert [f["name"] for f in t.call("fs_list")] == ["survivor"]
    assert not vdir.exists()
    assert not (btrfs_pool / "targetd_ss" / "victim").exists()
    assert not ids & qgroup_ids(btrfs_pool), "stale qgroups left behind"
    assert "targetd_ss/victim" not in sh("btrfs", "subvolume", "list", "-a", str(btrfs_pool))
    assert (btrfs_pool / "targetd_fs" / "survivor" / "f").read_text() == "data"
    assert t.error("fs_destroy", uuid=victim["uuid"]).code == -104
    assert t.error("ss_list", fs_uuid=victim["uuid"]).code == -104
    # the name is free again, and the new one is a new file system
    t.call("fs_create", pool_name=pool, name="victim", size_bytes=0)
    again = fs_named(t, "victim")
    assert again["uuid"] != victim["uuid"]
    assert not (btrfs_pool / "targetd_fs" / "victim" / "f").exists()
    assert t.call("ss_list", fs_uuid=again["uuid"]) == []


def test_old_daemon_layout_is_picked_up(tmp_path: Path, btrfs_pool: Path) -> None:  # noqa: F811
    """A host moving from the old daemon keeps its file systems and snapshots."""
    (btrfs_pool / "targetd_fs").mkdir()
    (btrfs_pool / "targetd_ss" / "legacy").mkdir(parents=True)
    sh("btrfs", "subvolume", "create", str(btrfs_pool / "targetd_fs" / "legacy"))
    (btrfs_pool / "targetd_fs" / "legacy" / "old").write_text("kept")
    sh(
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        str(btrfs_pool / "targetd_fs" / "legacy"),
        str(btrfs_pool / "targetd_ss" / "legacy" / "before"),
    )
    # things that are not ours stay invisible
    sh("btrfs", "subvolume", "create", str(btrfs_pool / "elsewhere"))
    (btrfs_pool / "targetd_fs" / "plain_dir").mkdir()
    t = make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool)])
    (fs,) = t.call("fs_list")
    assert fs["name"] == "legacy" and fs["uuid"] == subvol_uuid(
        btrfs_pool / "targetd_fs" / "legacy"
    )
    (ss,) = t.call("ss_list", fs_uuid=fs["uuid"])
    assert ss["name"] == "before"
    t.call("fs_clone", fs_uuid=fs["uuid"], dest_fs_name="new", snapshot_id=ss["uuid"])
    assert (btrfs_pool / "targetd_fs" / "new" / "old").read_text() == "kept"
    t.call("fs_destroy", uuid=fs["uuid"])
    assert (btrfs_pool / "elsewhere").is_dir() and (
        btrfs_pool / "targetd_fs" / "plain_dir"
    ).is_dir()


def test_restart_keeps_everything(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    t.call("fs_create", pool_name=str(btrfs_pool), name="p", size_bytes=16 * MiB)
    uuid = fs_named(t, "p")["uuid"]
    t.call("fs_snapshot", fs_uuid=uuid, dest_ss_name="s")
    before = (t.call("fs_list"), t.call("ss_list", fs_uuid=uuid))
    again = t.rebuilt()
    assert (again.call("fs_list"), again.call("ss_list", fs_uuid=uuid)) == before


def test_names_never_escape_the_pool(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    """Defence in depth: the pool object itself refuses a bad name before any path."""
    pool = t.core.fs_pools[str(btrfs_pool)]
    for bad in ("..", "../x", "/etc", "a/b", "a\nb"):
        with pytest.raises(TargetdError) as info:
            pool.create_fs(bad, 0)  # type: ignore[attr-defined]
        assert info.value.code == Code.INVALID_ARGUMENT
    assert os.listdir(btrfs_pool / "targetd_fs") == []


def test_failed_quota_leaves_nothing(t: InProcess, btrfs_pool: Path, monkeypatch) -> None:  # noqa: F811
    """A failure half way (the qgroup limit) removes the new subvolume."""
    from targetd_btrfs_fs import pool as poolmod

    real = poolmod._btrfs

    def failing(*args: str, fds: tuple[int, ...] = ()) -> str:
        if args[:2] == ("qgroup", "limit"):
            real("qgroup", "limit", "not-a-size", args[-1], fds=fds)  # a real btrfs failure
        return real(*args, fds=fds)

    monkeypatch.setattr(poolmod, "_btrfs", failing)
    err = t.error("fs_create", pool_name=str(btrfs_pool), name="half", size_bytes=MiB)
    assert err.code == -1 and "btrfs qgroup" in err.message
    assert t.call("fs_list") == []
    assert not (btrfs_pool / "targetd_fs" / "half").exists()


def test_two_pools_on_one_btrfs(tmp_path: Path, btrfs_pool: Path) -> None:  # noqa: F811
    """A pool may be a plain directory on btrfs; pools nested on one btrfs stay apart."""
    inner = btrfs_pool / "inner"
    inner.mkdir()
    t = make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool), str(inner)])
    t.call("fs_create", pool_name=str(btrfs_pool), name="outer_fs", size_bytes=0)
    t.call("fs_create", pool_name=str(inner), name="inner_fs", size_bytes=0)
    by_pool = {f["pool"]: f["name"] for f in t.call("fs_list")}
    assert by_pool == {str(btrfs_pool): "outer_fs", str(inner): "inner_fs"}
    uuids = {p["name"]: p["uuid"] for p in t.call("pool_list")}
    assert len(set(uuids.values())) == 2
    assert (inner / "targetd_fs" / "inner_fs").is_dir()


def test_broken_btrfs_pool_is_a_config_error(
    tmp_path: Path,
    btrfs_pool: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from targetd_btrfs_fs import pool as poolmod

    def broken(*args: str) -> str:
        raise TargetdError(-1, "btrfs subvolume failed: ERROR: can't access it")

    monkeypatch.setattr(poolmod, "_btrfs", broken)
    with pytest.raises(StartupError) as info:
        make_core(tmp_path, [PLUGIN], fs_pools=[str(btrfs_pool)])
    (problem,) = info.value.problems
    assert problem.startswith("fs_pools:") and str(btrfs_pool) in problem
    assert "can't access" in problem


# -- issue 10: names with a newline, links in the pool ------------------------------


def _subvolumes(mnt: Path) -> str:
    return sh("btrfs", "subvolume", "list", "-a", str(mnt))


def test_names_with_a_newline_change_nothing(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    """The old daemon made "x\\n" a subvolume listed as x that could not be destroyed,
    and a snapshot "s\\n" broke its parent's fs_destroy half way."""
    t.call("fs_create", pool_name=str(btrfs_pool), name="p", size_bytes=0)
    fs = fs_named(t, "p")
    before = (_subvolumes(btrfs_pool), t.call("fs_list"))
    for name in ("x\n", "x\r", "x\x00", "x/y", "..", "x\ny"):
        assert t.error("fs_create", pool_name=str(btrfs_pool), name=name, size_bytes=0).code == (
            -32602
        )
        assert t.error("fs_snapshot", fs_uuid=fs["uuid"], dest_ss_name=name).code == -32602
        assert t.error("fs_clone", fs_uuid=fs["uuid"], dest_fs_name=name).code == -32602
    assert (_subvolumes(btrfs_pool), t.call("fs_list")) == before
    assert t.call("ss_list", fs_uuid=fs["uuid"]) == []
    t.call("fs_destroy", uuid=fs["uuid"])
    assert t.call("fs_list") == []


def test_subvolume_with_a_newline_made_outside(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    """A subvolume named "x\\ny" made by hand in targetd_fs (btrfs lists it on two
    lines) shows no file system "x", blocks no name, and breaks no listing."""
    t.call("fs_create", pool_name=str(btrfs_pool), name="real", size_bytes=0)
    odd = btrfs_pool / "targetd_fs" / "x\ny"
    sh("btrfs", "subvolume", "create", str(odd))
    snapdir = btrfs_pool / "targetd_ss" / "real"
    snapdir.mkdir()
    sh(
        "btrfs",
        "subvolume",
        "snapshot",
        "-r",
        str(btrfs_pool / "targetd_fs" / "real"),
        str(snapdir / "s\nt"),
    )
    assert [f["name"] for f in t.call("fs_list")] == ["real"]
    assert t.call("ss_list", fs_uuid=fs_named(t, "real")["uuid"]) == []
    t.call("fs_create", pool_name=str(btrfs_pool), name="x", size_bytes=0)
    assert sorted(f["name"] for f in t.call("fs_list")) == ["real", "x"]
    t.call("fs_destroy", uuid=fs_named(t, "x")["uuid"])
    assert odd.is_dir()  # not ours: left alone
    sh("btrfs", "subvolume", "delete", str(odd), str(snapdir / "s\nt"))


def test_links_in_the_pool_are_not_followed(t: InProcess, btrfs_pool: Path) -> None:  # noqa: F811
    """A client that can write to the pool's top (an export of the pool itself)
    replaces targetd_fs or a snapshot directory with a link: targetd refuses to work
    through it, and makes or deletes nothing where it leads."""
    t.call("fs_create", pool_name=str(btrfs_pool), name="a", size_bytes=0)
    a = fs_named(t, "a")
    elsewhere = btrfs_pool / "elsewhere"
    elsewhere.mkdir()
    sh("btrfs", "subvolume", "create", str(elsewhere / "victim"))
    # targetd_ss/a -> elsewhere
    (btrfs_pool / "targetd_ss" / "a").symlink_to(elsewhere)
    err = t.error("fs_snapshot", fs_uuid=a["uuid"], dest_ss_name="s")
    assert err.code == -1 and "link" in err.message
    assert sorted(os.listdir(elsewhere)) == ["victim"]
    (btrfs_pool / "targetd_ss" / "a").unlink()
    # targetd_fs -> elsewhere
    fsdir = btrfs_pool / "targetd_fs"
    fsdir.rename(btrfs_pool / "moved")
    fsdir.symlink_to(elsewhere)
    err = t.error("fs_create", pool_name=str(btrfs_pool), name="b", size_bytes=0)
    assert err.code == -1 and "link" in err.message
    assert sorted(os.listdir(elsewhere)) == ["victim"]
    assert t.call("fs_list") == []  # nothing listed through the link
    fsdir.unlink()
    (btrfs_pool / "moved").rename(fsdir)
    assert [f["name"] for f in t.call("fs_list")] == ["a"]
    t.call("fs_destroy", uuid=a["uuid"])
    assert (elsewhere / "victim").is_dir()
