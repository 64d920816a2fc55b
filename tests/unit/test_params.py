from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targetd_core.errors import TargetdError
from targetd_core.jsonwire import BigNumber
from targetd_core.names import check_name, check_size
from targetd_core.params import (
    BoolLike,
    Lun,
    Name,
    PoolName,
    Size,
    annotation_schema,
    bind,
    check_wire_value,
)


def f(
    name: Name,
    size: Size,
    lun: Lun | None = None,
    flag: BoolLike = False,
    opts: list[str] | str | None = None,
) -> None: ...


def test_bind_normalises() -> None:
    assert bind(f, {"name": "a_b-1", "size": 2.0, "flag": "True", "opts": "rw"}) == {
        "name": "a_b-1",
        "size": 2,
        "flag": True,
        "opts": "rw",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"name": "a", "size": 1, "lun": 256},
        {"name": "a", "size": 1, "flag": "yes"},
        {"name": "a", "size": 1, "opts": [1]},
        {"name": "a"},
        {"name": "a", "size": 1, "extra": 0},
    ],
)
def test_bind_refuses(params: dict) -> None:
    with pytest.raises(TargetdError) as exc:
        bind(f, params)
    assert exc.value.code == -32602


@pytest.mark.parametrize("value", ["ok", "A-Z_09", "x" * 127])
def test_good_names(value: str) -> None:
    assert check_name(value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "a\nb", "x" * 128, "é", None, 1])
def test_bad_names(value: object) -> None:
    with pytest.raises(TargetdError):
        check_name(value)


@pytest.mark.parametrize("value,expected", [(0, 0), (1e9, 10**9), (2**70, 2**70)])
def test_good_sizes(value: object, expected: int) -> None:
    assert check_size(value) == expected


@pytest.mark.parametrize("value", [True, False, -1, 0.5, float("inf"), float("nan"), "1", None])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(TargetdError):
        check_size(value)


def test_schema_of_annotations() -> None:
    assert annotation_schema(Size) == {"type": "integer", "minimum": 0}
    assert annotation_schema(list[str]) == {"type": "array", "items": {"type": "string"}}
    assert annotation_schema(Name)["pattern"] == "^[a-zA-Z0-9_-]+$"


# --- What no method may see (issue 10, item 5)

_json_leaf = st.none() | st.booleans() | st.integers() | st.text()
_json = st.recursive(
    _json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(), c, max_size=3),
    max_leaves=15,
)


def _has_surrogate(v: object) -> bool:
    if isinstance(v, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return any(_has_surrogate(x) for x in v)
    if isinstance(v, dict):
        return any(_has_surrogate(k) or _has_surrogate(x) for k, x in v.items())
    return False


@given(_json)
def test_wire_values_refused_exactly_when_they_hold_a_surrogate(value: object) -> None:
    try:
        check_wire_value(value, "p")
        refused = False
    except TargetdError as exc:
        assert exc.code == -32602
        refused = True
    assert refused == _has_surrogate(value)


def test_big_ints_are_refused_at_any_depth() -> None:
    for value in (
        BigNumber("9" * 5000),
        [1, BigNumber("9" * 5000)],
        {"a": [BigNumber("-" + "1" * 9000)]},
    ):
        with pytest.raises(TargetdError, match="too large"):
            check_wire_value(value, "p")


def _pool_fn(pool: PoolName) -> None: ...


@given(st.text(max_size=50))
def test_pool_names_without_control_characters_are_accepted(text: str) -> None:
    control = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    try:
        bind(_pool_fn, {"pool": text})
        ok = True
    except TargetdError:
        ok = False
    surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert ok == (bool(text) and not control and not surrogate)
