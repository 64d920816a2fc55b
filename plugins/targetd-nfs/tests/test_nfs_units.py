"""Parsing and checking logic of the nfs plugin (no exportfs run here)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from targetd_nfs.exportfs import parse_exportfs_v
from targetd_nfs.exportsfile import Entry, escape_path, parse, render, unescape_path
from targetd_nfs.hosts import check_host, exportfs_spec, is_single_client, same_client
from targetd_nfs.options import check_options

from targetd_core.errors import TargetdError

# Captured from exportfs 2.6.2 (`exportfs -v`), including a wrapped long path and '*'.
EXPORTFS_V = """\
/tmp/nfst/c   \t::1(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash,no_all_squash)
/tmp/nfst/c   \t127.0.0.1(sync,wdelay,hide,no_subtree_check,sec=sys,rw,no_root_squash,no_all_squash)
/tmp/nfst/averyveryverylongdirectorynamethatwraps_and_more_and_more
\t\t@grp(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash,no_all_squash)
/tmp/nfst/a b \t<world>(sync,wdelay,hide,no_subtree_check,anonuid=-1,sec=sys:krb5,ro,root_squash,no_all_squash)
"""


def test_parse_exportfs_v() -> None:
    got = [(e.host, e.path, e.options[-3]) for e in parse_exportfs_v(EXPORTFS_V)]
    assert got == [
        ("::1", "/tmp/nfst/c", "rw"),
        ("127.0.0.1", "/tmp/nfst/c", "rw"),
        ("@grp", "/tmp/nfst/averyveryverylongdirectorynamethatwraps_and_more_and_more", "rw"),
        ("*", "/tmp/nfst/a b", "ro"),
    ]
    assert parse_exportfs_v("") == []


def test_exports_file_round_trip() -> None:
    entries = [
        Entry("/srv/a", "192.0.2.1", ("rw", "no_root_squash")),
        Entry("/srv/with space/é", "*", ()),
        Entry("/srv/b", "2001:db8::/64", ("ro",)),
    ]
    text = render(entries)
    assert "/srv/with\\040space/\\303\\251 *()" in text
    assert parse(text) == entries


def test_exports_file_general_syntax() -> None:
    text = (
        "# comment\n"
        '"/srv/q u" host1(rw) host2 # trailing comment\n'
        "/srv/d -ro,sync \\\n   host3 host4(rw)\n"
        "/srv/x\\040y\n"
    )
    assert parse(text) == [
        Entry("/srv/q u", "host1", ("rw",)),
        Entry("/srv/q u", "host2", ()),
        Entry("/srv/d", "host3", ("ro", "sync")),
        Entry("/srv/d", "host4", ("rw",)),
        Entry("/srv/x y", "*", ()),
    ]


def test_escape() -> None:
    for p in ("/a b", "/a\tb", "/ü", "/a#b", '/a"b', "/a(b)", "/a\\040b"):
        assert unescape_path(escape_path(p)) == p
        assert not any(c in escape_path(p) for c in ' \t#"()')


@pytest.mark.parametrize(
    ("host", "canonical", "spec"),
    [
        ("*", "*", "*:/p"),
        ("[::1]", "::1", "[::1]:/p"),
        ("FE80::/10", "fe80::/10", "[fe80::/10]:/p"),
        ("[fe80::]/10", "fe80::/10", "[fe80::/10]:/p"),
        ("[fe80::/10]", "fe80::/10", "[fe80::/10]:/p"),
        ("10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8:/p"),
        ("*.a-b.example", "*.a-b.example", "*.a-b.example:/p"),
    ],
)
def test_hosts(host: str, canonical: str, spec: str) -> None:
    assert check_host(host) == canonical
    assert exportfs_spec(canonical, "/p") == spec


@pytest.mark.parametrize("host", ["a b", "a(b)", "1.2.3.4/x", "::1/200", "[::1]x", "@", "a.-b"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(TargetdError) as info:
        check_host(host)
    assert info.value.code == -32602


def test_options() -> None:
    assert check_options(None) == []
    assert check_options("rw,sync") == ["rw", "sync"]
    assert check_options(["rw", "rw", "anonuid=0065534"]) == ["rw", "anonuid=65534"]
    assert check_options(["fsid=01234567-89ab-cdef-0123-456789abcdef", "fsid=7"][:1])
    assert check_options(["refer=/a@h1+h2:/b@h3", "mp", "nordirplus", "security_label"])
    for bad in (["auth_nlm", "insecure_locks"], ["mp", "mp=/x"], ["fsid=4294967296"], ["rw="]):
        with pytest.raises(TargetdError):
            check_options(bad)


def test_plain_names_may_be_canonicalised() -> None:
    from targetd_nfs.exportfs import _plain_name

    assert _plain_name("client1") and _plain_name("client1.example.com")
    for host in ("*", "*.example.com", "c?", "@grp", "::1", "192.0.2.1", "192.0.2.0/24"):
        assert not _plain_name(host), host


# -- one canonical host form (issue 10) ----------------------------------------------


_HOSTISH = st.text(
    alphabet=st.sampled_from("aZ09.-_*?@:/[]\n\r\t \x00()#,\"'é"), min_size=0, max_size=40
)


@settings(max_examples=400, derandomize=True)
@given(_HOSTISH)
def test_check_host_whole_string_and_idempotent(host: str) -> None:
    try:
        canon = check_host(host)
    except TargetdError as exc:
        assert exc.code == -32602
        return
    assert not any(c.isspace() or c in "\x00()#,\"'" for c in canon)
    assert check_host(canon) == canon  # the canonical form is a fixed point
    with pytest.raises(TargetdError):
        check_host(host + "\n")


def test_canonical_hosts() -> None:
    assert check_host("LOCALHOST") == "localhost"
    assert check_host("Client?.Example.COM") == "client?.example.com"
    assert check_host("@NetGroup") == "@NetGroup"  # netgroup names are the NIS map's
    assert check_host("2001:DB8::1") == "2001:db8::1"
    assert [is_single_client(h) for h in ("localhost", "127.0.0.1", "::1")] == [True] * 3
    assert not any(is_single_client(h) for h in ("*", "@g", "10.0.0.0/8", "*.example.com"))
    addrs = {"localhost": frozenset({"127.0.0.1"}), "127.0.0.1": frozenset({"127.0.0.1"})}
    assert same_client("localhost", "127.0.0.1", addrs)
    assert same_client("@G", "@g", {})
    assert not same_client("127.0.0.1", "127.0.0.2", {"127.0.0.2": frozenset({"127.0.0.2"})})
    assert not same_client("*.example.com", "a.example.com", addrs)
