"""A big file in one streamed PUT (``platforms/s3/streamed.py``), against moto's server over
HTTP: hashed once (the scan's hash, trusted while the file's stat holds), never sent whole
when its bytes are not the planned content (changed before or while it is sent), the
object kept as it was when that happens, and the size bounds between one PUT and parts."""
from __future__ import annotations

import base64
import hashlib
import time

import boto3
import pytest

from s3sync_mirror.core.errors import ChecksumMismatch, PreconditionFailed
from s3sync_mirror.platforms.s3 import multipart as s3multipart, streamed
from tests.test_contract import MIB, s3_connection
from tests.test_contract import moto_keeps_checksums_as_aws_does  # noqa: F401 (autouse)

SIZE = 11 * MIB + 5  # above the test connections' 5 MiB threshold, up to 64 MiB: one PUT


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def conn(bucket, aws_env):
    c = s3_connection(bucket, aws_env, "obstore")
    assert c.multipart_threshold < SIZE <= c.single_put_max
    yield c
    c.close()


def _source(tmp_path, data: bytes):
    src = tmp_path / "big"
    src.write_bytes(data)
    return src, s3multipart.signature(src)


def _spy_hashing(monkeypatch) -> list:
    """The ``CheckedBody`` made for each request: whether it hashed what it sent."""
    made = []
    original = streamed.CheckedBody.__init__

    def init(self, *a, **kw):
        original(self, *a, **kw)
        made.append(self)

    monkeypatch.setattr(streamed.CheckedBody, "__init__", init)
    return made


def test_one_put_with_the_scans_hash(conn, tmp_path, bucket, aws_env, monkeypatch):
    """With the scan's stat holding, the bytes are not hashed again; the object has the
    content, its full SHA-256 as checksum (not a composite of parts) and as metadata, and
    the progress adds up to its size once."""
    data = bytes(range(256)) * (SIZE // 256) + b"tail"
    src, scanned = _source(tmp_path, data)
    made, seen = _spy_hashing(monkeypatch), []
    obj = conn.upload("big", src, sha256=sha(data), size=len(data), scanned=scanned,
                      advance=seen.append, if_none_match=True)
    assert [b.trusted for b in made] == [True] and sum(seen) == len(data)
    r = boto3.client("s3", endpoint_url=aws_env).get_object(
        Bucket=bucket, Key="repo/Data/big", ChecksumMode="ENABLED")
    assert r["Body"].read() == data and r["Metadata"]["sha256"] == sha(data)
    assert r["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert r["ETag"].strip('"') == obj.etag
    with pytest.raises(PreconditionFailed):  # conditional as any PUT
        conn.upload("big", src, sha256=sha(data), size=len(data), scanned=scanned,
                    if_none_match=True)


def test_without_a_scan_it_hashes_what_it_sends(conn, tmp_path, monkeypatch):
    data = b"q" * SIZE
    src, _ = _source(tmp_path, data)
    made = _spy_hashing(monkeypatch)
    conn.upload("big", src, sha256=sha(data), size=len(data))
    assert [b.trusted for b in made] == [False]
    assert conn.head("big").size == len(data)


@pytest.mark.parametrize("when", ["before", "during", "grown", "shrunk"])
@pytest.mark.parametrize("scan", ["trusted", "hashed"])
def test_a_file_changed_is_never_sent_whole(conn, tmp_path, monkeypatch, when, scan):
    """Changed after the scan (before the request, or while its first blocks are on the
    wire; grown or cut short): ChecksumMismatch, and the object it was to replace is still
    there, unchanged: the server never got a whole body."""
    old = b"old content"
    first = conn.upload("big", _source(tmp_path, old)[0], sha256=sha(old), size=len(old))
    data = b"a" * SIZE
    src, scanned = _source(tmp_path, data)
    time.sleep(0.01)  # a later ctime for the edit

    def edit():
        with open(src, "r+b") as f:
            if when == "grown":
                f.seek(0, 2)
                f.write(b"more")
            elif when == "shrunk":
                f.truncate(SIZE - 10)
            else:
                f.seek(SIZE - 1)
                f.write(b"z")

    if when == "before":
        edit()
    else:
        original, reads = streamed.CheckedBody.read, []

        def read(self, n=-1):
            reads.append(n)
            if len(reads) == 2:
                edit()
            return original(self, n)

        monkeypatch.setattr(streamed.CheckedBody, "read", read)
    with pytest.raises(ChecksumMismatch):
        conn.upload("big", src, sha256=sha(data), size=SIZE, if_match=first.etag,
                    scanned=scanned if scan == "trusted" else None)
    kept = conn.head("big")
    assert kept.etag == first.etag and kept.size == len(old)


def test_above_the_bound_in_parts(conn, tmp_path, monkeypatch):
    """Above ``single_put_max`` a file goes in parts; below the threshold, in one PUT of
    its bytes (``objects.put``): the streamed PUT is for the sizes in between."""
    calls = []
    monkeypatch.setattr(streamed, "upload", lambda *a, **k: calls.append("streamed"))
    monkeypatch.setattr(s3multipart, "upload", lambda *a, **k: calls.append("parts"))
    data = b"p" * SIZE
    src, scanned = _source(tmp_path, data)
    conn.single_put_max = SIZE - 1
    conn.upload("big", src, sha256=sha(data), size=SIZE, scanned=scanned)
    conn.single_put_max = SIZE
    conn.upload("big", src, sha256=sha(data), size=SIZE, scanned=scanned)
    small = b"s" * 100
    conn.upload("small", _source(tmp_path, small)[0], sha256=sha(small), size=100)
    assert calls == ["parts", "streamed"] and conn.head("small").size == 100


def test_the_bound_comes_from_the_environment(bucket, aws_env, monkeypatch):
    from s3sync_mirror.platforms.s3.connection import SINGLE_PUT_ENV, SINGLE_PUT_MAX, S3Connection

    assert S3Connection(bucket, "p", endpoint_url=aws_env).single_put_max == SINGLE_PUT_MAX
    monkeypatch.setenv(SINGLE_PUT_ENV, "0")
    assert S3Connection(bucket, "p", endpoint_url=aws_env).single_put_max == 0
