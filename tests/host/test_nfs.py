"""NFS exports on this host: exportfs works without nfsd, so every method, option and
host rule, the exports file and its rewriting, rollback and restart persistence are
checked against the real exportfs. Nothing is mounted here (that is the real-kernel
tier). Tests use a temporary exports file; the host's /etc/exports and /etc/exports.d
are checked to be untouched, and every export made is unexported at teardown."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from targetd_core.errors import TargetdError
from targetd_core.plugins import StartupError

from .fsfixtures import (  # noqa: F401
    InProcess,
    btrfs_pool,
    exports_cleanup,
    live_exports,
    make_core,
    require,
)

PLUGIN = "nfs"


class Nfs:
    """An in-process core with the nfs plugin, a temp export root and exports file."""

    def __init__(self, tmp: Path, added: list[tuple[str, str]], **config: object) -> None:
        self.tmp = tmp
        self.root = tmp / "exports-root"
        self.root.mkdir(exist_ok=True)
        self.file = tmp / "exports.d" / "targetd.exports"
        self.added = added
        cfg = {
            "nfs_exports_file": str(self.file),
            "nfs_export_allowed_paths": [str(self.root)],
        }
        cfg.update(config)
        self.t = make_core(tmp, [PLUGIN], **cfg)

    def dir(self, name: str) -> Path:
        d = self.root / name
        d.mkdir(exist_ok=True)
        return d

    def add(self, host: str, path: Path | str, options: object = None, **kw: object) -> dict:
        self.added.append((host, str(path)))
        return self.t.call("nfs_export_add", host=host, path=str(path), options=options, **kw)

    def code(self, method: str, **params: object) -> int:
        return self.t.error(method, **params).code

    def listed(self, path: Path | str) -> dict[str, list[str]]:
        return {
            e["host"]: e["options"]
            for e in self.t.call("nfs_export_list")
            if e["path"] == str(path)
        }

    def file_text(self) -> str | None:
        return self.file.read_text() if self.file.exists() else None


@pytest.fixture()
def nfs(tmp_path: Path, exports_cleanup: list[tuple[str, str]]) -> Nfs:  # noqa: F811
    require("exportfs")
    return Nfs(tmp_path, exports_cleanup)


def test_auth_list(nfs: Nfs) -> None:
    assert nfs.t.call("nfs_export_auth_list") == ["sys", "krb5", "krb5i", "krb5p"]
    m = nfs.t.core.methods
    assert (
        not m["nfs_export_list"].changes_storage and not m["nfs_export_auth_list"].changes_storage
    )
    assert m["nfs_export_add"].changes_storage and m["nfs_export_remove"].changes_storage


def test_add_list_remove(nfs: Nfs) -> None:
    d = nfs.dir("a")
    assert nfs.add("192.0.2.1", d, ["rw", "no_root_squash"]) == {
        "host": "192.0.2.1",
        "path": str(d),
    }
    opts = nfs.listed(d)["192.0.2.1"]
    assert "rw" in opts and "no_root_squash" in opts and "sec=sys" in opts
    assert str(d) in live_exports()
    assert nfs.file_text().splitlines()[-1] == f"{d} 192.0.2.1(rw,no_root_squash,no_subtree_check)"
    nfs.t.call("nfs_export_remove", host="192.0.2.1", path=str(d))
    assert nfs.listed(d) == {}
    assert str(d) not in live_exports()
    assert f"{d} " not in nfs.file_text()
    assert nfs.code("nfs_export_remove", host="192.0.2.1", path=str(d)) == -400
    assert nfs.code("nfs_export_remove", host="192.0.2.99", path="/nowhere") == -400


def test_option_forms(nfs: Nfs) -> None:
    d = nfs.dir("forms")
    nfs.add("192.0.2.2", d, "rw")  # a single option as a plain string
    nfs.add("192.0.2.3", d, None)  # none: the defaults (read-only, root squashed)
    nfs.add("192.0.2.4", d, [])
    nfs.add("192.0.2.5", d, ["anonuid=-1", "anongid=100", "sec=krb5p:sys", "fsid=root", "ro"])
    nfs.add("192.0.2.6", d, ["rw,sync", "rw"])  # comma list and a duplicate
    listed = nfs.listed(d)
    assert "rw" in listed["192.0.2.2"]
    assert "ro" in listed["192.0.2.3"] and "root_squash" in listed["192.0.2.3"]
    assert "ro" in listed["192.0.2.4"]
    assert {"anonuid=-1", "sec=krb5p:sys", "ro"} <= set(listed["192.0.2.5"])
    assert "rw" in listed["192.0.2.6"] and "sync" in listed["192.0.2.6"]
    lines = nfs.file_text().splitlines()
    assert f"{d} 192.0.2.3(no_subtree_check)" in lines
    assert f"{d} 192.0.2.6(rw,sync,no_subtree_check)" in lines


BAD_OPTIONS = [
    ["bogus"],
    ["rw", "ro"],
    ["sync", "async"],
    ["secure", "insecure"],
    ["hide", "nohide"],
    ["wdelay", "no_wdelay"],
    ["root_squash", "no_root_squash"],
    ["all_squash", "no_all_squash"],
    ["subtree_check", "no_subtree_check"],
    ["secure_locks", "no_auth_nlm"],
    ["anonuid=x"],
    ["anonuid=-2"],
    ["anonuid=4294967296"],
    ["anonuid="],
    ["anonuid=1", "anonuid=2"],
    ["sec=foo"],
    ["sec="],
    ["sec=sys:sys"],
    ["fsid=abc"],
    ["mountpoint=relative"],
    ["refer=/a"],
    ["replicas=/a@host name"],
    ["rw(no_root_squash)"],
    ["rw) 10.0.0.1(rw"],
    ["rw\n/ *(rw,no_root_squash)"],
    ["rw#"],
    ["rw\n"],
    ["rw\x00"],
    "rw\r",
    ["rw,\tsync"],
    ["bogus=1"],
    [1],
    {"rw": True},
    7,
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=[repr(o)[:30] for o in BAD_OPTIONS])
def test_bad_options(nfs: Nfs, options: object) -> None:
    d = nfs.dir("bad")
    assert nfs.code("nfs_export_add", host="192.0.2.9", path=str(d), options=options) == -32602
    assert nfs.listed(d) == {} and nfs.file_text() is None


GOOD_HOSTS = {
    "*": "*",
    "@trusted": "@trusted",
    "192.0.2.10": "192.0.2.10",
    "192.0.2.0/24": "192.0.2.0/24",
    "198.51.100.0/255.255.255.0": "198.51.100.0/255.255.255.0",
    "2001:DB8::1": "2001:db8::1",
    "[2001:db8::2]": "2001:db8::2",
    "2001:db8:1::/64": "2001:db8:1::/64",
    "[2001:db8:2::]/48": "2001:db8:2::/48",
    "*.example.com": "*.example.com",
    "client?.example.com": "client?.example.com",
}


def test_host_formats(nfs: Nfs) -> None:
    d = nfs.dir("hosts")
    for given, canonical in GOOD_HOSTS.items():
        assert nfs.add(given, d, ["ro"])["host"] == canonical
        nfs.added.append((canonical, str(d)))
    assert set(nfs.listed(d)) == set(GOOD_HOSTS.values())
    for canonical in GOOD_HOSTS.values():
        nfs.t.call("nfs_export_remove", host=canonical, path=str(d))
    assert nfs.listed(d) == {}


def test_plain_host_name(nfs: Nfs) -> None:
    """A resolvable name is exported; exportfs may list it under its canonical name,
    and removing it by the name it was added with works."""
    d = nfs.dir("named")
    assert nfs.add("localhost", d, ["ro"]) == {"host": "localhost", "path": str(d)}
    assert len(nfs.listed(d)) == 1
    nfs.t.call("nfs_export_remove", host="localhost", path=str(d))
    assert nfs.listed(d) == {}


BAD_HOSTS = [
    "",
    " ",
    "a b",
    "host(rw)",
    "host\n/ *",
    "#host",
    '"host"',
    "a,b",
    "192.0.2.0/33",
    "192.0.2.0/255.0.255.0",
    "300.1.1.1",
    "::1/129",
    "[::1",
    "@",
    "@a b",
    "a..b",
    "-a",
    "host[0-9]",
    "x" * 300,
    None,
    5,
]


@pytest.mark.parametrize("host", BAD_HOSTS, ids=[repr(h)[:20] for h in BAD_HOSTS])
def test_bad_hosts(nfs: Nfs, host: object) -> None:
    d = nfs.dir("badhost")
    assert nfs.code("nfs_export_add", host=host, path=str(d), options=["rw"]) == -32602
    assert nfs.listed(d) == {} and nfs.file_text() is None


def test_paths(nfs: Nfs, tmp_path: Path) -> None:
    ok = nfs.dir("ok")
    (ok / "sub").mkdir()
    (ok / "file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (nfs.root / "escape").symlink_to("/etc")
    (nfs.root / "inside-link").symlink_to(ok / "sub")
    for bad in (
        "/",
        "/etc",
        str(outside),
        str(nfs.root / "escape"),
        str(nfs.root / ".." / "outside"),
        str(ok / ".." / ".." / "outside"),
        str(ok / "missing"),
        str(ok / "file"),
        "relative/path",
        "",
        str(ok) + "\n",
    ):
        assert nfs.code("nfs_export_add", host="192.0.2.20", path=bad, options=["rw"]) == -32602, (
            bad
        )
    assert nfs.file_text() is None
    # inside: trailing slash, symlink inside the root: stored resolved
    assert nfs.add("192.0.2.20", str(ok) + "/", ["rw"])["path"] == str(ok)
    assert nfs.add("192.0.2.21", nfs.root / "inside-link", ["rw"])["path"] == str(ok / "sub")
    nfs.added.append(("192.0.2.21", str(ok / "sub")))
    # the export root itself is allowed; a space in a path is written escaped
    spaced = nfs.dir("with space")
    nfs.add("192.0.2.22", spaced, ["rw"])
    assert (
        f"{nfs.root}/with\\040space 192.0.2.22(rw,no_subtree_check)" in nfs.file_text().splitlines()
    )
    assert "192.0.2.22" in nfs.listed(spaced)
    nfs.t.call("nfs_export_remove", host="192.0.2.22", path=str(spaced))
    assert nfs.listed(spaced) == {}


def test_export_path_argument(nfs: Nfs) -> None:
    d = nfs.dir("ep")
    nfs.add("192.0.2.30", d, ["rw"], export_path=None)
    for value in ("/x", "", 0, ["/x"]):
        assert (
            nfs.code(
                "nfs_export_add", host="192.0.2.31", path=str(d), options=["rw"], export_path=value
            )
            == -401
        )
    assert set(nfs.listed(d)) == {"192.0.2.30"}


def test_chown_refused_by_default(nfs: Nfs) -> None:
    d = nfs.dir("own")
    before = os.stat(d)
    assert (
        nfs.code("nfs_export_add", host="192.0.2.40", path=str(d), options=["rw"], chown="1234")
        == -153
    )
    assert (
        nfs.code("nfs_export_add", host="192.0.2.40", path=str(d), options=["rw"], chown="x")
        == -32602
    )
    st = os.stat(d)
    assert (st.st_uid, st.st_gid) == (before.st_uid, before.st_gid)
    assert nfs.listed(d) == {} and nfs.file_text() is None
    nfs.add("192.0.2.40", d, ["rw"], chown=None)


def test_chown_when_allowed(tmp_path: Path, exports_cleanup: list[tuple[str, str]]) -> None:  # noqa: F811
    require("exportfs")
    nfs = Nfs(tmp_path, exports_cleanup, allow_chown=True)
    a, b = nfs.dir("a"), nfs.dir("b")
    nfs.add("192.0.2.41", a, ["rw"], chown="1234:5678")
    assert (os.stat(a).st_uid, os.stat(a).st_gid) == (1234, 5678)
    gid = os.stat(b).st_gid
    nfs.add("192.0.2.41", b, ["rw"], chown="4321")
    assert (os.stat(b).st_uid, os.stat(b).st_gid) == (4321, gid)
    for bad in ("1:2:3", "-1", "a:b", "1:", " 1", "4294967296"):
        assert (
            nfs.code("nfs_export_add", host="192.0.2.42", path=str(a), options=["rw"], chown=bad)
            == -32602
        )


def test_readd_changes_options(nfs: Nfs) -> None:
    d = nfs.dir("re")
    nfs.add("192.0.2.50", d, ["ro"])
    nfs.add("192.0.2.50", d, ["rw", "no_root_squash"])
    opts = nfs.listed(d)["192.0.2.50"]
    assert "rw" in opts and "no_root_squash" in opts and "ro" not in opts
    assert [ln for ln in nfs.file_text().splitlines() if not ln.startswith("#")] == [
        f"{d} 192.0.2.50(rw,no_root_squash,no_subtree_check)"
    ]


def test_exports_made_outside_targetd_are_left_alone(nfs: Nfs) -> None:
    d = nfs.dir("admin")
    subprocess.run(["exportfs", "-o", "ro", f"192.0.2.60:{d}"], check=True)
    nfs.added.append(("192.0.2.60", str(d)))
    assert "ro" in nfs.listed(d)["192.0.2.60"]  # listed with the others
    assert nfs.code("nfs_export_add", host="192.0.2.60", path=str(d), options=["rw"]) == -153
    assert nfs.code("nfs_export_remove", host="192.0.2.60", path=str(d)) == -153
    assert "ro" in nfs.listed(d)["192.0.2.60"]
    assert nfs.file_text() is None


def test_failed_exportfs_leaves_nothing(
    tmp_path: Path,
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
) -> None:
    """exportfs says 'Failed to resolve' (with exit 0) for an unknown host name: the
    file, the owner and the live table are restored."""
    require("exportfs")
    nfs = Nfs(tmp_path, exports_cleanup, allow_chown=True)
    d = nfs.dir("fail")
    nfs.add("192.0.2.70", d, ["rw"])
    before_text = nfs.file_text()
    before_owner = (os.stat(d).st_uid, os.stat(d).st_gid)
    err = nfs.t.error(
        "nfs_export_add", host="no-such-host.invalid", path=str(d), options=["rw"], chown="999:999"
    )
    assert err.code == -1 and "exportfs" in err.message
    assert nfs.file_text() == before_text
    assert (os.stat(d).st_uid, os.stat(d).st_gid) == before_owner
    assert set(nfs.listed(d)) == {"192.0.2.70"}


def test_exports_file_rewritten_atomically(nfs: Nfs) -> None:
    d1, d2 = nfs.dir("f1"), nfs.dir("f2")
    nfs.add("192.0.2.80", d1, ["rw"])
    ino = os.stat(nfs.file).st_ino
    nfs.add("192.0.2.81", d2, ["ro", "sec=krb5"])
    assert os.stat(nfs.file).st_ino != ino  # a new file renamed over the old one
    assert os.listdir(nfs.file.parent) == ["targetd.exports"]  # no temp file left
    assert oct(os.stat(nfs.file).st_mode & 0o777) == "0o644"
    text = nfs.file_text()
    assert text.startswith("# Managed by targetd")
    assert [ln for ln in text.splitlines() if not ln.startswith("#")] == [
        f"{d1} 192.0.2.80(rw,no_subtree_check)",
        f"{d2} 192.0.2.81(ro,sec=krb5,no_subtree_check)",
    ]
    # a hand-made line is kept through our rewrites
    with open(nfs.file, "a") as f:
        f.write(f'"{d2}" 192.0.2.82(rw) # added by hand\n')
    nfs.t.call("nfs_export_remove", host="192.0.2.80", path=str(d1))
    assert f"{d2} 192.0.2.82(rw)" in nfs.file_text()


def test_restart_reapplies_and_lists(nfs: Nfs) -> None:
    """After a reboot (simulated: unexport by hand) a new daemon exports ours again."""
    d = nfs.dir("persist")
    nfs.add("192.0.2.90", d, ["rw", "no_root_squash"])
    subprocess.run(["exportfs", "-u", f"192.0.2.90:{d}"], check=True)
    assert nfs.listed(d) == {}
    again = nfs.t.rebuilt()
    (entry,) = [e for e in again.call("nfs_export_list") if e["path"] == str(d)]
    assert entry["host"] == "192.0.2.90" and "no_root_squash" in entry["options"]
    again.call("nfs_export_remove", host="192.0.2.90", path=str(d))
    assert nfs.listed(d) == {}


def test_exports_file_config(tmp_path: Path) -> None:
    from targetd_nfs.plugin import DEFAULT_EXPORTS_FILE

    assert DEFAULT_EXPORTS_FILE == "/etc/exports.d/targetd.exports"
    for bad, why in (
        ("/etc/exports", "administrator"),
        ("/etc/exports.d/targetd.conf", ".exports"),
        ("relative.exports", "absolute"),
    ):
        with pytest.raises(StartupError) as info:
            make_core(tmp_path, [PLUGIN], nfs_exports_file=bad)
        assert any(p.startswith("nfs_exports_file:") and why in p for p in info.value.problems)
    with pytest.raises(StartupError):
        make_core(tmp_path, [PLUGIN], allow_chown="yes")
    t = make_core(tmp_path, [PLUGIN])  # no exports file yet: nothing to re-apply
    assert t.core.config["allow_chown"] is False


def test_fs_pools_are_export_roots(
    tmp_path: Path,
    btrfs_pool: Path,  # noqa: F811
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
) -> None:
    """Without nfs_export_allowed_paths, only the fs pools can be exported."""
    require("exportfs")
    t = make_core(
        tmp_path,
        ["btrfs-fs", PLUGIN],
        fs_pools=[str(btrfs_pool)],
        nfs_exports_file=str(tmp_path / "t.exports"),
    )
    t.call("fs_create", pool_name=str(btrfs_pool), name="shared", size_bytes=0)
    (fs,) = t.call("fs_list")
    exports_cleanup.append(("192.0.2.100", fs["full_path"]))
    t.call("nfs_export_add", host="192.0.2.100", path=fs["full_path"], options=["rw"])
    assert any(e["path"] == fs["full_path"] for e in t.call("nfs_export_list"))
    other = tmp_path / "notapool"
    other.mkdir()
    assert (
        t.error("nfs_export_add", host="192.0.2.100", path=str(other), options=["rw"]).code
        == -32602
    )
    t.call("nfs_export_remove", host="192.0.2.100", path=fs["full_path"])


def test_through_the_http_daemon(
    tmp_path: Path,
    btrfs_pool: Path,  # noqa: F811
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
) -> None:
    """End to end through the real daemon (gunicorn, 2 workers): btrfs + NFS."""
    require("exportfs")
    from .daemon import start_daemon

    d = start_daemon(
        tmp_path,
        plugins=["btrfs-fs", PLUGIN],
        fs_pools=[str(btrfs_pool)],
        nfs_exports_file=str(tmp_path / "exports.d" / "targetd.exports"),
    )
    try:
        d.call("fs_create", pool_name=str(btrfs_pool), name="web", size_bytes=64 << 20)
        (fs,) = d.call("fs_list")
        assert fs["total_space"] == 64 << 20
        d.call("fs_snapshot", fs_uuid=fs["uuid"], dest_ss_name="snap")
        (ss,) = d.call("ss_list", fs_uuid=fs["uuid"])
        d.call("fs_clone", fs_uuid=fs["uuid"], dest_fs_name="web2", snapshot_id=ss["uuid"])
        exports_cleanup.append(("192.0.2.110", fs["full_path"]))
        res = d.call(
            "nfs_export_add",
            host="192.0.2.110",
            path=fs["full_path"],
            options="rw",
            export_path=None,
        )
        assert res == {"host": "192.0.2.110", "path": fs["full_path"]}
        listed = [e for e in d.call("nfs_export_list") if e["path"] == fs["full_path"]]
        assert listed and "rw" in listed[0]["options"]
        assert (
            d.error_code("nfs_export_add", host="a b", path=fs["full_path"], options=None) == -32602
        )
        assert d.error_code("nfs_export_add", host="192.0.2.1", path="/", options=None) == -32602
        d.call("nfs_export_remove", host="192.0.2.110", path=fs["full_path"])
        assert d.error_code("nfs_export_remove", host="192.0.2.110", path=fs["full_path"]) == -400
        d.call("fs_destroy", uuid=fs["uuid"])
        assert [f["name"] for f in d.call("fs_list")] == ["web2"]
    finally:
        d.stop()


def test_remove_after_the_directory_is_gone(nfs: Nfs) -> None:
    """A destroyed file system's export can still be removed."""
    d = nfs.dir("gone")
    nfs.add("192.0.2.120", d, ["rw"])
    d.rmdir()
    nfs.t.call("nfs_export_remove", host="192.0.2.120", path=str(d))
    assert nfs.listed(d) == {} and f"{d} " not in nfs.file_text()


def test_failed_update_restores_the_previous_export(nfs: Nfs, monkeypatch) -> None:
    """Re-adding with new options, when exportfs fails, leaves the old export as it was."""
    from targetd_nfs import exportfs

    d = nfs.dir("upd")
    nfs.add("192.0.2.130", d, ["ro", "root_squash"])
    before = (nfs.file_text(), nfs.listed(d))
    real_in_force = exportfs._in_force
    calls = []

    def fail_once(host: str, path: str) -> bool:
        calls.append(host)
        return False if len(calls) == 1 else real_in_force(host, path)

    monkeypatch.setattr(exportfs, "_in_force", fail_once)
    err = nfs.t.error("nfs_export_add", host="192.0.2.130", path=str(d), options=["rw"])
    assert err.code == -1
    assert (nfs.file_text(), nfs.listed(d)) == before
    assert "ro" in nfs.listed(d)["192.0.2.130"]


# -- issue 10: hostile input, links, hung tools, one canonical host form ------------


def _etab_lines(path: Path | str) -> list[str]:
    try:
        text = Path("/var/lib/nfs/etab").read_text()
    except FileNotFoundError:
        return []
    return [ln for ln in text.splitlines() if ln.split("\t")[0] == str(path)]


@pytest.mark.parametrize("host", ["*\n", "192.0.2.150\n", "@grp\n", "h\x00", "2001:db8::1\n"])
def test_host_with_newline_or_nul_changes_nothing(nfs: Nfs, host: str) -> None:
    """The old daemon answered -1 for "*\\n" yet left a live export to every host."""
    d = nfs.dir("nl")
    assert nfs.code("nfs_export_add", host=host, path=str(d), options=["rw"]) == -32602
    assert nfs.listed(d) == {} and nfs.file_text() is None and _etab_lines(d) == []
    assert nfs.code("nfs_export_remove", host=host, path=str(d)) == -32602


def test_loopback_address_and_name_are_one_client(nfs: Nfs) -> None:
    """exportfs keeps one export per client and path, and 127.0.0.1 and LOCALHOST are
    one client to it: the later add replaces the earlier one, in our file too, and
    removing one name never removes an export made under another."""
    d, e = nfs.dir("lo1"), nfs.dir("lo2")
    nfs.added += [("localhost", str(d)), ("127.0.0.1", str(d)), ("localhost", str(e))]
    assert nfs.add("127.0.0.1", d, ["ro"])["host"] == "127.0.0.1"
    assert nfs.add("LOCALHOST", d, ["rw"]) == {"host": "localhost", "path": str(d)}
    assert [ln for ln in nfs.file_text().splitlines() if not ln.startswith("#")] == [
        f"{d} localhost(rw,no_subtree_check)"
    ]
    (only,) = nfs.listed(d).values()
    assert "rw" in only
    # 127.0.0.1 is no export of ours any more: -400, and localhost's stays
    assert nfs.code("nfs_export_remove", host="127.0.0.1", path=str(d)) == -400
    assert len(nfs.listed(d)) == 1
    # the same client on another path is another export
    nfs.add("127.0.0.1", e, ["ro"])
    nfs.t.call("nfs_export_remove", host="LocalHost", path=str(d))
    assert nfs.listed(d) == {} and set(nfs.listed(e)) == {"127.0.0.1"}
    assert f"{d} " not in nfs.file_text() and f"{e} 127.0.0.1(ro" in nfs.file_text()
    nfs.t.call("nfs_export_remove", host="127.0.0.1", path=str(e))
    assert nfs.listed(e) == {}


def test_host_names_are_lower_case(nfs: Nfs) -> None:
    d = nfs.dir("case")
    assert nfs.add("*.Example.COM", d, ["ro"])["host"] == "*.example.com"
    nfs.added.append(("*.example.com", str(d)))
    assert nfs.add("*.example.com", d, ["rw"])["host"] == "*.example.com"  # the same export
    assert set(nfs.listed(d)) == {"*.example.com"}
    assert nfs.file_text().count(f"{d} ") == 1
    nfs.t.call("nfs_export_remove", host="*.EXAMPLE.com", path=str(d))
    assert nfs.listed(d) == {}


def _swap_for_link(d: Path, target: str) -> None:
    """What a client with write access to d's parent can do over NFS."""
    for p in d.iterdir():
        p.unlink()
    d.rmdir()
    d.symlink_to(target)


def test_symlink_swap_is_withdrawn_at_start_up(nfs: Nfs) -> None:
    """An exported directory replaced by a link to /etc, then a reboot (the kernel's
    table flushed): the restarted daemon withdraws the export instead of exporting
    /etc rw,no_root_squash, and logs it."""
    from structlog.testing import capture_logs

    host = "192.0.2.141"
    share = nfs.dir("share")
    d = share / "sub"
    d.mkdir()
    nfs.add(host, d, ["rw", "no_root_squash"])
    nfs.added.append((host, "/etc"))
    _swap_for_link(d, "/etc")
    for x in nfs.t.call("nfs_export_list"):  # the reboot: nothing in force for this host
        if x["host"] == host:
            subprocess.run(["exportfs", "-u", f"{host}:{x['path']}"], check=True)
    with capture_logs() as logs:
        again = nfs.t.rebuilt()
    assert not [x for x in again.call("nfs_export_list") if x["host"] == host]
    assert _etab_lines("/etc") == [] or host not in "".join(_etab_lines("/etc"))
    assert f"{d} " not in nfs.file_text()
    (event,) = [e for e in logs if e["event"].startswith("nfs export withdrawn")]
    assert event["path"] == str(d) and event["leads_to"] == "/etc"
    # withdrawn, so there is nothing left to remove
    assert again.error("nfs_export_remove", host=host, path=str(d)).code == -400


def test_symlink_swap_while_running_remove_still_works(nfs: Nfs) -> None:
    """exportfs re-resolves recorded paths on every run, so after a swap the live
    table shows the link's target. nfs_export_remove of what targetd made works and
    leaves nothing exported there; the next change withdraws other swapped exports."""
    host, other = "192.0.2.142", "192.0.2.143"
    a, b = nfs.dir("swap-a"), nfs.dir("swap-b")
    target = nfs.tmp / "secret"
    target.mkdir()
    nfs.added += [(host, str(target)), (other, str(target))]
    nfs.add(host, a, ["rw", "no_root_squash"])
    nfs.add(other, b, ["rw"])
    _swap_for_link(a, str(target))
    _swap_for_link(b, str(target))
    nfs.t.call("nfs_export_remove", host=host, path=str(a))
    live = nfs.t.call("nfs_export_list")
    assert not [x for x in live if x["host"] in (host, other)]  # b was withdrawn too
    assert f"{a} " not in nfs.file_text() and f"{b} " not in nfs.file_text()
    # adding through the link exports nothing outside the roots
    assert nfs.code("nfs_export_add", host=host, path=str(a), options=["rw"]) == -32602


def _fake_exportfs(tmp: Path, sleep_on: str) -> Path:
    """An exportfs that hangs on one operation (-o, -u) and is the real one otherwise."""
    real = subprocess.run(["sh", "-c", "command -v exportfs"], capture_output=True, text=True)
    bindir = tmp / "fakebin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "exportfs"
    fake.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = "{sleep_on}" ] && exec sleep 60; done\n'
        f'exec {real.stdout.strip()} "$@"\n'
    )
    fake.chmod(0o755)
    return bindir


@pytest.mark.parametrize("hang", ["-o", "-u"])
def test_hung_exportfs_fails_clearly_and_undoes(
    tmp_path: Path,
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    hang: str,
) -> None:
    """A hung exportfs is stopped after nfs_exportfs_timeout: a clear -1, the lock
    free again, the file and the live table as before."""
    require("exportfs")
    nfs = Nfs(tmp_path, exports_cleanup, nfs_exportfs_timeout=1)
    d = nfs.dir("hang")
    nfs.add("192.0.2.160", d, ["rw"])
    before = (nfs.file_text(), nfs.listed(d))
    monkeypatch.setenv("PATH", f"{_fake_exportfs(tmp_path, hang)}:{os.environ['PATH']}")
    start = time.monotonic()
    if hang == "-o":
        err = nfs.t.error("nfs_export_add", host="192.0.2.161", path=str(d), options=["rw"])
    else:
        err = nfs.t.error("nfs_export_remove", host="192.0.2.160", path=str(d))
    elapsed = time.monotonic() - start
    assert err.code == -1 and "did not finish within 1 s" in err.message, err.message
    assert elapsed < 8  # the call and its rollback, each bounded
    monkeypatch.undo()
    assert (nfs.file_text(), nfs.listed(d)) == before
    got = threading.Event()

    def take() -> None:
        with nfs.t.core.lock.hold(exclusive=True):
            got.set()

    threading.Thread(target=take).start()
    assert got.wait(5)


def test_name_resolution_happens_outside_the_lock(
    nfs: Nfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    from targetd_nfs import service

    d = nfs.dir("resolve")
    free_while_resolving: list[bool] = []
    real_lookup = service.lookup

    def slow_lookup(host: str, timeout: float) -> frozenset[str]:
        got = threading.Event()

        def take() -> None:
            with nfs.t.core.lock.hold(exclusive=True):
                got.set()

        threading.Thread(target=take, daemon=True).start()
        free_while_resolving.append(got.wait(5))
        return real_lookup(host, timeout)

    monkeypatch.setattr(service, "lookup", slow_lookup)
    nfs.add("localhost", d, ["ro"])
    assert free_while_resolving and all(free_while_resolving)


def test_slow_name_resolution_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetd_nfs import hosts

    def hang(*args: object, **kw: object) -> None:
        time.sleep(30)  # the lookup's thread outlives the test: end it as a failed lookup
        raise socket.gaierror(socket.EAI_AGAIN, "timed out")

    monkeypatch.setattr(hosts.socket, "getaddrinfo", hang)
    start = time.monotonic()
    with pytest.raises(TargetdError) as info:
        hosts.lookup("slow.example.com", 0.5)
    assert time.monotonic() - start < 3
    assert info.value.code == -1 and "took more than 0.5 s" in info.value.message
    assert hosts.lookup("192.0.2.1", 0.5) == frozenset({"192.0.2.1"})


def test_fs_destroy_removes_its_exports(
    tmp_path: Path,
    btrfs_pool: Path,  # noqa: F811
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No export outlives its file system: fs_destroy removes the exports of the fs, of
    a directory in it and of its snapshots in the same call, so a new fs of the same
    name is not exported to anyone; a failed destroy puts them back."""
    require("exportfs")
    t = make_core(
        tmp_path,
        ["btrfs-fs", PLUGIN],
        fs_pools=[str(btrfs_pool)],
        nfs_exports_file=str(tmp_path / "t.exports"),
    )
    exports = tmp_path / "t.exports"
    t.call("fs_create", pool_name=str(btrfs_pool), name="gone", size_bytes=0)
    t.call("fs_create", pool_name=str(btrfs_pool), name="kept", size_bytes=0)
    fs = {f["name"]: f for f in t.call("fs_list")}
    path, kept = fs["gone"]["full_path"], fs["kept"]["full_path"]
    os.mkdir(f"{path}/sub")
    t.call("fs_snapshot", fs_uuid=fs["gone"]["uuid"], dest_ss_name="s1")
    snap = f"{btrfs_pool}/targetd_ss/gone/s1"
    made = [("192.0.2.170", path), ("192.0.2.171", f"{path}/sub"), ("192.0.2.172", snap)]
    made.append(("192.0.2.173", kept))
    for host, p in made:
        exports_cleanup.append((host, p))
        t.call("nfs_export_add", host=host, path=p, options=["rw", "no_root_squash"])

    def ours() -> set[tuple[str, str]]:
        return {(e["host"], e["path"]) for e in t.call("nfs_export_list")} & set(made)

    # a destroy that fails leaves the exports as they were
    from targetd_btrfs_fs.pool import BtrfsPool

    def broken(self: BtrfsPool, fs: object) -> None:
        raise TargetdError(-1, "btrfs subvolume delete failed: simulated")

    with monkeypatch.context() as m:
        m.setattr(BtrfsPool, "destroy_fs", broken)
        before = exports.read_text()
        assert t.error("fs_destroy", uuid=fs["gone"]["uuid"]).code == -1
        assert exports.read_text() == before and ours() == set(made)

    t.call("fs_destroy", uuid=fs["gone"]["uuid"])
    assert ours() == {("192.0.2.173", kept)}
    assert [ln.split()[0] for ln in exports.read_text().splitlines()[2:]] == [kept]
    t.call("fs_create", pool_name=str(btrfs_pool), name="gone", size_bytes=0)
    assert ours() == {("192.0.2.173", kept)}
    assert t.error("nfs_export_remove", host="192.0.2.170", path=path).code == -400
    t.call("nfs_export_remove", host="192.0.2.173", path=kept)


def test_hung_exportfs_does_not_hold_the_daemon(
    tmp_path: Path,
    btrfs_pool: Path,  # noqa: F811
    exports_cleanup: list[tuple[str, str]],  # noqa: F811
) -> None:
    """Through the real daemon (2 workers): while one nfs_export_add waits on a hung
    exportfs, a change on another worker waits for the lock at most the limit (plus the
    rollback), then goes through; the hung call answers a clear -1."""
    require("exportfs")
    from .daemon import start_daemon

    fake = _fake_exportfs(tmp_path, "-o")
    d = start_daemon(
        tmp_path,
        plugins=["btrfs-fs", PLUGIN],
        fs_pools=[str(btrfs_pool)],
        nfs_exports_file=str(tmp_path / "t.exports"),
        nfs_exportfs_timeout=2,
        env={"PATH": f"{fake}:{os.environ['PATH']}"},
    )
    try:
        d.call("fs_create", pool_name=str(btrfs_pool), name="h", size_bytes=0)
        (fs,) = d.call("fs_list")
        exports_cleanup.append(("192.0.2.180", fs["full_path"]))
        replies: dict[str, object] = {}

        def hung_add() -> None:
            start = time.monotonic()
            replies["add"] = d.rpc(
                "nfs_export_add", {"host": "192.0.2.180", "path": fs["full_path"], "options": None}
            )
            replies["add_s"] = time.monotonic() - start

        t = threading.Thread(target=hung_add)
        t.start()
        time.sleep(0.5)
        start = time.monotonic()
        d.call("fs_create", pool_name=str(btrfs_pool), name="other", size_bytes=0)
        waited = time.monotonic() - start
        t.join(30)
        err = replies["add"]["error"]  # type: ignore[index]
        assert err["code"] == -1 and "did not finish within 2 s" in err["message"], err
        assert replies["add_s"] < 10 and waited < 10
        assert (
            not (tmp_path / "t.exports").exists()
            or fs["full_path"] not in (tmp_path / "t.exports").read_text()
        )
        assert fs["full_path"] not in live_exports()
        assert sorted(f["name"] for f in d.call("fs_list")) == ["h", "other"]
    finally:
        d.stop()
