"""targetd's gunicorn worker: one thread per connection, blocking I/O, bounded waits.

Why not gunicorn's gthread worker: it hands every request of a keep-alive connection
from a selector loop to a thread pool and back (futures, callbacks, a heartbeat per
loop turn), which cost more than the request itself; and a connection that trickles its
headers holds one of a few pool threads. Here the thread that reads a request also
answers it and waits for the next one on the same socket, so a call costs a ``recv``
and a ``send`` besides the application's work; threads blocked in ``recv`` or in the
login tarpit's sleep cost no CPU. docs/serving.md has the measurements.

Bounds, so that slow or idle clients cannot starve the others:

- a connection that sends nothing for ``keepalive`` seconds (5) is closed, and so is
  one that has not delivered a whole request (TLS handshake, request line, headers and
  body) ``request_timeout`` seconds after it was accepted or after the previous reply
  (checked at each read: a trickling client is closed at its next byte);
- a worker serves at most ``worker_connections`` connections at once (the configuration's
  ``max_connections``); beyond that new connections wait in the listen queue (or are
  taken by another worker);
- ``threads`` spare threads per worker wait in ``accept()``, so a new connection does
  not wait for a thread to be created.

Storage calls, subprocesses and file locks run on ordinary threads, as under gthread.
"""

from __future__ import annotations

import errno
import os
import resource
import select
import socket
import ssl
import struct
import sys
import threading
import time
from datetime import datetime
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.workers import base

from . import fasthttp
from .tlscheck import make_server_context

SPARE_THREADS_MAX = 16  # a thread that finds more spares (and the minimum) than this ends
HEARTBEAT = 0.5  # seconds between the main thread's looks at the world
DEFAULT_REQUEST_TIMEOUT = 10.0


class _Timeout(Exception):
    """A client did not deliver its request in time."""


class _DeadlineSocket:
    """What gunicorn's request parser reads from: ``recv`` refused once the request's
    deadline has passed. Each read itself waits at most the socket's ``SO_RCVTIMEO``
    (the keep-alive idle time): a kernel timer, so that a read costs one ``recv`` and
    no ``poll``/``ioctl`` as Python's socket timeouts would add."""

    __slots__ = ("sock", "deadline")

    def __init__(self, conn: socket.socket) -> None:
        self.sock = conn
        self.deadline = 0.0

    def start(self, whole: float) -> None:
        self.deadline = time.monotonic() + whole

    def recv(self, size: int) -> bytes:
        if time.monotonic() > self.deadline:
            raise _Timeout()
        try:
            return self.sock.recv(size)
        except (BlockingIOError, ssl.SSLWantReadError, TimeoutError):  # SO_RCVTIMEO
            raise _Timeout() from None

    # finish_body() may bound its own drain with these
    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        if value != self.sock.gettimeout():  # finish_body() restores it after every request
            self.sock.settimeout(value)


def _kernel_timeouts(conn: socket.socket, read: float, write: float) -> None:
    """Bound each blocking recv/send in the kernel (SO_RCVTIMEO, SO_SNDTIMEO)."""
    for opt, seconds in ((socket.SO_RCVTIMEO, read), (socket.SO_SNDTIMEO, write)):
        whole = int(seconds)
        conn.setsockopt(
            socket.SOL_SOCKET, opt, struct.pack("ll", whole, int((seconds - whole) * 1e6))
        )


class _ReplyBuffer:
    """The socket as gunicorn's response writer sees it: what it sends is gathered and
    goes out in one ``send`` when the reply is complete (status line, headers and
    body are otherwise two sends: two TCP segments, two TLS records)."""

    __slots__ = ("sock", "parts", "size")

    def __init__(self, conn: socket.socket) -> None:
        self.sock = conn
        self.parts: list[bytes] = []
        self.size = 0

    def sendall(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= 65536:
            self.flush()

    def send(self, data: bytes) -> int:  # "100 Continue" goes out at once
        self.flush()
        return self.sock.send(data)

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        self.flush()
        return self.sock.sendfile(*args, **kwargs)

    def flush(self) -> None:
        if self.parts:
            data = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
            self.parts.clear()
            self.size = 0
            self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def _close_graceful(conn: socket.socket, linger: float = 2.0, most: int = 256 * 1024) -> None:
    """Close so that the reply arrives even when the client is still sending (a 413
    for a body that was never read): send FIN, read and drop what comes (at most
    ``most`` bytes, ``linger`` seconds) until the client closes too, then close.
    ``most`` is twice the largest body the daemon reads, so that a client that sends a
    body just over the limit before reading the reply gets it (with 64 KiB, one such
    client over TLS lost the 413 to a reset once in nine runs on a loaded machine).
    Closing with unread data would make the kernel send RST, and the client could
    lose the reply. (gunicorn 23+ has util.close_graceful; 20.1 does not.)"""
    try:
        conn.shutdown(socket.SHUT_WR)  # on a TLS socket: TCP FIN, no close_notify
        deadline = time.monotonic() + linger
        drained = 0
        while drained < most:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            conn.settimeout(left)
            data = conn.recv(4096)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass
    finally:
        conn.close()


def _enough_files(wanted: int) -> None:
    """Raise the soft limit of open files towards ``wanted`` (at most the hard limit):
    every connection is a descriptor, and the default soft limit is often 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError):
            pass


class ConnectionThreadWorker(base.Worker):
    """A gunicorn worker that serves each connection on its own thread."""

    alive: bool  # gunicorn's, set by the base class

    # Settings come from the application object (server.TargetdServer), not from class
    # attributes: gunicorn < 21 (Debian 12 ships 20.1) takes a worker class only by name.
    # ``request_timeout``: seconds a client has to deliver a whole request.
    # ``tls_context``: one TLS context for every connection of every worker, made before
    # the fork (and again on SIGHUP): gunicorn would build one, reading the key and
    # certificate files, per connection, and sessions could not be resumed on another
    # connection or worker. Without one (another application), each worker makes its own.

    def init_process(self) -> None:
        self._tls: ssl.SSLContext | None = getattr(self.app, "tls_context", None)
        if self.cfg.is_ssl and self._tls is None:
            self._tls = make_server_context(self.cfg.certfile, self.cfg.keyfile)
        timeout = getattr(self.app, "request_timeout", None)
        self._lock = threading.Lock()
        self._turn = threading.Lock()  # held by the one thread waiting in accept()
        self._spare = 0  # threads waiting in accept()
        self._threads = 0  # all connection threads
        self._idle_conns: set[socket.socket] = set()  # between requests
        self._max_conns = max(1, self.cfg.worker_connections)
        self._spare_min = max(1, min(self.cfg.threads, self._max_conns))
        self._spare_max = max(SPARE_THREADS_MAX, 2 * self._spare_min)
        self._request_timeout = float(timeout or DEFAULT_REQUEST_TIMEOUT)
        self._fast = not self.cfg.accesslog  # the fast path writes no access log
        self._is_tls = bool(self.cfg.is_ssl)
        # the longest one read may wait: the keep-alive idle time, at most the timeout
        self._idle_wait = min(float(self.cfg.keepalive or 5), self._request_timeout)
        _enough_files(2 * self._max_conns + 256)
        super().init_process()

    # -- threads ------------------------------------------------------------------------

    def _start_thread(self) -> None:
        """Start one more accepting thread; the caller holds ``self._lock``."""
        self._spare += 1
        self._threads += 1
        t = threading.Thread(target=self._accept_loop, name="targetd-conn", daemon=True)
        try:
            t.start()
        except RuntimeError:  # cannot start a thread (resource limits): serve with fewer
            self._spare -= 1
            self._threads -= 1

    def _accept(self) -> tuple[Any, socket.socket, Any] | None:
        """Wait for a connection: (listener, socket, address), or None to look again."""
        listeners = self.sockets
        if len(listeners) == 1:
            listener = listeners[0]
        else:
            ready, _, _ = select.select(listeners, [], [], HEARTBEAT)
            if not ready:
                return None
            listener = ready[0]
        try:
            client, addr = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        except OSError as exc:
            if exc.errno in (errno.EBADF, errno.EINVAL, errno.ENOTSOCK):
                raise  # the listener is closed: the worker is stopping
            # out of file descriptors or memory: wait for connections to end
            self.log.warning("cannot accept a connection: %s", exc)
            time.sleep(HEARTBEAT)
            return None
        return listener, client, addr

    def _accept_loop(self) -> None:
        try:
            while self.alive:
                # One thread per worker waits in accept() at a time; the spare ones wait
                # for their turn here. The kernel wakes the longest waiter on the
                # listening socket for each new connection: were all spares waiting
                # there, a burst of connections would all go to the worker whose threads
                # queued first (8 keep-alive clients on one worker, one core, the other
                # idle). With one waiter per worker, the workers take turns.
                if not self._turn.acquire(timeout=HEARTBEAT):
                    continue
                try:
                    got = self._accept()
                finally:
                    self._turn.release()
                if got is None:
                    continue
                listener, client, addr = got
                with self._lock:
                    self._spare -= 1
                    if self._spare < self._spare_min and self._threads < self._max_conns:
                        self._start_thread()
                try:
                    self._serve(listener, client, addr)
                except Exception:  # _serve answers what it can; never lose the thread count
                    self.log.exception("Error serving a connection")
                with self._lock:
                    if self._spare >= self._spare_max:
                        self._threads -= 1
                        return
                    self._spare += 1
                # at the limit, nobody else accepts; this thread does so again
        except (OSError, ValueError):  # the listener is closed: the worker is stopping
            pass
        with self._lock:
            self._spare -= 1
            self._threads -= 1

    def run(self) -> None:
        one = len(self.sockets) == 1
        for s in self.sockets:
            # One listener: threads block in accept() (the kernel wakes one of them per
            # connection). Several: they select() on all, so accepting must not block.
            s.setblocking(one)
        with self._lock:
            for _ in range(self._spare_min):
                self._start_thread()
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self.alive = False
                break
            time.sleep(HEARTBEAT)
        self._drain()

    def _drain(self) -> None:
        """Graceful stop: idle connections close now, busy ones after their reply."""
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for listener in self.sockets:  # this process's copies: other workers go on
            try:  # the socket itself, not gunicorn's wrapper (which would drop it)
                getattr(listener, "sock", listener).close()
            except OSError:
                pass
        while time.monotonic() < deadline:
            self.notify()
            with self._lock:
                idle = list(self._idle_conns)
                busy = self._threads - self._spare
            for conn in idle:
                try:
                    conn.shutdown(socket.SHUT_RD)  # wakes the thread waiting in recv()
                except OSError:
                    pass
            if busy <= 0:
                return
            time.sleep(0.05)

    # -- one connection -----------------------------------------------------------------

    def _handshake(self, conn: socket.socket, reader: _DeadlineSocket) -> ssl.SSLSocket:
        assert self._tls is not None  # init_process made one when the config has TLS
        tls = self._tls.wrap_socket(
            conn,
            server_side=True,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
        )
        tls.setblocking(False)
        while True:
            wait = reader.deadline - time.monotonic()
            if wait <= 0:
                raise _Timeout()
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([tls], [], [], wait)
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], wait)
        return tls

    def _serve(self, listener: Any, client: socket.socket, addr: Any) -> None:
        conn: socket.socket = client
        req = None
        reader = _DeadlineSocket(client)
        server = listener.getsockname()
        keepalive = self.cfg.keepalive
        try:
            reader.start(self._request_timeout)
            client.setblocking(True)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _kernel_timeouts(client, self._idle_wait, self._request_timeout)
            if self.cfg.is_ssl:
                conn = self._handshake(client, reader)
                conn.setblocking(True)
                reader.sock = conn
            # plain requests are served by the fast path until one is not plain; then
            # gunicorn's parser takes the bytes read so far and the rest of the connection
            parser = None if self._fast and isinstance(addr, tuple) else self._parser(reader, addr)
            buf = b""
            first = True
            while True:
                if not first:
                    with self._lock:
                        self._idle_conns.add(conn)
                    if not self.alive:
                        break
                if not first:  # the first request's deadline runs from accept()
                    reader.start(self._request_timeout)
                try:
                    if parser is None:
                        fast, buf = self._fast_read(reader, buf)
                        if fast is None and buf:  # not plain: gunicorn from here on
                            parser = self._parser(reader, addr)
                            parser.unreader.unread(buf)
                    if parser is not None:
                        req = next(parser)
                finally:
                    if not first:
                        with self._lock:
                            self._idle_conns.discard(conn)
                first = False
                if parser is None:
                    if fast is None:  # the client closed the connection
                        break
                    head, body = fast
                    if not self._fast_request(head, body, conn, addr, server):
                        break
                elif not req:
                    break
                elif not self._handle_request(req, conn, addr, server):
                    break
                if keepalive <= 0:
                    break
        except (_Timeout, BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            self.log.debug("Closing a connection that was too slow to send a request.")
        except http.errors.NoMoreData as exc:
            self.log.debug("Ignored premature client disconnection. %s", exc)
        except StopIteration as exc:
            self.log.debug("Closing connection. %s", exc)
        except ssl.SSLError as exc:
            if exc.args[0] != ssl.SSL_ERROR_EOF and req is not None:
                self.handle_error(req, conn, addr, exc)
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("Socket error processing request.")
        except Exception as exc:
            self.handle_error(req, conn, addr, exc)
        finally:
            _close_graceful(conn)

    def _parser(self, reader: _DeadlineSocket, addr: Any) -> Any:
        return http.RequestParser(self.cfg, reader, addr)

    def _fast_read(
        self, reader: _DeadlineSocket, buf: bytes
    ) -> tuple[tuple[fasthttp.Request, bytes] | None, bytes]:
        """Read one plain request: ((head, body), the bytes after it). (None, bytes read)
        if the request is not plain; (None, b"") if the client closed the connection."""
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            data = bytearray(buf)  # grows in place: a trickling client costs no copies
            while end < 0:
                if len(data) > fasthttp.MAX_HEAD:
                    return None, bytes(data)
                chunk = reader.recv(65536)
                if not chunk:
                    return None, b""
                data += chunk
                end = data.find(b"\r\n\r\n", max(0, len(data) - len(chunk) - 3))
            buf = bytes(data)
        head = fasthttp.parse_head(buf[:end])
        if head is None:
            return None, buf
        start = end + 4
        stop = start + head.length
        if len(buf) < stop:
            data = bytearray(buf)
            while len(data) < stop:
                chunk = reader.recv(65536)
                if not chunk:
                    return None, b""
                data += chunk
            buf = bytes(data)
        return (head, buf[start:stop]), buf[stop:]

    def _fast_request(
        self, head: fasthttp.Request, body: bytes, conn: socket.socket, addr: Any, server: Any
    ) -> bool:
        """Answer one plain request (gunicorn's pre/post_request hooks and access log are
        not run: targetd sets none, and the fast path is off when an access log is
        configured); True if the connection stays open for another."""
        environ = fasthttp.environ(head, body, addr, server, self._is_tls)
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        reply = fasthttp.Reply()
        respiter = self.wsgi(environ, reply.start_response)
        try:
            data = b"".join(respiter)
            close = reply.must_close or head.close or not self.alive or not self.cfg.keepalive
            conn.sendall(fasthttp.render(reply, data, close))
        finally:
            # after the reply is sent, as WSGI has it: targetd's log line is written here
            if hasattr(respiter, "close"):
                respiter.close()
        return not close

    def _handle_request(self, req: Any, conn: socket.socket, addr: Any, server: Any) -> bool:
        """Answer one request; True if the connection stays open for another."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            started = datetime.now()
            out = _ReplyBuffer(conn)
            resp, environ = wsgi.create(req, out, addr, server, self.cfg)
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
            if not self.alive or not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
                out.flush()
            finally:
                self.log.access(resp, req, environ, datetime.now() - started)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            util.reraise(*sys.exc_info())
        except (Exception, SystemExit):
            if resp and resp.headers_sent:
                self.log.exception("Error handling request")
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
        return False  # pragma: no cover - every path above returns or raises
