"""Serving the WSGI app with gunicorn, started programmatically.

Workers are targetd's own gunicorn worker class (:mod:`targetd_core.worker`): each
connection is served on its own thread, so a request delayed by the login tarpit, a long
storage call or a slow client does not block the others (docs/serving.md says why this
model and not gthread or gevent). SIGINT is made as graceful as
SIGTERM: in-flight requests finish before the daemon exits.
"""

from __future__ import annotations

import signal
import ssl
from typing import Any

import structlog
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

from .config import Config, parse_bind
from .logs import enabled_for
from .metrics import worker_exit
from .tlscheck import make_server_context
from .worker import DEFAULT_REQUEST_TIMEOUT

WORKER_CONNECTIONS = 1000  # per worker; more wait in the listen queue


_LEVELS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10}


class StructlogGunicornLogger(Logger):
    """gunicorn's own messages (workers booting, signals) as structlog events, so the
    daemon's output is one format: console lines or JSON lines."""

    _log = structlog.get_logger("gunicorn")

    _bound: Any = None  # built on first use, after the configuration is in force

    def _emit(self, level: str, msg: str, *args: Any, **kwargs: Any) -> None:
        log = self._bound
        if log is None:
            log = self._bound = self._log.bind()
        if not enabled_for(log, _LEVELS[level]):
            return  # not formatted when its level is off (gunicorn logs each request at debug)
        text = str(msg) % args if args else str(msg)
        getattr(log, level)(text, exc_info=kwargs.get("exc_info", False))

    def critical(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("critical", msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("error", msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("warning", msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("info", msg, *args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("debug", msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._emit("error", msg, *args, exc_info=True)


def _known_settings() -> set[str]:
    from gunicorn.config import KNOWN_SETTINGS

    return {s.name for s in KNOWN_SETTINGS}


class _GracefulArbiter(Arbiter):
    def handle_int(self) -> None:  # SIGINT stops as gracefully as SIGTERM
        self.handle_term()


#: the signals that stop a worker (gunicorn: TERM graceful, QUIT quick; targetd: INT as TERM)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _queued_signals(server: Any) -> list[int]:
    """The signals the master's handler queued in this (forked) process: a list in
    gunicorn 20.1, a queue in later releases (drained: this copy is never read again)."""
    queue = getattr(server, "SIG_QUEUE", None)
    if isinstance(queue, list):
        return list(queue)
    found: list[int] = []
    get = getattr(queue, "get_nowait", None)
    while get is not None:
        try:
            found.append(get())
        except Exception:  # noqa: BLE001 - queue.Empty
            break
    return found


def _post_fork(server: Any, worker: Any) -> None:
    """Take over the stop signals as soon as a worker is forked.

    Until gunicorn installs the worker's own handlers (late in ``init_process``), the
    child still has the master's, which only queue a signal for the master's loop; a
    worker forked just before a stop (the master sends it SIGTERM at once) swallowed it,
    booted and served on until the master killed it after ``graceful_timeout`` (60 s):
    a stop that took a minute, about once in fifteen starts on gunicorn 20.1
    (``tests/host/test_operations.py``). Now such a signal, and one queued before this
    hook ran, ends the worker as soon as it has booted."""

    def stop(signum: int, frame: Any) -> None:
        worker.alive = False

    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    if any(sig in _STOP_SIGNALS for sig in _queued_signals(server)):
        worker.alive = False


def _post_worker_init(worker: Any) -> None:
    signal.signal(signal.SIGINT, worker.handle_exit)


def _child_exit(server: Any, worker: Any) -> None:
    worker_exit(worker.pid)


def _ssl_context(conf: Any, default_factory: Any) -> Any:
    return make_server_context(conf.certfile, conf.keyfile)


#: by name: gunicorn < 21 (Debian 12 ships 20.1) does not take a class object here
WORKER_CLASS = "targetd_core.worker.ConnectionThreadWorker"


def gunicorn_options(config: Config, bind: str | None = None) -> dict[str, Any]:
    host, port = parse_bind(bind or config["bind"])
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = {
        "bind": [address],
        "workers": config["workers"],
        "worker_class": WORKER_CLASS,
        "threads": config["threads"],
        "worker_connections": config.get("max_connections", WORKER_CONNECTIONS),
        "timeout": 120,
        "graceful_timeout": 60,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "logger_class": StructlogGunicornLogger,
        "loglevel": config["log_level"],
        "proc_name": "targetd",
        "post_fork": _post_fork,
        "post_worker_init": _post_worker_init,
        "child_exit": _child_exit,
        "limit_request_field_size": 8190,
    }
    if "control_socket_disable" in _known_settings():
        options["control_socket_disable"] = True  # no runtime control socket (gunicorn 24+)
    if config["ssl"]:
        options.update(certfile=config["ssl_cert"], keyfile=config["ssl_key"])
        if "ssl_context" in _known_settings():
            options["ssl_context"] = _ssl_context
        else:
            # gunicorn < 21 (Debian 12 ships 20.1) has no context hook: it wraps each
            # connection with ssl.wrap_socket. A server-only protocol; the oldest TLS
            # version allowed is OpenSSL's default then (TLS 1.2 on Debian 12).
            options["ssl_version"] = ssl.PROTOCOL_TLS_SERVER
    return options


class TargetdServer(BaseApplication):
    """The gunicorn application; it also holds what targetd's worker needs from the
    configuration (``request_timeout``, ``tls_context``), made here before the fork."""

    def __init__(self, app: Any, options: dict[str, Any], config: Config | None = None) -> None:
        self.application = app
        self.options = options
        self.request_timeout = DEFAULT_REQUEST_TIMEOUT
        self.tls_context: ssl.SSLContext | None = None
        if config is not None:
            self.request_timeout = float(config.get("request_timeout", DEFAULT_REQUEST_TIMEOUT))
            if config["ssl"]:
                self.tls_context = make_server_context(config["ssl_cert"], config["ssl_key"])
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if self._loaded:
            self._fresh_tls()
        self._loaded = True

    _loaded = False

    def _fresh_tls(self) -> None:
        """On SIGHUP (new workers): the TLS context again from the certificate and key
        files, so that renewed ones take effect; the old one stays if they do not load."""
        if self.tls_context is None:
            return
        try:
            ctx = make_server_context(self.options["certfile"], self.options["keyfile"])
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            structlog.get_logger("targetd").error(
                "the certificate or key does not load; serving the old ones", error=str(exc)
            )
            return
        self.tls_context = ctx

    def load(self) -> Any:
        return self.application

    def run(self) -> None:
        _GracefulArbiter(self).run()
