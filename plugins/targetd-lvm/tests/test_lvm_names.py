"""LVM's own name rules and the block_pools entry syntax."""

import pytest
from targetd_lvm.names import check_lv_name, dm_name, lv_name_problem, parse_pool_spec

from targetd_core.plugin import TargetdError


@pytest.mark.parametrize(
    "name",
    ["-x", "snapshot", "snapshot1", "pvmove0", "a_tdata", "x_tmeta_y", "a_pmspare", "a_rimage_0"],
)
def test_names_lvm_refuses(name):
    assert lv_name_problem("vg-targetd", name)
    with pytest.raises(TargetdError) as e:
        check_lv_name("vg-targetd", name)
    assert e.value.code == -32602 and name in e.value.message


@pytest.mark.parametrize("name", ["vol1", "a-b_c", "x_data", "Snapshot", "my_snapshot", "a" * 60])
def test_names_lvm_accepts(name):
    assert lv_name_problem("vg-targetd", name) is None


def test_length_limits():
    # measured with lvcreate: in a 6-character VG, 118 characters pass, 119 do not
    assert lv_name_problem("vg-cap", "a" * 118) is None
    assert lv_name_problem("vg-cap", "a" * 119)
    # dashes are doubled in the device-mapper name
    assert dm_name("vg-a", "b-c") == "vg--a-b--c"
    assert lv_name_problem("vg", "a-" * 60)


@pytest.mark.parametrize(
    "spec,parsed",
    [("vg-targetd", ("vg-targetd", None)), ("vg/thin_pool", ("vg", "thin_pool"))],
)
def test_pool_specs(spec, parsed):
    assert parse_pool_spec(spec) == parsed


@pytest.mark.parametrize("spec", ["", "/", "vg/", "/lv", "a/b/c", "-vg", "vg/-x", "v g", "vg/.."])
def test_bad_pool_specs(spec):
    with pytest.raises(ValueError):
        parse_pool_spec(spec)
