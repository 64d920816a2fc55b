"""Exports made by the old daemon (targetd 0.10.x, through rtslib): backstores named
``<vg>:<lv>`` (LVM) or ``<pool with / as %>:<volume>`` (ZFS) in rtslib's lowest-free HBAs,
TPG LUNs and mapped LUNs with rtslib's random link names. They are listed, protected,
destroyed, recorded at start-up and moved to targetd's naming when changed (issue 12,
item 5). The real-kernel proof is tests/realkernel/test_lio.py::test_old_daemon_exports_*.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fakes import FakeConfigfs, core_with_pools
from targetd_lio import naming
from targetd_lio.service import LioExports

from targetd_core.config import Config
from targetd_core.core import Core
from targetd_core.locking import StorageLock
from targetd_core.plugin import TargetdError

TARGET = "iqn.2003-01.org.linux-iscsi.test:targetd"
POOL = "vg-targetd/thin_pool"
ZPOOL = "zfs-targetd/block"
I1 = "iqn.1994-05.com.example:host1"
I2 = "iqn.1994-05.com.example:host2"
I3 = "iqn.1994-05.com.example:host3"


@pytest.fixture
def env(tmp_path: Path):
    core, pools = core_with_pools(tmp_path, [POOL, ZPOOL], ("v1", "v2"))
    cfs = FakeConfigfs(TARGET, root=tmp_path / "cfs")
    (cfs.tpg / "lun").mkdir(parents=True)
    (cfs.tpg / "acls").mkdir(parents=True)
    svc = LioExports(
        core, TARGET, ["0.0.0.0"], tmp_path / "state.json", cfs, lambda name, portals: None
    )
    return svc, cfs, pools, tmp_path


def lay_old(
    cfs: FakeConfigfs,
    name: str,
    device: str,
    serial: str,
    hba: int,
    tpg_lun: int,
    acls: dict[str, int],
) -> None:
    """What the old daemon's rtslib calls leave in configfs for one exported volume."""
    so = cfs.core / f"iblock_{hba}" / name
    (so / "wwn").mkdir(parents=True)
    (so / "udev_path").write_text(device + "\n")
    (so / "wwn" / "vpd_unit_serial").write_text(f"T10 VPD Unit Serial Number: {serial}\n")
    lun = cfs.tpg / "lun" / f"lun_{tpg_lun}"
    lun.mkdir()
    os.symlink(so, lun / "8a4c2f01e9")  # rtslib's random link name
    for wwn, mapped in acls.items():
        if not cfs.acl_exists(wwn):
            cfs.create_acl(wwn)
        d = cfs.acl_dir(wwn) / f"lun_{mapped}"
        d.mkdir()
        os.symlink(lun, d / "5d0b7e3a11")


def old_lvm(cfs: FakeConfigfs, pools, acls: dict[str, int], vol: str = "v1", **kw) -> None:
    uuid = pools[0].vols[vol].uuid
    lay_old(cfs, f"vg-targetd:{vol}", f"/dev/vg-targetd/{vol}", uuid, kw.pop("hba", 0),
            kw.pop("tpg_lun", 0), acls)  # fmt: skip


def shape(cfs: FakeConfigfs) -> set[str]:
    """configfs' paths, with each symlink as its directory and target (the link's own name
    is rtslib's random one, or targetd's)."""
    out = set()
    for rel in cfs.all_paths():
        path = cfs.root / rel
        if path.is_symlink():
            out.add(f"{os.path.dirname(rel)} -> {os.readlink(path)}")
        else:
            out.add(rel)
    return out


def exports(svc: LioExports) -> set[tuple[str, int, str, str, str]]:
    return {
        (e["initiator_wwn"], e["lun"], e["pool"], e["vol_name"], e["vol_uuid"])
        for e in svc.export_list()
    }


def test_legacy_names() -> None:
    assert naming.legacy_backstore_names(POOL, "v1") == ("vg-targetd:v1", "vg-targetd%thin_pool:v1")
    assert naming.legacy_backstore_names("vg-thick", "v1") == ("vg-thick:v1",)
    pools = [POOL, ZPOOL, "vg-thick"]
    assert naming.legacy_candidates("vg-targetd:v1", pools) == [(POOL, "v1", "/dev/vg-targetd/v1")]
    assert naming.legacy_candidates("zfs-targetd%block:v1", pools) == [
        (ZPOOL, "v1", "/dev/zfs-targetd/block/v1")
    ]
    assert naming.legacy_candidates("vg-thick:v1", pools) == [
        ("vg-thick", "v1", "/dev/vg-thick/v1")
    ]
    for bad in ("other:v1", "vg-targetd:", "vg-targetd:a b", "v1", "vg-targetd:../x"):
        assert naming.legacy_candidates(bad, pools) == []


def test_old_exports_are_listed_and_protected(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0, I2: 3})
    zuuid = pools[1].vols["v1"].uuid
    lay_old(cfs, "zfs-targetd%block:v1", "/dev/zfs-targetd/block/v1", zuuid, 1, 1, {I1: 1})
    # look-alikes that are not the old daemon's exports of a configured pool's volume
    lay_old(cfs, "vg-targetd:v2", "/dev/sdz", "x", 2, 2, {I3: 0})
    lay_old(cfs, "elsewhere:v2", "/dev/elsewhere/v2", "y", 3, 3, {I3: 1})
    uuid = pools[0].vols["v1"].uuid
    assert exports(svc) == {
        (I1, 0, POOL, "v1", uuid),
        (I2, 3, POOL, "v1", uuid),
        (I1, 1, ZPOOL, "v1", zuuid),
    }
    assert svc.volume_exported(POOL, "v1") and svc.volume_exported(ZPOOL, "v1")
    assert not svc.volume_exported(POOL, "v2")
    assert (cfs.core / "iblock_2" / "vg-targetd:v2").is_dir()  # not ours: left alone
    assert pools[0].get_calls == 0  # no storage tool asked


def test_old_exports_are_destroyed_completely(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0, I2: 3})
    svc.export_destroy(POOL, "v1", I1)
    assert svc.volume_exported(POOL, "v1")
    # the remaining export moved to targetd's naming (no one logged in)
    assert cfs.backstores() == [naming.backstore_name(POOL, "v1")]
    assert exports(svc) == {(I2, 3, POOL, "v1", pools[0].vols["v1"].uuid)}
    svc.export_destroy(POOL, "v1", I2)
    assert exports(svc) == set() and not svc.volume_exported(POOL, "v1")
    assert not list((cfs.tpg / "acls").iterdir()) and not list((cfs.tpg / "lun").iterdir())
    assert not list(cfs.core.iterdir())


def test_destroying_the_last_old_export_keeps_the_old_names_to_the_end(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0})
    svc.export_destroy(POOL, "v1", I1)
    assert exports(svc) == set() and not list(cfs.core.iterdir())
    assert not svc.volume_exported(POOL, "v1")


def test_an_unused_old_backstore_does_not_block_vol_destroy(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {})
    before = cfs.all_paths()
    assert not svc.volume_exported(POOL, "v1")
    # a question: nothing changed
    assert cfs.all_paths() == before
    svc.release_volume(POOL, "v1")  # what vol_destroy calls next
    assert not list(cfs.core.iterdir()) and not list((cfs.tpg / "lun").iterdir())


def test_a_change_moves_an_old_export_to_targetd_naming(env) -> None:
    svc, cfs, pools, tmp = env
    old_lvm(cfs, pools, {I1: 0, I2: 3}, tpg_lun=7)
    uuid = pools[0].vols["v1"].uuid
    svc.export_create(POOL, "v1", I3, 5)
    assert exports(svc) == {
        (I1, 0, POOL, "v1", uuid),
        (I2, 3, POOL, "v1", uuid),
        (I3, 5, POOL, "v1", uuid),
    }
    name = naming.backstore_name(POOL, "v1")
    assert cfs.backstores() == [name] and cfs.find_backstore(name) is not None
    assert not (cfs.core / "iblock_0").exists()
    assert pools[0].get_calls == 0  # the serial came from the old backstore
    doc = json.loads((tmp / "state.json").read_text())
    assert sorted(doc["acls"]) == [I1, I2, I3]  # every ACL that changed is recorded
    assert doc["acls"][I2]["luns"]["3"] == {"pool": POOL, "volume": "v1", "uuid": uuid}
    assert svc.volume_exported(POOL, "v1")


def test_old_export_kept_while_its_initiator_is_logged_in(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0})
    (cfs.acl_dir(I1) / "info").write_text("InitiatorName: " + I1 + "\n")
    svc.export_create(POOL, "v1", I2, 2)
    assert cfs.backstores() == ["vg-targetd:v1"]  # kept, and used for the new export
    assert {(w, m) for w, m, *_ in exports(svc)} == {(I1, 0), (I2, 2)}
    (cfs.acl_dir(I1) / "info").write_text("No active iSCSI Session for Initiator Endpoint\n")
    svc.export_create(POOL, "v1", I3, 4)
    assert cfs.backstores() == [naming.backstore_name(POOL, "v1")]
    assert {(w, m) for w, m, *_ in exports(svc)} == {(I1, 0), (I2, 2), (I3, 4)}


@pytest.mark.parametrize("step", ["create_backstore", "create_lun", "create_mapped_lun"])
def test_a_failed_move_leaves_the_old_export_as_it_was(env, step: str) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0, I2: 3})
    before_exports = exports(svc)
    before = shape(cfs)
    cfs.fail_on = step
    with pytest.raises(TargetdError):
        svc.export_create(POOL, "v1", I3, 5)
    assert exports(svc) == before_exports
    assert cfs.backstores() == ["vg-targetd:v1"]
    assert shape(cfs) == before


def test_group_mapping_of_an_old_export(env) -> None:
    svc, cfs, pools, _ = env
    old_lvm(cfs, pools, {I1: 0})
    svc.access_group_create("g", I2, "iscsi")
    svc.access_group_map_create(POOL, "v1", "g", 4)
    assert cfs.backstores() == [naming.backstore_name(POOL, "v1")]
    assert {(w, m) for w, m, *_ in exports(svc)} == {(I1, 0), (I2, 4)}
    svc.access_group_map_destroy(POOL, "v1", "g")
    svc.export_destroy(POOL, "v1", I1)
    assert not list(cfs.core.iterdir())


def test_adopt_records_old_exports_and_their_chap(env) -> None:
    svc, cfs, pools, tmp = env
    old_lvm(cfs, pools, {I1: 0, I2: 3})
    (cfs.acl_dir(I1) / "auth" / "userid").write_text("olduser\n")
    (cfs.acl_dir(I1) / "auth" / "password").write_text("oldsecret1\n")
    cfs.create_acl(I3)  # an ACL without the old daemon's LUNs: not recorded
    assert svc.adopt() == 2
    doc = json.loads((tmp / "state.json").read_text())
    assert sorted(doc["acls"]) == [I1, I2]
    assert doc["auth"] == {
        I1: {"in_user": "olduser", "in_pass": "oldsecret1", "out_user": "", "out_pass": ""}
    }
    assert svc.adopt() == 2  # idempotent
    assert json.loads((tmp / "state.json").read_text()) == doc
    # a reboot without the old saveconfig.json: targetd re-creates them its own way
    shutil.rmtree(cfs.root)
    (cfs.tpg / "lun").mkdir(parents=True)
    (cfs.tpg / "acls").mkdir(parents=True)
    counts = svc.restore()
    assert counts["acls"] == 2 and counts["backstores"] == 1
    uuid = pools[0].vols["v1"].uuid
    assert exports(svc) == {(I1, 0, POOL, "v1", uuid), (I2, 3, POOL, "v1", uuid)}
    assert cfs.auth_of(I1)["password"] == "oldsecret1"
    assert cfs.auth_of(I1)["authentication"] == "1"
    assert cfs.backstores() == [naming.backstore_name(POOL, "v1")]


def test_adopt_without_a_target_does_nothing(tmp_path: Path) -> None:
    core = Core(Config({}), StorageLock(tmp_path / "lock"))
    cfs = FakeConfigfs(TARGET, root=tmp_path / "cfs")
    svc = LioExports(core, TARGET, [], tmp_path / "state.json", cfs, lambda n, p: None)
    assert svc.adopt() == 0 and not (tmp_path / "state.json").exists()
