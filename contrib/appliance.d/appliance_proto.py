"""Framing of the appliance's exec channel, shared by the guest agent (agent.py, installed in
the guest as /usr/local/sbin/appliance-agent next to this module) and the host side
(appliance_client.py). A frame is 1 kind byte + 4 byte big-endian length + data."""
import struct

HDR = struct.Struct("!cI")


def recv_exact(sock, n):
    """n bytes from sock, or None if the connection ends first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def frame(kind, data=b""):
    return HDR.pack(kind, len(data)) + data


def recv_frame(sock):
    """(kind, data), or (None, None) when the connection ended."""
    h = recv_exact(sock, HDR.size)
    if h is None:
        return None, None
    kind, n = HDR.unpack(h)
    data = recv_exact(sock, n) if n else b""
    if data is None:
        return None, None
    return kind, data
