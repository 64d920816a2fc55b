"""Parsing captured lvs/vgs JSON reports, and deciding which LVs are a pool's volumes."""

from pathlib import Path

import pytest
from targetd_lvm.report import (
    COPYING_TAG,
    is_thin_volume,
    is_vg_volume,
    parse_lvs,
    parse_percent,
    parse_size,
    parse_vgs,
    thin_pool_free,
)

from targetd_core.plugin import TargetdError

DATA = Path(__file__).parent / "data"


def load(name: str) -> str:
    return (DATA / name).read_text()


def test_parse_lvs_host_capture():
    lvs = {lv.name: lv for lv in parse_lvs(load("lvs-vg-host-crafted.json"))}
    assert set(lvs) == {"copy-dst", "snap-k", "thin_pool", "tv1", "tv1-copy", "vol1"}
    vol1 = lvs["vol1"]
    assert vol1.size == 104857600 and isinstance(vol1.size, int)
    assert vol1.uuid == "vSP0od-D2OU-0Lrx-qobw-uMCo-RklU-FSeLdY"
    assert vol1.segtype == "linear" and vol1.pool_lv == "" and vol1.tags == frozenset()
    assert vol1.data_percent is None
    assert lvs["copy-dst"].tags == {COPYING_TAG}
    assert lvs["tv1-copy"].origin == "tv1" and lvs["tv1-copy"].pool_lv == "thin_pool"
    assert lvs["thin_pool"].segtype == "thin-pool"


def test_parse_lvs_with_hidden_lvs():
    lvs = {lv.name: lv for lv in parse_lvs(load("lvs-all-host-crafted.json"))}
    assert lvs["[thin_pool_tdata]"].hidden and lvs["[lvol0_pmspare]"].hidden
    assert not lvs["vol1"].hidden


def test_vg_pool_membership():
    lvs = parse_lvs(load("lvs-all-host-crafted.json"))
    # thin pool, thin LVs, internal LVs and the LV being copied into are not volumes
    assert [lv.name for lv in lvs if is_vg_volume(lv)] == ["vol1"]


def test_thin_pool_membership():
    lvs = parse_lvs(load("lvs-all-host-crafted.json"))
    assert sorted(lv.name for lv in lvs if is_thin_volume(lv, "thin_pool")) == [
        "snap-k",
        "tv1",
        "tv1-copy",
    ]
    assert [lv.name for lv in lvs if is_thin_volume(lv, "other_pool")] == []


def test_parse_lvs_empty_report():
    assert parse_lvs(load("lvs-missing-vg.json")) == []


def test_parse_vgs():
    (vg,) = parse_vgs(load("vgs-host.json"))
    assert vg.name == "vg-cap" and vg.size == 1069547520 and vg.extent_size == 4194304
    assert 0 <= vg.free <= vg.size and vg.uuid == "DYdUXL-5rBM-s4Am-2PLi-W86H-E2is-1DD1hc"


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"report": 3}', '{"x": []}'])
def test_unreadable_reports_are_minus_one(text):
    with pytest.raises(TargetdError) as e:
        parse_lvs(text)
    assert e.value.code == -1 and "lvs output" in e.value.message


def test_missing_field_is_minus_one():
    text = '{"report": [{"lv": [{"lv_name": "a", "vg_name": "v"}]}]}'
    with pytest.raises(TargetdError) as e:
        parse_lvs(text)
    assert e.value.code == -1


@pytest.mark.parametrize("value", ["", "1.5", "-1", "12b", None, 12, "1e3"])
def test_bad_sizes(value):
    with pytest.raises(TargetdError):
        parse_size(value, "x")


def test_percent():
    assert parse_percent("", "x") is None
    assert parse_percent("12.34", "x") == 12.34
    for bad in ("x", "101.00", "-1", None):
        with pytest.raises(TargetdError):
            parse_percent(bad, "x")


def test_thin_pool_free_uses_the_fuller_of_data_and_metadata():
    size = 1000 * 1024 * 1024
    assert thin_pool_free(size, 0.0, 0.0) == size
    assert thin_pool_free(size, 10.0, 2.0) == int(size * 0.9)
    assert thin_pool_free(size, 10.0, 60.0) == int(size * 0.4)
    assert thin_pool_free(size, 100.0, 1.0) == 0
    assert thin_pool_free(size, None, None) == 0  # inactive pool: unknown counts as full
    assert 0 <= thin_pool_free(size, 33.33, 0.0) <= size


def test_guest_capture_thin_pool_and_its_volumes():
    lvs = {lv.name: lv for lv in parse_lvs(load("lvs-thin-guest.json"))}
    pool = lvs["thin_pool"]
    assert (pool.data_percent, pool.metadata_percent) == (0.04, 10.57)
    assert pool.uuid == "GLue1e-40cF-MZeB-mTAJ-CtPn-YdVq-Gf3V6c" and len(pool.uuid) == 38
    # metadata is the fuller one in a nearly empty pool: it decides the free space
    assert thin_pool_free(pool.size, pool.data_percent, pool.metadata_percent) == int(
        20354957312 * (1 - 0.1057)
    )
    vols = sorted(lv.name for lv in lvs.values() if is_thin_volume(lv, "thin_pool"))
    assert vols == ["fx-a", "fx-copy"]
    copy = lvs["fx-copy"]
    assert copy.origin == "fx-a" and copy.attr == "Vwi-a-tz--"  # active, no activation skip
    assert copy.metadata_percent is None and copy.data_percent == 12.5
    (only,) = parse_lvs(load("lvs-thinpool-guest.json"))
    assert only.segtype == "thin-pool"


def test_guest_capture_thick_vg():
    lvs = parse_lvs(load("lvs-thick-guest.json"))
    assert [lv.name for lv in lvs if is_vg_volume(lv)] == ["fx-thick"]
    vgs = {vg.name: vg for vg in parse_vgs(load("vgs-guest.json"))}
    assert {"vg-targetd", "vg-targetd-thick"} <= set(vgs)
    assert vgs["vg-targetd-thick"].free <= vgs["vg-targetd-thick"].size
