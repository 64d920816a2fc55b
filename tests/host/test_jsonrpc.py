"""The contract's JSON-RPC request table, and the core's own methods, end to end."""

from __future__ import annotations

import json

import pytest

from .daemon import Daemon


def post(d: Daemon, obj: object) -> tuple[int, object]:
    r = d.post(json.dumps(obj))
    return r.status_code, (r.json() if r.content else None)


@pytest.mark.parametrize("params", ["absent", None, {}])
def test_params_absent_null_or_empty(daemon: Daemon, params: object) -> None:
    req = {"jsonrpc": "2.0", "id": 1, "method": "pool_list"}
    if params != "absent":
        req["params"] = params
    status, body = post(daemon, req)
    assert status == 200 and body["result"] == [] or isinstance(body["result"], list), body


def test_params_object_are_keywords(daemon: Daemon) -> None:
    assert daemon.call("example_echo", text="hi") == {"text": "hi", "name": None}


@pytest.mark.parametrize("params", [{"text": "a", "bogus": 1}, {}, [1]])
def test_unknown_missing_or_positional_params(daemon: Daemon, params: object) -> None:
    assert daemon.rpc("example_echo", params)["error"]["code"] == -32602


@pytest.mark.parametrize(
    "id", [0, 1, 2**127 + 12345, -5, "abc", "", 340282366920938463463374607431768211455]
)
def test_ids_are_echoed_exactly(daemon: Daemon, id: object) -> None:
    raw = '{"jsonrpc": "2.0", "id": ' + json.dumps(id) + ', "method": "pool_list"}'
    r = daemon.post(raw)
    # compare the raw text so that no float rounding can hide a changed id
    assert f'"id":{json.dumps(id)}' in r.text.replace(" ", "")
    assert r.json()["id"] == id


def test_notification_is_executed_with_no_body(daemon: Daemon, tmp_path) -> None:
    pool = daemon_pool(daemon)
    r = daemon.post(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "vol_create",
                "params": {"pool": pool, "name": "notified", "size": 4096},
            }
        )
    )
    assert r.status_code == 204 and r.content == b""
    assert "notified" in [v["name"] for v in daemon.call("vol_list", pool=pool)]
    daemon.call("vol_destroy", pool=pool, name="notified")


def test_batch(daemon: Daemon) -> None:
    status, body = post(
        daemon,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "example_echo", "params": {"text": "a"}},
            {"jsonrpc": "2.0", "method": "example_echo", "params": {"text": "notification"}},
            {"jsonrpc": "2.0", "id": "x", "method": "nope"},
            {"jsonrpc": "1.0", "id": 3, "method": "pool_list"},
        ],
    )
    assert status == 200
    assert len(body) == 3
    assert body[0] == {"jsonrpc": "2.0", "id": 1, "result": {"text": "a", "name": None}}
    assert body[1]["error"]["code"] == -32601 and body[1]["id"] == "x"
    assert body[2]["error"]["code"] == -32600


def test_batch_of_notifications_has_no_body(daemon: Daemon) -> None:
    r = daemon.post(json.dumps([{"jsonrpc": "2.0", "method": "pool_list"}] * 2))
    assert r.status_code == 204 and r.content == b""


def test_empty_batch_is_invalid(daemon: Daemon) -> None:
    status, body = post(daemon, [])
    assert status == 200 and body["error"]["code"] == -32600


@pytest.mark.parametrize("raw", ["{not json", "", "\xff\xfe", '{"jsonrpc": "2.0", "id": 1,'])
def test_parse_error(daemon: Daemon, raw: str) -> None:
    r = daemon.post(raw.encode("latin-1"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"jsonrpc": "2.0", "id": None, "error": r.json()["error"]}
    assert r.json()["error"]["code"] == -32700


@pytest.mark.parametrize(
    "req",
    [
        {"jsonrpc": "1.0", "id": 1, "method": "pool_list"},
        {"id": 1, "method": "pool_list"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        "a string",
        42,
    ],
)
def test_invalid_request(daemon: Daemon, req: object) -> None:
    status, body = post(daemon, req)
    assert status == 200 and body["error"]["code"] == -32600


def test_unknown_method(daemon: Daemon) -> None:
    assert daemon.rpc("no_such_method")["error"]["code"] == -32601


def test_unexpected_exception_is_minus_1_and_leaks_nothing(daemon: Daemon) -> None:
    reply = daemon.rpc("example_crash")
    err = reply["error"]
    assert err["code"] == -1
    assert "secret" not in json.dumps(err) and "Traceback" not in json.dumps(err)
    assert "RuntimeError" in daemon.log() and "Traceback" in daemon.log()


def daemon_pool(d: Daemon) -> str:
    pools = [p["name"] for p in d.call("pool_list") if p["type"] == "block"]
    assert len(pools) == 1
    return pools[0]


@pytest.mark.parametrize("size", [True, 1.5, "1024", -1, None, [1], 0])
def test_sizes_must_be_non_negative_integers(daemon: Daemon, size: object) -> None:
    code = daemon.error_code("vol_create", pool=daemon_pool(daemon), name="v", size=size)
    assert code == -32602


@pytest.mark.parametrize("name", ["a/b", "../x", "", "a b", "ä", "x" * 200, "a;rm", 5, None])
def test_names_outside_the_rule(daemon: Daemon, name: object) -> None:
    code = daemon.error_code("vol_create", pool=daemon_pool(daemon), name=name, size=4096)
    assert code == -32602


def test_pool_list_shape(daemon: Daemon) -> None:
    (pool,) = daemon.call("pool_list")
    assert set(pool) == {"name", "size", "free_size", "type", "uuid"}
    assert pool["type"] == "block" and isinstance(pool["uuid"], str)
    assert 0 <= pool["free_size"] <= pool["size"]


def test_volume_lifecycle_routed_to_the_owning_plugin(daemon: Daemon) -> None:
    pool = daemon_pool(daemon)
    assert daemon.call("vol_create", pool=pool, name="v1", size=1e6) is None
    assert daemon.error_code("vol_create", pool=pool, name="v1", size=4096) == -50
    (v1,) = [v for v in daemon.call("vol_list", pool=pool) if v["name"] == "v1"]
    assert v1["size"] == 1000000 and isinstance(v1["uuid"], str)
    assert (
        daemon.error_code("vol_copy", pool=pool, vol_orig="v1", vol_new="v2", size=1000000)
        == -32602
    )
    assert daemon.error_code("vol_copy", pool=pool, vol_orig="missing", vol_new="v2") == -103
    assert daemon.error_code("vol_copy", pool=pool, vol_orig="v1", vol_new="v1") == -50
    daemon.call("vol_copy", pool=pool, vol_orig="v1", vol_new="v2", size=2000000, timeout=10)
    vols = {v["name"]: v for v in daemon.call("vol_list", pool=pool)}
    assert vols["v2"]["size"] == 2000000 and vols["v2"]["uuid"] != v1["uuid"]
    assert daemon.error_code("vol_resize", pool=pool, name="v1", size=1000000) == -32602
    assert daemon.error_code("vol_resize", pool=pool, name="nope", size=10**7) == -103
    daemon.call("vol_resize", pool=pool, name="v1", size=3000000)
    assert {v["name"]: v["size"] for v in daemon.call("vol_list", pool=pool)}["v1"] == 3000000
    daemon.call("vol_destroy", pool=pool, name="v1")
    daemon.call("vol_destroy", pool=pool, name="v2")
    assert daemon.error_code("vol_destroy", pool=pool, name="v1") == -103
    daemon.call("vol_create", pool=pool, name="v1", size=4096)
    (again,) = [v for v in daemon.call("vol_list", pool=pool) if v["name"] == "v1"]
    assert again["uuid"] != v1["uuid"]
    daemon.call("vol_destroy", pool=pool, name="v1")


@pytest.mark.parametrize(
    "method,params",
    [
        ("vol_list", {"pool": "nope"}),
        ("vol_create", {"pool": "nope", "name": "a", "size": 1}),
        ("vol_destroy", {"pool": "nope", "name": "a"}),
        ("vol_resize", {"pool": "nope", "name": "a", "size": 1}),
        ("vol_copy", {"pool": "nope", "vol_orig": "a", "vol_new": "b"}),
        ("fs_create", {"pool_name": "/nope", "name": "a", "size_bytes": 0}),
    ],
)
def test_unknown_pool_is_minus_110(daemon: Daemon, method: str, params: dict) -> None:
    assert daemon.error_code(method, **params) == -110


def test_fs_methods_with_unknown_uuids(daemon: Daemon) -> None:
    assert daemon.call("fs_list") == []
    assert daemon.error_code("fs_destroy", uuid="x") == -104
    assert daemon.error_code("ss_list", fs_uuid="x") == -104
    assert daemon.error_code("fs_clone", fs_uuid="x", dest_fs_name="c", snapshot_id=None) == -104
    assert daemon.error_code("fs_snapshot", fs_uuid="x", dest_ss_name="s") == -104
    assert daemon.error_code("fs_snapshot_delete", fs_uuid="x", ss_uuid="y") == -104
