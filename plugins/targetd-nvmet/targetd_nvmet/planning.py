"""Pure decisions: namespace ids, ports."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: targetd's nvmet port ids: PORT_BASE + the index of the address in ``nvme_addresses``
#: (a port id is a 16-bit number; this range stays clear of the small ids people and
#: nvmetcli's examples use).
PORT_BASE = 18700


def lowest_free(used: Iterable[int], first: int, last: int) -> int | None:
    """The lowest integer in first..last not in ``used``, or None."""
    taken = set(used)
    for n in range(first, last + 1):
        if n not in taken:
            return n
    return None


def address_family(address: str) -> str:
    """nvmet's ``addr_adrfam`` of an IP address (``ipv4``/``ipv6``)."""
    return "ipv6" if ipaddress.ip_address(address).version == 6 else "ipv4"


def port_ids(addresses: list[str]) -> dict[int, str]:
    """Port id -> address for the configured addresses."""
    return {PORT_BASE + i: a for i, a in enumerate(addresses)}
