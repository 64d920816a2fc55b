"""Names of the LIO objects targetd creates, and checks of the names clients send.

Backstores. Every volume targetd exports is one block (iblock) storage object, each in an
HBA directory of its own as rtslib/targetcli make them (``targetctl clear`` and targetcli
expect one storage object per HBA). The HBA index is derived from the storage object's
name (a hash into ``[2**30, 2**31)``, far above the lowest-free indexes rtslib allocates,
probing up to :data:`HBA_PROBES` neighbours on a collision), so finding a volume's
backstore is a few path lookups, never a scan. The storage object's name records the pool
and the volume, so ``export_list`` maps a backstore back to (pool, volume) without asking
any storage tool::

    <pool, percent-encoded>:<volume>      e.g.  vg-targetd%2Fthin_pool:vol1

The pool part is percent-encoded (``/`` -> ``%2F``, ``%`` -> ``%25``, and any other byte
outside ``[A-Za-z0-9_.+-]``), and volume names never contain ``:`` (the contract's
``^[a-zA-Z0-9_-]+$``), so the name is unambiguous and reversible. Names longer than a
configfs directory entry may be (255 bytes) use ``#<first 16 hex digits of sha256(pool)>:<volume>``
instead, decoded by hashing the configured pool names.
"""

from __future__ import annotations

import functools
import hashlib
import re
import urllib.parse
from collections.abc import Iterable

from targetd_core.plugin import Code, TargetdError

#: HBA indexes of targetd's backstores: [HBA_BASE, HBA_BASE + HBA_SPAN). rtslib and
#: targetcli allocate the lowest free index, so they never get near.
HBA_BASE = 1 << 30
HBA_SPAN = (1 << 30) - 1
HBA_PROBES = 8
NAME_LIMIT = 255
#: LIO keeps an ACL tag in 64 bytes (MAX_ACL_TAG_SIZE), and a tag starting with "NULL"
#: clears it (core_tpg_set_initiator_node_tag), so group names must respect both.
TAG_MAX = 63
#: LIO keeps CHAP user names and secrets in 256 bytes; a value starting with "NULL" unsets it.
CHAP_MAX = 255

_SAFE = "-_.+"
_IQN_RE = re.compile(r"iqn\.[0-9]{4}-[0-1][0-9]\.[^ _]+")
_EUI_RE = re.compile(r"eui\.[0-9a-f]{16}")
_NAA_RE = re.compile(r"naa\.[125c-f][0-9a-f]{15}([0-9a-f]{16})?")


def _pool_hash(pool: str) -> str:
    return "#" + hashlib.sha256(pool.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def hba_candidates(name: str) -> tuple[str, ...]:
    """The HBA directories (``iblock_<index>``) where backstore ``name`` may live."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % HBA_SPAN
    return tuple(f"iblock_{HBA_BASE + (h + i) % HBA_SPAN}" for i in range(HBA_PROBES))


def is_targetd_hba(hba: str, name: str) -> bool:
    """True if ``hba``/``name`` is where targetd would have put backstore ``name``."""
    return hba in hba_candidates(name)


def backstore_name(pool: str, volume: str) -> str:
    """The storage object name of ``pool``/``volume`` (see the module docstring)."""
    name = f"{urllib.parse.quote(pool, safe=_SAFE)}:{volume}"
    if len(name.encode()) > NAME_LIMIT:
        name = f"{_pool_hash(pool)}:{volume}"
    return name


def parse_backstore_name(name: str, pools: Iterable[str]) -> tuple[str, str] | None:
    """(pool, volume) of a storage object name made by :func:`backstore_name`, or None
    for a name targetd did not make or whose pool is not configured."""
    pool_part, sep, volume = name.rpartition(":")
    if not sep or not pool_part or not volume:
        return None
    pools = list(pools)
    if pool_part.startswith("#"):
        for p in pools:
            if _pool_hash(p) == pool_part:
                return p, volume
        return None
    pool = urllib.parse.unquote(pool_part)
    if pool not in pools or urllib.parse.quote(pool, safe=_SAFE) != pool_part:
        return None
    return pool, volume


def normalize_initiator(wwn: object, what: str = "initiator_wwn") -> str:
    """An initiator name as LIO stores it (lower case), or -32602.

    iSCSI names are case-insensitive (RFC 3722 normalises them to lower case), which is
    also what rtslib/targetcli do; an initiator must log in with the normalised name.
    """
    if not isinstance(wwn, str):
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} must be a string, got {wwn!r}")
    clean = wwn.strip().lower()
    if len(clean) > 223 or not (
        _IQN_RE.fullmatch(clean) or _EUI_RE.fullmatch(clean) or _NAA_RE.fullmatch(clean)
    ):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {wwn!r}: expected an iSCSI name such as "
            "iqn.1994-05.com.example:host1 (no spaces or '_'), eui.<16 hex> or naa.<hex>",
        )
    return clean


def check_group_tag(name: str) -> str:
    """An access group name that LIO can store as an ACL tag, or -32602."""
    if len(name) > TAG_MAX or name.startswith("NULL"):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid access group name {name!r}: LIO stores it as an ACL tag, which holds "
            f"at most {TAG_MAX} characters and may not start with 'NULL'",
        )
    return name


def check_chap_value(value: str, what: str) -> str:
    """A CHAP user name or secret that LIO can store, or -32602 (never echoes secrets)."""
    if len(value.encode()) > CHAP_MAX:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} is longer than {CHAP_MAX} bytes")
    if value.startswith("NULL"):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} may not start with 'NULL' (LIO reads that as 'unset')"
        )
    if not value.isprintable() or any(c.isspace() for c in value):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} must be printable characters without spaces"
        )
    return value
