"""JSON-RPC 2.0 dispatch: the contract's request rules on top of jsonrpcserver.

jsonrpcserver does the protocol work (validation against the JSON-RPC schema, method
lookup, building responses). Around it this module: parses the body itself (so that a
parse error is -32700 with ``id: null``), accepts ``"params": null`` (which real clients
send and jsonrpcserver's schema refuses), dispatches each member of a batch on its own
(so one bad member does not spoil the batch), checks arguments against the method's
typed signature, takes the storage lock, turns errors into contract codes, and logs
one event per call.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from jsonrpcserver import Error, Success
from jsonrpcserver.main import default_validator, dispatch_to_response
from jsonrpcserver.response import to_serializable_one

from .core import Core

if TYPE_CHECKING:
    from .metrics import Metrics
from .errors import Code, TargetdError
from .jsonwire import BigNumber, JsonRefused, parse
from .logs import REDACTED, enabled_for, info_writer, redact_params
from .methods import RpcMethod
from .params import bind, is_secret_param

log = structlog.get_logger("targetd.rpc")

#: Most requests in one batch; a longer batch is refused whole (-32600), none of it run,
#: so that one HTTP request cannot keep a worker and the storage lock busy for minutes.
MAX_BATCH = 32

_REQUEST_KEYS = frozenset(("jsonrpc", "method", "id", "params"))
_NO_PARAMS: dict[str, Any] = {}


@dataclass
class CallContext:
    """Who is calling: passed to every method wrapper by jsonrpcserver."""

    client: str = ""
    user: str = ""
    #: the calls' log lines, held until the reply has been sent (the HTTP application
    #: writes them then, see :meth:`Dispatcher.write_lines`); None writes each at once
    lines: list[dict[str, Any]] | None = None


def _error(code: int, message: str, id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id}


def scrub_values(message: str, params: dict[str, Any], secret: tuple[str, ...]) -> str:
    """``message`` with the value of every secret parameter replaced."""
    values: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif value is not None and not isinstance(value, bool):
            text = value if isinstance(value, str) else str(value)
            if len(text) >= 3:  # shorter ones would garble the message, and guess easily
                values.append(text)

    for name, value in params.items():
        if is_secret_param(name, secret):
            collect(value)
    for v in sorted(values, key=len, reverse=True):
        message = message.replace(v, REDACTED)
    return message


def _log_id(req_id: Any) -> Any:
    """A request id (or method name) as it goes to the log: huge numbers and long
    strings shortened, so one request cannot write 128 KiB to the log."""
    if isinstance(req_id, BigNumber):
        return repr(req_id)
    if isinstance(req_id, int) and not isinstance(req_id, bool) and abs(req_id) >= 2**63:
        return str(req_id)
    if isinstance(req_id, str) and len(req_id) > 200:
        return req_id[:200] + f"... ({len(req_id)} characters)"
    return req_id


class Dispatcher:
    def __init__(self, core: Core, metrics: Metrics | None = None) -> None:
        self.core = core
        self.metrics = metrics
        # A logger built once from the configuration in force (the module's lazy proxy
        # would rebuild it on every call); debug work is skipped when debug is off.
        self._log = log.bind()
        self._debug = enabled_for(self._log, logging.DEBUG)
        self._rpc_line = info_writer(self._log, "rpc")  # None when info is off
        self.methods: dict[str, Callable[..., Any]] = {
            name: self._wrap(m) for name, m in core.methods.items()
        }

    def _invoke(self, method: RpcMethod, params: dict[str, Any]) -> dict[str, Any]:
        """Run one method: ``{"result": ...}`` or ``{"error": {...}}``."""
        try:
            kwargs = bind(method.func, params, method.secret_params)
            if self._debug:  # the redacted copy is made only when it is logged
                self._log.debug(
                    "call params",
                    method=method.name,
                    params=redact_params(params, method.secret_params),
                )
            with self.core.lock.hold(exclusive=method.changes_storage):
                return {"result": method.func(**kwargs)}
        except TargetdError as exc:
            # A message never repeats a secret parameter's value, whoever wrote it.
            message = scrub_values(exc.message, params, method.secret_params)
            error: dict[str, Any] = {"code": exc.code, "message": message}
            if exc.data is not None:
                error["data"] = exc.data
            return {"error": error}
        except Exception:
            ref = uuid.uuid4().hex[:12]
            self._log.exception("method failed", method=method.name, plugin=method.plugin, ref=ref)
            return {
                "error": {
                    "code": int(Code.UNEXPECTED),
                    "message": f"internal error in {method.name}; the daemon's log has the "
                    f"details (reference {ref})",
                }
            }

    def _wrap(self, method: RpcMethod) -> Callable[..., Any]:
        def call(ctx: CallContext, *args: Any, **params: Any) -> Any:
            if args:
                return Error(
                    int(Code.INVALID_ARGUMENT), "params must be an object (named parameters)"
                )
            out = self._invoke(method, params)
            if "result" in out:
                return Success(out["result"])
            return Error(*out["error"].values())

        return call

    def _direct(self, item: Any) -> tuple[bool, dict[str, Any] | None]:
        """The common case without jsonrpcserver's pipeline (schema validation, monads,
        signature binding), which costs more than a listing call itself: a request
        object that plainly satisfies the JSON-RPC request schema, names a known method
        and has named params. (handled, reply); anything else is left to jsonrpcserver."""
        if type(item) is not dict or not item.keys() <= _REQUEST_KEYS:
            return False, None
        name = item.get("method")
        if item.get("jsonrpc") != "2.0" or type(name) is not str or name not in self.core.methods:
            return False, None
        params = item.get("params", _NO_PARAMS)
        if type(params) is not dict or "ctx" in params:
            return False, None
        has_id = "id" in item
        req_id = item.get("id")
        if has_id and req_id is not None and type(req_id) not in (str, int, float):
            return False, None
        out = self._invoke(self.core.methods[name], params)
        if not has_id:
            return True, None
        return True, {"jsonrpc": "2.0", **out, "id": req_id}

    def _one(self, item: Any, ctx: CallContext) -> dict[str, Any] | None:
        """Dispatch one request object; None for a notification."""
        if not isinstance(item, dict):  # jsonrpcserver would take a list for a batch
            log.info("rpc", client=ctx.client, user=ctx.user, outcome="-32600")
            return _error(-32600, "Invalid request: a request must be a JSON object")
        if "params" in item and item["params"] is None:
            item = {k: v for k, v in item.items() if k != "params"}
        big_id = item.get("id")
        if isinstance(big_id, BigNumber):  # dispatched under a stand-in, echoed exactly
            item = {**item, "id": 0}
        started = time.monotonic()
        handled, out = self._direct(item)
        if not handled:
            out = dispatch_to_response(  # type: ignore[assignment]
                "",
                self.methods,
                context=ctx,
                deserializer=lambda _: item,
                validator=default_validator,
                post_process=to_serializable_one,
            )
        elapsed = time.monotonic() - started
        if isinstance(big_id, BigNumber):
            req_id: Any = big_id
            if out is not None and out.get("id") == 0:
                out["id"] = big_id
        else:
            req_id = item.get("id")
        method = item.get("method")
        outcome = str(out["error"]["code"]) if out and "error" in out else "ok"
        if self.metrics is not None:
            self.metrics.observe(method if isinstance(method, str) else None, outcome, elapsed)
        if self._rpc_line is not None:
            line = {
                "client": ctx.client,
                "user": ctx.user,
                "method": _log_id(method) if isinstance(method, str) else None,
                "id": _log_id(req_id),
                "notification": "id" not in item,
                "duration_ms": round(elapsed * 1000, 2),
                "outcome": outcome,
            }
            if ctx.lines is None:
                self._rpc_line(**line)
            else:
                ctx.lines.append(line)
        return out

    def write_lines(self, ctx: CallContext) -> None:
        """Write the log lines :meth:`handle` held in ``ctx.lines``."""
        if self._rpc_line is not None and ctx.lines:
            for line in ctx.lines:
                self._rpc_line(**line)
            ctx.lines.clear()

    def handle(self, body: bytes, ctx: CallContext) -> Any:
        """A request body -> the reply object to serialise, or None for no reply."""
        try:
            request = parse(body)
        except JsonRefused as exc:
            log.info("rpc", client=ctx.client, user=ctx.user, outcome="-32700", why=str(exc))
            return _error(-32700, f"Parse error: {exc}")
        if isinstance(request, list):
            if not request:
                return _error(-32600, "Invalid request: empty batch")
            if len(request) > MAX_BATCH:
                log.info(
                    "rpc", client=ctx.client, user=ctx.user, outcome="-32600", batch=len(request)
                )
                return _error(
                    -32600,
                    f"Invalid request: a batch of {len(request)} requests; at most {MAX_BATCH} "
                    "are accepted in one batch (none of these was run)",
                )
            replies = [r for r in (self._one(item, ctx) for item in request) if r is not None]
            return replies or None
        return self._one(request, ctx)
