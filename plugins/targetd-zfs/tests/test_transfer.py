"""The send | receive pipe with real processes (python3 stands in for zfs)."""

import sys
import time

import pytest
from targetd_zfs.transfer import COPY_BASE_TIMEOUT, COPY_MIN_RATE, copy_timeout, pipe

from targetd_core.plugin import TargetdError

PY = sys.executable


def test_pipe_moves_the_bytes(tmp_path):
    out = tmp_path / "out"
    data = "x" * 300_000  # more than a pipe buffer
    pipe(
        [PY, "-c", "import sys; sys.stdout.write('x' * 300_000)"],
        [PY, "-c", f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"],
    )
    assert out.read_text() == data


def test_receiver_failure_is_reported_and_sender_stops(tmp_path):
    with pytest.raises(TargetdError) as e:
        pipe(
            [PY, "-c", "import sys\nwhile True: sys.stdout.write('x' * 65536)"],
            [PY, "-c", "import sys; sys.stdin.read(10); sys.exit('cannot receive: out of space')"],
        )
    assert "out of space" in e.value.message
    assert e.value.code == -1


def test_sender_failure_is_reported(tmp_path):
    with pytest.raises(TargetdError) as e:
        pipe(
            [PY, "-c", "import sys; sys.exit('cannot open snapshot: dataset is busy')"],
            [
                PY,
                "-c",
                "import sys; sys.exit(0 if sys.stdin.read() else 'failed to read from stream')",
            ],
        )
    assert "dataset is busy" in e.value.message and "failed to read" in e.value.message


def test_missing_tool():
    with pytest.raises(TargetdError) as e:
        pipe(["/nonexistent/zfs", "send"], [PY, "-c", "pass"])
    assert "not installed" in e.value.message


def test_a_hung_copy_is_stopped_after_its_timeout():
    started = time.monotonic()
    with pytest.raises(TargetdError) as e:
        pipe([PY, "-c", "import time; time.sleep(60)"], [PY, "-c", "import sys; sys.stdin.read()"],
             timeout=0.5)  # fmt: skip
    assert time.monotonic() - started < 30
    assert e.value.code == -1 and "did not finish within 0.5 s" in e.value.message


def test_copy_timeout_grows_with_the_data():
    assert copy_timeout(0) == COPY_BASE_TIMEOUT
    assert copy_timeout(100 * COPY_MIN_RATE) == COPY_BASE_TIMEOUT + 100
