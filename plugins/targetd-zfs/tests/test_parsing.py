import pytest
from targetd_zfs import zfs as Z
from targetd_zfs.mounts import Mount, mount_at, parse_mountinfo

MOUNTINFO = """\
22 1 0:21 / / rw,relatime - rootfs rootfs rw
25 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=1000k
61 22 0:48 / /zfs-targetd rw,noatime shared:30 - zfs zfs-targetd rw,xattr,noacl
62 61 0:49 / /zfs-targetd/fs rw,noatime shared:31 - zfs zfs-targetd/fs rw,xattr,noacl
63 22 253:4 / /mnt/btrfs rw,relatime shared:32 - btrfs /dev/vde rw,space_cache=v2,subvolid=5,subvol=/
64 22 0:50 / /mnt/with\\040space rw master:1 - zfs tank/with\\040space rw
65 22 0:51 / /mnt/btrfs rw - zfs tank/over rw
"""


def test_parse_rows_tabs_and_exact_numbers():
    out = "zfs-targetd/block/v1\t104857600\t12504312931741935126\n\n"
    rows = Z.parse_rows(out, ("name", "volsize", "guid"))
    assert rows == [
        {"name": "zfs-targetd/block/v1", "volsize": "104857600", "guid": "12504312931741935126"}
    ]


def test_parse_rows_refuses_wrong_column_count():
    with pytest.raises(ValueError):
        Z.parse_rows("a\tb\n", ("name",))


def test_dataset_names_with_spaces_survive():
    rows = Z.parse_rows("tank/my data/v1\t8192\n", ("name", "volsize"))
    assert rows[0]["name"] == "tank/my data/v1"


@pytest.mark.parametrize(
    "value,n", [("0", 0), ("-", 0), ("none", 0), ("", 0), ("1073741824", 1 << 30)]
)
def test_to_int(value, n):
    assert Z.to_int(value) == n


def test_split_list():
    assert Z.split_list("-") == []
    assert Z.split_list("") == []
    assert Z.split_list("p/a,p/b") == ["p/a", "p/b"]


@pytest.mark.parametrize(
    "full,expected",
    [
        ("p/block/vol_1-x", "vol_1-x"),
        ("p/block", None),
        ("p/block/a/b", None),
        ("p/blockx/a", None),
        ("p/block/targetd.tmp-0a1b2c", None),
        ("p/block/v@s", None),
    ],
)
def test_child_component(full, expected):
    assert Z.child_component("p/block", full) == expected


def test_snapshot_component_hides_temporaries():
    assert Z.snapshot_component("p/fs/a", "p/fs/a@s1") == "s1"
    assert Z.snapshot_component("p/fs/a", "p/fs/a@targetd.copy-00ff") is None
    assert Z.snapshot_component("p/fs/a", "p/fs/ab@s1") is None


@pytest.mark.parametrize(
    "size,mult,out", [(1, 8192, 8192), (8192, 8192, 8192), (8193, 16384, 16384), (0, 512, 0)]
)
def test_round_up(size, mult, out):
    assert Z.round_up(size, mult) == out


def test_temporary_names_are_not_targetd_names():
    from targetd_core.names import NAME_RE

    assert not NAME_RE.fullmatch(Z.TMP_DATASET_PREFIX + Z.tag())
    assert not NAME_RE.fullmatch(Z.TMP_SNAPSHOT_PREFIX + Z.tag())
    assert Z.tag() != Z.tag()


def test_parse_mountinfo():
    mounts = parse_mountinfo(MOUNTINFO)
    assert Mount("/zfs-targetd/fs", "zfs", "zfs-targetd/fs") in mounts
    assert Mount("/mnt/with space", "zfs", "tank/with space") in mounts


def test_mount_at_takes_the_topmost_and_normalises(tmp_path):
    mounts = parse_mountinfo(MOUNTINFO)
    assert mount_at("/zfs-targetd/fs/", mounts).source == "zfs-targetd/fs"
    assert mount_at("/mnt/btrfs", mounts).source == "tank/over"  # mounted over
    assert mount_at("/zfs-targetd/fs/sub", mounts) is None
    assert mount_at("/nowhere", mounts) is None


def test_blkzname_matches_zfs_header():
    from targetd_zfs.devices import BLKZNAME

    assert BLKZNAME == 0x8100127D
