"""The client's table of error codes is the daemon's: the core's codes and those the
shipped plugins declare, with the same names, plus JSON-RPC 2.0's own."""

from __future__ import annotations

from pathlib import Path

from targetd_client.errors import ErrorCode as ClientCode

from .test_contract_doc import shipped_codes

JSONRPC_OWN = {
    -32700: "PARSE_ERROR",
    -32600: "INVALID_REQUEST",
    -32601: "METHOD_NOT_FOUND",
    -32603: "INTERNAL_ERROR",
}


def test_client_codes_are_the_daemons(tmp_path: Path) -> None:
    daemon = {n: c.name for n, c in shipped_codes(tmp_path).items()}
    client = {int(c): c.name for c in ClientCode}
    assert client == {**daemon, **JSONRPC_OWN}
