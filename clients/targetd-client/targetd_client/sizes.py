"""Human sizes, powers of 1024: ``10G`` <-> 10737418240."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

UNITS = "KMGTPE"
_SIZE = re.compile(r"(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?:(?P<unit>[kmgtpe])(?:i?b)?|b)?", re.I)


def parse_size(text: str) -> int:
    """``"10G"``, ``"512M"``, ``"1.5T"``, ``"4096"``, ``"10GiB"`` -> bytes (1K = 1024).

    Raises ValueError for anything else, and for a fraction of a byte (``"1.1K"``).
    """
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise ValueError(
            f"not a size: {text!r} (use bytes, or a number with K, M, G, T, P or E: 10G, 1.5T)"
        )
    try:
        number = Decimal(m["num"])
    except InvalidOperation as e:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"not a size: {text!r}") from e
    unit = m["unit"]
    exact = number * (1024 ** (UNITS.index(unit.upper()) + 1) if unit else 1)
    if exact != exact.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes ({exact})")
    return int(exact)


def format_size(n: int) -> str:
    """Bytes -> the largest unit with at most two decimals: 10G, 1.5T, 512M, 100B.

    Exact for round values; others are rounded (use bytes where exactness matters).
    """
    if n < 1024:
        return f"{n}B"
    value = Decimal(n)
    unit = ""
    for u in UNITS:
        if value < 1024:
            break
        value /= 1024
        unit = u
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    if text == "1024" and unit != UNITS[-1]:  # 1023.999.. rounded up
        text, unit = "1", UNITS[UNITS.index(unit) + 1]
    return f"{text}{unit}"
