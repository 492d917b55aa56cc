"""A counting HTTP proxy for the benchmark: 127.0.0.1:port -> the S3 server, one thread per
client connection, parsing each request and response (Content-Length or chunked) so that
every request is accounted by method and key: bytes of `.S3/` state sent and received,
apart from the data files' bytes."""
from __future__ import annotations

import socket
import threading
from urllib.parse import unquote, urlsplit

STATE_MARK = "/.S3/"


class Counts:
    def __init__(self):
        self.requests: list = []  # (method, path, status, bytes up, bytes down)
        self._lock = threading.Lock()

    def add(self, row: tuple) -> None:
        with self._lock:
            self.requests.append(row)

    def reset(self) -> None:
        with self._lock:
            self.requests = []

    def summary(self) -> dict:
        with self._lock:
            rows = list(self.requests)
        state = [r for r in rows if STATE_MARK in r[1]]
        return {"requests": len(rows), "state_requests": len(state),
                "state_bytes_down": sum(r[4] for r in state),
                "state_bytes_up": sum(r[3] for r in state),
                "data_bytes_down": sum(r[4] for r in rows if r not in state),
                "data_bytes_up": sum(r[3] for r in rows if r not in state),
                "state_calls": [f"{r[0]} {r[1].split(STATE_MARK, 1)[1]} {r[2]} "
                                f"up={r[3]} down={r[4]}" for r in state][:50]}


class _Stream:
    """A buffered reader over a socket that forwards everything it reads to ``dst``."""

    def __init__(self, src: socket.socket, dst: socket.socket):
        self.src, self.dst, self.buf = src, dst, b""

    def _fill(self) -> bool:
        data = self.src.recv(1 << 18)
        if not data:
            return False
        self.buf += data
        return True

    def head(self):
        """The next message's header block (forwarded), or None at end of stream."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.dst.sendall(raw + b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers

    def take(self, n: int) -> int:
        """Forward exactly ``n`` body bytes."""
        left = n
        while left:
            if not self.buf and not self._fill():
                raise ConnectionError("closed mid-body")
            part, self.buf = self.buf[:left], self.buf[left:]
            self.dst.sendall(part)
            left -= len(part)
        return n

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("closed mid-chunk")
        raw, self.buf = self.buf.split(b"\r\n", 1)
        self.dst.sendall(raw + b"\r\n")
        return raw

    def body(self, headers: dict, none: bool = False) -> int:
        if none:
            return 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            total = 0
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    while self.line():  # trailers, then the blank line
                        pass
                    return total
                total += self.take(size)
                self.line()
        if "content-length" in headers:
            return self.take(int(headers["content-length"]))
        return 0


class CountingProxy:
    def __init__(self, target_url: str):
        u = urlsplit(target_url)
        self.target = (u.hostname, u.port)
        self.counts = Counts()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        up, down = _Stream(client, upstream), _Stream(upstream, client)
        try:
            while True:
                req = up.head()
                if req is None:
                    return
                method, target = req[0].split(" ")[:2]
                if req[1].get("expect", "").lower() == "100-continue":
                    interim = down.head()  # 100 Continue (or a refusal)
                    if interim is not None and not interim[0].split(" ")[1].startswith("1"):
                        self._response(down, interim, method, target, 0)
                        continue
                sent = up.body(req[1])
                resp = down.head()
                while resp is not None and resp[0].split(" ")[1] == "100":
                    resp = down.head()
                if resp is None:
                    return
                self._response(down, resp, method, target, sent)
        except (OSError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass

    def _response(self, down: _Stream, resp, method: str, target: str, sent: int) -> None:
        status = resp[0].split(" ")[1]
        none = method == "HEAD" or status in ("204", "304")
        got = down.body(resp[1], none=none)
        self.counts.add((method, unquote(target.split("?")[0]), int(status), sent, got))

    def close(self) -> None:
        self._server.close()
