"""The contract's JSON-RPC request table, and the core's own methods, end to end."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- Hostile protocol input (issue 10, item 5): every body gets a valid JSON-RPC reply.


def strict_json(text: str) -> object:
    """Parse as a strict JSON parser would: NaN and Infinity are not JSON."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} in a reply")

    return json.loads(text, parse_constant=refuse)


def assert_json_rpc_error(r, code: int) -> dict:
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert r.headers["Content-Type"] == "application/json"
    body = strict_json(r.text)
    assert set(body) == {"jsonrpc", "id", "error"}, body
    assert body["error"]["code"] == code, body
    return body


@pytest.mark.parametrize("depth", [33, 2000, 60000])
def test_deep_nesting_is_a_parse_error_not_a_500(daemon: Daemon, depth: int) -> None:
    r = daemon.post("[" * depth + "]" * depth)
    body = assert_json_rpc_error(r, -32700)
    assert body["id"] is None
    assert "nested deeper than 32" in body["error"]["message"]


def test_deep_nesting_inside_params_is_a_parse_error(daemon: Daemon) -> None:
    deep = "[" * 1500 + "]" * 1500
    raw = '{"jsonrpc": "2.0", "id": 1, "method": "example_echo", "params": {"text": ' + deep + "}}"
    assert_json_rpc_error(daemon.post(raw), -32700)


def test_nesting_within_the_limit_is_served(daemon: Daemon) -> None:
    inner = "[" * 28 + "]" * 28  # the request object, params and the list: 32 levels
    raw = '{"jsonrpc": "2.0", "id": 1, "method": "example_echo", "params": {"text": [' + inner
    body = assert_json_rpc_error(daemon.post(raw + "]}}"), -32602)
    assert body["id"] == 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_as_ids(daemon: Daemon, constant: str) -> None:
    r = daemon.post('{"jsonrpc": "2.0", "id": ' + constant + ', "method": "pool_list"}')
    body = assert_json_rpc_error(r, -32700)
    assert body["id"] is None


@pytest.mark.parametrize("constant", ["NaN", "Infinity"])
def test_nan_and_infinity_are_refused_as_parameters(daemon: Daemon, constant: str) -> None:
    raw = '{"jsonrpc":"2.0","id":3,"method":"example_slow_read","params":{"seconds":%s}}'
    assert_json_rpc_error(daemon.post(raw.replace("%s", constant)), -32700)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e99999"])
def test_numbers_beyond_a_double_are_echoed_as_ids(daemon: Daemon, number: str) -> None:
    """JSON, though no double holds them (Python's float makes them inf, and the reply
    said Infinity: not JSON)."""
    r = daemon.post('{"jsonrpc": "2.0", "id": ' + number + ', "method": "pool_list"}')
    assert r.status_code == 200 and '"id":' + number in r.text
    assert "result" in strict_json(r.text.replace(number, "0"))


@pytest.mark.parametrize("number", ["1e999", "-1e400"])
def test_numbers_beyond_a_double_are_invalid_arguments(daemon: Daemon, number: str) -> None:
    raw = '{"jsonrpc":"2.0","id":3,"method":"example_slow_read","params":{"seconds":%s}}'
    body = assert_json_rpc_error(daemon.post(raw.replace("%s", number)), -32602)
    assert "seconds is too large" in body["error"]["message"]


@pytest.mark.parametrize("digits", [4299, 4300, 4301, 5000, 100000])
@pytest.mark.parametrize("sign", ["", "-"])
def test_integer_ids_of_any_length_are_echoed_exactly(
    daemon: Daemon, digits: int, sign: str
) -> None:
    req_id = sign + ("1234567890" * (digits // 10 + 1))[:digits]
    raw = '{"jsonrpc": "2.0", "id": ' + req_id + ', "method": "pool_list"}'
    r = daemon.post(raw)
    assert r.status_code == 200
    assert '"id":' + req_id + "," in r.text or '"id":' + req_id + "}" in r.text
    assert "result" in strict_json(r.text.replace(req_id, "0"))


def test_huge_integer_id_in_a_batch_and_in_an_error(daemon: Daemon) -> None:
    big = "7" * 6000
    raw = (
        '[{"jsonrpc":"2.0","id":' + big + ',"method":"nope"},'
        '{"jsonrpc":"2.0","id":' + big + '1,"method":"pool_list"}]'
    )
    r = daemon.post(raw)
    body = strict_json(r.text.replace(big + "1", "2").replace(big, "1"))
    assert [b["id"] for b in body] == [1, 2]
    assert body[0]["error"]["code"] == -32601 and "result" in body[1]


def test_huge_integer_as_a_parameter_is_invalid_argument(daemon: Daemon) -> None:
    params = '{"pool":"' + daemon_pool(daemon) + '","name":"big","size":' + "9" * 5000 + "}"
    raw = '{"jsonrpc":"2.0","id":1,"method":"vol_create","params":' + params + "}"
    body = assert_json_rpc_error(daemon.post(raw), -32602)
    assert "size" in body["error"]["message"] and len(body["error"]["message"]) < 300


@pytest.mark.parametrize("bad", ["\\ud800", "x\\udfff", "\\udc80abc", "a\\ud83d"])
@pytest.mark.parametrize(
    "method,params",
    [
        ("example_echo", {"text": None}),
        ("example_echo", {"text": "t", "name": None}),
        ("vol_list", {"pool": None}),
        ("vol_create", {"pool": "POOL", "name": None, "size": 4096}),
        ("fs_destroy", {"uuid": None}),
        ("fs_create", {"pool_name": None, "name": "f", "size_bytes": 0}),
        ("ss_list", {"fs_uuid": None}),
        ("example_login", {"user": None, "token": "t"}),
    ],
)
def test_lone_surrogates_are_invalid_arguments(
    daemon: Daemon, bad: str, method: str, params: dict
) -> None:
    """A JSON string may carry an unpaired surrogate escape; no method ever sees one."""
    params = {k: (daemon_pool(daemon) if v == "POOL" else v) for k, v in params.items()}
    (target,) = [k for k, v in params.items() if v is None]
    text = json.dumps({"jsonrpc": "2.0", "id": 5, "method": method, "params": params})
    text = text.replace(f'"{target}": null', f'"{target}": "{bad}"')
    body = assert_json_rpc_error(daemon.post(text), -32602)
    assert target in body["error"]["message"]


def test_lone_surrogates_inside_lists_and_keys(daemon: Daemon) -> None:
    raw = '{"jsonrpc":"2.0","id":1,"method":"example_echo","params":{"text":"a","\\ud800":1}}'
    assert_json_rpc_error(daemon.post(raw), -32602)


SECRET = "hunter2-do-not-echo"


@pytest.mark.parametrize(
    "token", [[SECRET], {"v": SECRET}, 123456789, 12.5, True, ["\\ud800" + SECRET]]
)
def test_a_secret_parameter_of_the_wrong_type_is_not_echoed(daemon: Daemon, token) -> None:
    text = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "example_login",
            "params": {"user": "u", "token": token},
        }
    ).replace("\\\\ud800", "\\ud800")
    r = daemon.post(text)
    body = assert_json_rpc_error(r, -32602)
    message = body["error"]["message"]
    assert "token" in message
    for shown in (SECRET, "123456789", "12.5", "True"):
        assert shown not in r.text, message
    assert SECRET not in daemon.log()


def test_batch_of_the_limit_is_served(daemon: Daemon) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "pool_list"} for i in range(32)]
    status, body = post(daemon, batch)
    assert status == 200 and [b["id"] for b in body] == list(range(32))


def test_batch_over_the_limit_is_refused_whole_and_none_is_run(daemon: Daemon) -> None:
    pool = daemon_pool(daemon)
    batch = [
        {
            "jsonrpc": "2.0",
            "method": "vol_create",
            "params": {"pool": pool, "name": f"batched{i}", "size": 4096},
        }
        for i in range(33)
    ]
    status, body = post(daemon, batch)
    assert status == 200
    assert body["error"]["code"] == -32600 and body["id"] is None
    assert "at most 32" in body["error"]["message"]
    assert not [v for v in daemon.call("vol_list", pool=pool) if v["name"].startswith("batched")]


@pytest.mark.parametrize(
    "member", [[{"jsonrpc": "2.0", "id": 1, "method": "pool_list"}], [], 1, "x", None]
)
def test_batch_member_that_is_not_an_object_is_invalid(daemon: Daemon, member) -> None:
    """A nested array is not a nested batch (nor a way around the batch limit)."""
    status, body = post(daemon, [member, {"jsonrpc": "2.0", "id": 9, "method": "pool_list"}])
    assert status == 200 and len(body) == 2
    assert body[0]["error"]["code"] == -32600 and body[0]["id"] is None
    assert body[1]["id"] == 9 and "result" in body[1]


def test_nested_batches_do_not_get_round_the_limit(daemon: Daemon) -> None:
    inner = [{"jsonrpc": "2.0", "id": i, "method": "pool_list"} for i in range(30)]
    status, body = post(daemon, [inner] * 30)
    assert status == 200 and len(body) == 30
    assert {b["error"]["code"] for b in body} == {-32600}


# --- Names through the API (issue 10, item 1, the core's parameters): a name is the
# whole string, so a trailing newline, NUL, a separator, '..', non-ASCII or one
# character too many is -32602, and the call changes nothing.

BAD_NAMES = [
    "x\n",
    "x\r\n",
    "\nx",
    "x\0",
    "\0",
    "a/b",
    "..",
    "../x",
    ".",
    "x/..",
    "é",
    "名前",
    "x\u2028",
    "x\ud800",
    "a" * 128,
    "",
    " x",
    "x y",
    "x\t",
]

# Every parameter the core checks as a Name, with the other arguments of a call that
# would otherwise reach the pool.
NAME_PARAMS = [
    ("vol_create", "name", {"pool": "POOL", "size": 4096}),
    ("vol_destroy", "name", {"pool": "POOL"}),
    ("vol_resize", "name", {"pool": "POOL", "size": 10**7}),
    ("vol_copy", "vol_orig", {"pool": "POOL", "vol_new": "copy"}),
    ("vol_copy", "vol_new", {"pool": "POOL", "vol_orig": "keep"}),
    ("fs_create", "name", {"pool_name": "/nope", "size_bytes": 0}),
    ("fs_clone", "dest_fs_name", {"fs_uuid": "x"}),
    ("fs_snapshot", "dest_ss_name", {"fs_uuid": "x"}),
    ("example_echo", "name", {"text": "t"}),
]


@pytest.fixture()
def keep_volume(daemon: Daemon):
    pool = daemon_pool(daemon)
    daemon.call("vol_create", pool=pool, name="keep", size=4096)
    before = daemon.call("vol_list", pool=pool)
    yield pool
    assert daemon.call("vol_list", pool=pool) == before  # a refused call changed nothing
    daemon.call("vol_destroy", pool=pool, name="keep")


@pytest.mark.parametrize("method,param,others", NAME_PARAMS)
def test_core_names_outside_the_rule_are_invalid(
    daemon: Daemon, keep_volume: str, method: str, param: str, others: dict
) -> None:
    others = {k: keep_volume if v == "POOL" else v for k, v in others.items()}
    for bad in BAD_NAMES:
        reply = daemon.rpc(method, {**others, param: bad})
        assert reply.get("error", {}).get("code") == -32602, (bad, reply)
        assert param in reply["error"]["message"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.text(min_size=0, max_size=140).filter(
        lambda s: not (re.fullmatch(r"[a-zA-Z0-9_-]{1,127}", s))
    )
)
def test_any_name_outside_the_rule_is_invalid(daemon: Daemon, name: str) -> None:
    pool = daemon_pool(daemon)
    reply = daemon.rpc("vol_create", {"pool": pool, "name": name, "size": 4096})
    assert reply["error"]["code"] == -32602, (name, reply)


def test_longest_name_is_accepted(daemon: Daemon) -> None:
    pool = daemon_pool(daemon)
    name = "n" * 127
    daemon.call("vol_create", pool=pool, name=name, size=4096)
    assert name in [v["name"] for v in daemon.call("vol_list", pool=pool)]
    daemon.call("vol_destroy", pool=pool, name=name)


POOL_PARAMS = [
    ("vol_list", "pool", {}),
    ("vol_create", "pool", {"name": "p", "size": 4096}),
    ("vol_destroy", "pool", {"name": "keep"}),
    ("vol_resize", "pool", {"name": "keep", "size": 10**7}),
    ("vol_copy", "pool", {"vol_orig": "keep", "vol_new": "c"}),
    ("fs_create", "pool_name", {"name": "f", "size_bytes": 0}),
]


@pytest.mark.parametrize("method,param,others", POOL_PARAMS)
def test_pool_names_with_control_characters_are_invalid(
    daemon: Daemon, keep_volume: str, method: str, param: str, others: dict
) -> None:
    """A pool name is looked up, never used as a path: text that no configured pool
    can have (a control character, 4 KiB) is -32602; a well-formed unknown one -110."""
    for bad in (keep_volume + "\n", keep_volume + "\0", "\n", "", "x\x7f", "/" * 4097):
        reply = daemon.rpc(method, {**others, param: bad})
        assert reply["error"]["code"] == -32602, (bad, reply)
    for unknown in (keep_volume + "/..", "../" + keep_volume, "pööl", "/mnt/../etc"):
        assert daemon.rpc(method, {**others, param: unknown})["error"]["code"] == -110
