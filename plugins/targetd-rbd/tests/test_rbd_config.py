"""Configuration: pool specs, client ids, paths; the plugin as the core loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from targetd_rbd.config import CEPH_NAME_RE, parse_pool_spec

from targetd_core import testing


def test_pool_specs() -> None:
    assert parse_pool_spec("rbd").namespace == ""
    s = parse_pool_spec("rbd/tenant-1")
    assert (s.name, s.pool, s.namespace) == ("rbd/tenant-1", "rbd", "tenant-1")
    for bad in ("", "/", "rbd/", "/ns", "a/b/c", "-x", ".x", "rb d", "rbd\n", "rbd/ns\n", "p@s"):
        with pytest.raises(ValueError):
            parse_pool_spec(bad)


@given(st.text(max_size=30))
def test_any_text_is_a_plain_spec_or_refused(text: str) -> None:
    try:
        s = parse_pool_spec(text)
    except ValueError:
        return
    assert CEPH_NAME_RE.fullmatch(s.pool)
    assert s.namespace == "" or CEPH_NAME_RE.fullmatch(s.namespace)
    assert "\n" not in text and "\x00" not in text


def test_no_pools_no_cluster(tmp_path: Path) -> None:
    """Installed but not configured: loads, contacts no cluster, contributes no pool."""
    t = testing.build({}, ["rbd"], tmp_path)
    assert t.core.block_pools == {} or all(not n.startswith("rbd") for n in t.core.block_pools)
    assert t.core.plugins["rbd"].config_keys == [
        "rbd_pools",
        "rbd_conf",
        "rbd_client",
        "rbd_keyring",
        "rbd_gateway_id",
    ]


@pytest.mark.parametrize(
    "config",
    [
        {"rbd_pools": ["a/b/c"]},
        {"rbd_pools": ["rbd", "rbd"]},
        {"rbd_client": "client.admin x"},
        {"rbd_keyring": "relative/keyring"},
        {"rbd_conf": "ceph.conf"},
    ],
)
def test_bad_config_refused(tmp_path: Path, config: dict[str, object]) -> None:
    problems = testing.startup_problems(config, ["rbd"], tmp_path)
    assert problems and any(next(iter(config)) in p for p in problems)
