"""targetd_core.paths: one helper builds every path from client-supplied names."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targetd_core.errors import TargetdError
from targetd_core.paths import check_component, is_plain_component, safe_join


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "a/b", "/", "a\0b", "x\n", "\n", "a\rb", "x" * 256, None, 3, b"x"]
)
def test_refused(bad):
    assert not is_plain_component(bad)
    with pytest.raises(TargetdError) as exc:
        check_component(bad)
    assert exc.value.code == -32602


@pytest.mark.parametrize("good", ["a", "vol-1", "...", ".hidden", "iqn.2003-01.org.x:y", "é"])
def test_accepted(good):
    assert check_component(good) == good


def test_safe_join():
    assert safe_join("/sys/kernel/config/target", "iscsi", "iqn.x:y") == (
        "/sys/kernel/config/target/iscsi/iqn.x:y"
    )
    with pytest.raises(TargetdError):
        safe_join("/base", "ok", "../etc")


@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=4))
def test_joined_path_never_leaves_base(parts):
    base = "/base/dir"
    try:
        path = safe_join(base, *parts)
    except TargetdError:
        return
    assert os.path.normpath(path).startswith(base + "/")
    assert os.path.dirname(os.path.normpath(path)) != os.path.dirname(base)
    assert len(os.path.relpath(path, base).split("/")) == len(parts)


def test_refusal_message_is_short():
    with pytest.raises(TargetdError) as exc:
        check_component("a/" * 10000)
    assert len(str(exc.value)) < 300
