"""NFS client specifications (the ``host`` of an export), checked against exports(5).

Accepted: ``*``; ``@netgroup``; an IPv4 address, or network as ``addr/len`` or
``addr/dotted-netmask``; an IPv6 address or ``addr/len`` (also bracketed, as clients
write them in URLs); a host name, possibly with the wildcards ``*`` and ``?``.
Nothing else: no whitespace, parentheses, quotes, ``#``, commas or control characters
can reach the exports file or exportfs, so no host can add a second export or an
option. exports(5) character classes (``[a-z]``) are not accepted (they are easily
confused with bracketed IPv6 addresses).

One canonical form: host names and wildcards are lower case (DNS names and exportfs's
own comparisons ignore case), IPv6 addresses compressed. Which exports are the same
client is exportfs's rule (:func:`same_client`): a host name and an address literal
(exportfs calls both "FQDN" clients) are one client when their addresses overlap, so
``LOCALHOST`` and ``127.0.0.1`` are one client; other kinds when their text is equal.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading

from targetd_core.plugin import Code, TargetdError

_NETGROUP_RE = re.compile(r"@[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_LABEL_RE = re.compile(r"[A-Za-z0-9_*?]([A-Za-z0-9_*?-]{0,61}[A-Za-z0-9_*?])?")
_IPV4ISH_RE = re.compile(r"[0-9./]+")


def _bad(host: object, why: str) -> TargetdError:
    return TargetdError(Code.INVALID_ARGUMENT, f"invalid NFS host {host!r}: {why}")


def check_host(host: object) -> str:
    """Return the host in the form it is written to the exports file, or raise -32602.

    IPv6 addresses and networks are normalised (compressed, lower case, no brackets),
    host names and wildcards lower-cased; netgroups and IPv4 forms are kept as given.
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
    return host.lower()


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


def canonical(host: str) -> str | None:
    """The canonical form of a host read back from a file or the live table, or None
    if it is not one targetd would accept."""
    try:
        return check_host(host)
    except Exception:  # noqa: BLE001 - anything not accepted
        return None


def is_single_client(host: str) -> bool:
    """A host name or an address literal (exportfs's "FQDN" clients): exportfs resolves
    it and treats every spec with an address in common as the same client."""
    return not (host == "*" or host.startswith("@") or "/" in host or any(c in host for c in "*?"))


def lookup(host: str, timeout: float) -> frozenset[str]:
    """The addresses of a single-client host (the literal itself for an address).

    Name resolution can hang (a slow DNS server); it runs in a thread given at most
    ``timeout`` seconds, and is never done under the storage lock. A name that does not
    resolve has no addresses.
    """
    try:
        return frozenset({ipaddress.ip_address(host).compressed})
    except ValueError:
        pass
    result: list[frozenset[str]] = []

    def resolve() -> None:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            result.append(frozenset(ipaddress.ip_address(i[4][0]).compressed for i in infos))
        except (OSError, UnicodeError, ValueError):
            result.append(frozenset())

    t = threading.Thread(target=resolve, name=f"resolve {host}", daemon=True)
    t.start()
    t.join(timeout)
    if not result:
        raise TargetdError(
            Code.UNEXPECTED,
            f"resolving the NFS host name {host!r} took more than {timeout:g} s "
            "(check this host's DNS); nothing was changed",
        )
    return result[0]


def same_client(a: str, b: str, addresses: dict[str, frozenset[str]]) -> bool:
    """exportfs's rule: equal canonical text, or two single clients with an address in
    common (``addresses`` holds what :func:`lookup` found; a host missing from it is
    compared by text only)."""
    if a.lower() == b.lower():
        return True
    if is_single_client(a) and is_single_client(b):
        return bool(addresses.get(a, frozenset()) & addresses.get(b, frozenset()))
    return False
