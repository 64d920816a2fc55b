"""The fixture every RBD test module uses: the plugin's cluster module bound to fake
``rados``/``rbd`` bindings (rbd_fakes.py) for the test, and unbound after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rbd_fakes import FakeCluster, make_modules
from targetd_rbd import cluster as cl


@pytest.fixture
def fake() -> Iterator[FakeCluster]:
    rados, rbd, cluster = make_modules()
    cl.set_bindings(rados, rbd)  # type: ignore[arg-type]
    yield cluster
    cl.set_bindings(None, None)
