"""Unit tests of the plugin's logic on a fake configfs (a plain directory).

They check decisions (LUN allocation, rollback, clean-up, the state record, restore);
whether LIO really does what we ask is tested on a real kernel in
tests/realkernel/test_lio.py.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from fakes import FakeConfigfs, core_with_pools
from targetd_lio import naming
from targetd_lio.service import LioExports

from targetd_core.plugin import TargetdError
from targetd_core.testing import record_attach

TARGET = "iqn.2003-01.org.linux-iscsi.test:targetd"
I1 = "iqn.1994-05.com.example:host1"
I2 = "iqn.1994-05.com.example:host2"
I3 = "iqn.1994-05.com.example:host3"


@pytest.fixture
def env(tmp_path: Path):
    core, pools = core_with_pools(
        tmp_path, ["vg-targetd/thin_pool", "zfs-targetd/block"], ("v1", "v2", "v3")
    )
    cfs = FakeConfigfs(TARGET, root=tmp_path / "cfs")
    ensured = []

    def ensure(name: str, portals: list[str]) -> None:
        (cfs.tpg / "lun").mkdir(parents=True, exist_ok=True)
        (cfs.tpg / "acls").mkdir(parents=True, exist_ok=True)
        ensured.append(name)

    svc = LioExports(core, TARGET, ["0.0.0.0"], tmp_path / "state.json", cfs, ensure)
    return svc, cfs, pools, tmp_path


def code(exc_info: pytest.ExceptionInfo[TargetdError]) -> int:
    return exc_info.value.code


POOL = "vg-targetd/thin_pool"
ZPOOL = "zfs-targetd/block"


def test_export_create_list_destroy_leaves_nothing(env) -> None:
    svc, cfs, pools, _ = env
    assert svc.export_list() == []
    svc.export_create(POOL, "v1", I1, 0)
    svc.export_create(POOL, "v1", I1, 0)  # the same export: no change
    svc.export_create(POOL, "v1", I2, 3)  # same volume, another initiator
    svc.export_create(ZPOOL, "v1", I1, 1)  # same volume name, another pool
    listing = svc.export_list()
    uuid1 = pools[0].vols["v1"].uuid
    assert {(e["initiator_wwn"], e["lun"], e["pool"], e["vol_name"]) for e in listing} == {
        (I1, 0, POOL, "v1"),
        (I2, 3, POOL, "v1"),
        (I1, 1, ZPOOL, "v1"),
    }
    e = next(e for e in listing if e["initiator_wwn"] == I2)
    assert e["vol_uuid"] == uuid1 and e["vol_size"] == 1 << 20
    assert len(cfs.backstores()) == 2  # one backstore per (pool, volume)
    assert svc.volume_exported(POOL, "v1") and not svc.volume_exported(POOL, "v2")

    svc.export_destroy(POOL, "v1", I1)
    assert svc.volume_exported(POOL, "v1")  # still exported to I2
    svc.export_destroy(POOL, "v1", I2)
    assert not svc.volume_exported(POOL, "v1")
    assert [e["pool"] for e in svc.export_list()] == [ZPOOL]
    svc.export_destroy(ZPOOL, "v1", I1)
    assert svc.export_list() == []
    # nothing stale: no ACL, no LUN, no backstore
    assert not list((cfs.tpg / "acls").iterdir())
    assert not list((cfs.tpg / "lun").iterdir())
    assert cfs.backstores() == [] and not list(cfs.core.iterdir())


def test_export_errors(env) -> None:
    svc, cfs, pools, _ = env
    with pytest.raises(TargetdError) as ei:
        svc.export_create("nope", "v1", I1, 0)
    assert code(ei) == -110
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "missing", I1, 0)
    assert code(ei) == -103
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "v1", "not an iqn", 0)
    assert code(ei) == -32602
    svc.export_create(POOL, "v1", I1, 0)
    with pytest.raises(TargetdError) as ei:  # LUN 0 of I1 is taken by v1
        svc.export_create(POOL, "v2", I1, 0)
    assert code(ei) == -32602 and "v1" in ei.value.message
    with pytest.raises(TargetdError) as ei:  # v1 is at LUN 0 already
        svc.export_create(POOL, "v1", I1, 5)
    assert code(ei) == -32602
    with pytest.raises(TargetdError) as ei:
        svc.export_destroy(POOL, "v2", I1)
    assert code(ei) == -151
    with pytest.raises(TargetdError) as ei:
        svc.export_destroy(POOL, "v1", I2)
    assert code(ei) == -151
    with pytest.raises(TargetdError) as ei:
        svc.export_destroy("nope", "v1", I1)
    assert code(ei) == -110


def test_initiator_names_are_normalised(env) -> None:
    svc, *_ = env
    svc.export_create(POOL, "v1", "IQN.1994-05.com.Example:Host1", 0)
    assert svc.export_list()[0]["initiator_wwn"] == I1
    svc.export_destroy(POOL, "v1", I1.upper())


@pytest.mark.parametrize("step", ["create_backstore", "create_lun", "create_mapped_lun"])
def test_failed_export_create_rolls_back(env, step: str) -> None:
    svc, cfs, _, tmp = env
    svc.export_create(POOL, "v2", I2, 0)
    before = cfs.all_paths()
    state_before = (tmp / "state.json").read_text()
    cfs.fail_on = step
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "v1", I1, 0)
    assert code(ei) == -1 and "busy" in ei.value.message.lower()
    assert cfs.all_paths() == before
    assert (tmp / "state.json").read_text() == state_before


def test_failed_removal_is_undone(env) -> None:
    """A removal the kernel refuses half way (the ACL, after its mapped LUN) puts back
    what it removed: the export is whole, recorded, and can be removed later."""
    svc, cfs, _, tmp = env
    svc.initiator_set_auth(I1, "user1", "secret123456", None, None)
    svc.export_create(POOL, "v1", I1, 0)
    before = cfs.snapshot()
    state_before = (tmp / "state.json").read_text()
    cfs.fail_on = "delete_acl"
    with pytest.raises(TargetdError) as ei:
        svc.export_destroy(POOL, "v1", I1)
    assert code(ei) == -1
    assert cfs.snapshot() == before
    assert json.loads((tmp / "state.json").read_text()) == json.loads(state_before)
    svc.export_destroy(POOL, "v1", I1)
    assert svc.export_list() == []


class FullDisk:
    """``os`` for the state module on a file system with ``room`` bytes left: a write
    takes what fits (a short write), the next one fails with ENOSPC."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name: str):
        return getattr(os, name)

    def write(self, fd: int, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(data), self.room)
        self.room -= n
        return os.write(fd, bytes(data[:n]))


def _group_with_map(svc) -> None:
    svc.access_group_create("g1", I2, "iscsi")
    svc.access_group_init_add("g1", I3, "iscsi")
    svc.access_group_map_create(POOL, "v2", "g1", 3)


STATE_WRITE_CASES = {
    "export_create": (lambda svc: None, lambda svc: svc.export_create(POOL, "v1", I1, 0)),
    "export_create of an exported volume": (
        lambda svc: svc.export_create(POOL, "v1", I2, 0),
        lambda svc: svc.export_create(POOL, "v1", I1, 5),
    ),
    "export_destroy": (
        lambda svc: svc.export_create(POOL, "v1", I1, 0),
        lambda svc: svc.export_destroy(POOL, "v1", I1),
    ),
    "access_group_create": (
        lambda svc: None,
        lambda svc: svc.access_group_create("g", I1, "iscsi"),
    ),
    "access_group_init_add": (
        _group_with_map,
        lambda s: s.access_group_init_add("g1", I1, "iscsi"),
    ),
    "access_group_init_del": (
        _group_with_map,
        lambda s: s.access_group_init_del("g1", I2, "iscsi"),
    ),
    "access_group_map_create": (
        _group_with_map,
        lambda svc: svc.access_group_map_create(POOL, "v1", "g1"),
    ),
    "access_group_map_destroy": (
        _group_with_map,
        lambda svc: svc.access_group_map_destroy(POOL, "v2", "g1"),
    ),
    "access_group_destroy": (_group_with_map, lambda svc: svc.access_group_destroy("g1")),
    "initiator_set_auth": (
        lambda svc: svc.export_create(POOL, "v1", I1, 0),
        lambda svc: svc.initiator_set_auth(I1, "other1", "othersecret1", None, None),
    ),
}


@pytest.mark.parametrize("room", [0, 20], ids=["disk full", "short write"])
@pytest.mark.parametrize("case", sorted(STATE_WRITE_CASES))
def test_a_change_the_state_file_cannot_record_is_undone(env, monkeypatch, case, room) -> None:
    """The state file cannot be written (its file system full): the call fails with -1
    naming the file, configfs is back as it was (CHAP settings included), the old file
    is intact and no temporary file is left; the same call works once there is room."""
    from targetd_lio import state as state_mod

    svc, cfs, _, tmp = env
    svc.initiator_set_auth(I1, "user1", "secret123456", None, None)
    svc.initiator_set_auth(I2, "user2", "secret223456", "mutual2", "msecret22345")
    setup, call = STATE_WRITE_CASES[case]
    setup(svc)
    svc._ready()  # the target and its TPG are set up once and kept: not part of a change
    cfs.core.mkdir(exist_ok=True)  # the kernel's
    before = cfs.snapshot()
    state_before = (tmp / "state.json").read_text()
    monkeypatch.setattr(state_mod, "os", FullDisk(room))
    with pytest.raises(TargetdError) as ei:
        call(svc)
    assert code(ei) == -1
    assert "state file" in ei.value.message and "No space left" in ei.value.message
    assert cfs.snapshot() == before
    assert (tmp / "state.json").read_text() == state_before
    assert sorted(p.name for p in tmp.iterdir() if "state" in p.name) == ["state.json"]
    monkeypatch.undo()
    call(svc)
    assert cfs.snapshot() != before


@pytest.mark.parametrize("err", [errno.ENOMEM, errno.ENOSPC])
def test_a_configfs_entry_the_kernel_refuses_leaves_nothing(env, err) -> None:
    """LIO has no fixed count of ACLs, backstores or HBAs: an entry is refused only when
    the kernel cannot allocate it. The ACL of a new export refused that way: -1 saying
    what LIO refused and why, the backstore and TPG LUN made before it undone."""
    svc, cfs, _, tmp = env
    svc.export_create(POOL, "v2", I2, 0)
    before = cfs.snapshot()
    cfs.fail_on, cfs.fail_errno = "create_acl", err
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "v1", I1, 0)
    assert code(ei) == -1
    assert f"LIO refused to create_acl: {os.strerror(err)}" in ei.value.message
    assert cfs.snapshot() == before
    assert not svc.volume_exported(POOL, "v1")


def test_listing_asks_no_storage_tool(env) -> None:
    svc, _, pools, _ = env
    for i in range(20):
        svc.export_create(POOL, "v1", f"iqn.1994-05.com.example:h{i}", 0)
    for p in pools:
        p.list_calls = p.get_calls = 0
    svc.export_create(POOL, "v1", I1, 0)  # already exported volume: no tool call at all
    assert len(svc.export_list()) == 21
    assert all(p.list_calls == 0 and p.get_calls == 0 for p in pools)


def test_chap_settings(env) -> None:
    svc, cfs, _, tmp = env
    svc.initiator_set_auth(I1, "user1", "secret123456", None, None)  # before any export
    assert not cfs.acl_exists(I1)
    svc.export_create(POOL, "v1", I1, 0)
    a = cfs.auth_of(I1)
    assert (a["userid"], a["password"], a["authentication"]) == ("user1", "secret123456", "1")
    svc.initiator_set_auth(I1, "user1", "secret123456", "tgt", "tgtsecret9876")
    a = cfs.auth_of(I1)
    assert (a["userid_mutual"], a["password_mutual"]) == ("tgt", "tgtsecret9876")
    # the last export goes: the ACL goes, the credentials stay on record and come back
    svc.export_destroy(POOL, "v1", I1)
    assert not cfs.acl_exists(I1)
    svc.export_create(POOL, "v2", I1, 0)
    assert cfs.auth_of(I1)["password_mutual"] == "tgtsecret9876"
    state = json.loads((tmp / "state.json").read_text())
    assert (tmp / "state.json").stat().st_mode & 0o777 == 0o600
    assert state["auth"][I1]["in_user"] == "user1"
    # empty / null turns a direction off
    svc.initiator_set_auth(I1, "", "", "tgt", "tgtsecret9876")
    a = cfs.auth_of(I1)
    assert (a["userid"], a["password"], a["authentication"]) == ("NULL", "NULL", "0")
    svc.initiator_set_auth(I1, None, None, None, None)
    assert cfs.auth_of(I1)["userid_mutual"] == "NULL"
    assert I1 not in json.loads((tmp / "state.json").read_text())["auth"]
    with pytest.raises(TargetdError) as ei:
        svc.initiator_set_auth(I1, "u", "with space", None, None)
    assert code(ei) == -32602 and "with space" not in ei.value.message


def test_access_groups(env) -> None:
    svc, cfs, _, _ = env
    svc.access_group_create("ag1", I1, "iscsi")
    with pytest.raises(TargetdError) as ei:
        svc.access_group_create("ag1", I2, "iscsi")
    assert code(ei) == -50
    with pytest.raises(TargetdError) as ei:
        svc.access_group_create("ag2", I1, "iscsi")
    assert code(ei) == -52
    with pytest.raises(TargetdError) as ei:
        svc.access_group_create("ag2", I2, "fc")
    assert code(ei) == -153
    with pytest.raises(TargetdError) as ei:
        svc.access_group_map_create(POOL, "v1", "nope")
    assert code(ei) == -200
    svc.export_create(POOL, "v3", I3, 0)
    with pytest.raises(TargetdError) as ei:  # a standalone ACL cannot join
        svc.access_group_init_add("ag1", I3, "iscsi")
    assert code(ei) == -52
    with pytest.raises(TargetdError) as ei:  # a group member gets no direct export
        svc.export_create(POOL, "v3", I1, 1)
    assert code(ei) == -52

    svc.access_group_map_create(POOL, "v1", "ag1")
    svc.access_group_map_create(POOL, "v1", "ag1")  # silent
    svc.access_group_init_add("ag1", I2, "iscsi")  # gets v1 at the same LUN
    svc.access_group_init_add("ag1", I2, "iscsi")  # silent
    svc.access_group_map_create(ZPOOL, "v2", "ag1")
    maps = svc.access_group_map_list()
    assert maps == [
        {"ag_name": "ag1", "h_lun_id": 0, "pool_name": POOL, "vol_name": "v1"},
        {"ag_name": "ag1", "h_lun_id": 1, "pool_name": ZPOOL, "vol_name": "v2"},
    ]
    assert svc.access_group_list() == [{"name": "ag1", "init_ids": [I1, I2], "init_type": "iscsi"}]
    assert svc.initiator_list(standalone_only=True) == [{"init_id": I3, "init_type": "iscsi"}]
    assert len(svc.initiator_list()) == 3
    assert {(e["initiator_wwn"], e["lun"]) for e in svc.export_list()} == {
        (I1, 0),
        (I1, 1),
        (I2, 0),
        (I2, 1),
        (I3, 0),
    }
    assert svc.volume_exported(ZPOOL, "v2")
    with pytest.raises(TargetdError) as ei:  # explicit LUN taken
        svc.access_group_map_create(POOL, "v2", "ag1", 1)
    assert code(ei) == -32602
    svc.access_group_map_create(POOL, "v2", "ag1", 7)
    svc.access_group_map_create(POOL, "v3", "ag1")  # lowest free for all: 2
    assert {
        (m["vol_name"], m["pool_name"], m["h_lun_id"]) for m in svc.access_group_map_list()
    } >= {("v2", POOL, 7), ("v3", POOL, 2)}
    with pytest.raises(TargetdError) as ei:  # through a group, not an export
        svc.export_destroy(POOL, "v1", I1)
    assert code(ei) == -151

    svc.access_group_map_destroy(ZPOOL, "v2", "ag1")
    svc.access_group_map_destroy(ZPOOL, "v2", "ag1")  # silent
    assert not svc.volume_exported(ZPOOL, "v2")
    svc.access_group_init_del("ag1", I1, "iscsi")
    svc.access_group_init_del("ag1", I1, "iscsi")  # silent
    assert svc.access_group_list() == [{"name": "ag1", "init_ids": [I2], "init_type": "iscsi"}]
    svc.access_group_destroy("ag1")
    svc.access_group_destroy("ag1")  # silent
    assert svc.access_group_list() == [] and svc.access_group_map_list() == []
    assert [e["initiator_wwn"] for e in svc.export_list()] == [I3]
    assert len(cfs.backstores()) == 1  # only v3 (I3's export) is left


def test_group_names_lio_cannot_store(env) -> None:
    svc, *_ = env
    for bad in ("x" * 64, "NULLgroup"):
        with pytest.raises(TargetdError) as ei:
            svc.access_group_create(bad, I1, "iscsi")
        assert code(ei) == -32602


def test_no_free_lun(env) -> None:
    svc, cfs, pools, _ = env
    p = pools[0]
    svc.access_group_create("full", I1, "iscsi")
    for i in range(256):
        p.create_volume(f"f{i}", 4096)
        svc.access_group_map_create(POOL, f"f{i}", "full")
    assert sorted(m["h_lun_id"] for m in svc.access_group_map_list()) == list(range(256))
    with pytest.raises(TargetdError) as ei:
        svc.access_group_map_create(POOL, "v1", "full")
    assert code(ei) == -1000
    assert not svc.volume_exported(POOL, "v1")
    assert cfs.find_backstore(naming.backstore_name(POOL, "v1")) is None


def test_restore_after_reboot(env) -> None:
    svc, cfs, pools, tmp = env
    svc.initiator_set_auth(I1, "user1", "secret123456", None, None)
    svc.export_create(POOL, "v1", I1, 4)
    svc.access_group_create("ag", I2, "iscsi")
    svc.access_group_map_create(ZPOOL, "v2", "ag", 9)
    exports, maps = svc.export_list(), svc.access_group_map_list()
    shutil.rmtree(cfs.root)  # the reboot
    assert svc.export_list() == []
    counts = svc.restore()
    assert counts == {"acls": 2, "mapped_luns": 2, "backstores": 2, "skipped": 0}
    assert svc.export_list() == exports and svc.access_group_map_list() == maps
    assert cfs.auth_of(I1)["authentication"] == "1"
    assert svc.restore() == {"acls": 0, "mapped_luns": 0, "backstores": 0, "skipped": 0}


def test_hba_collision_probes_the_next_index(env) -> None:
    svc, cfs, _, _ = env
    name = naming.backstore_name(POOL, "v1")
    first = naming.hba_candidates(name)[0]
    (cfs.core / first / "someone-elses").mkdir(parents=True)
    svc.export_create(POOL, "v1", I1, 0)
    assert cfs.find_backstore(name) == naming.hba_candidates(name)[1]
    assert svc.export_list()[0]["vol_name"] == "v1"
    svc.export_destroy(POOL, "v1", I1)
    assert sorted(p.name for p in cfs.core.iterdir()) == [first]


def test_backstore_names() -> None:
    pools = ["vg-targetd/thin_pool", "vg-targetd", "zfs-targetd/block", "a%2Fb", "p" * 200]
    seen = set()
    for pool in pools:
        for vol in ("v", "x" * 127):
            name = naming.backstore_name(pool, vol)
            assert len(name.encode()) <= 255 and "/" not in name and " " not in name
            assert naming.parse_backstore_name(name, pools) == (pool, vol)
            seen.add(name)
    assert len(seen) == 2 * len(pools)
    assert naming.backstore_name("vg-targetd/thin_pool", "v") == "vg-targetd%2Fthin_pool:v"
    assert naming.parse_backstore_name("vg-targetd%2Fthin_pool:v", ["other"]) is None
    assert naming.parse_backstore_name("plain", pools) is None
    assert naming.parse_backstore_name("vg-targetd:", pools) is None


def test_volume_exported_is_a_question_and_release_volume_cleans_up(env) -> None:
    """A backstore and TPG LUN no ACL maps (a crash between two steps) stay until the
    volume is destroyed: volume_exported changes nothing, release_volume removes them,
    and neither touches a volume that is still exported."""
    svc, cfs, pools, _ = env
    svc.export_create(POOL, "v1", I1, 0)
    svc.export_create(POOL, "v2", I2, 0)
    cfs.delete_mapped_lun(I2, 0)  # as if a crash stopped export_destroy here
    before = cfs.all_paths()
    assert not svc.volume_exported(POOL, "v2")
    assert svc.volume_exported(POOL, "v1")
    assert cfs.all_paths() == before
    svc.release_volume(POOL, "v1")  # exported: left alone
    assert cfs.all_paths() == before
    svc.release_volume(POOL, "v2")
    assert cfs.find_backstore(naming.backstore_name(POOL, "v2")) is None
    assert len(cfs.backstores()) == 1 and len(list((cfs.tpg / "lun").iterdir())) == 1
    svc.release_volume(POOL, "v3")  # never exported: nothing to do
    assert [e["vol_name"] for e in svc.export_list()] == ["v1"]


def test_tpg_lun_numbers_exhausted_is_a_clear_error_and_leaves_nothing(env, monkeypatch) -> None:
    """The kernel's TPG LUN numbers (65536) lowered to 3: the fourth volume gets -1 naming
    the limit, and its backstore is undone."""
    from targetd_lio import base
    from targetd_lio import cfs as cfs_mod

    svc, cfs, pools, _ = env
    monkeypatch.setattr(base, "MAX_TPG_LUN", 2)
    monkeypatch.setattr(cfs_mod, "tpg_lun_candidates", lambda name: (0, 1))
    for i, v in enumerate(("v1", "v2", "v3")):
        svc.export_create(POOL, v, f"iqn.1994-05.com.example:l{i}", 0)
    assert sorted(p.name for p in (cfs.tpg / "lun").iterdir()) == ["lun_0", "lun_1", "lun_2"]
    pools[0].create_volume("v4", 4096)
    before = cfs.all_paths()
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "v4", I1, 0)
    assert code(ei) == -1 and "no free LUN number" in ei.value.message
    assert cfs.all_paths() == before  # no backstore, ACL or LUN left half made
    assert not svc.volume_exported(POOL, "v4")


def test_volume_attached_for_its_backstore_detached_after(env) -> None:
    svc, cfs, pools, _ = env
    calls = record_attach(pools[0])
    svc.export_create(POOL, "v1", I1, 0)
    svc.export_create(POOL, "v1", I2, 0)  # the same backstore: no second attach
    assert calls == [("attach", "v1")]
    svc.export_destroy(POOL, "v1", I1)
    assert calls == [("attach", "v1")]  # I2 still uses it
    svc.export_destroy(POOL, "v1", I2)
    assert calls == [("attach", "v1"), ("detach", "v1")]


@pytest.mark.parametrize("step", ["create_backstore", "create_lun", "create_mapped_lun"])
def test_failed_export_create_detaches_again(env, step: str) -> None:
    svc, cfs, pools, _ = env
    calls = record_attach(pools[0])
    cfs.fail_on = step
    with pytest.raises(TargetdError):
        svc.export_create(POOL, "v1", I1, 0)
    assert calls == [("attach", "v1"), ("detach", "v1")]


def test_export_list_reads_a_backstore_once_and_sees_a_new_one(env, monkeypatch) -> None:
    """export_list keeps each listed LUN's device and unit serial while the LUN directory
    is the same: a second listing reads neither; a volume destroyed and made again
    (new uuid) and exported again shows its new uuid."""
    svc, cfs, pools, _ = env
    svc.export_create(POOL, "v1", I1, 0)
    svc.export_create(POOL, "v2", I2, 0)
    first = svc.export_list()
    reads = []
    real_serial = cfs.backstore_serial
    monkeypatch.setattr(
        cfs, "backstore_serial", lambda hba, name: reads.append(name) or real_serial(hba, name)
    )
    assert svc.export_list() == first and reads == []
    old_uuid = pools[0].vols["v1"].uuid
    svc.export_destroy(POOL, "v1", I1)
    pools[0].destroy_volume("v1")
    pools[0].create_volume("v1", 1 << 20)
    svc.export_create(POOL, "v1", I1, 0)
    reads.clear()
    listed = {e["vol_name"]: e["vol_uuid"] for e in svc.export_list()}
    assert listed["v1"] == pools[0].vols["v1"].uuid != old_uuid
    assert reads == [naming.backstore_name(POOL, "v1")]  # only the new LUN was read


def test_export_list_follows_a_lun_directory_relinked_to_another_backstore(env) -> None:
    """A TPG LUN directory keeps its inode when another tool unlinks its backstore and
    links another (Linux 6.1 allows it): the listing shows the new backstore's volume,
    not the one it kept for that directory."""
    svc, cfs, pools, _ = env
    svc.export_create(POOL, "v1", I1, 0)
    svc.export_create(POOL, "v2", I2, 0)
    assert {e["initiator_wwn"]: e["vol_name"] for e in svc.export_list()} == {I1: "v1", I2: "v2"}
    view = cfs.read()
    lun1 = next(lun for lun in view.luns.values() if lun.name.endswith(":v1"))
    lun2 = next(lun for lun in view.luns.values() if lun.name.endswith(":v2"))
    ino = cfs.lun_dir(lun1.number).stat().st_ino
    link = cfs.lun_dir(lun1.number) / "targetd"
    link.unlink()
    os.symlink(cfs.so_dir(lun2.hba, lun2.name), link)
    assert cfs.lun_dir(lun1.number).stat().st_ino == ino
    listed = {e["initiator_wwn"]: (e["vol_name"], e["vol_uuid"]) for e in svc.export_list()}
    assert listed[I1] == listed[I2] == ("v2", pools[0].vols["v2"].uuid)


def test_export_destroy_reads_one_acl_and_asks_the_kernel_about_the_lun(env, monkeypatch) -> None:
    """export_destroy reads no other ACL: whether another initiator still maps the
    volume's TPG LUN is one question to the kernel, asked only when the LUN could go."""
    svc, cfs, _, _ = env
    for wwn in (I1, I2, I3):
        svc.export_create(POOL, "v1", wwn, 0)
    svc.export_create(POOL, "v2", I1, 1)
    full_reads = []
    real_read = cfs.read
    monkeypatch.setattr(
        cfs, "read", lambda acls=True, **kw: full_reads.append(acls) or real_read(acls, **kw)
    )
    cfs.lun_probes = 0
    svc.export_destroy(POOL, "v1", I1)  # I2 and I3 still map it: kept
    assert cfs.lun_probes == 1 and True not in full_reads
    assert sorted(e["initiator_wwn"] for e in svc.export_list() if e["vol_name"] == "v1") == [
        I2,
        I3,
    ]
    svc.export_destroy(POOL, "v1", I2)
    svc.export_destroy(POOL, "v1", I3)  # the last: LUN and backstore go
    assert cfs.find_backstore(naming.backstore_name(POOL, "v1")) is None
    assert [e["vol_name"] for e in svc.export_list()] == ["v2"]


@pytest.mark.parametrize(
    ("err", "in_use"),
    [(errno.EBUSY, True), (errno.ENOTEMPTY, False), (errno.ENOENT, False), (errno.EIO, True)],
)
def test_lun_in_use_is_configfs_refusing_rmdir(tmp_path, monkeypatch, err, in_use) -> None:
    """The kernel's answer: EBUSY (a mapped LUN links to it) before ENOTEMPTY (its own
    link to the backstore); anything else keeps the LUN."""
    from targetd_lio.cfs import Configfs

    asked = []

    def rmdir(path):
        asked.append(str(path))
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "rmdir", rmdir)
    cfs = Configfs(TARGET, root=tmp_path)
    assert cfs.lun_in_use(7) is in_use
    assert asked == [str(cfs.lun_dir(7))]


def test_a_last_export_removal_the_state_file_cannot_record_attaches_again(
    env, monkeypatch
) -> None:
    """The last export of a volume goes (its backstore removed, the volume detached), then
    the state file cannot be written: the rollback attaches the volume again and makes
    the backstore again on the device the pool gives now."""
    from targetd_lio import state as state_mod

    svc, cfs, pools, _ = env
    calls = record_attach(pools[0])
    svc.export_create(POOL, "v1", I1, 0)
    svc._ready()
    before = cfs.snapshot()
    monkeypatch.setattr(state_mod, "os", FullDisk(0))
    with pytest.raises(TargetdError):
        svc.export_destroy(POOL, "v1", I1)
    assert calls == [("attach", "v1"), ("detach", "v1"), ("attach", "v1")]
    assert cfs.snapshot() == before
    monkeypatch.undo()
    assert svc.volume_exported(POOL, "v1")
