"""NFS client specifications (the ``host`` of an export), checked against exports(5).

Accepted: ``*``; ``@netgroup``; an IPv4 address, or network as ``addr/len`` or
``addr/dotted-netmask``; an IPv6 address or ``addr/len`` (also bracketed, as clients
write them in URLs); a host name, possibly with the wildcards ``*`` and ``?``.
Nothing else: no whitespace, parentheses, quotes, ``#``, commas or control characters
can reach the exports file or exportfs, so no host can add a second export or an
option. exports(5) character classes (``[a-z]``) are not accepted (they are easily
confused with bracketed IPv6 addresses).
"""

from __future__ import annotations

import ipaddress
import re

from targetd_core.plugin import Code, TargetdError

_NETGROUP_RE = re.compile(r"@[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_LABEL_RE = re.compile(r"[A-Za-z0-9_*?]([A-Za-z0-9_*?-]{0,61}[A-Za-z0-9_*?])?")
_IPV4ISH_RE = re.compile(r"[0-9./]+")


def _bad(host: object, why: str) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, f"invalid NFS host {host!r}: {why}")


def check_host(host: object) -> str:
    """Return the host in the form it is written to the exports file, or raise -32602.

    IPv6 addresses and networks are normalised (compressed, lower case, no brackets);
    everything else is kept as given.
    """
    if not isinstance(host, str):
        raise _bad(host, "must be a string")
    if host == "*":
        return host
    if not host or len(host) > 255:
        raise _bad(host, "must be 1 to 255 characters")
    if host.startswith("@"):
        if not _NETGROUP_RE.fullmatch(host):
            raise _bad(host, "a netgroup is '@' and a name of letters, digits, '_', '.', '-'")
        return host
    if ":" in host or host.startswith("["):
        return _check_ipv6(host)
    if _IPV4ISH_RE.fullmatch(host):
        return _check_ipv4(host)
    labels = host.split(".")
    if not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise _bad(
            host,
            "not a host name, wildcard, netgroup, IPv4/IPv6 address or network "
            "(letters, digits, '-', '_', '*', '?' in dot-separated labels)",
        )
    return host


def _check_ipv4(host: str) -> str:
    addr, sep, mask = host.partition("/")
    try:
        ipaddress.IPv4Address(addr)
        if sep:
            if mask.isdigit():
                if not 0 <= int(mask) <= 32:
                    raise ValueError("prefix length out of range")
            else:
                ipaddress.IPv4Network(f"0.0.0.0/{mask}")  # a valid dotted netmask
    except ValueError as exc:
        raise _bad(host, f"not an IPv4 address or network ({exc})") from None
    return host


def _check_ipv6(host: str) -> str:
    text = host
    if text.startswith("["):
        # "[addr]", "[addr]/len" or "[addr/len]"
        m = re.fullmatch(r"\[([^\]]+)\](/\d+)?", text)
        if not m:
            raise _bad(host, "unbalanced brackets")
        text = m[1] + (m[2] or "")
    addr, sep, plen = text.partition("/")
    try:
        ip = ipaddress.IPv6Address(addr)
        if sep:
            if not plen.isdigit() or not 0 <= int(plen) <= 128:
                raise ValueError("prefix length must be 0..128")
            return f"{ip.compressed}/{int(plen)}"
    except ValueError as exc:
        raise _bad(host, f"not an IPv6 address or network ({exc})") from None
    return ip.compressed


def exportfs_spec(host: str, path: str) -> str:
    """``host:path`` as exportfs takes it on its command line (IPv6 in brackets)."""
    if ":" in host:
        return f"[{host}]:{path}"
    return f"{host}:{path}"
