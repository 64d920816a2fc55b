"""The pools' plans (which LVM commands, in which order, what is undone on failure),
against a fake LVM that records commands. Logic only: the real-kernel tier
(tests/realkernel/test_lvm.py) is what shows the storage works."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from targetd_lvm import dmlookup
from targetd_lvm import pools as pools_mod
from targetd_lvm.report import COPYING_TAG, Lv, Vg

from targetd_core.locking import StorageLock
from targetd_core.plugin import TargetdError


def lv(name, size=8 << 20, segtype="linear", pool_lv="", tags=(), attr=None):
    if attr is None:
        attr = {"linear": "-wi-a-----", "thin": "Vwi-a-tz--", "thin-pool": "twi-aotz--"}[segtype]
    return Lv(
        name, "vg", f"uuid-{name}", size, attr, segtype, pool_lv, "", frozenset(tags), None, None
    )


class FakeLvm:
    def __init__(self, lvs):
        self.lvs = {x.name: x for x in lvs}
        self.calls: list[tuple[str, ...]] = []
        self.fail: dict[str, str] = {}

    def lvm(self, *args):
        self.calls.append(args)
        if args[0] in self.fail:
            raise TargetdError(-1, f"{args[0]} failed: {self.fail[args[0]]}")
        if args[0] == "lvcreate":
            name = args[args.index("-n") + 1]
            if name in self.lvs:
                raise TargetdError(-1, "lvcreate failed: already exists")
            tags = [args[i + 1] for i, a in enumerate(args) if a == "--addtag"]
            segtype = "thin" if ("-V" in args or "-s" in args) else "linear"
            self.lvs[name] = lv(name, segtype=segtype, tags=tags,
                                pool_lv="tp" if segtype == "thin" else "")  # fmt: skip
        elif args[0] == "lvremove":
            self.lvs.pop(args[-1].split("/")[1])
        elif args[0] == "lvchange" and args[1] == "--deltag":
            name = args[-1].split("/")[1]
            self.lvs[name] = dataclasses.replace(self.lvs[name], tags=frozenset())
        return ""

    def list(self, target, select=None):
        self.calls.append(("lvs", target) if select is None else ("lvs", target, select))
        if "/" in target:
            return [self.lvs[target.split("/")[1]]]
        if select is not None:
            name = select.removeprefix('lv_name="').removesuffix('"')
            return [x for x in self.lvs.values() if x.name == name]
        return list(self.lvs.values())


@pytest.fixture
def fake(monkeypatch, tmp_path):
    # no device-mapper devices: every look-up asks the fake LVM (test_lvm_dmlookup.py
    # covers the device-mapper path)
    monkeypatch.setattr(dmlookup, "DEV_MAPPER", str(tmp_path / "no-dev-mapper"))
    f = FakeLvm([lv("vol1"), lv("tp", segtype="thin-pool"), lv("t1", segtype="thin", pool_lv="tp")])
    monkeypatch.setattr(pools_mod, "lvm", f.lvm)
    monkeypatch.setattr(pools_mod, "lvs", f.list)
    monkeypatch.setattr(pools_mod, "vgs", lambda target=None: [Vg("vg", "vg-uuid", 100, 40, 4)])
    return f


class FakeCore:
    def __init__(self, tmp_path):
        self.lock = StorageLock(tmp_path / "lock")


@pytest.fixture
def core(tmp_path):
    return FakeCore(tmp_path)


def names(pool):
    return [v.name for v in pool.list_volumes()]


def test_listing_is_one_lvs_call(fake, core):
    vg = pools_mod.VgPool("vg", "vg", core.lock)
    thin = pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock)
    assert names(vg) == ["vol1"] and names(thin) == ["t1"]
    assert fake.calls == [("lvs", "vg"), ("lvs", "vg")]


def test_get_volume_is_one_lvs_call_selecting_the_lv(fake, core):
    vg = pools_mod.VgPool("vg", "vg", core)
    thin = pools_mod.ThinPool("vg/tp", "vg", "tp", core)
    assert vg.get_volume("vol1").uuid == "uuid-vol1" and thin.get_volume("t1").name == "t1"
    assert vg.get_volume("t1") is None and thin.get_volume("vol1") is None  # other pool's
    assert thin.get_volume("missing") is None
    assert fake.calls == [
        ("lvs", "vg", f'lv_name="{n}"') for n in ("vol1", "t1", "t1", "vol1", "missing")
    ]
    fake.calls.clear()
    assert vg.get_volume('x" || lv_name="vol1') is None and vg.get_volume("") is None
    assert fake.calls == []  # never quoted into a selection


def test_thin_create_plan(fake, core):
    pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).create_volume("new", 1000)
    assert fake.calls == [("lvcreate", "-y", "-n", "new", "-V", "1024b", "--thinpool", "vg/tp")]


def test_bad_lvm_names_and_sizes_are_refused_before_any_tool(fake, core):
    thin = pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock)
    vg = pools_mod.VgPool("vg", "vg", core.lock)
    for call in (
        lambda: thin.create_volume("snapshot1", 100),
        lambda: thin.create_volume("x", 0),
        lambda: vg.create_volume("a_tmeta", 100),
        lambda: vg.copy_volume("vol1", "-lead", None),
        lambda: thin.copy_volume("t1", "pvmove", None),
    ):
        with pytest.raises(TargetdError) as e:
            call()
        assert e.value.code == -32602
    assert fake.calls == []


def test_name_of_an_lv_outside_the_pool_is_a_conflict(fake, core):
    with pytest.raises(TargetdError) as e:
        pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).create_volume("vol1", 100)
    assert e.value.code == -50 and "outside this pool" in e.value.message


def test_a_failed_lvcreate_stays_minus_one(fake, core):
    fake.fail["lvcreate"] = "Insufficient free space"
    with pytest.raises(TargetdError) as e:
        pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).create_volume("new", 100)
    assert e.value.code == -1 and "Insufficient free space" in e.value.message


def test_thin_copy_is_an_active_snapshot_without_activation_skip(fake, core):
    pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).copy_volume("t1", "c", 1 << 30)
    assert fake.calls[0][:4] == ("lvcreate", "-y", "-n", "c")
    assert "-s" in fake.calls[0] and fake.calls[0][-1] == "vg/t1"
    assert ("--setactivationskip", "n") == fake.calls[0][5:7]
    assert fake.calls[1] == ("lvextend", "-L", f"{1 << 30}b", "vg/c")


def test_thin_copy_removes_the_snapshot_when_growing_fails(fake, core):
    fake.fail["lvextend"] = "Insufficient"
    with pytest.raises(TargetdError) as e:
        pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).copy_volume("t1", "c", 1 << 30)
    assert e.value.code == -1
    assert "c" not in fake.lvs and fake.calls[-1] == ("lvremove", "-f", "vg/c")


def test_thick_copy_fills_a_hidden_lv_outside_the_lock(fake, core, monkeypatch):
    vg = pools_mod.VgPool("vg", "vg", core.lock)
    seen = {}

    def copy_device(src, dst, length):
        seen["args"] = (src, dst, length)
        seen["hidden"] = "c" not in names(vg)

        # another thread can take the storage lock while the data is copied
        def take():
            with core.lock.hold(True):
                pass

        t = threading.Thread(target=take)
        t.start()
        t.join(5)
        seen["lock_free"] = not t.is_alive()

    monkeypatch.setattr(pools_mod.blockcopy, "copy_device", copy_device)
    with core.lock.hold(True):
        vg.copy_volume("vol1", "c", None)
    assert seen == {
        "args": ("/dev/vg/vol1", "/dev/vg/c", 8 << 20),
        "hidden": True,
        "lock_free": True,
    }
    create = next(c for c in fake.calls if c[0] == "lvcreate")
    assert ("--addtag", COPYING_TAG) == create[6:8] and create[5] == f"{8 << 20}b"
    assert fake.calls[-1] == ("lvchange", "--deltag", COPYING_TAG, "vg/c")
    assert "c" in names(vg)


def test_thick_copy_failure_leaves_nothing(fake, core, monkeypatch):
    def broken(src, dst, length):
        raise TargetdError(-1, "copying failed: Input/output error")

    monkeypatch.setattr(pools_mod.blockcopy, "copy_device", broken)
    with pytest.raises(TargetdError) as e:
        pools_mod.VgPool("vg", "vg", core.lock).copy_volume("vol1", "c", 64 << 20)
    assert "Input/output error" in e.value.message
    assert "c" not in fake.lvs and fake.calls[-1] == ("lvremove", "-f", "vg/c")


def test_thick_copy_failure_reports_a_failed_cleanup(fake, core, monkeypatch):
    monkeypatch.setattr(
        pools_mod.blockcopy,
        "copy_device",
        lambda *a: (_ for _ in ()).throw(TargetdError(-1, "boom")),
    )
    fake.fail["lvremove"] = "in use"
    with pytest.raises(TargetdError) as e:
        pools_mod.VgPool("vg", "vg", core.lock).copy_volume("vol1", "c", None)
    assert "boom" in e.value.message and "also failed" in e.value.message


def test_a_name_held_by_a_copy_in_progress_is_a_conflict(fake, core):
    fake.lvs["busy"] = lv("busy", tags=[COPYING_TAG])
    vg = pools_mod.VgPool("vg", "vg", core.lock)
    assert vg.get_volume("busy") is None
    with pytest.raises(TargetdError) as e:
        vg.create_volume("busy", 100)
    assert e.value.code == -50 and "copy" in e.value.message


def test_thick_create_zeroes_unless_told_not_to(fake, core, monkeypatch):
    zeroed = []
    monkeypatch.setattr(pools_mod.blockcopy, "zero_device", zeroed.append)
    pools_mod.VgPool("vg", "vg", core.lock).create_volume("z", 100)
    assert zeroed == ["/dev/vg/z"] and fake.lvs["z"].tags == frozenset()
    pools_mod.VgPool("vg", "vg", core.lock, zero_new=False).create_volume("nz", 100)
    assert zeroed == ["/dev/vg/z"]
    assert fake.calls[-1] == ("lvcreate", "-y", "-n", "nz", "-L", "512b", "vg")


def test_info(fake, core, monkeypatch):
    info = pools_mod.VgPool("vg", "vg", core.lock).info()
    assert (info.size, info.free_size, info.uuid, info.type) == (100, 40, "vg-uuid", "block")
    fake.lvs["tp"] = dataclasses.replace(fake.lvs["tp"], size=1000, data_percent=20.0,
                                         metadata_percent=50.0)  # fmt: skip
    info = pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).info()
    assert (info.size, info.free_size, info.uuid) == (1000, 500, "uuid-tp")


def test_sizes_are_rounded_up_to_whole_sectors(fake, core):
    assert pools_mod.size_arg(512) == "512b"
    assert pools_mod.size_arg(10 * 2**20 + 1) == f"{10 * 2**20 + 512}b"
    pools_mod.ThinPool("vg/tp", "vg", "tp", core.lock).create_volume("odd", 1000)
    assert fake.calls[-1][5] == "1024b"
