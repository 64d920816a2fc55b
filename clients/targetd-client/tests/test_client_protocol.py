"""The Client's JSON-RPC handling against canned replies (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from targetd_client import Client, ProtocolError, TargetdError
from targetd_client.errors import (
    AuthenticationError,
    HTTPStatusError,
    LoginThrottledError,
    RequestTooLargeError,
)
from targetd_client.transport import _status_error


def client_with(replies: list[Any], sent: list[dict[str, Any]]) -> Client:
    c = Client("http://127.0.0.1:1", "admin", "pw")

    def post(body: bytes) -> tuple[int, bytes]:
        req = json.loads(body)
        sent.append(req)
        reply = replies.pop(0)
        if callable(reply):
            reply = reply(req)
        return 200, reply if isinstance(reply, bytes) else json.dumps(reply).encode()

    c._transport.post = post  # type: ignore[method-assign]
    return c


def ok(result: Any) -> Any:
    return lambda req: {"jsonrpc": "2.0", "id": req["id"], "result": result}


def test_ids_increase_and_params_omitted_when_empty() -> None:
    sent: list[dict[str, Any]] = []
    c = client_with([ok([]), ok(None), ok([])], sent)
    c.pool_list()
    c.vol_create("p", "v", 5)
    c.vol_list("p")
    assert [r["id"] for r in sent] == [1, 2, 3]
    assert "params" not in sent[0]
    assert sent[1] == {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "vol_create",
        "params": {"pool": "p", "name": "v", "size": 5},
    }


def test_error_object_becomes_targetd_error() -> None:
    err = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -110, "message": "no pool", "data": {"x": 1}},
    }
    c = client_with([err], [])
    with pytest.raises(TargetdError) as e:
        c.vol_list("p")
    assert (e.value.code, e.value.message, e.value.data, e.value.name) == (
        -110,
        "no pool",
        {"x": 1},
        "INVALID_POOL",
    )
    assert TargetdError(-9999, "m").name is None


@pytest.mark.parametrize(
    "reply",
    [
        b"<html>",
        {"id": 1, "result": 1},  # no jsonrpc member
        {"jsonrpc": "2.0", "id": 99, "result": 1},  # wrong id
        {"jsonrpc": "2.0", "id": 1},  # neither
        {"jsonrpc": "2.0", "id": 1, "error": "boom"},
        [1, 2],
    ],
)
def test_malformed_replies(reply: Any) -> None:
    with pytest.raises(ProtocolError):
        client_with([reply], []).pool_list()


def test_nfs_options_forms() -> None:
    sent: list[dict[str, Any]] = []
    c = client_with([ok({"host": "h", "path": "/p"})] * 3, sent)
    assert c.nfs_export_add("h", "/p", ("rw", "sec=sys")) == {"host": "h", "path": "/p"}
    c.nfs_export_add("h", "/p", "rw")
    c.nfs_export_add("h", "/p")
    assert [r["params"]["options"] for r in sent] == [["rw", "sec=sys"], "rw", None]
    assert all("chown" not in r["params"] for r in sent)


def test_generic_call_accepts_a_param_named_method() -> None:
    sent: list[dict[str, Any]] = []
    client_with([ok(1)], sent).call("x", method="m")
    assert sent[0]["method"] == "x" and sent[0]["params"] == {"method": "m"}


def test_http_status_errors() -> None:
    url = "http://h:1/targetrpc"
    e401 = _status_error(401, "Unauthorized", b"", url)
    assert type(e401) is AuthenticationError and "wrong user or password" in str(e401)
    e503 = _status_error(503, "Service Unavailable", b"", url)
    assert isinstance(e503, LoginThrottledError) and isinstance(e503, AuthenticationError)
    e413 = _status_error(413, "Content Too Large", b"", url)
    assert isinstance(e413, RequestTooLargeError) and "128 KiB" in str(e413)
    e500 = _status_error(500, "Internal", b"oops", url)
    assert type(e500) is HTTPStatusError and e500.status == 500 and "oops" in str(e500)


def test_repr_and_url_never_show_the_password() -> None:
    c = Client("array", "admin", "sekrit")
    assert "sekrit" not in repr(c) and c.url == "https://array:18700/targetrpc"


def test_nvme_methods_send_only_what_was_given() -> None:
    sent: list[dict[str, Any]] = []
    ref = {"host_nqn": "nqn.2014-08.org.example:h", "subsystem_nqn": "nqn.x:host-0", "nsid": 1}
    c = client_with([ok(ref), ok(ref), ok(None), ok(None), ok(None)], sent)
    assert c.nvme_export_create("p", "v", "nqn.2014-08.org.example:h") == ref
    c.nvme_export_create("p", "v", "nqn.2014-08.org.example:h", nsid=7)
    c.nvme_host_set_auth("nqn.2014-08.org.example:h", "DHHC-1:00:k:")
    c.nvme_host_set_auth("nqn.2014-08.org.example:h", "DHHC-1:00:k:", "DHHC-1:00:c:",
                         "hmac(sha512)", "ffdhe2048")  # fmt: skip
    c.nvme_export_destroy("p", "v", "nqn.2014-08.org.example:h")
    assert [r["method"] for r in sent] == ["nvme_export_create"] * 2 + [
        "nvme_host_set_auth"
    ] * 2 + ["nvme_export_destroy"]
    assert "nsid" not in sent[0]["params"] and sent[1]["params"]["nsid"] == 7
    assert set(sent[2]["params"]) == {"host_nqn", "host_key"}
    assert sent[3]["params"] == {"host_nqn": "nqn.2014-08.org.example:h",
                                 "host_key": "DHHC-1:00:k:", "ctrl_key": "DHHC-1:00:c:",
                                 "hash": "hmac(sha512)", "dhgroup": "ffdhe2048"}  # fmt: skip
