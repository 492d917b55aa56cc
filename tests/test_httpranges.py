"""Big S3 downloads in parallel ranges over ``http.client`` (``s3httpranges``), against
moto's server over HTTP, directly (ranges answered 206) and through a real HTTP proxy on
127.0.0.1 that answers as ``rclone serve s3`` does (each range labelled 200, with its
Content-Range) or as a server that ignores ranges (the whole object, 200). Each download
is verified, of one version, in parallel where ranges are honoured, one streamed GET
where they are not, and Ctrl-C stops it within a second."""
from __future__ import annotations

import hashlib
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import pytest

from s3sync_mirror.core.errors import PreconditionFailed
from s3sync_mirror.platforms.base import Cancelled
from s3sync_mirror.platforms.s3 import httpranges
from tests.test_contract import moto_keeps_checksums_as_aws_does  # noqa: F401 (autouse)
from tests.test_contract import s3_connection

MIB = 1 << 20
HOP = {"connection", "keep-alive", "transfer-encoding", "date", "server"}


class Proxy:
    """A forwarding HTTP server in front of moto. ``mode``: "relabel" (a 206 goes out as
    200, Content-Range kept: rclone serve s3), "ignore" (Range is dropped: the whole
    object), "pass". Records each GET's Range and If-Match, and the most GETs of one key
    in flight at once; ``delay`` slows every 64 KiB of a body; ``cut`` ranges (their start
    offsets) break off once, half-way through their body."""

    def __init__(self, upstream: str, mode: str):
        self.upstream, self.mode = urlsplit(upstream), mode
        self.lock = threading.Lock()
        self.gets: list = []
        self.in_flight = self.most = 0
        self.delay = 0.0
        self.cut: set = set()
        self.fail_once: set = set()  # range starts answered 502 once
        self.etag_from = None  # ranges from this offset on carry another ETag
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.forward(self, "GET")

            def do_HEAD(self):
                proxy.forward(self, "HEAD")

            def do_PUT(self):
                proxy.forward(self, "PUT")

            def do_POST(self):
                proxy.forward(self, "POST")

            def do_DELETE(self):
                proxy.forward(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP}
        rng = h.headers.get("Range")
        if method == "GET" and "/big" in h.path:
            with self.lock:
                self.gets.append((rng, h.headers.get("If-Match")))
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
        if self.mode == "ignore":
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        with self.lock:
            failing = rng is not None and start in self.fail_once
            self.fail_once.discard(start)
        if failing:
            body = b"<Error><Code>BadGateway</Code><Message>try again</Message></Error>"
            h.send_response(502)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            with self.lock:
                self.in_flight -= 1
            return
        try:
            up = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port)
            up.request(method, h.path, body=body, headers=headers)
            r = up.getresponse()
            status = 200 if self.mode == "relabel" and r.status == 206 else r.status
            h.send_response(status)
            for k, v in r.getheaders():
                if k.lower() == "etag" and self.etag_from is not None and rng and \
                        start >= self.etag_from:
                    v = '"0123456789abcdef0123456789abcdef"'
                if k.lower() not in HOP:
                    h.send_header(k, v)
            h.end_headers()
            if method == "HEAD":
                return
            length = int(r.getheader("Content-Length") or 0)
            with self.lock:
                cut = start in self.cut and length > 0
                self.cut.discard(start)
            sent = 0
            while sent < length:
                if cut and sent >= length // 2:
                    h.close_connection = True
                    h.wfile.flush()
                    h.connection.shutdown(2)
                    return
                chunk = r.read(min(1 << 16, length - sent))
                if not chunk:
                    break
                h.wfile.write(chunk)
                sent += len(chunk)
                if self.delay:
                    time.sleep(self.delay)
            up.close()
        finally:
            if method == "GET" and "/big" in h.path:
                with self.lock:
                    self.in_flight -= 1

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DATA = bytes(range(256)) * (96 << 12)  # 24 MiB: 12 ranges of 2 MiB


@pytest.fixture
def small_ranges(monkeypatch):
    monkeypatch.setattr(httpranges, "STEP", 2 * MIB)


def connect(bucket, endpoint):
    return s3_connection(bucket, endpoint, "obstore")


@pytest.fixture
def stored(bucket, aws_env):
    """The object in moto, and its ETag."""
    c = connect(bucket, aws_env)
    etag = c.put_bytes("big.bin", DATA)
    c.close()
    return etag


@pytest.fixture
def proxy(request, aws_env):
    p = Proxy(aws_env, request.param)
    yield p
    p.stop()


def no_obstore_ranges(conn, monkeypatch):
    def refused(*a, **kw):
        raise AssertionError("obstore's ranges were used")

    monkeypatch.setattr(conn.objects, "get_big", refused)


@pytest.mark.parametrize("proxy", ["pass", "relabel"], indirect=True)
def test_ranges_answered_206_or_labelled_200_are_parallel_verified_and_conditional(
        bucket, stored, proxy, small_ranges, tmp_path, monkeypatch):
    proxy.delay = 0.0005  # each range on the wire long enough to overlap the others
    conn = connect(bucket, proxy.url)
    no_obstore_ranges(conn, monkeypatch)
    moved = []
    dest = tmp_path / "big.bin"
    assert conn.download("big.bin", dest, size_hint=len(DATA), if_match=stored,
                         advance=moved.append) == sha(DATA)
    assert dest.read_bytes() == DATA
    assert sum(moved) == len(DATA)
    ranges = sorted(int(r.split("=")[1].split("-")[0]) for r, _ in proxy.gets)
    assert ranges == list(range(0, len(DATA), 2 * MIB)), "each range asked once"
    assert all(m == f'"{stored}"' for _, m in proxy.gets), "every range is of one version"
    assert proxy.most >= 2, "the ranges went in parallel"
    boto3.client("s3").put_object(Bucket=bucket, Key="repo/Data/big.bin", Body=DATA[::-1])
    with pytest.raises(PreconditionFailed):
        conn.download("big.bin", tmp_path / "again.bin", size_hint=len(DATA), if_match=stored)
    conn.close()


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_without_a_planned_etag_the_first_range_names_the_version(bucket, stored, proxy,
                                                                 small_ranges, tmp_path):
    conn = connect(bucket, proxy.url)
    assert conn.download("big.bin", tmp_path / "x", size_hint=len(DATA)) == sha(DATA)
    assert proxy.gets[0][1] is None
    assert all(m == f'"{stored}"' for _, m in proxy.gets[1:])
    conn.close()


@pytest.mark.parametrize("proxy", ["ignore"], indirect=True)
def test_a_server_that_ignores_ranges_gets_one_streamed_get(bucket, stored, proxy,
                                                           small_ranges, tmp_path, monkeypatch):
    """The whole object came for a range: none of it is read as the range; the object is
    streamed in one GET instead, and ranges are not tried again on the connection."""
    conn = connect(bucket, proxy.url)
    no_obstore_ranges(conn, monkeypatch)
    for name in ("a.bin", "b.bin"):
        dest = tmp_path / name
        assert conn.download("big.bin", dest, size_hint=len(DATA), if_match=stored) == \
            sha(DATA)
        assert dest.read_bytes() == DATA
    ranged = [r for r, _ in proxy.gets if r]
    assert len(ranged) == 1, "ranges were tried again"
    assert [r for r, _ in proxy.gets].count(None) == 2
    assert all(m == f'"{stored}"' for _, m in proxy.gets), "the streamed GET is conditional"
    conn.close()


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_a_range_that_broke_off_is_asked_again(bucket, stored, proxy, small_ranges, tmp_path):
    proxy.cut = {4 * MIB, 10 * MIB}
    conn = connect(bucket, proxy.url)
    assert conn.download("big.bin", tmp_path / "x", size_hint=len(DATA),
                         if_match=stored) == sha(DATA)
    assert (tmp_path / "x").read_bytes() == DATA
    starts = [int(r.split("=")[1].split("-")[0]) for r, _ in proxy.gets]
    assert starts.count(4 * MIB) == 2 and starts.count(10 * MIB) == 2
    conn.close()


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_interrupt_stops_every_range_within_a_second(bucket, stored, proxy, small_ranges,
                                                     tmp_path):
    proxy.delay = 0.05  # 24 MiB would take ~20 s
    conn = connect(bucket, proxy.url)
    threading.Timer(0.5, conn.interrupt).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        conn.download("big.bin", tmp_path / "x", size_hint=len(DATA), if_match=stored)
    assert time.monotonic() - t0 < 1.5
    assert not [t for t in threading.enumerate() if t.name.startswith("s3-range")]
    conn.close()


def test_a_proxy_in_the_environment_keeps_obstore(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert not httpranges.usable("http://127.0.0.1:9000")
    assert httpranges.usable("https://s3.example")
    monkeypatch.setenv("all_proxy", "http://proxy.example:3128")
    assert not httpranges.usable("https://s3.example")


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_a_5xx_answer_is_asked_again_and_another_version_is_refused(bucket, stored, proxy,
                                                                   small_ranges, tmp_path):
    proxy.fail_once = {6 * MIB}
    conn = connect(bucket, proxy.url)
    assert conn.download("big.bin", tmp_path / "x", size_hint=len(DATA),
                         if_match=stored) == sha(DATA)
    starts = [int(r.split("=")[1].split("-")[0]) for r, _ in proxy.gets]
    assert starts.count(6 * MIB) == 2
    # A server that ignored If-Match and sent another version's bytes for a range
    proxy.gets.clear()
    proxy.etag_from = 8 * MIB
    with pytest.raises(PreconditionFailed):
        conn.download("big.bin", tmp_path / "y", size_hint=len(DATA), if_match=stored)
    conn.close()


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_a_full_disk_is_named_and_not_retried(bucket, stored, proxy, small_ranges, tmp_path,
                                              monkeypatch):
    import errno
    import os

    real, calls = os.pwrite, []

    def full(fd, data, offset):
        calls.append(offset)
        if offset >= 4 * MIB:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(httpranges.os, "pwrite", full)
    conn = connect(bucket, proxy.url)
    with pytest.raises(OSError) as caught:
        conn.download("big.bin", tmp_path / "x", size_hint=len(DATA), if_match=stored)
    assert caught.value.errno == errno.ENOSPC
    starts = [int(r.split("=")[1].split("-")[0]) for r, _ in proxy.gets]
    assert len(starts) == len(set(starts)), "a range was downloaded again after a write error"
    monkeypatch.undo()
    conn.close()


@pytest.mark.parametrize("proxy", ["relabel"], indirect=True)
def test_a_server_gone_is_unreachable(bucket, stored, proxy, small_ranges, tmp_path):
    from s3sync_mirror.core.errors import RemoteUnreachable

    conn = connect(bucket, proxy.url)
    conn.objects.attempts = 2
    proxy.stop()
    with pytest.raises(RemoteUnreachable):
        conn.download("big.bin", tmp_path / "x", size_hint=len(DATA), if_match=stored)
    conn.close()


@pytest.mark.parametrize("proxy", ["pass"], indirect=True)
def test_a_small_body_read_at_once_that_broke_off_is_asked_again(bucket, proxy, tmp_path):
    """A batch's small object is read without yielding the loop (``INLINE_MAX``); when its
    body breaks off half-way, it is asked again (by object_store's retries or ours) and
    the file holds every byte, the batch's other object too."""
    from s3sync_mirror.platforms.obloop import INLINE_MAX

    conn = connect(bucket, proxy.url)
    small = bytes(range(256)) * (INLINE_MAX // 256 - 8)  # just below INLINE_MAX
    for name in ("a.csv", "b.csv"):
        conn.put_bytes(name, small)
    proxy.cut = {0}  # the first GET (no Range: it starts at 0) breaks off half-way
    got = dict(conn.download_many([("a.csv", tmp_path / "a", None),
                                   ("b.csv", tmp_path / "b", None)]))
    assert got == {0: sha(small), 1: sha(small)}
    assert (tmp_path / "a").read_bytes() == small == (tmp_path / "b").read_bytes()
    assert not proxy.cut, "a body did break off"
    conn.close()
