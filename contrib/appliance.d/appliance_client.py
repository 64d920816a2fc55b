"""Host side of the appliance's exec channel (stdlib only).

Used by `contrib/appliance exec/shell` and by tests (tests/realkernel/appliance.py). The guest
side and the wire format are described in agent.py next to this file.

    from appliance_client import Instance
    inst = Instance("/var/lib/targetd-appliance/default")
    cp = inst.exec(["lvs", "--reportformat", "json"])   # subprocess.CompletedProcess
"""
import json
import os
import socket
import struct
import subprocess
import threading
import time

from appliance_proto import frame, recv_frame

DEFAULT_DIR = "/var/lib/targetd-appliance/default"


class ApplianceError(Exception):
    pass


class ChannelLost(ApplianceError):
    """The connection broke before the guest said that the command started: safe to retry."""


def instance_dir(path=None):
    return os.path.abspath(path or os.environ.get("TARGETD_APPLIANCE_DIR") or DEFAULT_DIR)


class Session:
    """One command running in the guest, frames in both directions."""

    def __init__(self, port, token, argv, env=None, cwd=None, tty=False, rows=None, cols=None,
                 connect_timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        req = {"token": token, "argv": list(argv), "env": env or {}, "cwd": cwd, "tty": tty,
               "rows": rows, "cols": cols, "term": os.environ.get("TERM")}
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        self.started = False

    def send(self, kind, data=b""):
        with self.lock:
            self.sock.sendall(frame(kind, data))

    def recv(self):
        return recv_frame(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Instance:
    """A (running) appliance instance, found by its state directory."""

    def __init__(self, path=None):
        self.dir = instance_dir(path)

    def _load(self):
        try:
            with open(os.path.join(self.dir, "instance.json")) as f:
                inst = json.load(f)
            with open(os.path.join(self.dir, "secrets.json")) as f:
                secrets = json.load(f)
        except FileNotFoundError as e:
            raise ApplianceError(f"no appliance instance in {self.dir} (run `contrib/appliance up`)") from e
        return inst["agent_port"], secrets["agent_token"]

    def session(self, argv, **kw):
        port, token = self._load()
        return Session(port, token, argv, **kw)

    def exec(self, cmd, input=None, check=False, timeout=None, env=None, cwd=None,
             on_stdout=None, on_stderr=None, retries=5):
        """Run cmd (a list, or a string for `bash -c`) as root in the guest.

        input: bytes, or a binary file object streamed as stdin. on_stdout/on_stderr: callbacks
        that receive output as it comes (then it is not collected). Returns CompletedProcess
        with bytes stdout/stderr; returncode -N means killed by signal N.
        """
        argv = ["/bin/bash", "-c", cmd] if isinstance(cmd, str) else [str(a) for a in cmd]
        delay = 0.2
        for attempt in range(retries + 1):
            try:
                return self._exec_once(argv, input, check, timeout, env, cwd, on_stdout, on_stderr)
            except (ChannelLost, OSError) as e:
                # only failures before the guest started the command are retried
                if attempt == retries:
                    raise ApplianceError(f"exec channel to the appliance in {self.dir} failed: {e}") from e
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _exec_once(self, argv, input, check, timeout, env, cwd, on_stdout, on_stderr):
        s = self.session(argv, env=env, cwd=cwd)
        deadline = None if timeout is None else time.monotonic() + timeout
        out, err = [], []
        rc = None
        feeder = None
        try:
            s.sock.settimeout(60.0 if timeout is None else max(0.1, min(timeout, 60.0)))

            def feed():
                try:
                    if input is None:
                        pass
                    elif isinstance(input, (bytes, bytearray, memoryview)):
                        mv = memoryview(bytes(input))
                        for i in range(0, len(mv), 65536):
                            s.send(b"i", bytes(mv[i:i + 65536]))
                    else:
                        while True:
                            chunk = input.read(65536) if not hasattr(input, "read1") else input.read1(65536)
                            if not chunk:
                                break
                            s.send(b"i", chunk)
                    s.send(b"I")
                except OSError:
                    pass

            while True:
                try:
                    kind, data = s.recv()
                except TimeoutError:
                    if deadline is not None and time.monotonic() >= deadline:
                        try:
                            s.send(b"k", struct.pack("!i", 9))
                        except OSError:
                            pass
                        raise subprocess.TimeoutExpired(argv, timeout, b"".join(out), b"".join(err)) from None
                    if not s.started:
                        raise ChannelLost("no answer from the guest agent") from None
                    continue
                except OSError as e:
                    if not s.started:
                        raise ChannelLost(str(e)) from e
                    raise ApplianceError(f"connection to the guest agent lost while the command ran: {e}") from e
                if kind is None:
                    if not s.started:
                        raise ChannelLost("connection closed before the command started")
                    raise ApplianceError("connection to the guest agent lost while the command ran")
                if kind == b"s":
                    s.started = True
                    feeder = threading.Thread(target=feed, daemon=True)
                    feeder.start()
                elif kind == b"o":
                    (on_stdout(data) if on_stdout else out.append(data))
                elif kind == b"e":
                    (on_stderr(data) if on_stderr else err.append(data))
                elif kind == b"E":
                    s.started = True
                    msg = data + b"\n"
                    (on_stderr(msg) if on_stderr else err.append(msg))
                elif kind == b"x":
                    rc = struct.unpack("!i", data)[0]
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    try:
                        s.send(b"k", struct.pack("!i", 9))
                    except OSError:
                        pass
                    raise subprocess.TimeoutExpired(argv, timeout, b"".join(out), b"".join(err))
        finally:
            s.close()
        cp = subprocess.CompletedProcess(argv, rc, b"".join(out), b"".join(err))
        if check:
            cp.check_returncode()
        return cp

    def ping(self, timeout=5.0):
        try:
            return self.exec(["true"], timeout=timeout, retries=0).returncode == 0
        except (ApplianceError, OSError, subprocess.TimeoutExpired):
            return False


def guest_exec(cmd, input=None, check=True, timeout=None, instance=None):
    """Run cmd as root in the appliance found via $TARGETD_APPLIANCE_DIR."""
    return Instance(instance).exec(cmd, input=input, check=check, timeout=timeout)
