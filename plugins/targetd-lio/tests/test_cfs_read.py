"""The configfs pass's hinted read of ACLs: a ``stat`` and the known mapped LUNs' links
instead of a listing, and never an answer that differs from a full listing's.

On a plain directory (as the other unit tests): its link counts follow the same rule as
configfs' (2 + subdirectories). That configfs keeps them is checked in the appliance
(``tests/realkernel/test_lio.py``, export_list against a fresh listing).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fakes import FakeConfigfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from targetd_lio.cfs import ALIAS, Configfs

TARGET = "iqn.2003-01.org.example:t"
WWNS = [f"iqn.1994-05.org.example:i{i}" for i in range(4)]


def mapped_of(cfs: Configfs) -> dict[str, dict[int, int]]:
    return {w: a.mapped for w, a in cfs.read(tags=False).acls.items()}


def fresh(cfs: FakeConfigfs) -> dict[str, dict[int, int]]:
    """What a Configfs that never read the tree before (no hint) sees."""
    return mapped_of(Configfs(TARGET, root=cfs.root))


def make(root: Path) -> FakeConfigfs:
    cfs = FakeConfigfs(TARGET, root=root)
    for n in range(4):
        cfs.create_backstore(f"v{n}", f"/dev/fake{n}", f"serial{n}", at_hba=f"iblock_{n}")
        cfs.create_lun(n, f"iblock_{n}", f"v{n}")
    for w in WWNS:
        cfs.create_acl(w)
    cfs.create_mapped_lun(WWNS[0], 0, 0)
    return cfs


def test_second_pass_lists_no_acl_directory(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    cfs = make(tmp_path / "cfs")
    cfs.create_mapped_lun(WWNS[1], 3, 2)
    first = mapped_of(cfs)
    assert first[WWNS[0]] == {0: 0} and first[WWNS[1]] == {3: 2} and first[WWNS[2]] == {}
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path):  # noqa: ANN001, ANN202
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    assert mapped_of(cfs) == first
    assert [p for p in listed if "/acls/" in p] == []  # only the acls directory itself
    # one ACL changed: only that one is listed again
    cfs.create_mapped_lun(WWNS[2], 1, 1)
    expected = fresh(cfs)
    listed.clear()
    assert mapped_of(cfs) == expected
    assert [os.path.basename(p) for p in listed if "/acls/" in p] == [WWNS[2]]


def test_no_hint_where_link_counts_do_not_add_up(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A file system whose directories do not count their subdirectories (btrfs keeps 1):
    every pass lists every ACL, and answers the same."""
    cfs = make(tmp_path / "cfs")
    real_stat = os.stat

    def stat_nlink_1(path, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        st = real_stat(path, *a, **kw)
        if "/acls/" in str(path):
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, 1, *tuple(st)[4:]))
        return st

    monkeypatch.setattr(os, "stat", stat_nlink_1)
    assert mapped_of(cfs) == fresh(cfs)
    assert cfs._acl_subdirs is None
    cfs.delete_mapped_lun(WWNS[0], 0)
    cfs.create_mapped_lun(WWNS[0], 5, 0)
    assert mapped_of(cfs) == fresh(cfs) and mapped_of(cfs)[WWNS[0]] == {5: 0}


# What another tool (targetcli, rtslib, an administrator) can do to an ACL between two
# passes, including changes that keep the number of mapped LUNs.
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["map", "unmap", "relink", "move", "rtslib", "bare", "drop_acl"]),
        st.integers(0, 3),  # ACL
        st.integers(0, 3),  # mapped LUN
        st.integers(0, 3),  # TPG LUN
    ),
    max_size=12,
)


def apply(cfs: FakeConfigfs, change: tuple[str, int, int, int]) -> None:
    kind, a, m, t = change
    wwn = WWNS[a]
    acl = cfs.acl_dir(wwn)
    if not acl.exists():
        cfs.create_acl(wwn)
        return
    d = acl / f"lun_{m}"
    if kind == "map" and not d.exists():
        cfs.create_mapped_lun(wwn, m, t)
    elif kind == "unmap" and d.exists():
        shutil.rmtree(d)
    elif kind == "relink" and (d / ALIAS).is_symlink():  # same directory, another TPG LUN
        (d / ALIAS).unlink()
        os.symlink(cfs.lun_dir(t), d / ALIAS)
    elif kind == "move" and d.exists():  # same count: one gone, another made
        shutil.rmtree(d)
        free = next(n for n in range(4, 64) if not (acl / f"lun_{n}").exists())
        cfs.create_mapped_lun(wwn, free, t)
    elif kind == "rtslib" and not d.exists():  # a link with a name of its own
        d.mkdir()
        os.symlink(cfs.lun_dir(t), d / "0a1b2c3d4e")
    elif kind == "bare" and not d.exists():  # a mapped LUN with no link (half made)
        d.mkdir()
    elif kind == "drop_acl":
        shutil.rmtree(acl)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=st.lists(CHANGES, min_size=1, max_size=4))
def test_hinted_pass_equals_a_full_listing(tmp_path: Path, rounds) -> None:  # noqa: ANN001
    root = tmp_path / "cfs"
    shutil.rmtree(root, ignore_errors=True)
    cfs = make(root)
    assert mapped_of(cfs) == fresh(cfs)
    for changes in rounds:
        for change in changes:
            apply(cfs, change)
        assert mapped_of(cfs) == fresh(cfs)
