"""Hostile names (issue 10, item 2): iSCSI names, CHAP values, group names and state file
entries that try to leave the target's configfs tree, or to smuggle a newline or NUL in.

Every write the plugin makes goes through a guard that fails the test if its path (or a
symlink's target) resolves outside the fake configfs root or the state file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes import FakeConfigfs, FakePool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from targetd_lio import naming
from targetd_lio.service import LioExports

from targetd_core.config import Config
from targetd_core.core import Core
from targetd_core.locking import StorageLock
from targetd_core.paths import is_plain_component
from targetd_core.plugin import TargetdError

TARGET = "iqn.2003-01.org.linux-iscsi.test:targetd"
POOL = "vg-targetd/thin_pool"
GOOD = "iqn.2003-01.org.example:x"
ESCAPE = "iqn.2003-01.org.example:x/../../../../../../../../../tmp/y"

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Escape(AssertionError):
    pass


@contextmanager
def write_guard(allowed: list[Path]) -> Iterator[list[str]]:
    """Fail (raise :class:`Escape`) on any write outside ``allowed`` (the trees of its
    paths; the state file's own directory itself, for its ``mkdir(exist_ok=True)``);
    yields the paths written, for the test to inspect."""
    roots = [os.path.realpath(p) for p in allowed]
    exact = {os.path.dirname(roots[-1])}
    written: list[str] = []

    def check(path: object) -> None:
        real = os.path.realpath(os.fspath(path))  # type: ignore[arg-type]
        written.append(real)
        if real in exact:
            return
        if not any(real == r or real.startswith(r + os.sep) for r in roots):
            raise Escape(f"write outside the fake configfs: {real}")

    mkdir, symlink, rmdir, unlink = os.mkdir, os.symlink, os.rmdir, os.unlink
    os_open, io_open, replace = os.open, io.open, os.replace

    def g_open(path, flags, *a, **k):  # type: ignore[no-untyped-def]
        if flags & _WRITE_FLAGS:
            check(path)
        return os_open(path, flags, *a, **k)

    def g_io_open(file, mode="r", *a, **k):  # type: ignore[no-untyped-def]
        if not isinstance(file, int) and any(c in mode for c in "wax+"):
            check(file)
        return io_open(file, mode, *a, **k)

    def g_symlink(src, dst, *a, **k):  # type: ignore[no-untyped-def]
        check(dst)
        check(src)
        return symlink(src, dst, *a, **k)

    def g_replace(src, dst, *a, **k):  # type: ignore[no-untyped-def]
        check(src)
        check(dst)
        return replace(src, dst, *a, **k)

    def wrap(fn):  # type: ignore[no-untyped-def]
        def inner(path, *a, **k):  # type: ignore[no-untyped-def]
            check(path)
            return fn(path, *a, **k)

        return inner

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "mkdir", wrap(mkdir))
    mp.setattr(os, "rmdir", wrap(rmdir))
    mp.setattr(os, "unlink", wrap(unlink))
    mp.setattr(os, "symlink", g_symlink)
    mp.setattr(os, "open", g_open)
    mp.setattr(os, "replace", g_replace)
    mp.setattr(io, "open", g_io_open)
    try:
        yield written
    finally:
        mp.undo()


def make_env(tmp: Path) -> tuple[LioExports, FakeConfigfs, FakePool]:
    devs = tmp / "dev"
    devs.mkdir()
    pool = FakePool(POOL, devs)
    core = Core(Config({}), StorageLock(tmp / "lock"), block_pools=[pool])
    for v in ("v1", "v2"):
        pool.create_volume(v, 1 << 20)
    cfs = FakeConfigfs(TARGET, root=tmp / "cfs")

    def ensure(name: str, portals: list[str]) -> None:
        (cfs.tpg / "lun").mkdir(parents=True, exist_ok=True)
        (cfs.tpg / "acls").mkdir(parents=True, exist_ok=True)

    svc = LioExports(core, TARGET, ["0.0.0.0"], tmp / "state.json", cfs, ensure)
    return svc, cfs, pool


@pytest.fixture
def env(tmp_path: Path):
    svc, cfs, pool = make_env(tmp_path)
    return svc, cfs, pool, tmp_path


def allowed(tmp: Path) -> list[Path]:
    return [tmp / "cfs", tmp / "state.json", tmp / ".state.json.tmp"]


def outside(tmp: Path) -> set[str]:
    """Everything under ``tmp`` but outside the fake configfs, the state file and the setup."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(tmp):
        for n in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, n), tmp)
            top = rel.split(os.sep)[0]
            if top not in ("cfs", "dev", "lock", "state.json", ".state.json.tmp"):
                out.add(rel)
    return out


# --- the one check of iSCSI names --------------------------------------------------------------
@pytest.mark.parametrize(
    "wwn",
    [
        "iqn.1994-05.com.example:host1",
        "iqn.2001-04.com.example",
        "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
        "iqn.2001-04.com.example.storage.tape1.sys1.xyz",
        "iqn.1993-08.org.debian:01:6b5a1c2d3e4f",
        "iqn.2003-01.org.linux-iscsi.host-1:targetd",
        "eui.02004567a425678d",
        "naa.5001405abcdef012",
        "naa.60014059c8d4e4b1a6d9b0c8a1f2e3d4",
        "iqn.2003-01.org.example:" + "a" * (223 - len("iqn.2003-01.org.example:")),
    ],
)
def test_valid_iscsi_names(wwn: str) -> None:
    assert naming.normalize_initiator(wwn) == wwn
    assert naming.normalize_initiator(wwn.upper()) == wwn  # case folded, nothing else


@pytest.mark.parametrize(
    "wwn",
    [
        GOOD + "\n",
        GOOD + "\r\n",
        " " + GOOD,
        GOOD + " ",
        "\t" + GOOD,
        GOOD + "\0",
        GOOD[:10] + "\0" + GOOD[10:],
        ESCAPE,
        "iqn.2003-01.org.example:x/y",
        "iqn.2003-01.org.example:..",  # a plain name, but '/' is what matters: see below
        "iqn.2003-01.org.example:x_y",
        "iqn.2003-01.org.example:x y",
        "iqn.2003-01.org.exämple:x",
        "iqn.2003-01.org.example:ĸ",
        "iqn.2003-13.org.example:x",
        "iqn.2003-00.org.example:x",
        "iqn.203-01.org.example:x",
        "iqn.2003-01..example:x",
        "iqn.2003-01.org..example:x",
        "iqn.2003-01.:x",
        "iqn.2003-01.org.example:",
        "iqn.2003-01.org.example:" + "a" * (224 - len("iqn.2003-01.org.example:")),
        "eui.02004567a425678",
        "eui.02004567a425678d0",
        "eui.02004567a425678g",
        "naa.5001405abcdef01",
        "naa.5001405abcdef0123",
        "iqn.2003-01.org.example:x\u2028",
        "iqn.2003-01.org.example:\ud800",
        ".",
        "..",
        "",
    ],
)
def test_invalid_iscsi_names(wwn: str) -> None:
    if wwn == "iqn.2003-01.org.example:..":
        # the iSCSI character set has '.', so this is a valid name; it is one plain
        # configfs entry (not '.' or '..'), so it can never climb out
        assert is_plain_component(naming.normalize_initiator(wwn))
        return
    with pytest.raises(TargetdError) as ei:
        naming.normalize_initiator(wwn)
    assert ei.value.code == -32602


@given(st.text(max_size=300))
@settings(max_examples=500)
def test_any_accepted_name_is_one_plain_component(text: str) -> None:
    try:
        out = naming.normalize_initiator(text)
    except TargetdError as exc:
        assert exc.code == -32602
        return
    assert out == text.lower() and out.isascii()
    assert is_plain_component(out) and len(out) <= 223
    assert not any(c.isspace() or not c.isprintable() for c in out)


_PIECES = st.sampled_from(
    ["/", "..", ".", "\n", "\0", "\r", " ", "../", "/tmp/y", "x", ":", "_", "é", "\ud800", "%2F"]
)
HOSTILE = st.one_of(
    st.lists(_PIECES, min_size=1, max_size=8).map(
        lambda p: "iqn.2003-01.org.example:" + "".join(p)
    ),
    st.lists(_PIECES, min_size=1, max_size=8).map(lambda p: GOOD + "".join(p)),
    st.lists(_PIECES, min_size=1, max_size=8).map("".join),
    st.text(max_size=60).map(lambda t: "iqn.2003-01.org.example:" + t),
    st.sampled_from([ESCAPE, GOOD + "\n", "eui.0123456789abcdef/..", "naa." + "0" * 16 + "\0"]),
)


@given(HOSTILE, st.sampled_from(["export", "auth", "group", "destroy"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_names_never_write_outside_configfs(wwn: str, call: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        svc, cfs, _ = make_env(tmp)
        svc.export_create(POOL, "v1", GOOD, 0)
        before = cfs.all_paths()
        with write_guard(allowed(tmp)):
            try:
                if call == "export":
                    svc.export_create(POOL, "v2", wwn, 1)
                elif call == "auth":
                    svc.initiator_set_auth(wwn, "user", "secret12", "tuser", "tsecret12")
                elif call == "group":
                    svc.access_group_create("g1", wwn, "iscsi")
                    svc.access_group_init_add("g1", wwn, "iscsi")
                else:
                    svc.export_destroy(POOL, "v1", wwn)
                accepted = True
            except TargetdError as exc:
                assert exc.code in (-32602, -151, -52), exc
                accepted = False
        assert outside(tmp) == set()
        if accepted:
            assert is_plain_component(naming.normalize_initiator(wwn))
        elif call in ("export", "auth", "group"):
            assert cfs.all_paths() == before  # a refused call changes nothing


# --- the issue's example, on the fake configfs -------------------------------------------------
def test_issue_example_export_create_escape(env) -> None:
    svc, cfs, _, tmp = env
    svc.export_create(POOL, "v1", GOOD, 0)
    before = cfs.all_paths()
    state = (tmp / "state.json").read_text()
    with write_guard(allowed(tmp)):
        for call in (
            lambda: svc.export_create(POOL, "v2", ESCAPE, 1),
            lambda: svc.initiator_set_auth(ESCAPE, "user", "secret12", None, None),
            lambda: svc.export_destroy(POOL, "v1", ESCAPE),
            lambda: svc.access_group_create("g", ESCAPE, "iscsi"),
            lambda: svc.access_group_init_add("g", ESCAPE, "iscsi"),
            lambda: svc.access_group_init_del("g", ESCAPE, "iscsi"),
        ):
            with pytest.raises(TargetdError) as ei:
                call()
            assert ei.value.code == -32602
    assert cfs.all_paths() == before and outside(tmp) == set()
    assert (tmp / "state.json").read_text() == state  # nothing recorded


# --- the path helper: the last line of defence -------------------------------------------------
@pytest.mark.parametrize("bad", ["x/../../y", "..", ".", "a\nb", "a\0b", "/abs", ""])
def test_configfs_paths_refuse_non_plain_components(env, bad: str) -> None:
    svc, cfs, _, tmp = env
    svc.export_create(POOL, "v1", GOOD, 0)
    before = cfs.all_paths()
    with write_guard(allowed(tmp)):
        for call in (
            lambda: cfs.acl_dir(bad),
            lambda: cfs.create_acl(bad),
            lambda: cfs.set_acl_auth(bad, "u", "p", "", ""),
            lambda: cfs.set_tag(bad, "g"),
            lambda: cfs.create_mapped_lun(bad, 0, 0),
            lambda: cfs.delete_acl(bad),
            lambda: cfs.so_dir("iblock_1", bad),
            lambda: cfs.so_dir(bad, "x"),
            lambda: cfs.create_backstore(bad, str(tmp / "dev" / "x"), "s"),
        ):
            with pytest.raises(TargetdError) as ei:
                call()
            assert ei.value.code == -32602
    with pytest.raises(TargetdError):
        FakeConfigfs(bad, root=tmp / "cfs2")
    assert cfs.all_paths() == before and outside(tmp) == set()


def test_lun_numbers_must_be_ints(env) -> None:
    _, cfs, _, _ = env
    for bad in ("0/../..", -1, True, "1"):
        with pytest.raises(TargetdError):
            cfs.lun_dir(bad)  # type: ignore[arg-type]


# --- CHAP values and group names ---------------------------------------------------------------
SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    "bad",
    [
        SECRET + "\n",
        SECRET + "\0",
        "\0" + SECRET,
        SECRET + " x",
        SECRET + "\t",
        SECRET + "é",
        SECRET + "\ud800",
        SECRET + "\x7f",
        "NULL" + SECRET,
        "x" * 256,
        12345678,
    ],
)
def test_bad_chap_values_are_refused_without_echo(env, bad: object) -> None:
    svc, cfs, _, tmp = env
    svc.export_create(POOL, "v1", GOOD, 0)
    before = cfs.auth_of(GOOD)
    for position in range(4):
        args: list[object] = ["user", SECRET, "tuser", SECRET]
        args[position] = bad
        with pytest.raises(TargetdError) as ei:
            svc.initiator_set_auth(GOOD, *args)  # type: ignore[arg-type]
        assert ei.value.code == -32602
        assert SECRET not in ei.value.message and str(bad) not in ei.value.message
    assert cfs.auth_of(GOOD) == before
    assert GOOD not in json.loads((tmp / "state.json").read_text())["auth"]


def test_group_names_are_contract_names(tmp_path: Path) -> None:
    from targetd_core.params import bind
    from targetd_core.plugins import build_core

    raw = {
        "password": "x",
        "state_dir": str(tmp_path / "run"),
        "plugins": ["lio"],
        "lio_state_file": str(tmp_path / "lio.json"),
    }
    core, _ = build_core(raw=raw, env={})
    for method in ("access_group_create", "access_group_init_add", "access_group_init_del"):
        for bad in ("g\n", "../g", "g/h", "g\0", ".", "", " g"):
            with pytest.raises(TargetdError) as ei:
                bind(
                    core.methods[method].func,
                    {"ag_name": bad, "init_id": GOOD, "init_type": "iscsi"},
                )
            assert ei.value.code == -32602


# --- names replayed from the state file --------------------------------------------------------
def _lun(volume: str = "v1", uuid: str = "uuid-1", pool: str = POOL) -> dict:
    return {"pool": pool, "volume": volume, "uuid": uuid}


def test_state_file_entries_breaking_the_rules_are_skipped(env, caplog) -> None:
    svc, cfs, pools, tmp = env
    good2 = "iqn.2003-01.org.example:z"
    doc = {
        "version": 1,
        "acls": {
            GOOD: {"tag": None, "luns": {"0": _lun("v1", pools.vols["v1"].uuid)}},
            ESCAPE: {"tag": None, "luns": {"0": _lun()}},
            GOOD + "\n": {"tag": None, "luns": {"0": _lun()}},
            GOOD.upper() + "Q": {"tag": None, "luns": {"0": _lun()}},
            "iqn.2003-01.org.example:tag": {"tag": "../g", "luns": {}},
            "iqn.2003-01.org.example:lun": {"tag": None, "luns": {"1e5": _lun()}},
            "iqn.2003-01.org.example:neg": {"tag": None, "luns": {"-1": _lun()}},
            "iqn.2003-01.org.example:vol": {"tag": None, "luns": {"0": _lun("../../x")}},
            "iqn.2003-01.org.example:ser": {"tag": None, "luns": {"0": _lun("v2", "a\nb")}},
            "iqn.2003-01.org.example:nul": {"tag": None, "luns": {"0": _lun("v2", None)}},
            "iqn.2003-01.org.example:chap": {"tag": None, "luns": {"0": _lun("v2")}},
            good2: {"tag": None, "luns": {"3": _lun("v2", pools.vols["v2"].uuid)}},
        },
        "auth": {
            "iqn.2003-01.org.example:chap": {
                "in_user": "u",
                "in_pass": "p\nq",
                "out_user": "",
                "out_pass": "",
            },
            good2: {"in_user": "u", "in_pass": "secret12", "out_user": "", "out_pass": ""},
        },
    }
    (tmp / "state.json").write_text(json.dumps(doc))
    with write_guard(allowed(tmp)):
        counts = svc.restore()
    assert counts["skipped"] == 10 and counts["acls"] == 2
    assert outside(tmp) == set()
    assert sorted(a.name for a in (cfs.tpg / "acls").iterdir()) == [GOOD, good2]
    assert cfs.auth_of(good2)["password"] == "secret12"
    assert {(e["initiator_wwn"], e["lun"]) for e in svc.export_list()} == {(GOOD, 0), (good2, 3)}


def test_state_file_with_wrong_shapes_is_refused(env) -> None:
    svc, _, _, tmp = env
    for doc in ({"version": 1, "acls": [], "auth": {}}, {"version": 1, "acls": {}, "auth": 5}):
        (tmp / "state.json").write_text(json.dumps(doc))
        with pytest.raises(TargetdError) as ei:
            svc.restore()
        assert ei.value.code == -1 and "unknown format" in ei.value.message


def test_recorded_chap_that_breaks_the_rules_is_never_written(env) -> None:
    svc, cfs, _, tmp = env
    doc = {
        "version": 1,
        "acls": {},
        "auth": {GOOD: {"in_user": "u", "in_pass": "p\n", "out_user": "", "out_pass": ""}},
    }
    (tmp / "state.json").write_text(json.dumps(doc))
    with pytest.raises(TargetdError) as ei:
        svc.export_create(POOL, "v1", GOOD, 0)
    assert ei.value.code == -1 and "initiator_set_auth" in ei.value.message
    assert not cfs.acl_exists(GOOD) and cfs.backstores() == []
