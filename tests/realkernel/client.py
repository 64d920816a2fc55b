"""JSON-RPC client of the real-kernel tier (stdlib only): HTTPS, basic auth, the appliance's CA."""

import base64
import http.client
import json
import ssl
import urllib.parse


class RPCError(Exception):
    """A JSON-RPC error answer: .code, .message, .data."""

    def __init__(self, code, message, data=None):
        super().__init__(f"JSON-RPC error {code}: {message}" + (f" ({data})" if data else ""))
        self.code = code
        self.message = message
        self.data = data


class RPCClient:
    """JSON-RPC 2.0 over HTTPS with basic auth, verified against the appliance's CA."""

    def __init__(self, url, user, password, ca, timeout=300):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 443, u.path or "/targetrpc"
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.ctx = ssl.create_default_context(cafile=ca)
        self.timeout = timeout
        self.conn = None
        self.next_id = 0

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ctx
            )
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def post(self, body: bytes, headers=None):
        """POST raw bytes to the endpoint; returns (status, headers, body bytes)."""
        hdrs = {"Authorization": self.auth, "Content-Type": "application/json"}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            reused = self.conn is not None
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, r.headers, data
            except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLEOFError):
                # a kept-alive connection that the server had closed (or the appliance rebooted
                # since): the request never reached it; retry once on a fresh connection
                self.close()
                if not reused or attempt:
                    raise
            except Exception:
                self.close()
                raise

    def call(self, method, **params):
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params:
            req["params"] = params
        status, _, data = self.post(json.dumps(req).encode())
        assert status == 200, f"{method}: HTTP {status}: {data[:300]!r}"
        reply = json.loads(data)
        if "error" in reply:
            e = reply["error"]
            raise RPCError(e.get("code"), e.get("message"), e.get("data"))
        return reply["result"]
