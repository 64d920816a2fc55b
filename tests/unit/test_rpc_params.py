"""Every parameter of every shipped method, through the dispatcher: what no method may
see (lone surrogates, huge integers) is -32602, and no message repeats a secret."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from targetd_core.jsonwire import dumps
from targetd_core.loader import build_core
from targetd_core.rpc import MAX_BATCH, CallContext, Dispatcher

SHIPPED = ["lvm", "zfs", "lio", "nvmet", "btrfs-fs", "nfs", "example"]


@pytest.fixture(scope="module")
def dispatcher(tmp_path_factory: pytest.TempPathFactory) -> Dispatcher:
    d = tmp_path_factory.mktemp("core")
    core, _ = build_core(
        raw={
            "password": "x",
            "state_dir": str(d),
            "plugins": SHIPPED,
            "block_pools": [],
            "lio_state_file": str(d / "lio.json"),
            "nvmet_state_file": str(d / "nvmet.json"),
            "nfs_exports_file": str(d / "t.exports"),
        }
    )
    return Dispatcher(core)


def every_parameter(d: Dispatcher) -> list[tuple[str, str]]:
    return [
        (name, p)
        for name, m in sorted(d.core.methods.items())
        for p in inspect.signature(m.func).parameters
    ]


def request(method: str, param: str, value_text: str) -> str:
    """A request whose one parameter is the raw JSON text ``value_text``."""
    params = '{"' + param + '":' + value_text + "}"
    return '{"jsonrpc":"2.0","id":1,"method":"' + method + '","params":' + params + "}"


def call(d: Dispatcher, body: str) -> dict:
    reply = d.handle(body.encode(), CallContext())
    return json.loads(dumps(reply))


def test_the_shipped_methods_are_there(dispatcher: Dispatcher) -> None:
    names = {m for m, _ in every_parameter(dispatcher)}
    assert {"initiator_set_auth", "nfs_export_add", "export_create", "fs_create"} <= names


@pytest.mark.parametrize("escape", ["\\ud800", "a\\udfff", "\\udbff\\udbff"])
def test_a_lone_surrogate_in_any_parameter_is_invalid(dispatcher: Dispatcher, escape: str) -> None:
    for method, param in every_parameter(dispatcher):
        for value in (f'"{escape}"', f'["ok", "{escape}"]'):
            body = request(method, param, value)
            reply = call(dispatcher, body)
            assert reply["error"]["code"] == -32602, (method, param, reply)
            assert "Unicode" in reply["error"]["message"], (method, param, reply)


def test_a_huge_integer_in_any_parameter_is_invalid(dispatcher: Dispatcher) -> None:
    for method, param in every_parameter(dispatcher):
        body = request(method, param, "8" * 5000)
        reply = call(dispatcher, body)
        assert reply["error"]["code"] == -32602, (method, param)
        assert "too large" in reply["error"]["message"] and "8888" not in reply["error"]["message"]


SECRET = "Zx-secret-9f3"


@pytest.mark.parametrize(
    "value", [[SECRET], {"k": SECRET}, 424242424, [[SECRET]], SECRET + "\udc80"]
)
def test_no_error_message_repeats_a_secret(dispatcher: Dispatcher, value: object) -> None:
    """CHAP secrets and tokens of the wrong type: the message names the parameter."""
    secret_params = [
        (m, p)
        for m, p in every_parameter(dispatcher)
        if p in dispatcher.core.methods[m].secret_params or "pass" in p or "token" in p
    ]
    assert ("initiator_set_auth", "in_pass") in secret_params
    for method, param in secret_params:
        params = {param: value}
        if method == "initiator_set_auth":
            params["initiator_wwn"] = "iqn.2003-01.org.example:x"
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        text = json.dumps(call(dispatcher, body))
        assert param in text and "-32602" in text, (method, param, text)
        assert SECRET not in text and "424242424" not in text, (method, param, text)


def test_the_batch_limit(dispatcher: Dispatcher) -> None:
    one = '{"jsonrpc":"2.0","id":1,"method":"example_echo","params":{"text":"a"}}'
    assert len(call(dispatcher, "[" + ",".join([one] * MAX_BATCH) + "]")) == MAX_BATCH
    over = call(dispatcher, "[" + ",".join([one] * (MAX_BATCH + 1)) + "]")
    assert over["error"]["code"] == -32600 and over["id"] is None


def test_ids_round_trip_through_the_dispatcher(dispatcher: Dispatcher) -> None:
    for raw_id in ("0", "-1", "1" * 40, "9" * 4301, "-" + "5" * 20000, '"s"', "1.5"):
        body = '{"jsonrpc":"2.0","id":' + raw_id + ',"method":"pool_list"}'
        out = dumps(dispatcher.handle(body.encode(), CallContext())).decode()
        assert '"id":' + raw_id in out


def test_secret_in_an_error_message_written_by_a_method_is_scrubbed(
    dispatcher: Dispatcher, tmp_path: Path
) -> None:
    from targetd_core.rpc import scrub_values

    assert scrub_values("bad in_pass 'abcdef'", {"in_pass": "abcdef"}, ()) == (
        "bad in_pass '<redacted>'"
    )
    assert scrub_values("token 12345 wrong", {"token": 12345}, ()) == "token <redacted> wrong"
    assert scrub_values("user bob", {"user": "bob", "x": "bob"}, ("x",)) == "user <redacted>"
    assert scrub_values("n=1", {"in_pass": 1}, ()) == "n=1"  # too short to scrub
