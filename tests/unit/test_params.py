from __future__ import annotations

import pytest

from targetd_core.errors import TargetdError
from targetd_core.names import check_name, check_size
from targetd_core.params import BoolLike, Lun, Name, Size, annotation_schema, bind


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
