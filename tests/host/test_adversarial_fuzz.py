"""Schema-driven fuzzing of a real daemon (btrfs fs pool on a loop file, NFS exports to
a temporary exports file), and raw-protocol fuzzing of its HTTP/JSON layer.

The parameters come from the daemon's own ``rpc.discover`` document (hypothesis-
jsonschema builds a strategy from each parameter's schema), mixed with the objects that
exist at the time (real pools, uuids, paths), then mutated: wrong types, boundary
strings, hostile numbers, unknown or missing parameters. Every reply must be valid
JSON-RPC in strict JSON, never a 5xx, never a traceback, never -1 (or a success) for
input the schema or contract marks invalid, its error code one the method declares;
and a refused call must leave the host exactly as it was (btrfs subvolumes, the pool's
directory tree, etab, ``exportfs -v``, the exports file, the API's listings).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from .adversarial import (
    PROTOCOL_CODES,
    SAFE_HOSTS,
    SEED,
    FsTarget,
    Tally,
    aimed_cases,
    check_http,
    check_reply_object,
    dumps_loose,
    fixed_settings,
    fs_target,
    has_hostile_char,
    invalid_reason,
    mutated,
    secret_echoed,
    seed_note,
    strict_json,
)

#: Examples per method: valid-by-schema requests, and mutated ones per parameter.
VALID_EXAMPLES = 6
MUTATED_PER_PARAM = 8
NAMES = ["n0", "n1", "n2", "n3"]
MAX_FS = 6


class Target(FsTarget):
    """The fuzzing target, with what the fuzzer remembers between requests."""

    def __init__(self, base: FsTarget) -> None:
        super().__init__(base.daemon, base.mnt, base.root, base.exports_file, base.roots)
        self.next_id = 1
        #: the host's state as of the last refused call (None: changed since, look again)
        self.known: dict[str, Any] | None = None
        #: what exists now, for the parameter strategies (None: look again)
        self.existing: dict[str, list[Any]] | None = None

    def post(self, body: bytes, **kw: Any) -> Any:
        return self.daemon.session.post(
            self.daemon.url,
            data=body,
            auth=(self.daemon.user, self.daemon.password),
            timeout=120,
            **kw,
        )

    def changed(self) -> None:
        self.known = self.existing = None


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with fs_target(tmp_path_factory.mktemp("fuzz")) as t:
        yield Target(t)


# -- strategies --------------------------------------------------------------------------


def _current(t: Target) -> dict[str, list[Any]]:
    if t.existing is not None:
        return t.existing
    fss = t.call("fs_list")
    sss = [s["uuid"] for f in fss for s in t.call("ss_list", fs_uuid=f["uuid"])]
    t.existing = {
        "pools": [p["name"] for p in t.call("pool_list")],
        "fs_uuids": [f["uuid"] for f in fss],
        "ss_uuids": sss,
        "paths": [f["full_path"] for f in fss] + [str(t.root / "dir")],
    }
    return t.existing


@st.composite
def _pick(draw: Any, values: list[Any], schema: dict[str, Any] | None) -> Any:
    """Mostly one of ``values`` (things that exist now), sometimes anything the schema
    allows. The draws do not depend on how many values there are, so hypothesis sees
    the same kind of choices in every example (the host's state changes between them)."""
    use_schema = draw(st.integers(0, 2)) == 0
    index = draw(st.integers(0, 1 << 20))
    from_sch = draw(from_schema(schema)) if schema is not None else None
    if (use_schema and schema is not None) or not values:
        return from_sch
    return values[index % len(values)]


def param_strategy(name: str, schema: dict[str, Any], cur: dict[str, list[Any]]) -> Any:
    """A strategy for one parameter: mostly things that exist (so calls get past "not
    found"), sometimes anything the schema allows."""
    if name in ("pool", "pool_name"):
        return _pick(cur["pools"] + ["/nonexistent", "vg-targetd"], schema)
    if name in ("uuid", "fs_uuid"):
        return _pick(cur["fs_uuids"], schema)
    if name in ("ss_uuid", "snapshot_id"):
        return _pick(cur["ss_uuids"] + [None, ""] * (name == "snapshot_id"), schema)
    if name == "host":
        return st.sampled_from(SAFE_HOSTS)  # never a name that needs the DNS
    if name == "path":
        return _pick(cur["paths"], None)
    if name == "options":
        return st.sampled_from(
            [None, "rw", [], ["rw"], ["ro", "root_squash"], ["rw", "no_root_squash", "sec=sys"]]
        )
    if name == "chown":
        return st.sampled_from([None, "", "0", "0:0", "65534:65534", 0])
    if name == "export_path":
        return st.just(None)
    if schema.get("pattern"):
        return st.one_of(st.sampled_from(NAMES), from_schema(schema))
    if schema.get("type") == "integer":
        return st.integers(0, 256 << 20)
    return from_schema(schema)


# -- sending -----------------------------------------------------------------------------


def send(t: Target, tally: Tally, method: dict[str, Any], params: Any) -> None:
    reason = invalid_reason(method, params)
    changing = method.get("x-targetd-changes-storage", True)
    t.next_id += 1
    body = dumps_loose(
        {"jsonrpc": "2.0", "id": t.next_id, "method": method["name"], "params": params}
    )
    if changing and t.known is None:
        t.known = t.snapshot()
    before = t.known
    r = t.post(body)
    reply = check_http(tally, body, r)
    if r.status_code != 200 or reply is None:
        tally.fail(f"HTTP {r.status_code} for a call", body, r.content)
        return
    check_reply_object(tally, body, reply, t.next_id)
    if secret_echoed(params, r.text):
        tally.fail("a CHAP secret came back in the reply", body, reply)
    if "error" not in reply:
        if changing:
            t.changed()
            _prune(t)
            for problem in t.problems():
                tally.fail_once(f"after a success: {problem}", body, reply)
        if reason:
            tally.fail(f"accepted invalid input ({reason})", body, reply)
        return
    code = reply["error"]["code"]
    declared = {e["code"] for e in method["errors"]} | PROTOCOL_CODES
    if code not in declared:
        tally.fail(f"code {code} is not one {method['name']} declares", body, reply)
    if reason and code in (-1, -32603):
        tally.minus_one_for_invalid += 1
        tally.fail(f"{code} for invalid input ({reason})", body, reply)
    if changing:
        after = t.known = t.snapshot()
        if before is not None and after != before:
            tally.changed_when_refused += 1
            diff = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
            tally.fail(f"refused ({code}) but the host changed: {diff}", body, reply)


def _prune(t: Target) -> None:
    """Keep the number of file systems small (each listing checks every one)."""
    fss = t.call("fs_list")
    if len(fss) > MAX_FS:
        t.changed()
    for f in fss[MAX_FS:]:
        for e in t.call("nfs_export_list"):
            if e["path"] == f["full_path"]:
                t.daemon.rpc("nfs_export_remove", {"host": e["host"], "path": e["path"]})
        t.daemon.rpc("fs_destroy", {"uuid": f["uuid"]})


def _fuzz_one(t: Target, tally: Tally, method: dict[str, Any]) -> Any:
    total = VALID_EXAMPLES + MUTATED_PER_PARAM * max(1, len(method["params"]))

    @seed(SEED)
    @fixed_settings(total)
    @given(data=st.data(), mutate=st.integers(0, total - 1))
    def run(data: Any, mutate: int) -> None:
        cur = _current(t)
        valid: dict[str, Any] = {}
        for p in method["params"]:
            if p["required"] or data.draw(st.booleans()):
                valid[p["name"]] = data.draw(param_strategy(p["name"], p["schema"], cur))
        params = valid if mutate < VALID_EXAMPLES else data.draw(mutated(method, valid))
        send(t, tally, method, params)

    return run


def _base(t: Target) -> dict[str, Any]:
    """Valid values for every parameter (the background of the aimed cases)."""
    cur = _current(t)
    uuid = cur["fs_uuids"][0] if cur["fs_uuids"] else "none"
    return {
        "pool_name": str(t.mnt),
        "pool": str(t.mnt),
        "uuid": uuid,
        "fs_uuid": uuid,
        "ss_uuid": "none",
        "name": "n9",
        "dest_fs_name": "n9",
        "dest_ss_name": "n9",
        "vol_orig": "n9",
        "vol_new": "n8",
        "size_bytes": 0,
        "size": 0,
        "host": "192.0.2.7",
        "path": str(t.root / "dir"),
        "options": ["rw"],
    }


def test_every_method_of_discover_with_valid_and_mutated_params(target: Target) -> None:
    """Every method the running daemon describes, valid and mutated params."""
    t = target
    doc = t.call("rpc.discover")
    methods = doc["methods"]
    assert {m["name"] for m in methods} >= {"fs_create", "nfs_export_add", "rpc.discover"}
    t.call("fs_create", pool_name=str(t.mnt), name="n0", size_bytes=0)
    tally = Tally()

    for method in methods:
        _fuzz_one(t, tally, method)()
        for params in aimed_cases(method, _base(t)):
            send(t, tally, method, params)

    print(f"schema fuzzing: {tally.summary()}")
    tally.check()


# -- the HTTP/JSON layer -----------------------------------------------------------------


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def raw_bodies() -> st.SearchStrategy[bytes]:
    call = '{"jsonrpc":"2.0","id":%s,"method":"pool_list"}'
    ids = [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "-0",
        "1.5",
        "9" * 5000,
        "-" + "9" * 4400,
        "340282366920938463463374607431768211456",
        '"\\ud800"',
        '"\\u0000"',
        "[]",
        "{}",
        "true",
        "null",
        '"' + "x" * 10000 + '"',
    ]
    fixed = [
        *(call % i for i in ids),
        *(_nested(n) for n in (100, 1000, 2000, 5000, 20000)),
        *(_nested(n, "{}") for n in (1000, 2000)),
        '{"a":' * 3000 + "1" + "}" * 3000,
        '{"jsonrpc":"2.0","id":1,"method":"pool_list","params":' + _nested(3000) + "}",
        '{"jsonrpc":"2.0","id":1,"method":"fs_create","params":{"pool_name":'
        + _nested(3000)
        + ',"name":"n","size_bytes":0}}',
        "[" + ",".join([call % 1] * 3) + "]",
        "[" + call % 1 + "," + _nested(3000) + "]",
        "[[" + call % 1 + "]]",
        "[1,2,3]",
        "[]",
        "[" + ",".join(['{"jsonrpc":"2.0","method":"pool_list"}'] * 50) + "]",
        '{"jsonrpc":"2.0","id":1,"method":"pool_list\\n"}',
        '{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
        '{"jsonrpc":"2.0","id":1,"method":"__init__"}',
        '{"jsonrpc":"2.0","id":1,"method":"../pool_list"}',
        '{"jsonrpc":"2.0","id":1,"method":1}',
        '{"jsonrpc":"2.0","id":1}',
        '{"jsonrpc":"1.0","id":1,"method":"pool_list"}',
        '{"jsonrpc":2.0,"id":1,"method":"pool_list"}',
        '{"jsonrpc":"2.0","id":1,"method":"pool_list","jsonrpc":"2.0"}',
        '{"jsonrpc":"2.0","id":1,"method":"pool_list","params":"x"}',
        '{"jsonrpc":"2.0","id":1,"method":"pool_list","extra":1}',
        '{"jsonrpc":"2.0","id":1,"method":"fs_destroy","params":{"uuid":NaN}}',
        '{"jsonrpc":"2.0","id":1,"method":"fs_create","params":{"pool_name":"/x","name":"n",'
        '"size_bytes":1e999}}',
        '{"jsonrpc":"2.0","id":1,"method":"pool_list"} trailing',
        '{"jsonrpc":"2.0","id":1,"method":"pool_list"',
        "",
        " ",
        "null",
        "1",
        '"x"',
        "\x00",
    ]
    encoded = [s.encode() for s in fixed] + [
        (call % 1).encode("utf-16"),
        (call % 1).encode("utf-32"),
        b"\xef\xbb\xbf" + (call % 1).encode(),
        (call % '"\xe9"').encode("latin-1"),
        b'{"jsonrpc":"2.0","id":"\xc0\xae","method":"pool_list"}',
        b'{"jsonrpc":"2.0","id":"\xed\xa0\x80","method":"pool_list"}',
        b'{"jsonrpc":"2.0","id":1,"method":"pool_list"}\xff',
    ]
    return st.one_of(
        st.sampled_from(encoded),
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
            max_leaves=20,
        ).map(
            lambda v: dumps_loose({"jsonrpc": "2.0", "id": 1, "method": "pool_list", "params": v})
        ),
    )


def _id_of(body: bytes) -> Any:
    """The request's id if it is an id the contract says to echo (int or string)."""
    try:
        req = strict_json(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ...
    if isinstance(req, dict) and isinstance(req.get("id"), (int, str)):
        if isinstance(req["id"], bool) or has_hostile_char(req["id"]):
            return ...
        return req["id"]
    return ...


RAW_EXAMPLES = 150


def test_raw_protocol(target: Target) -> None:
    """Bodies that are not what a client should send: every reply is still a valid
    JSON-RPC reply in strict JSON (or 204 for notifications), never a 5xx."""
    t = target
    tally = Tally()
    before = t.snapshot()

    @seed(SEED)
    @fixed_settings(RAW_EXAMPLES)
    @given(body=raw_bodies())
    def run(body: bytes) -> None:
        r = t.post(body, headers={"Content-Type": "application/json"})
        reply = check_http(tally, body, r)
        if r.status_code not in (200, 204, 413):
            tally.fail(f"HTTP {r.status_code} for a JSON-RPC body", body, r.content)
        if reply is None:
            return
        if isinstance(reply, list):
            if not reply:
                tally.fail("an empty batch reply (must be no body)", body, reply)
            for item in reply:
                check_reply_object(tally, body, item)
        else:
            check_reply_object(tally, body, reply, _id_of(body))

    run()
    if t.snapshot() != before:
        tally.fail("pool_list and malformed requests changed the host", "", "")
    print(f"raw protocol fuzzing: {tally.summary()}")
    tally.check()


def test_batch_size_is_limited(target: Target) -> None:
    """A batch of 1000 changing calls is refused as a whole, not run for minutes under
    the storage lock (finding 5: the limit is documented in SECURITY.md)."""
    t = target
    before = t.snapshot()
    items = [
        {"jsonrpc": "2.0", "id": i, "method": "fs_destroy", "params": {"uuid": f"u{i}"}}
        for i in range(1000)
    ]
    r = t.post(dumps_loose(items))
    assert r.status_code == 200, r.text[:300]
    reply = strict_json(r.content)
    assert isinstance(reply, dict), f"a {len(reply)}-member batch was run: no batch limit"
    assert reply["error"]["code"] == -32600 and reply["id"] is None, reply
    assert t.snapshot() == before


def _raw_http(t: Target, request: bytes, wait_close: bool = True) -> tuple[bytes, bool]:
    """Send raw bytes; the reply head and whether the server then closed the socket
    (within 3 s; not waited for without ``wait_close``)."""
    host, port = t.daemon.url.split("/")[2].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0]
        if not wait_close:
            return head, False
        s.settimeout(3)
        try:
            while s.recv(65536):
                pass
            closed = True
        except TimeoutError:
            closed = False
        return head, closed


def test_413_says_close_when_it_closes(target: Target) -> None:
    """An over-long body is refused unread, so the connection cannot carry another
    request: the server closes it and says so (finding 5: it said keep-alive)."""
    import base64

    auth = base64.b64encode(f"{target.daemon.user}:{target.daemon.password}".encode()).decode()
    head, closed = _raw_http(
        target,
        (
            "POST /targetrpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Basic {auth}\r\nContent-Length: 200000\r\n\r\n"
        ).encode()
        + b"[" * 1000,
    )
    assert head.startswith(b"HTTP/1.1 413"), head
    says_close = re.search(rb"(?im)^connection:\s*close\s*$", head) is not None
    # the unread body makes the connection unusable: it must be closed, and said so
    assert says_close and closed, (says_close, closed, head)


def test_odd_http_is_never_a_5xx(target: Target) -> None:
    """Malformed headers and framing: answered with a 4xx, never a 5xx or a traceback."""
    import base64

    auth = base64.b64encode(f"{target.daemon.user}:{target.daemon.password}".encode()).decode()
    body = b'{"jsonrpc":"2.0","id":1,"method":"pool_list"}'
    heads = [
        f"Content-Length: -1\r\nAuthorization: Basic {auth}",
        f"Content-Length: abc\r\nAuthorization: Basic {auth}",
        f"Content-Length: 99999999999999999999999\r\nAuthorization: Basic {auth}",
        "Authorization: Basic \udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
        "Authorization: Basic !!!!",
        "Authorization: Basic " + base64.b64encode(b"admin").decode(),
        "Authorization: Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
        "Authorization: Bearer x",
        f"Transfer-Encoding: chunked\r\nAuthorization: Basic {auth}",
    ]
    for h in heads:
        req = (
            f"POST /targetrpc HTTP/1.1\r\nHost: x\r\n{h}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        head, _ = _raw_http(target, req, wait_close=False)
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"???"
        assert status[:1] in (b"2", b"4"), f"{h!r}: {head!r} {seed_note()}"
