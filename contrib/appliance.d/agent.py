#!/usr/bin/python3
"""appliance-agent: runs commands as root inside the appliance guest for the host.

Listens on a TCP port that QEMU forwards to the host's 127.0.0.1 only; every request carries a
token that the host generated (a file in the guest's initramfs). One connection = one command.

Wire format (the host side is contrib/appliance.d/appliance_client.py):
  client -> agent: one JSON line {"token", "argv", "env"?, "cwd"?, "tty"?, "rows"?, "cols"?},
                   then frames: b"i" stdin data, b"I" end of stdin, b"w" window size (rows, cols
                   as two unsigned shorts), b"k" a signal number (int32) for the process group.
  agent -> client: frames: b"s" started (pid), b"o" stdout data, b"e" stderr data,
                   b"E" error text (could not start), b"x" exit status (int32; -N = killed by N).
  A frame is 1 kind byte + 4 byte big-endian length + data. If the client goes away, the
  command's whole process group is killed.

It also stands in for udev's 60-zvol.rules (the guest has no udev and the kernel has no uevent
helper): a thread listens to kernel uevents and keeps /dev/zvol/POOL/NAME -> ../../zdN links.
"""
import argparse
import fcntl
import hmac
import json
import os
import pty
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import termios
import threading

from appliance_proto import frame, recv_frame

TOKEN = b""


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, kind, data=b""):
        try:
            with self.lock:
                self.sock.sendall(frame(kind, data))
        except OSError:  # the client went away: the reader notices and kills the command
            pass

    def recv(self):
        return recv_frame(self.sock)


def forward(fd, conn, kind):
    """Send what can be read from fd to the client as frames of this kind, until EOF."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        conn.send(kind, data)


def kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = bytearray()
        while not line.endswith(b"\n"):
            c = sock.recv(1)
            if not c or len(line) > (1 << 20):
                return
            line += c
        conn = Conn(sock)
        try:
            req = json.loads(line)
        except ValueError:
            conn.send(b"E", b"bad request")
            conn.send(b"x", struct.pack("!i", 126))
            return
        if not hmac.compare_digest(str(req.get("token", "")).encode(), TOKEN):
            conn.send(b"E", b"bad token")
            conn.send(b"x", struct.pack("!i", 126))
            return
        argv = req.get("argv") or ["true"]
        env = dict(os.environ)
        env.update(req.get("env") or {})
        cwd = req.get("cwd") or "/"
        if req.get("tty"):
            self.run_pty(conn, argv, env, cwd, req)
        else:
            self.run_pipes(conn, argv, env, cwd)

    def run_pipes(self, conn, argv, env, cwd):
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, cwd=cwd,
                                 start_new_session=True)
        except OSError as e:
            conn.send(b"E", f"{argv[0]}: {e.strerror}".encode())
            conn.send(b"x", struct.pack("!i", 127))
            return
        conn.send(b"s", str(p.pid).encode())
        done = threading.Event()

        def reader():
            # client frames -> the process; client gone -> kill the process group
            stdin_open = True
            while True:
                kind, data = conn.recv()
                if kind is None:
                    if not done.is_set():
                        kill_group(p.pid)
                    break
                if kind == b"i" and stdin_open:
                    try:
                        p.stdin.write(data)
                        p.stdin.flush()
                    except OSError:
                        stdin_open = False
                elif kind == b"I" and stdin_open:
                    stdin_open = False
                    try:
                        p.stdin.close()
                    except OSError:
                        pass
                elif kind == b"k":
                    kill_group(p.pid, struct.unpack("!i", data)[0])
            if stdin_open:
                try:
                    p.stdin.close()
                except OSError:
                    pass

        def pump(f, kind):
            forward(f.fileno(), conn, kind)

        t_in = threading.Thread(target=reader, daemon=True)
        t_in.start()
        pumps = [threading.Thread(target=pump, args=(p.stdout, b"o"), daemon=True),
                 threading.Thread(target=pump, args=(p.stderr, b"e"), daemon=True)]
        for t in pumps:
            t.start()
        for t in pumps:
            t.join()
        rc = p.wait()
        done.set()
        conn.send(b"x", struct.pack("!i", rc))

    def run_pty(self, conn, argv, env, cwd, req):
        env.setdefault("TERM", req.get("term") or "xterm")
        pid, fd = pty.fork()
        if pid == 0:
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            except OSError as e:
                os.write(2, f"{argv[0]}: {e.strerror}\r\n".encode())
            os._exit(127)
        conn.send(b"s", str(pid).encode())

        def winsize(rows, cols):
            try:
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except OSError:
                pass

        if req.get("rows") and req.get("cols"):
            winsize(req["rows"], req["cols"])

        def reader():
            while True:
                kind, data = conn.recv()
                if kind is None:
                    kill_group(pid, signal.SIGHUP)
                    break
                if kind == b"i":
                    try:
                        os.write(fd, data)
                    except OSError:
                        pass
                elif kind == b"I":
                    try:
                        os.write(fd, b"\x04")
                    except OSError:
                        pass
                elif kind == b"w":
                    winsize(*struct.unpack("!HH", data))
                elif kind == b"k":
                    kill_group(pid, struct.unpack("!i", data)[0])

        threading.Thread(target=reader, daemon=True).start()
        forward(fd, conn, b"o")
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        rc = os.waitstatus_to_exitcode(status)
        conn.send(b"x", struct.pack("!i", rc))


NETLINK_KOBJECT_UEVENT = 15
ZVOL_ID = "/usr/lib/udev/zvol_id"


def zvol_unlink(dev):
    for dirpath, _, files in os.walk("/dev/zvol", topdown=False):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) and os.path.realpath(p) == dev:
                os.unlink(p)
        if dirpath != "/dev/zvol":
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def zvol_event(devname, action):
    dev = "/dev/" + devname
    try:
        zvol_unlink(dev)
        if action not in ("add", "change", "coldplug"):
            return
        name = subprocess.run([ZVOL_ID, dev], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
        if not name:
            return
        link = os.path.join("/dev/zvol", name)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        tmp = link + ".new"
        os.symlink(os.path.relpath(dev, os.path.dirname(link)), tmp)
        os.replace(tmp, link)
    except OSError as e:
        print(f"zvol link for {dev}: {e}", file=sys.stderr, flush=True)


def zvol_coldplug():
    for d in sorted(os.listdir("/sys/block")):
        if d.startswith("zd"):
            zvol_event(d, "coldplug")
            for part in sorted(os.listdir(f"/sys/block/{d}")):
                if part.startswith(d + "p"):
                    zvol_event(part, "coldplug")


def uevent_loop():
    if not os.path.exists(ZVOL_ID):
        return
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE
    except OSError:
        pass
    s.bind((0, 1))
    zvol_coldplug()
    while True:
        try:
            data = s.recv(1 << 16)
        except OSError:  # ENOBUFS: events were lost, look again
            zvol_coldplug()
            continue
        fields = data.split(b"\0")
        env = dict(f.decode(errors="replace").split("=", 1) for f in fields[1:] if b"=" in f)
        name = env.get("DEVNAME", "")
        if env.get("SUBSYSTEM") == "block" and name.startswith("zd"):
            zvol_event(name, env.get("ACTION", ""))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def main():
    global TOKEN
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18701)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--no-zvol-links", action="store_true",
                    help="leave /dev/zvol links to udev (the storage-host guest has it)")
    a = ap.parse_args()
    with open(a.token_file, "rb") as f:
        TOKEN = f.read().strip()
    os.environ.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    os.environ["LVM_SUPPRESS_FD_WARNINGS"] = "1"
    if not a.no_zvol_links:
        threading.Thread(target=uevent_loop, daemon=True).start()
    with Server(("0.0.0.0", a.port), Handler) as srv:
        print(f"appliance-agent listening on {a.port}", file=sys.stderr, flush=True)
        srv.serve_forever()


if __name__ == "__main__":
    main()
