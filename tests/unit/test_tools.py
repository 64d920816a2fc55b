"""targetd_core.tools.run: every tool run has a time limit, and a hung tool is stopped
with everything it started."""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path

import pytest

from targetd_core.errors import TargetdError
from targetd_core.tools import DEFAULT_TIMEOUT, run


def test_default_timeout_is_finite() -> None:
    assert inspect.signature(run).parameters["timeout"].default == DEFAULT_TIMEOUT
    assert 0 < DEFAULT_TIMEOUT <= 300


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_hung_tool_is_stopped_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    start = time.monotonic()
    with pytest.raises(TargetdError) as info:
        run(["sh", "-c", script], timeout=1)
    elapsed = time.monotonic() - start
    assert info.value.code == -1
    assert "did not finish within 1 s" in info.value.message
    assert elapsed < 10  # the grandchild holding the pipes does not keep us waiting
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_no_timeout_for_a_quick_tool() -> None:
    proc = run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    with pytest.raises(TargetdError) as info:
        run(["sh", "-c", "echo bad thing >&2; exit 1"])
    assert info.value.message == "sh failed: bad thing"
    assert run(["cat"], input="in").stdout == "in"


def test_missing_tool() -> None:
    with pytest.raises(TargetdError) as info:
        run(["/nonexistent/tool"])
    assert "is not installed" in info.value.message


def test_pass_fds(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        (tmp_path / "f").write_text("x")
        assert run(["ls", f"/proc/self/fd/{fd}/"], pass_fds=[fd]).stdout == "f\n"
    finally:
        os.close(fd)


def test_messages_name_the_tool_and_its_subcommand_without_knowing_tools() -> None:
    from targetd_core.tools import _name

    assert _name(["/sbin/zfs", "list", "-Hp"]) == "zfs list"
    assert _name(["btrfs", "subvolume", "delete", "/x"]) == "btrfs subvolume"
    assert _name(["exportfs", "-ra"]) == "exportfs"
    assert _name(["mkfs.btrfs", "/dev/loop0"]) == "mkfs.btrfs"
    assert _name(["lvm", "lvcreate", "-n", "x"], "lvcreate") == "lvcreate"
