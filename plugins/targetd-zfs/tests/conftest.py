import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakezfs import FakeZfs  # noqa: E402


@pytest.fixture
def fake(monkeypatch):
    from targetd_zfs import zfs

    f = FakeZfs()
    monkeypatch.setattr(zfs, "run", f)
    return f
