from __future__ import annotations

from targetd_client.table import render_table


def test_columns_aligned_and_no_trailing_spaces() -> None:
    out = render_table(
        ["NAME", "SIZE", "UUID"],
        [["a", "10G", "u1"], ["longer-name", "512M", "u2"], ["b", "1.5T", None]],
        right=(1,),
    )
    assert out.splitlines() == [
        "NAME         SIZE  UUID",
        "a             10G  u1",
        "longer-name  512M  u2",
        "b            1.5T",
    ]


def test_empty_table_is_its_header() -> None:
    assert render_table(["HOST", "PATH"], []) == "HOST  PATH"


def test_non_string_cells() -> None:
    assert render_table(["LUN"], [[0], [12]], right=(0,)).splitlines() == ["LUN", "  0", " 12"]
