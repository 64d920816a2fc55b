from __future__ import annotations

import pytest

from targetd_client import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("4096", 4096),
        ("10G", 10 * 2**30),
        ("10g", 10 * 2**30),
        ("512M", 512 * 2**20),
        ("1.5T", 3 * 2**39),
        ("1K", 1024),
        ("2KiB", 2048),
        ("3MB", 3 * 2**20),
        ("1E", 2**60),
        ("2P", 2**51),
        (" 7 G ", 7 * 2**30),
        ("100b", 100),
        (".5K", 512),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "ten", "-1G", "1X", "1.1K", "0.3", "1e3", "1..2G"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0B"),
        (1023, "1023B"),
        (1024, "1K"),
        (10 * 2**30, "10G"),
        (3 * 2**39, "1.5T"),
        (512 * 2**20, "512M"),
        (1536 * 2**20, "1.5G"),
        (2**30 + 1, "1G"),
        (2**30 - 1, "1G"),  # 1023.999..M rounds up to the next unit
        (int(1.25 * 2**20), "1.25M"),
        (2**70, "1024E"),
    ],
)
def test_format_size(n: int, expected: str) -> None:
    assert format_size(n) == expected


@pytest.mark.parametrize("n", [1, 1024, 10 * 2**30, 3 * 2**39, 5 * 2**50, 768 * 2**10])
def test_round_trip_of_round_values(n: int) -> None:
    assert parse_size(format_size(n)) == n
