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

from targetd_core.plugin import Code, TargetdError, check_name

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
#: RFC 3720 3.2.6.3.1 "iqn." names: ``iqn.YYYY-MM.<reversed domain>[:<unique part>]``, in
#: the iSCSI character set after stringprep (RFC 3722) restricted to ASCII: lower-case
#: letters, digits, '-', '.' and ':'. The domain labels are non-empty and separated by single
#: dots; the optional unique part after the first ':' may use the whole set.
_IQN_RE = re.compile(
    r"iqn\.[0-9]{4}-(?:0[1-9]|1[0-2])\.[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::[a-z0-9.:-]+)?"
)
#: RFC 3720 3.2.6.3.2: "eui." and an EUI-64 in 16 hex digits.
_EUI_RE = re.compile(r"eui\.[0-9a-f]{16}")
#: RFC 3980: "naa." and a 64-bit (16 hex digits) or 128-bit (32 hex digits) NAA identifier.
_NAA_RE = re.compile(r"naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})")
#: RFC 3720 3.2.6.1: an iSCSI name is at most 223 bytes (UTF-8).
ISCSI_NAME_MAX = 223
#: A unit serial targetd writes to ``wwn/vpd_unit_serial`` (a volume's uuid): printable
#: ASCII without spaces; LIO keeps at most 254 bytes (INQUIRY_VPD_SERIAL_LEN).
_SERIAL_RE = re.compile(r"[\x21-\x7e]{1,254}")
#: A mapped LUN number as the state file records it (a JSON object key).
_LUN_KEY_RE = re.compile(r"[0-9]{1,3}")
#: A CHAP user name or secret: printable ASCII without spaces (written as one configfs value).
_CHAP_RE = re.compile(r"[\x21-\x7e]+")


def _pool_hash(pool: str) -> str:
    return "#" + hashlib.sha256(pool.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def hba_candidates(name: str) -> tuple[str, ...]:
    """The HBA directories (``iblock_<index>``) where backstore ``name`` may live."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % HBA_SPAN
    return tuple(f"iblock_{HBA_BASE + (h + i) % HBA_SPAN}" for i in range(HBA_PROBES))


#: TPG LUN numbers the kernel accepts: 0..TPG_LUN_LIMIT-1. targetd puts a backstore's TPG
#: LUN at a number derived from its name (like its HBA), so finding it is a path look-up.
TPG_LUN_LIMIT = 65536
TPG_LUN_PROBES = 8


def tpg_lun_candidates(name: str) -> tuple[int, ...]:
    """The TPG LUN numbers where targetd puts the LUN of backstore ``name``, in order."""
    h = int(hashlib.sha256(b"lun:" + name.encode()).hexdigest()[:16], 16) % TPG_LUN_LIMIT
    return tuple((h + i) % TPG_LUN_LIMIT for i in range(TPG_LUN_PROBES))


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


def legacy_backstore_names(pool: str, volume: str) -> tuple[str, ...]:
    """The names targetd 0.10.x (the old daemon, through rtslib) gave ``pool``/``volume``'s
    backstore: ``<vg>:<lv>`` for LVM (the volume group: the pool name before any ``/``) and
    ``<pool with '/' as '%'>:<volume>`` for ZFS."""
    return tuple(
        dict.fromkeys((f"{pool.split('/')[0]}:{volume}", f"{pool.replace('/', '%')}:{volume}"))
    )


def legacy_candidates(name: str, pools: Iterable[str]) -> list[tuple[str, str, str]]:
    """(pool, volume, device) triples a backstore named ``name`` by the old daemon may stand
    for: the old daemon's LVM rule (device ``/dev/<vg>/<lv>``) and ZFS rule (device
    ``/dev/<pool>/<volume>``), for each configured pool. The caller compares the device
    with the backstore's ``udev_path``."""
    prefix, sep, volume = name.rpartition(":")
    if not sep or not prefix or not check_volume_name(volume):
        return []
    out = []
    for pool in pools:
        vg = pool.split("/")[0]
        if prefix == vg:
            out.append((pool, volume, f"/dev/{vg}/{volume}"))
        if prefix == pool.replace("/", "%") and "/" in pool:
            out.append((pool, volume, f"/dev/{pool}/{volume}"))
    return out


def check_volume_name(volume: str) -> bool:
    """True if ``volume`` is a contract volume name."""
    try:
        check_name(volume)
    except TargetdError:
        return False
    return True


def _shown(value: str, limit: int = 80) -> str:
    """``repr`` of a client's string for an error message, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_initiator(wwn: object, what: str = "initiator_wwn") -> str:
    """An iSCSI name (initiator or target) as LIO stores it, or -32602.

    The one check of iSCSI names: ``iqn.`` (RFC 3720), ``eui.`` (RFC 3720) and ``naa.``
    (RFC 3980) names matched as whole strings. Upper-case ASCII letters are folded to lower
    case (iSCSI names are case-insensitive; RFC 3722 maps them to lower case, as
    rtslib/targetcli do), and that is the only change: nothing is stripped, so a name with
    spaces, a newline, NUL, '/' or any other character outside the iSCSI set is refused.
    Non-ASCII names (which RFC 3722 permits after stringprep) are refused too: an ACL only
    works if the initiator applies exactly the same normalisation, and look-alike
    characters would make two ACLs appear the same. The result is always a single plain
    configfs directory name.
    """
    if not isinstance(wwn, str):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} must be a string, got {type(wwn).__name__}"
        )
    # only ASCII is folded: str.lower() maps some non-ASCII letters to ASCII (KELVIN SIGN -> k)
    clean = wwn.lower() if wwn.isascii() else wwn
    if (
        not clean.isascii()
        or len(clean) > ISCSI_NAME_MAX
        or not (_IQN_RE.fullmatch(clean) or _EUI_RE.fullmatch(clean) or _NAA_RE.fullmatch(clean))
    ):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {_shown(wwn)}: expected an iSCSI name of at most "
            f"{ISCSI_NAME_MAX} characters: iqn.YYYY-MM.reversed.domain[:unique] using only "
            "a-z, 0-9, '-', '.' and ':' (e.g. iqn.1994-05.com.example:host1), "
            "eui.<16 hex digits> or naa.<16 or 32 hex digits>",
        )
    return clean


def check_group_tag(name: str) -> str:
    """An access group name that LIO can store as an ACL tag, or -32602.

    Group names are also contract names (:func:`targetd_core.names.check_name`, checked
    by the parameter type), so they hold no separator, space or control character.
    """
    if len(name) > TAG_MAX or name.startswith("NULL"):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid access group name {name!r}: LIO stores it as an ACL tag, which holds "
            f"at most {TAG_MAX} characters and may not start with 'NULL'",
        )
    return name


def check_chap_value(value: object, what: str) -> str:
    """A CHAP user name or secret that LIO can store, or -32602 (never echoes the value).

    Printable ASCII without spaces, at most 255 bytes, not starting with ``NULL`` (LIO
    reads that as "unset"). A newline would be cut off by the kernel and a NUL would end
    the value early: both, and every other control character, are refused, not stripped.
    """
    if not isinstance(value, str):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} must be a string, got {type(value).__name__}"
        )
    if len(value) > CHAP_MAX:
        raise TargetdError(Code.INVALID_ARGUMENT, f"{what} is longer than {CHAP_MAX} bytes")
    if not _CHAP_RE.fullmatch(value):
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"{what} must be printable ASCII characters (no spaces, control characters or "
            "non-ASCII letters)",
        )
    if value.startswith("NULL"):
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"{what} may not start with 'NULL' (LIO reads that as 'unset')"
        )
    return value


def is_serial(value: object) -> bool:
    """True if ``value`` may be written as a unit serial."""
    return isinstance(value, str) and _SERIAL_RE.fullmatch(value) is not None


def parse_lun_key(value: object, limit: int = 255) -> int | None:
    """A host LUN number written as a string (``"0"``..``"255"``), or None."""
    if not isinstance(value, str) or not _LUN_KEY_RE.fullmatch(value):
        return None
    number = int(value)
    return number if number <= limit else None
