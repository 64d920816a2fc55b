"""The third-party plugin of tests/plugins/targetd-widgets, installed as a distribution,
run with targetd_core.testing: a pool type, a method with its own error code, an export
handler and a hook wrapper, all through the public API."""

from __future__ import annotations

from pathlib import Path

import pytest

from targetd_core import testing


@pytest.fixture()
def t(tmp_path: Path) -> testing.InProcess:
    return testing.build({"widget_pools": ["w1"]}, ["widgets"], tmp_path)


def test_pool_type_is_routed_by_the_core(t: testing.InProcess) -> None:
    assert [p["name"] for p in t.call("pool_list")] == ["w1"]
    t.call("vol_create", pool="w1", name="v1", size=4096)
    assert [v["name"] for v in t.call("vol_list", pool="w1")] == ["v1"]
    testing.assert_error(-50, t.call, "vol_create", pool="w1", name="v1", size=4096)
    testing.assert_error(-110, t.call, "vol_list", pool="w2")
    testing.assert_error(-32602, t.call, "vol_create", pool="w1", name="bad name", size=1)
    assert t.core.pool_owner == {"w1": "widgets"}


def test_method_with_its_own_error_code(t: testing.InProcess) -> None:
    assert t.call("widget_frob", vol="a") == "frobbed a"
    e = testing.assert_error(-7000, t.call, "widget_frob", vol="jammed")
    assert "jammed" in e.message
    doc = t.call("rpc.discover")
    frob = next(m for m in doc["methods"] if m["name"] == "widget_frob")
    assert {"code": -7000, "message": "the widget is jammed; unjam it and retry"} in frob["errors"]
    assert frob["x-targetd-plugin"] == "widgets"
    assert doc["components"]["errors"]["WIDGET_JAMMED"]["code"] == -7000
    assert doc["components"]["errors"]["WIDGET_JAMMED"]["data"] == {"x-targetd-plugin": "widgets"}
    assert t.core.plugins["widgets"].error_codes == [-7000]


def test_export_handler_protects_exported_volumes(t: testing.InProcess) -> None:
    t.call("vol_create", pool="w1", name="v1", size=4096)
    testing.assert_error(-103, t.call, "widget_export", pool="w1", vol="nope")
    t.call("widget_export", pool="w1", vol="v1")
    testing.assert_error(-303, t.call, "vol_destroy", pool="w1", name="v1")
    assert [h.name for h in t.core.export_handlers] == ["widget"]


def test_hook_wrapper_wraps_the_serve_steps(t: testing.InProcess) -> None:
    assert t.call("widget_status") == {"served": False, "wrapper": []}
    t.serve()
    assert t.call("widget_status") == {
        "served": True,
        "wrapper": [["before", False], ["after", True]],
    }


def test_unconfigured_it_contributes_nothing_but_its_declarations(tmp_path: Path) -> None:
    t = testing.build({}, ["widgets"], tmp_path)
    assert not any(name.startswith("widget_") for name in t.core.methods)
    assert t.core.error_codes[-7000].plugin == "widgets"


def test_one_import_from_the_core() -> None:
    import targetd_widgets

    source = Path(targetd_widgets.__file__).read_text()
    imports = [ln for ln in source.splitlines() if "targetd_core" in ln and "import" in ln]
    assert imports == ["from targetd_core.plugin import ("]
