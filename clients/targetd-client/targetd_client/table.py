"""Aligned text tables for people."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def render_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[int] = ()
) -> str:
    """Columns separated by two spaces, padded to the widest cell; ``right``: the indexes of
    right-aligned (numeric) columns. No trailing spaces. An empty table is its header."""
    right_cols = set(right)
    cells = [[str(h) for h in headers]]
    cells += [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if i in right_cols else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
