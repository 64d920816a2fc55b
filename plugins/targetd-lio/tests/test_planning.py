from __future__ import annotations

import pytest
from targetd_lio import naming
from targetd_lio.planning import group_free_lun, lowest_free

from targetd_core.plugin import TargetdError, Undo


def test_lowest_free() -> None:
    assert lowest_free([], 5) == 0
    assert lowest_free([0, 1, 3], 5) == 2
    assert lowest_free(range(6), 5) is None


def test_group_free_lun_is_free_for_every_member() -> None:
    assert group_free_lun([[0, 1], [2]]) == 3
    assert group_free_lun([[0, 2], [1, 4]]) == 3
    assert group_free_lun([]) == 0
    assert group_free_lun([range(256)]) is None


def test_undo_runs_newest_first_and_survives_errors() -> None:
    done: list[int] = []
    u = Undo()
    u.add(lambda: done.append(1))
    u.add(lambda: 1 / 0)
    u.add(lambda: done.append(3))
    u.rollback()
    assert done == [3, 1]


@pytest.mark.parametrize(
    "wwn", ["iqn.1994-05.com.example:host1", "eui.0123456789abcdef", "naa.5001405abcdef012"]
)
def test_valid_initiators(wwn: str) -> None:
    assert naming.normalize_initiator(wwn.upper()) == wwn


@pytest.mark.parametrize(
    "wwn", ["", "host1", "iqn.1994-05.com.example:host_1", "iqn.x y", 5, None, "eui.123"]
)
def test_invalid_initiators(wwn: object) -> None:
    with pytest.raises(TargetdError) as ei:
        naming.normalize_initiator(wwn)
    assert ei.value.code == -32602


def test_chap_values() -> None:
    assert naming.check_chap_value("user-1@x", "in_user") == "user-1@x"
    for bad in ("NULL", "NULLx", "a b", "a\n", "x" * 256):
        with pytest.raises(TargetdError):
            naming.check_chap_value(bad, "in_pass")
