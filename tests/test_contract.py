"""One contract every remote backend must pass; each backend test class only supplies the
fixture. S3 runs over HTTP against moto's server started by the tests."""
from __future__ import annotations

import hashlib
import os

import pytest

from s3sync_mirror.errors import (ChecksumMismatch, PreconditionFailed, RemoteNotFound)
from s3sync_mirror.platforms import LocalConnection, S3Connection, get_supported_platforms
from s3sync_mirror.platforms.base import DataPlatformConnection

MIB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ConnectionContract:
    """Subclasses provide a ``conn`` fixture: an empty remote."""

    def upload(self, conn, tmp_path, key, data, **kw):
        src = tmp_path / f"src-{sha(key.encode())[:8]}"
        src.write_bytes(data)
        return conn.upload(key, src, sha256=sha(data), size=len(data), **kw)

    def fetch(self, conn, tmp_path, key, size=-1):
        dest = tmp_path / "fetched"
        digest = conn.download(key, dest, size_hint=size)
        return dest.read_bytes(), digest

    def test_is_a_data_platform_connection(self, conn):
        assert isinstance(conn, DataPlatformConnection)
        assert conn.platform in get_supported_platforms()
        assert conn.describe()

    def test_small_bytes_roundtrip_and_conditional_get(self, conn):
        etag = conn.put_bytes(".S3/versions_remote.csv", b"v1", if_none_match=True)
        assert etag
        assert conn.get_bytes(".S3/versions_remote.csv") == (b"v1", etag)
        assert conn.get_bytes(".S3/versions_remote.csv", if_none_match=etag) is None
        etag2 = conn.put_bytes(".S3/versions_remote.csv", b"v2", if_match=etag)
        assert etag2 != etag
        assert conn.get_bytes(".S3/versions_remote.csv", if_none_match=etag) == (b"v2", etag2)

    def test_conditional_put_loses_cleanly(self, conn):
        etag = conn.put_bytes("state", b"v1")
        with pytest.raises(PreconditionFailed):
            conn.put_bytes("state", b"x", if_none_match=True)
        etag2 = conn.put_bytes("state", b"v2", if_match=etag)
        with pytest.raises(PreconditionFailed):
            conn.put_bytes("state", b"stale", if_match=etag)
        with pytest.raises(PreconditionFailed):
            conn.put_bytes("missing", b"x", if_match=etag2)
        assert conn.get_bytes("state")[0] == b"v2"

    def test_missing_objects(self, conn, tmp_path):
        with pytest.raises(RemoteNotFound):
            conn.get_bytes("nope")
        with pytest.raises(RemoteNotFound):
            conn.download("nope", tmp_path / "x")
        with pytest.raises(RemoteNotFound):
            conn.copy("nope", "elsewhere")
        assert conn.head("nope") is None
        conn.delete("nope")  # deleting nothing is not an error

    @pytest.mark.parametrize("size", [0, 1, 1000, 11 * MIB + 123])
    def test_upload_download_verified(self, conn, tmp_path, size):
        data = os.urandom(size)
        seen = []
        obj = self.upload(conn, tmp_path, "dir/sub/f.bin", data, advance=seen.append)
        assert obj.etag and obj.size == size
        assert sum(seen) == size
        got, digest = self.fetch(conn, tmp_path, "dir/sub/f.bin", size)
        assert got == data and digest == sha(data)
        head = conn.head("dir/sub/f.bin")
        assert head.size == size and head.etag == obj.etag
        assert conn.checksum("dir/sub/f.bin", tmp_path) == sha(data)

    @pytest.mark.parametrize("size", [10, 11 * MIB])
    def test_a_file_that_does_not_match_its_checksum_is_not_sent(self, conn, tmp_path, size):
        src = tmp_path / "src"
        src.write_bytes(b"x" * size)
        with pytest.raises(ChecksumMismatch):
            conn.upload("f", src, sha256=sha(b"something else"), size=size)
        assert conn.head("f") is None

    def test_conditional_upload(self, conn, tmp_path):
        first = self.upload(conn, tmp_path, "f", b"one", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            self.upload(conn, tmp_path, "f", b"two", if_none_match=True)
        second = self.upload(conn, tmp_path, "f", b"three", if_match=first.etag)
        with pytest.raises(PreconditionFailed):
            self.upload(conn, tmp_path, "f", b"four", if_match=first.etag)
        assert self.fetch(conn, tmp_path, "f")[0] == b"three"
        assert conn.head("f").etag == second.etag

    def test_conditional_multipart_upload_if_none_match(self, conn, tmp_path):
        self.upload(conn, tmp_path, "big", b"small", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            self.upload(conn, tmp_path, "big", b"y" * (11 * MIB), if_none_match=True)
        assert self.fetch(conn, tmp_path, "big")[0] == b"small"

    def test_copy_is_conditional_and_keeps_content(self, conn, tmp_path):
        obj = self.upload(conn, tmp_path, "a/f.csv", b"content")
        conn.copy("a/f.csv", ".S3/deleted/run1/a/f.csv", if_match=obj.etag)
        assert self.fetch(conn, tmp_path, ".S3/deleted/run1/a/f.csv")[0] == b"content"
        assert conn.checksum(".S3/deleted/run1/a/f.csv", tmp_path) == sha(b"content")
        self.upload(conn, tmp_path, "a/f.csv", b"changed")
        with pytest.raises(PreconditionFailed):
            conn.copy("a/f.csv", ".S3/deleted/run2/a/f.csv", if_match=obj.etag)

    def test_delete_is_conditional(self, conn, tmp_path):
        obj = self.upload(conn, tmp_path, "d/f", b"1")
        self.upload(conn, tmp_path, "d/f", b"2")
        with pytest.raises(PreconditionFailed):
            conn.delete("d/f", if_match=obj.etag)
        assert conn.head("d/f") is not None
        conn.delete("d/f", if_match=conn.head("d/f").etag)
        assert conn.head("d/f") is None

    def test_list_skips_the_state_folder(self, conn, tmp_path):
        for key in ("a.csv", "dir/b.csv", "dir with space/ü.csv", ".S3/versions_remote.csv",
                    ".S3/deleted/x/a.csv"):
            self.upload(conn, tmp_path, key, key.encode())
        listed = {o.key: o.size for o in conn.list("")}
        assert listed == {"a.csv": 5, "dir/b.csv": 9, "dir with space/ü.csv": len(
            "dir with space/ü.csv".encode())}
        assert {o.key for o in conn.list(".S3/deleted/")} == {".S3/deleted/x/a.csv"}

    def test_honours_conditional_writes(self, conn):
        assert conn.honours_conditional_writes() is True
        assert conn.head(conn.PROBE_KEY) is None, "the probe cleans up after itself"

    def test_url_names_the_key(self, conn):
        assert conn.url("a/b.csv").endswith("a/b.csv")


class TestLocalConnection(ConnectionContract):
    @pytest.fixture
    def conn(self, tmp_path):
        return LocalConnection(tmp_path / "remote" / "repo" / "Data", user="tester")

    def test_stale_lock_of_a_dead_process_is_broken(self, conn, tmp_path, caplog):
        import json
        import socket

        lock = conn.root / ".S3" / "lock"
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 12345,
                                    "user": "ghost"}))
        conn.put_bytes("x", b"1")
        assert not lock.exists()
        assert "ghost" in caplog.text and "broke" in caplog.text

    def test_old_lock_expires_and_live_lock_waits(self, tmp_path):
        import json

        from s3sync_mirror.errors import LockBusy

        conn = LocalConnection(tmp_path / "r", lock_stale=0.3, lock_wait=0.1)
        lock = conn.root / ".S3" / "lock"
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"host": "other-host", "pid": 1, "user": "bob"}))
        with pytest.raises(LockBusy) as exc:
            conn.put_bytes("x", b"1")
        assert "bob" in str(exc.value) and str(lock) in str(exc.value)
        os.utime(lock, (0, 0))  # an hour-old lock: its holder is long gone
        conn.put_bytes("x", b"1")
        assert conn.get_bytes("x")[0] == b"1"

    def test_emptied_folders_are_pruned(self, conn, tmp_path):
        self.upload(conn, tmp_path, "a/b/c.csv", b"1")
        conn.delete("a/b/c.csv")
        assert not (conn.root / "a").exists()


class TestS3Connection(ConnectionContract):
    """Both transports of whole-object PUT/GET: the AWS Common Runtime and botocore."""

    @pytest.fixture(params=["crt", "botocore"])
    def conn(self, request, bucket, aws_env):
        c = S3Connection(bucket, "repo/Data", endpoint_url=aws_env, jobs=4,
                         multipart_threshold=5 * MIB, part_size=5 * MIB,
                         use_crt=request.param == "crt")
        assert (c.crt is not None) == (request.param == "crt")
        yield c
        c.close()

    def test_uploads_carry_sha256(self, conn, tmp_path, bucket, aws_env):
        import boto3

        data = b"checked"
        self.upload(conn, tmp_path, "c.txt", data)
        r = boto3.client("s3", endpoint_url=aws_env).head_object(
            Bucket=bucket, Key="repo/Data/c.txt", ChecksumMode="ENABLED")
        assert r["Metadata"]["sha256"] == sha(data)
        import base64
        assert r["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()

    def test_missing_bucket_is_a_clear_error(self, aws_env):
        from s3sync_mirror.errors import RemoteNotFound

        c = S3Connection("no-such-bucket-here", "p", endpoint_url=aws_env)
        with pytest.raises(RemoteNotFound) as exc:
            c.get_bytes(".S3/versions_remote.csv")
        assert "no-such-bucket-here" in str(exc.value)

    def test_unreachable_server_is_a_remote_error(self, monkeypatch):
        from s3sync_mirror.errors import RemoteError

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        c = S3Connection("b", "p", endpoint_url="http://127.0.0.1:9", region="us-east-1")
        c.client.meta.config.retries["max_attempts"] = 1
        with pytest.raises(RemoteError) as exc:
            c.get_bytes("x")
        assert "cannot reach" in str(exc.value)
