"""The example plugin's tests, as a plugin author writes them: targetd_core.testing
builds a core in-process (no root, no HTTP) and calls methods as a client would."""

from __future__ import annotations

from pathlib import Path

import pytest
from targetd_example import plugin

from targetd_core import testing


@pytest.fixture()
def t(tmp_path: Path) -> testing.InProcess:
    (tmp_path / "pool").mkdir()
    return testing.build({"example_file_pools": [str(tmp_path / "pool")]}, [plugin], tmp_path)


def test_volumes_through_the_core(t: testing.InProcess, tmp_path: Path) -> None:
    pool = str(tmp_path / "pool")
    t.call("vol_create", pool=pool, name="v1", size=1 << 20)
    assert [(v["name"], v["size"]) for v in t.call("vol_list", pool=pool)] == [("v1", 1 << 20)]
    assert (tmp_path / "pool" / "v1.img").stat().st_size == 1 << 20
    testing.assert_error(-50, t.call, "vol_create", pool=pool, name="v1", size=1)
    t.call("vol_copy", pool=pool, vol_orig="v1", vol_new="v2")
    t.call("vol_destroy", pool=pool, name="v1")
    assert [v["name"] for v in t.call("vol_list", pool=pool)] == ["v2"]


def test_own_methods_and_their_checks(t: testing.InProcess) -> None:
    assert t.call("example_echo", text="hi", name="ok") == {"text": "hi", "name": "ok"}
    testing.assert_error(-32602, t.call, "example_echo", text="hi", name="../x")
    e = testing.assert_error(-1, t.call, "example_crash")
    assert "/secret/path" not in e.message
    assert t.core.methods["example_echo"].plugin == "example"


def test_a_missing_directory_stops_the_start(tmp_path: Path) -> None:
    problems = testing.startup_problems(
        {"example_file_pools": [str(tmp_path / "nope")]}, [plugin], tmp_path
    )
    assert problems == [f"example_file_pools: {tmp_path / 'nope'} is not a directory"]
