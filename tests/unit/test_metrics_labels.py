"""Readable outcome labels of the per-call metrics."""

from __future__ import annotations

import pytest

from targetd_core.errors import Code
from targetd_core.metrics import LABELS, error_name, outcome_labels


def test_labels() -> None:
    assert LABELS == ["method", "outcome", "code", "error"]


def test_success_has_no_code() -> None:
    assert outcome_labels("ok") == ("ok", "", "")


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (-110, "INVALID_POOL"),
        (-303, "VOLUME_MASKED"),
        (-32602, "INVALID_ARGUMENT"),
        (-32601, "METHOD_NOT_FOUND"),
        (-32600, "INVALID_REQUEST"),
        (-32700, "PARSE_ERROR"),
        (-1, "UNEXPECTED"),
        (-7777, "OTHER"),
    ],
)
def test_errors_carry_code_and_name(code: int, name: str) -> None:
    assert outcome_labels(str(code)) == ("error", str(code), name)
    assert error_name(code) == name


def test_every_contract_code_has_its_own_name() -> None:
    names = [error_name(int(c)) for c in Code]
    assert len(set(names)) == len(names) and "OTHER" not in names


def test_unparsable_outcome() -> None:
    assert outcome_labels("weird") == ("error", "", "OTHER")


def test_plugin_codes_are_named_from_the_core_table(tmp_path) -> None:
    from targetd_core import testing

    codes = testing.build({}, ["nfs"], tmp_path).core.error_codes
    assert error_name(-400, codes) == "NFS_EXPORT_NOT_FOUND"
    assert outcome_labels("-401", codes) == ("error", "-401", "NFS_NOT_SUPPORTED")
    assert error_name(-400) == "OTHER"  # without the table
