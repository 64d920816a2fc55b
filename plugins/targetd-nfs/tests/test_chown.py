"""parse_chown: numeric ids in ASCII digits only."""

from __future__ import annotations

import pytest
from targetd_nfs.service import parse_chown

from targetd_core.plugin import TargetdError


@pytest.mark.parametrize("good,ids", [("0", (0, -1)), ("1000:100", (1000, 100)), (7, (7, -1))])
def test_accepted(good, ids):
    assert parse_chown(good) == ids


@pytest.mark.parametrize("bad", ["٣", "1:٣", "１", "1\n", " 1", "1:", ":1", "-1", "a", "1:2:3"])
def test_refused(bad):
    with pytest.raises(TargetdError) as exc:
        parse_chown(bad)
    assert exc.value.code == -32602
