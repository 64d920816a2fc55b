"""Running LVM: argument lists, the environment, warnings kept out of error messages."""

import subprocess

import pytest
from targetd_lvm import lvmcli

from targetd_core.plugin import TargetdError


def fake_run(rc, stdout="", stderr=""):
    calls = []

    def run(argv, env=None, check=True, label=None):
        calls.append((list(argv), env, check))
        return subprocess.CompletedProcess(argv, rc, stdout, stderr)

    return run, calls


def test_success_ignores_warnings(monkeypatch):
    run, calls = fake_run(0, '{"report": [{"vg": []}]}', "  WARNING: something\n")
    monkeypatch.setattr(lvmcli, "run", run)
    assert lvmcli.vgs() == []
    argv, env, _ = calls[0]
    assert argv[:2] == ["lvm", "vgs"] and "--reportformat" in argv and "json" in argv
    assert ["--units", "b", "--nosuffix"] == argv[4:7]
    assert env == {"LVM_SUPPRESS_FD_WARNINGS": "1"}


def test_failure_message_leaves_warnings_out(monkeypatch):
    stderr = (
        "  WARNING: Sum of all thin volume sizes exceeds the size of thin pool.\n"
        '  Volume group "vg" has insufficient free space (2 extents): 25 required.\n'
        "  WARNING: another warning\n"
    )
    monkeypatch.setattr(lvmcli, "run", fake_run(5, "", stderr)[0])
    with pytest.raises(TargetdError) as e:
        lvmcli.lvm("lvcreate", "-n", "x", "-L", "100b", "vg")
    assert e.value.code == -1
    assert e.value.message.startswith("lvcreate failed: ")
    assert "insufficient free space" in e.value.message and "WARNING" not in e.value.message


def test_only_warnings_are_still_shown(monkeypatch):
    monkeypatch.setattr(lvmcli, "run", fake_run(5, "", "  WARNING: odd\n")[0])
    with pytest.raises(TargetdError) as e:
        lvmcli.lvm("lvs")
    assert "WARNING: odd" in e.value.message


def test_a_full_vg_metadata_area_says_so_and_what_to_do(monkeypatch):
    # the lines LVM 2.03.16 printed in the appliance when the area was full
    stderr = (
        "  VG vg-mdtest 405 metadata on /dev/loop0 (524101 bytes) exceeds maximum metadata "
        "size (521472 bytes)\n"
        "  WARNING: Failed to write an MDA of VG vg-mdtest.\n"
        "  Failed to write VG vg-mdtest.\n"
    )
    monkeypatch.setattr(lvmcli, "run", fake_run(5, "", stderr)[0])
    with pytest.raises(TargetdError) as e:
        lvmcli.lvm("lvcreate", "-n", "x", "-V", "1m", "--thinpool", "vg-mdtest/tp")
    msg = e.value.message
    assert e.value.code == -1
    assert "metadata area of volume group vg-mdtest is full" in msg
    assert "521472 bytes" in msg and "/dev/loop0" in msg and "--metadatasize" in msg


@pytest.mark.parametrize(
    ("stderr", "says"),
    [
        (  # metadata past LVM's reserve: LVM warns, then refuses
            "  WARNING: Remaining free space in metadata of thin pool vg-t/tp is too low "
            "(76.46% >= 75.00%). Resize is recommended.\n"
            "  Cannot create new thin volume, free space in thin pool vg-t/tp reached "
            "threshold.\n",
            ["metadata is 76.46% used", "75.00%", "lvextend --poolmetadatasize +SIZE vg-t/tp"],
        ),
        (  # data full: what LVM 2.03.16 printed in the appliance (real-kernel test)
            "  WARNING: Thin pool vg-t/tp is out of data space.\n"
            "  Cannot create new thin volume, free space in thin pool vg-t/tp reached threshold.\n",
            ["its data space is full", "lvextend -L +SIZE vg-t/tp"],
        ),
        (  # the refusal alone: either may be the reason
            "  Cannot create new thin volume, free space in thin pool vg-t/tp reached threshold.\n",
            ["data or its metadata is full", "lvextend -L +SIZE vg-t/tp", "--poolmetadatasize"],
        ),
    ],
    ids=["metadata", "data", "either"],
)
def test_a_full_thin_pool_says_which_and_what_to_do(monkeypatch, stderr, says):
    monkeypatch.setattr(lvmcli, "run", fake_run(5, "", stderr)[0])
    with pytest.raises(TargetdError) as e:
        lvmcli.lvm("lvcreate", "-n", "x", "-V", "1m", "--thinpool", "vg-t/tp")
    msg = e.value.message
    assert e.value.code == -1
    assert msg.startswith("lvcreate failed: thin pool vg-t/tp takes no new volume or snapshot")
    assert "nothing was made" in msg and "Pools for many volumes" in msg
    for part in says:
        assert part in msg
