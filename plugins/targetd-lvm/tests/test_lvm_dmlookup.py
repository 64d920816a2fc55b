"""Thin LVs looked up in device-mapper's sysfs, against a sysfs tree and device nodes made
in a temporary directory (block nodes need root, as the whole suite does). The
real-kernel tier (tests/realkernel/test_lvm.py) compares the answers with LVM's own."""

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st
from targetd_lvm import dmlookup
from targetd_lvm import pools as pools_mod

from targetd_core.locking import StorageLock

VG_UUID = "V" * 32
LV_UUID = "abcdefGHIJklmnOPQRstuvWXYZ012345"
POOL_UUID = "P" * 32


class Tree:
    """/dev/mapper and /sys/dev/block of a few device-mapper devices."""

    def __init__(self, root):
        self.dev = root / "dev-mapper"
        self.sys = root / "sys-dev-block"
        self.dev.mkdir()
        self.sys.mkdir()
        self.minor = 0

    def device(self, name, uuid, sectors=2048, below=(), node=True):
        self.minor += 1
        d = self.sys / f"253:{self.minor}"
        (d / "dm").mkdir(parents=True)
        (d / "dm" / "name").write_text(name + "\n")
        (d / "dm" / "uuid").write_text(uuid + "\n")
        (d / "size").write_text(f"{sectors}\n")
        (d / "slaves").mkdir()
        for i, (bname, buuid) in enumerate(below):
            s = d / "slaves" / f"dm-{100 + i}"
            (s / "dm").mkdir(parents=True)
            (s / "dm" / "name").write_text(bname + "\n")
            (s / "dm" / "uuid").write_text(buuid + "\n")
        (d / "slaves" / "loop0").mkdir()  # a PV: no dm directory
        if node:
            os.mknod(self.dev / name, stat.S_IFBLK | 0o600, os.makedev(253, self.minor))
        return d


TPOOL = ("vg-tp-tpool", f"LVM-{VG_UUID}{POOL_UUID}-tpool")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    t = Tree(tmp_path)
    monkeypatch.setattr(dmlookup, "DEV_MAPPER", str(t.dev))
    monkeypatch.setattr(dmlookup, "SYS_DEV_BLOCK", str(t.sys))
    return t


def test_an_active_thin_lv_is_read_from_sysfs(tree):
    tree.device("vg-my--vol", f"LVM-{VG_UUID}{LV_UUID}", sectors=4096, below=[TPOOL])
    found = dmlookup.active_lv("vg", "my-vol")
    assert found is not None
    assert found.uuid == "abcdef-GHIJ-klmn-OPQR-stuv-WXYZ-012345"  # as lvs prints it
    assert found.size == 4096 * 512
    assert dmlookup.is_in_thin_pool(found, "vg", "tp")
    assert not dmlookup.is_in_thin_pool(found, "vg", "other")
    assert not dmlookup.is_in_thin_pool(found, "vg2", "tp")


@pytest.mark.parametrize(
    "case",
    ["no node", "regular file", "symlink", "other name", "internal layer", "not LVM", "bad size"],
)
def test_anything_but_a_plain_lv_device_is_none(tree, case):
    uuid = f"LVM-{VG_UUID}{LV_UUID}"
    if case == "no node":
        tree.device("vg-v", uuid, below=[TPOOL], node=False)
    elif case == "regular file":
        tree.device("vg-v", uuid, below=[TPOOL], node=False)
        (tree.dev / "vg-v").write_text("")
    elif case == "symlink":
        tree.device("vg-real", uuid, below=[TPOOL])
        os.symlink(tree.dev / "vg-real", tree.dev / "vg-v")
    elif case == "other name":  # the node's number leads to another device
        tree.device("vg-w", uuid, below=[TPOOL], node=False)
        os.mknod(tree.dev / "vg-v", stat.S_IFBLK | 0o600, os.makedev(253, tree.minor))
    elif case == "internal layer":
        tree.device("vg-v", uuid + "-real", below=[TPOOL])
    elif case == "not LVM":
        tree.device("vg-v", "CRYPT-LUKS2-0123", below=[TPOOL])
    elif case == "bad size":
        d = tree.device("vg-v", uuid, below=[TPOOL])
        (d / "size").write_text("lots\n")
    assert dmlookup.active_lv("vg", "v") is None


def test_a_thick_lv_is_not_in_the_thin_pool(tree):
    tree.device("vg-thick", f"LVM-{VG_UUID}{LV_UUID}")  # only a PV below
    found = dmlookup.active_lv("vg", "thick")
    assert found is not None and not dmlookup.is_in_thin_pool(found, "vg", "tp")


def test_a_device_over_another_pools_internal_device_is_not_in_this_pool(tree):
    fake_tpool = ("vg-tp-tpool", f"LVM-{VG_UUID}{POOL_UUID}")  # no -tpool suffix
    found_dev = tree.device("vg-v", f"LVM-{VG_UUID}{LV_UUID}", below=[fake_tpool])
    assert found_dev.exists()
    found = dmlookup.active_lv("vg", "v")
    assert found is not None and not dmlookup.is_in_thin_pool(found, "vg", "tp")


@given(st.text(max_size=40))
def test_any_name_is_answered_without_raising(name):
    # the module defaults point at the real /dev/mapper: whatever the name, an answer
    # (None on a host without such an LV) and never a path outside /dev/mapper
    found = dmlookup.active_lv("vg-nonexistent-for-tests", name)
    assert found is None


@given(st.text(alphabet="abcdefABCDEF0123456789", min_size=32, max_size=32))
def test_lvm_uuid_is_the_six_four_six_form(raw):
    dashed = dmlookup.lvm_uuid(raw)
    assert [len(p) for p in dashed.split("-")] == [6, 4, 4, 4, 4, 4, 6]
    assert dashed.replace("-", "") == raw


class NoLvm:
    def __init__(self):
        self.calls = []

    def lvs(self, target, fields=None, select=None):
        self.calls.append((target, select))
        return []


def test_thin_pool_get_volume_reads_sysfs_and_runs_no_tool(tree, tmp_path, monkeypatch):
    tree.device("vg-t1", f"LVM-{VG_UUID}{LV_UUID}", sectors=8, below=[TPOOL])
    tree.device("vg-tp", f"LVM-{VG_UUID}{POOL_UUID}-pool", below=[TPOOL])
    no_lvm = NoLvm()
    monkeypatch.setattr(pools_mod, "lvs", no_lvm.lvs)
    pool = pools_mod.ThinPool("vg/tp", "vg", "tp", StorageLock(tmp_path / "lock"))
    vol = pool.get_volume("t1")
    assert vol is not None and (vol.name, vol.size) == ("t1", 4096)
    assert no_lvm.calls == []
    # the pool itself, an inactive or missing LV, another pool's: LVM is asked
    assert pool.get_volume("tp") is None
    assert pool.get_volume("inactive") is None
    other = pools_mod.ThinPool("vg/tp2", "vg", "tp2", StorageLock(tmp_path / "lock"))
    assert other.get_volume("t1") is None
    assert [c[0] for c in no_lvm.calls] == ["vg", "vg", "vg"]
