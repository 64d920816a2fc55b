"""Configuration: block_pools, the legacy pool_name, conflicts, start-up errors."""

import pytest
from targetd_lvm.config import pool_specs

from targetd_core import testing
from targetd_core.plugin import ConfigError
from targetd_core.testing import StartupError


def build_core(raw, env=None):
    """The core the daemon builds from ``raw`` (its plugins loaded by the test kit)."""
    t = testing.build(raw, raw["plugins"])
    return t.core, t.warnings


def specs(config, given):
    base = {"block_pools": ["vg-targetd"], "pool_name": None}
    base.update(config)
    return [(s.name, s.vg, s.thin_pool, s.key) for s in pool_specs(base, set(given))]


def test_default():
    assert specs({}, []) == [("vg-targetd", "vg-targetd", None, "block_pools")]


def test_legacy_pool_name_replaces_the_default():
    assert specs({"pool_name": "old"}, ["pool_name"]) == [("old", "old", None, "pool_name")]


def test_both_keys_are_merged():
    got = specs({"block_pools": ["a/tp"], "pool_name": "b"}, ["block_pools", "pool_name"])
    assert got == [("a/tp", "a", "tp", "block_pools"), ("b", "b", None, "pool_name")]
    got = specs({"block_pools": ["a"], "pool_name": "a"}, ["block_pools", "pool_name"])
    assert got == [("a", "a", None, "block_pools")]


def test_empty_list_means_no_pools():
    assert specs({"block_pools": []}, ["block_pools"]) == []


def test_listed_twice():
    with pytest.raises(ConfigError) as e:
        specs({"block_pools": ["a", "a"]}, ["block_pools"])
    assert e.value.key == "block_pools" and "twice" in e.value.message


def test_vg_and_its_thin_pool_together_is_an_error():
    with pytest.raises(ConfigError) as e:
        specs({"block_pools": ["vg", "vg/tp"]}, ["block_pools"])
    assert e.value.key == "block_pools" and "'vg/tp'" in e.value.message
    # thin pools of one VG side by side are fine
    assert len(specs({"block_pools": ["vg/tp1", "vg/tp2"]}, ["block_pools"])) == 2


def build(tmp_path, **raw):
    return build_core(raw={"password": "x", "state_dir": str(tmp_path), "plugins": ["lvm"], **raw})


def test_malformed_entries_stop_start_up_before_any_tool_runs(tmp_path, monkeypatch):
    monkeypatch.setattr("targetd_lvm.lvmcli.run", lambda *a, **k: pytest.fail("ran a tool"))
    with pytest.raises(StartupError) as e:
        build(tmp_path, block_pools=["ok", "bad/x/y"], pool_name="-x")
    assert any(p.startswith("block_pools:") and "bad/x/y" in p for p in e.value.problems)
    assert any(p.startswith("pool_name:") for p in e.value.problems)


def test_no_pools_configured(tmp_path):
    core, warnings = build(tmp_path, block_pools=[])
    assert core.block_pools == {} and warnings == []


def test_vg_and_thin_pool_conflict_at_start_up(tmp_path):
    with pytest.raises(StartupError) as e:
        build(tmp_path, block_pools=["vg", "vg/tp"])
    assert "configure either the volume group or its thin pools" in str(e.value)


def test_pools_built_from_the_configuration(tmp_path, monkeypatch):
    from targetd_lvm import pools
    from targetd_lvm.report import Lv, Vg

    tp = Lv("tp", "vg", "u", 1, "twi-a-tz--", "thin-pool", "", "", frozenset(), 0.0, 0.0)
    monkeypatch.setattr(
        pools, "vgs", lambda target=None: [Vg("vg", "u", 1, 1, 1), Vg("t", "u", 1, 1, 1)]
    )
    monkeypatch.setattr(pools, "lvs", lambda target: [tp])
    core, _ = build(tmp_path, block_pools=["vg/tp"], pool_name="t", lvm_zero_new_volumes=False)
    assert set(core.block_pools) == {"vg/tp", "t"}
    assert isinstance(core.block_pools["vg/tp"], pools.ThinPool)
    thick = core.block_pools["t"]
    assert isinstance(thick, pools.VgPool) and thick.zero_new is False and thick.lock is core.lock
    assert core.pool_owner == {"vg/tp": "lvm", "t": "lvm"}
