"""Pure decisions: LUN numbers."""

from __future__ import annotations

from collections.abc import Iterable

#: Host LUN ids a client may ask for (the contract's 0..255).
MAX_HOST_LUN = 255
#: TPG LUN numbers the kernel accepts.
MAX_TPG_LUN = 65535


def lowest_free(used: Iterable[int], limit: int) -> int | None:
    """The lowest integer in 0..limit not in ``used``, or None."""
    taken = set(used)
    for n in range(limit + 1):
        if n not in taken:
            return n
    return None


def group_free_lun(members_luns: Iterable[Iterable[int]]) -> int | None:
    """The lowest host LUN id (0..255) free for EVERY member of an access group."""
    used: set[int] = set()
    for luns in members_luns:
        used.update(luns)
    return lowest_free(used, MAX_HOST_LUN)
