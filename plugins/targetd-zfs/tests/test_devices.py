"""Finding a zvol's device node (sysfs and /dev replaced by temporary directories)."""

import os

import pytest
from targetd_zfs import devices

from targetd_core.plugin import TargetdError

BLOCKDEV = next((f"/dev/loop{i}" for i in range(8) if os.path.exists(f"/dev/loop{i}")), None)


@pytest.fixture
def fakedev(tmp_path, monkeypatch):
    dev, sysb = tmp_path / "dev", tmp_path / "sys"
    dev.mkdir()
    sysb.mkdir()
    monkeypatch.setattr(devices, "DEV", dev)
    monkeypatch.setattr(devices, "SYS_BLOCK", sysb)
    return dev, sysb


@pytest.mark.skipif(BLOCKDEV is None, reason="no block device to link to")
def test_link_wins(fakedev):
    dev, _ = fakedev
    (dev / "zvol" / "p" / "b").mkdir(parents=True)
    (dev / "zvol" / "p" / "b" / "v").symlink_to(BLOCKDEV)
    assert devices.find_device("p/b/v", timeout=1) == str(dev / "zvol/p/b/v")


@pytest.mark.skipif(BLOCKDEV is None, reason="no block device to link to")
def test_node_found_by_name_without_links(fakedev, monkeypatch):
    dev, sysb = fakedev
    (sysb / "zd16").mkdir()
    (sysb / "zd0").mkdir()
    (dev / "zd16").symlink_to(BLOCKDEV)
    (dev / "zd0").symlink_to(BLOCKDEV)
    names = {str(dev / "zd0"): "p/b/other", str(dev / "zd16"): "p/b/v"}
    monkeypatch.setattr(devices, "zvol_name", lambda node: names[str(node)])
    monkeypatch.setattr(devices, "links_managed", lambda: False)
    assert devices.find_device("p/b/v", timeout=1) == str(dev / "zd16")


def test_no_device_is_an_error(fakedev):
    with pytest.raises(TargetdError) as e:
        devices.find_device("p/b/v", timeout=0.2)
    assert "volmode" in e.value.message and e.value.code == -1


def test_zvol_name_of_a_non_zvol_is_none():
    assert devices.zvol_name("/dev/null") is None
