"""Parsing btrfs-progs 6.2 / findmnt output (captured from real runs)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from targetd_btrfs_fs.parse import parse_findmnt, parse_qgroup_show, parse_subvolume_list

LIST_A_FROM_SUBVOL_MOUNT = """\
ID 256 gen 10 top level 5 parent_uuid -                                    uuid 05112fba-0474-5e46-861d-485a14945c64 path <FS_TREE>/targetd_fs/a
ID 259 gen 11 top level 5 parent_uuid -                                    uuid 403ecb3d-5b60-a444-83aa-991072b4676d path <FS_TREE>/pool
ID 260 gen 11 top level 259 parent_uuid -                                    uuid ac81fb57-a4e8-f44d-9ebd-b84f514cf087 path pool/targetd_fs/x
"""

LIST_S = """\
ID 257 gen 9 cgen 9 top level 5 otime 2026-11-28 09:04:08 parent_uuid 05112fba-0474-5e46-861d-485a14945c64 uuid 44e4a6bd-b038-4743-9e48-8441b75b4e1d path targetd_ss/a/s1
ID 258 gen 10 cgen 10 top level 5 otime - parent_uuid 05112fba-0474-5e46-861d-485a14945c64 received_uuid -                                    uuid c201e1a3-4924-774a-81cf-6c3bf0680611 path targetd_fs/b
"""

QGROUPS = """\
Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive   Path
--------    ----------    ---------  --------------  -------------   ----
0/5              16384        16384            none           none   <toplevel>
0/256            16384        16384       104857600           none   targetd_fs/a
1/100            16384        16384            none           none
"""


def test_subvolume_list_paths_are_from_the_tree_top() -> None:
    svs = parse_subvolume_list(LIST_A_FROM_SUBVOL_MOUNT)
    assert [(s.id, s.path) for s in svs] == [
        (256, "targetd_fs/a"),
        (259, "pool"),
        (260, "pool/targetd_fs/x"),
    ]
    assert svs[0].uuid == "05112fba-0474-5e46-861d-485a14945c64"
    assert svs[0].parent_uuid is None and svs[0].otime is None


def test_a_name_with_a_newline_stays_one_path() -> None:
    """A subvolume named "x\\ny" (made outside targetd) is printed on two lines: the
    second continues the first's path, so no subvolume "x" appears."""
    text = (
        "ID 256 gen 10 top level 5 parent_uuid - uuid 05112fba-0474-5e46-861d-485a14945c64"
        " path targetd_fs/x\ny\n"
        "ID 257 gen 10 top level 5 parent_uuid - uuid 403ecb3d-5b60-a444-83aa-991072b4676d"
        " path targetd_fs/z\n"
    )
    assert [(s.id, s.path) for s in parse_subvolume_list(text)] == [
        (256, "targetd_fs/x\ny"),
        (257, "targetd_fs/z"),
    ]
    assert parse_subvolume_list("not an entry\n") == []


def test_snapshot_list_otime_is_utc() -> None:
    s1, b = parse_subvolume_list(LIST_S)
    assert s1.otime == 1795856648  # 2026-11-28T09:04:08Z
    assert s1.parent_uuid == "05112fba-0474-5e46-861d-485a14945c64"
    assert s1.uuid == "44e4a6bd-b038-4743-9e48-8441b75b4e1d"
    assert b.otime is None and b.path == "targetd_fs/b"


def test_qgroup_show() -> None:
    q = parse_qgroup_show(QGROUPS)
    assert set(q) == {5, 256}
    assert q[5].max_referenced is None
    assert (q[256].referenced, q[256].max_referenced) == (16384, 104857600)


def test_findmnt() -> None:
    m = parse_findmnt(
        '{"filesystems": [{"target": "/tmp/btp", "fstype": "btrfs", "fsroot": "/pool",'
        ' "uuid": "325b06cf-3414-4c5b-98cb-4fd982ab1a3b", "options": "ro,relatime,subvol=/pool"}]}'
    )
    assert m is not None and m.fsroot == "/pool" and m.read_only
    assert parse_findmnt("not json") is None


# Names as btrfs prints them: any character but '/' and NUL (an 'I' is left out so no
# generated line can look like a whole entry: that case is checked against the file
# system by the pool, not by the parser).
_NAMES = st.text(
    alphabet=st.characters(blacklist_characters="/\x00I", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=20,
)


@settings(max_examples=300, derandomize=True)
@given(st.lists(_NAMES, min_size=1, max_size=6))
def test_listing_round_trip_whatever_the_names(names: list[str]) -> None:
    text = "".join(
        f"ID {256 + i} gen 7 top level 5 parent_uuid -       uuid "
        f"00000000-0000-0000-0000-{i:012d} path targetd_fs/{n}\n"
        for i, n in enumerate(names)
    )
    got = parse_subvolume_list(text)
    assert [(s.id, s.path) for s in got] == [
        (256 + i, f"targetd_fs/{n}") for i, n in enumerate(names)
    ]
