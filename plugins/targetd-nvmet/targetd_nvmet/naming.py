"""Names and identities: host NQNs, targetd's subsystem NQNs, namespace ids, the
namespace UUID/NGUID derived from a volume's uuid, DH-HMAC-CHAP secrets.

Every rule for a client-supplied value lives here, checked on whole strings
(``re.fullmatch``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
import zlib

from targetd_core.plugin import Code, TargetdError

#: Longest NQN (NVMe base specification: 223 bytes, UTF-8).
NQN_MAX = 223
#: ``nqn.yyyy-mm.<reverse domain>[:<string>]`` (the specification's first format; the
#: second, ``nqn.2014-08.org.nvmexpress:uuid:<uuid>``, is an instance of it). targetd
#: accepts a strict subset: lower-case domain labels, and a suffix of ASCII letters,
#: digits and ``. _ : -`` (no ``/``, space, NUL or anything else a path could misread).
NQN_RE = re.compile(
    r"nqn\.[0-9]{4}-(?:0[1-9]|1[0-2])"
    r"\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"(?::[A-Za-z0-9._:-]+)?"
)
#: The discovery subsystem's well-known NQN: never a host, never targetd's.
DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery"
#: targetd's subsystems: ``<prefix>:host-<32 hex digits>``; the digits are a hash of the
#: host NQN, so the name is short, fixed for a host, and a host NQN can never make it
#: longer than 223 bytes.
SUBSYS_TAG = ":host-"
SUBSYS_HEX_RE = re.compile(r"[0-9a-f]{32}")
#: Namespace ids targetd hands out and accepts (the kernel's NVMET_MAX_NAMESPACES is 1024).
NSID_MAX = 1024
#: A namespace's identity is uuid5(this namespace, volume uuid); the NGUID is the same
#: 16 bytes, so the two never disagree.
IDENTITY_NAMESPACE = uuid.UUID("6f1c7c54-3f5e-4a55-9c3e-7a0b8d9e2d11")
#: A DH-HMAC-CHAP secret as ``nvme gen-dhchap-key`` prints it: ``DHHC-1:<hh>:<base64>:``
#: with hh 00 (no transformation), 01 (SHA-256), 02 (SHA-384), 03 (SHA-512), and the
#: base64 of a 32, 48 or 64 byte key followed by its CRC-32 (little-endian).
DHCHAP_RE = re.compile(r"DHHC-1:0[0-3]:([A-Za-z0-9+/]+={0,2}):")
DHCHAP_HASHES = ("hmac(sha256)", "hmac(sha384)", "hmac(sha512)")
DHCHAP_DHGROUPS = ("null", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192")


def check_nqn(value: object, what: str = "host NQN") -> str:
    """Return ``value`` if it is an NQN targetd accepts, else raise -32602."""
    if (
        not isinstance(value, str)
        or not NQN_RE.fullmatch(value)
        or len(value.encode()) > NQN_MAX
        or value == DISCOVERY_NQN
    ):
        shown = repr(value) if len(repr(value)) <= 100 else repr(value)[:100] + "..."
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what} {shown}: an NQN is nqn.<yyyy>-<mm>.<reverse domain, lower case>"
            f"[:<letters, digits, '.', '_', ':', '-'>], at most {NQN_MAX} bytes "
            "(e.g. the host's /etc/nvme/hostnqn)",
        )
    return value


def subsystem_nqn(prefix: str, host_nqn: str) -> str:
    """targetd's subsystem for one host: fixed for that host, whatever the reboots."""
    digest = hashlib.sha256(host_nqn.encode()).hexdigest()[:32]
    return f"{prefix}{SUBSYS_TAG}{digest}"


def is_targetd_subsystem(prefix: str, name: str) -> bool:
    """True for a subsystem directory name made by :func:`subsystem_nqn` with ``prefix``."""
    head, tag, digest = name.rpartition(SUBSYS_TAG)
    return head == prefix and tag == SUBSYS_TAG and bool(SUBSYS_HEX_RE.fullmatch(digest))


def check_subsystem_prefix(value: str) -> str:
    """The configured prefix of targetd's subsystem NQNs (a config check: ValueError)."""
    room = NQN_MAX - len(SUBSYS_TAG) - 32
    if not NQN_RE.fullmatch(value) or len(value.encode()) > room or ":host-" in value:
        raise ValueError(
            f"must be an NQN (nqn.<yyyy>-<mm>.<reverse domain>[:<string>]) of at most "
            f"{room} bytes, without ':host-'"
        )
    return value


def check_nsid(value: object) -> int:
    """Return ``value`` if it is a namespace id targetd accepts (1..NSID_MAX)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= NSID_MAX:
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid namespace id {value!r}: it must be an integer from 1 to {NSID_MAX}",
        )
    return value


def namespace_uuid(volume_uuid: str) -> uuid.UUID:
    """The namespace UUID (and NGUID) of a volume: a host sees the same identity after a
    re-export and a reboot, and a new volume of the same name gets a new one."""
    return uuid.uuid5(IDENTITY_NAMESPACE, volume_uuid)


def namespace_nguid(volume_uuid: str) -> str:
    return str(namespace_uuid(volume_uuid))


def check_dhchap_secret(value: object, what: str) -> str:
    """Return ``value`` if it is a well-formed DH-HMAC-CHAP secret (format, key length,
    CRC); the message never repeats the value."""
    m = DHCHAP_RE.fullmatch(value) if isinstance(value, str) else None
    ok = False
    if m is not None:
        try:
            raw = base64.b64decode(m.group(1), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) in (36, 52, 68):
            key, crc = raw[:-4], raw[-4:]
            ok = zlib.crc32(key).to_bytes(4, "little") == crc
    if not ok:
        raise TargetdError(
            Code.INVALID_ARGUMENT,
            f"invalid {what}: a DH-HMAC-CHAP secret is DHHC-1:<00..03>:<base64 of a 32, 48 or "
            "64 byte key and its CRC-32>: as `nvme gen-dhchap-key` prints it",
        )
    return value  # type: ignore[return-value]


def check_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise TargetdError(
            Code.INVALID_ARGUMENT, f"invalid {what} {value!r}: one of {', '.join(choices)}"
        )
    return value
