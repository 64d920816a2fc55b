"""The dispatcher in-process (targetd_core.testing): batches, notifications, parameter
binding and the contract's error codes, on the example plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targetd_core import testing
from targetd_core.rpc import MAX_BATCH


@pytest.fixture(scope="module")
def t(tmp_path_factory: pytest.TempPathFactory) -> testing.InProcess:
    pools = tmp_path_factory.mktemp("pools")
    return testing.build(
        {"example_file_pools": [str(pools)]}, ["example"], tmp_path_factory.mktemp("state")
    )


def req(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    r: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        r["params"] = params
    return r


def test_one_bad_member_does_not_spoil_a_batch(t: testing.InProcess) -> None:
    replies = t.batch(
        [
            req("example_echo", {"text": "a"}, 1),
            req("example_echo", {"text": 5}, 2),
            req("no_such_method", {}, 3),
            {"jsonrpc": "2.0", "method": "example_echo", "params": {"text": "n"}},
            7,
        ]
    )
    assert replies[0] == {"jsonrpc": "2.0", "result": {"text": "a", "name": None}, "id": 1}
    assert replies[1]["error"]["code"] == -32602 and replies[1]["id"] == 2
    assert replies[2]["error"]["code"] == -32601 and replies[2]["id"] == 3
    assert replies[3]["error"]["code"] == -32600
    assert len(replies) == 4  # the notification got no reply


def test_batch_limits(t: testing.InProcess) -> None:
    (empty,) = t.batch([])
    assert empty["error"]["code"] == -32600
    (too_long,) = t.batch([req("example_echo", {"text": "x"}, i) for i in range(MAX_BATCH + 1)])
    assert too_long["error"]["code"] == -32600
    assert len(t.batch([req("example_echo", {"text": "x"}, i) for i in range(MAX_BATCH)])) == (
        MAX_BATCH
    )


def test_parameter_binding(t: testing.InProcess) -> None:
    assert t.rpc("example_echo", ["x"])["error"]["code"] == -32602  # by position
    assert t.rpc("example_echo", {"text": "x", "extra": 1})["error"]["code"] == -32602
    assert t.rpc("example_echo", {})["error"]["code"] == -32602  # missing
    assert t.rpc("pool_list", None)["result"]  # params absent
    reply = t.batch([{"jsonrpc": "2.0", "method": "pool_list", "params": None, "id": 9}])
    assert "result" in reply[0]  # "params": null, as real clients send
    testing.assert_error(-32602, t.call, "example_echo", text="x", name="bad name")
    testing.assert_error(-32602, t.call, "vol_create", pool="p", name="v", size=True)


@given(st.text(max_size=20))
def test_any_name_is_either_accepted_whole_or_refused_with_32602(name: str) -> None:
    t = _shared()
    reply = t.rpc("example_echo", {"text": "x", "name": name})
    if "error" in reply:
        assert reply["error"]["code"] == -32602
    else:
        assert reply["result"] == {"text": "x", "name": name}


_T: list[testing.InProcess] = []


def _shared() -> testing.InProcess:
    if not _T:
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="targetd-dispatch-"))
        _T.append(testing.build({"example_file_pools": [str(d)]}, ["example"], d / "state"))
    return _T[0]


def test_volume_calls_route_to_the_plugin_pool(t: testing.InProcess) -> None:
    pool = t.call("pool_list")[0]["name"]
    t.call("vol_create", pool=pool, name="v", size=4096)
    testing.assert_error(-50, t.call, "vol_create", pool=pool, name="v", size=4096)
    testing.assert_error(-32602, t.call, "vol_resize", pool=pool, name="v", size=4096)
    t.call("vol_resize", pool=pool, name="v", size=8192)
    assert t.call("vol_list", pool=pool)[0]["size"] == 8192
    t.call("vol_destroy", pool=pool, name="v")
    testing.assert_error(-103, t.call, "vol_destroy", pool=pool, name="v")
