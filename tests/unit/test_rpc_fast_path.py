"""The dispatcher's direct path for plain requests answers exactly as jsonrpcserver's
pipeline does, whatever the request object (property-based)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetd_core.loader import build_core
from targetd_core.rpc import CallContext, Dispatcher


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Dispatcher:
    state = tmp_path_factory.mktemp("state")
    core, _ = build_core(raw={"password": "pw-123", "state_dir": str(state), "plugins": []}, env={})
    return Dispatcher(core)


def _both(d: Dispatcher, item: Any) -> tuple[Any, Any]:
    ctx = CallContext("127.0.0.1", "admin")
    direct = d._one(item, ctx)
    d._direct = lambda _item: (False, None)  # type: ignore[method-assign]
    try:
        pipeline = d._one(item, ctx)
    finally:
        del d._direct
    return direct, pipeline


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
methods = st.sampled_from(["pool_list", "vol_list", "fs_list", "rpc.discover", "nope", ""])
params = (
    st.dictionaries(st.sampled_from(["pool", "ctx", "x", "name"]), json_values, max_size=2)
    | json_values
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | json_scalars,
        "method": methods | json_scalars,
        "id": json_scalars | st.lists(st.integers(), max_size=1),
        "params": params,
        "extra": json_scalars,
    },
)


# Mostly valid requests with one thing or another off: where the two paths could part.
near_valid = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "2", 2.0]),
        "method": st.sampled_from(["pool_list", "pool_list", "vol_list", "nope", 1]),
        "id": json_scalars | st.lists(st.integers(), max_size=1),
    },
    optional={"params": st.none() | params, "extra": st.none()},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=near_valid)
def test_direct_path_answers_as_the_pipeline(dispatcher: Dispatcher, item: Any) -> None:
    direct, pipeline = _both(dispatcher, item)
    assert direct == pipeline


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item=requests | json_values)
def test_any_request_object_answered_as_by_the_pipeline(dispatcher: Dispatcher, item: Any) -> None:
    direct, pipeline = _both(dispatcher, item)
    assert direct == pipeline


@pytest.mark.parametrize(
    "item",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "pool_list"},
        {"jsonrpc": "2.0", "id": "a", "method": "pool_list", "params": {}},
        {"jsonrpc": "2.0", "method": "pool_list"},  # a notification: no reply
        {"jsonrpc": "2.0", "id": None, "method": "vol_list", "params": {}},
    ],
)
def test_plain_requests_take_the_direct_path(dispatcher: Dispatcher, item: Any) -> None:
    handled, reply = dispatcher._direct(item)
    assert handled
    direct, pipeline = _both(dispatcher, item)
    assert reply == direct == pipeline


def test_direct_path_builds_the_reply_members_in_order(dispatcher: Dispatcher) -> None:
    reply = dispatcher._one({"jsonrpc": "2.0", "id": 7, "method": "pool_list"}, CallContext())
    assert list(reply) == ["jsonrpc", "result", "id"] and reply["id"] == 7
