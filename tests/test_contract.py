"""One contract every remote backend must pass, on every transport: the folder remote,
S3 through botocore, through the AWS Common Runtime and through obstore (``transport=``),
the S3 ones over HTTP against moto's server started by the tests.

``ConnectionContract`` runs each primitive on each transport (each backend test class only
supplies the fixture); ``test_a_lost_race_is_the_same_exception_everywhere`` runs each
race (a condition that no longer holds) on the three side by side and compares the
exception classes; ``classify``'s table is unit-tested at the end."""
from __future__ import annotations

import hashlib
import os

import pytest

from s3sync_mirror.core import layout
from s3sync_mirror.core.errors import (ChecksumMismatch, PreconditionFailed, RemoteError,
                                       RemoteNotFound, RemotePermissionError, RemoteUnreachable)
from s3sync_mirror.platforms import LocalConnection, S3Connection, get_supported_platforms
from s3sync_mirror.platforms.base import DataPlatformConnection
from s3sync_mirror.platforms.s3.connection import BotocoreObjects
from s3sync_mirror.platforms.s3.crt import CrtTransport
from s3sync_mirror.platforms.s3.obstore import ObstoreTransport
from s3sync_mirror.platforms.s3.errors import classify

from .conftest import teach_moto_aws_checksums

MIB = 1 << 20
BIG = 6 * MIB  # above the S3 connections' 5 MiB multipart threshold: two parts
TRANSPORTS = ("local", "botocore", "crt", "obstore")
S3_TRANSPORTS = {"botocore": BotocoreObjects, "crt": CrtTransport, "obstore": ObstoreTransport}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(conn, tmp_path, key, data, **kw):
    src = tmp_path / f"src-{sha(key.encode() + data[:16])[:12]}"
    src.write_bytes(data)
    return conn.upload(key, src, sha256=sha(data), size=len(data), **kw)


def fetch(conn, tmp_path, key, size=-1, **kw):
    dest = tmp_path / "fetched"
    digest = conn.download(key, dest, size_hint=size, **kw)
    return dest.read_bytes(), digest


# A big file goes up in one streamed PUT up to ``single_put_max``, in parts above it: on
# the botocore transport these connections send it in parts, on the others in one PUT, so
# that every contract test of a big file holds for both ways.
ONE_PUT = {"botocore": 0}


def s3_connection(bucket, endpoint, transport, prefix="repo/Data"):
    c = S3Connection(bucket, prefix, endpoint_url=endpoint, jobs=4,
                     multipart_threshold=5 * MIB, part_size=5 * MIB, transport=transport,
                     single_put_max=ONE_PUT.get(transport, 64 * MIB), ranged_min=5 * MIB)
    expected = S3_TRANSPORTS[transport]
    assert type(c.objects) is expected, f"{transport}: whole objects go through {expected}"
    return c


@pytest.fixture
def moto_honours_if_match_on_completion(monkeypatch):
    """AWS honours If-Match on CompleteMultipartUpload (404 when the key is gone, 412 when
    its ETag differs); moto ignores it. Teach moto, so a conditional multipart upload can
    lose its race here as it does on S3."""
    from moto.s3.exceptions import MissingKey
    from moto.s3.exceptions import PreconditionFailed as MotoPreconditionFailed
    from moto.s3.responses import S3Response

    original = S3Response._key_response_post

    def post(self, request, body, bucket_name, query, key_name):
        wanted = request.headers.get("If-Match")
        if wanted and query.get("uploadId"):
            obj = self.backend.get_object(bucket_name, key_name)
            if obj is None:
                raise MissingKey(key_name)
            if obj.etag.strip('"') != wanted.strip('"'):
                raise MotoPreconditionFailed("If-Match")
        return original(self, request, body, bucket_name, query, key_name)

    monkeypatch.setattr(S3Response, "_key_response_post", post)


@pytest.fixture(autouse=True)
def moto_keeps_checksums_as_aws_does(monkeypatch):
    """moto keeps an upload's x-amz-checksum-sha256 as AWS does (conftest.py)."""
    teach_moto_aws_checksums(monkeypatch)


class ConnectionContract:
    """Subclasses provide a ``conn`` fixture (an empty remote) and ``expected_url``."""

    def expected_url(self, conn, key: str) -> str:
        raise NotImplementedError

    def test_is_a_data_platform_connection(self, conn):
        assert isinstance(conn, DataPlatformConnection)
        assert conn.platform in get_supported_platforms()
        assert conn.url("a/b.csv") == self.expected_url(conn, "a/b.csv")
        assert conn.url("a/b.csv").startswith(conn.describe())

    def test_small_bytes_roundtrip_and_conditional_get(self, conn):
        key = layout.VERSIONS_KEY
        etag = conn.put_bytes(key, b"v1", if_none_match=True)
        assert conn.head(key).etag == etag
        assert conn.get_bytes(key) == (b"v1", etag)
        assert conn.get_bytes(key, if_none_match=etag) is None
        etag2 = conn.put_bytes(key, b"v2", if_match=etag)
        assert etag2 != etag
        assert conn.get_bytes(key, if_none_match=etag) == (b"v2", etag2)

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
        assert conn.head("missing") is None

    def test_missing_objects(self, conn, tmp_path):
        with pytest.raises(RemoteNotFound):
            conn.get_bytes("nope")
        with pytest.raises(RemoteNotFound):
            conn.download("nope", tmp_path / "x")
        with pytest.raises(RemoteNotFound):
            conn.download("nope", tmp_path / "x", size_hint=BIG)
        with pytest.raises(RemoteNotFound):
            conn.copy("nope", "elsewhere")
        assert conn.head("nope") is None
        conn.delete("nope")  # deleting nothing is not an error
        assert conn.head("nope") is None and conn.head("elsewhere") is None

    @pytest.mark.parametrize("size", [0, 1, 1000, 11 * MIB + 123])
    def test_upload_download_verified(self, conn, tmp_path, size):
        data = os.urandom(size)
        seen = []
        obj = upload(conn, tmp_path, "dir/sub/f.bin", data, advance=seen.append)
        assert obj.etag and obj.size == size
        assert sum(seen) == size
        got, digest = fetch(conn, tmp_path, "dir/sub/f.bin", size)
        assert got == data and digest == sha(data)
        head = conn.head("dir/sub/f.bin")
        assert head.size == size and head.etag == obj.etag
        assert conn.checksum("dir/sub/f.bin", tmp_path) == sha(data)
        got, digest = fetch(conn, tmp_path, "dir/sub/f.bin", size, if_match=obj.etag)
        assert got == data and digest == sha(data)

    @pytest.mark.parametrize("size", [10, 11 * MIB])
    def test_a_file_that_does_not_match_its_checksum_is_not_sent(self, conn, tmp_path, size):
        src = tmp_path / "src"
        src.write_bytes(b"x" * size)
        with pytest.raises(ChecksumMismatch):
            conn.upload("f", src, sha256=sha(b"something else"), size=size)
        assert conn.head("f") is None

    def test_conditional_upload(self, conn, tmp_path):
        first = upload(conn, tmp_path, "f", b"one", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            upload(conn, tmp_path, "f", b"two", if_none_match=True)
        second = upload(conn, tmp_path, "f", b"three", if_match=first.etag)
        with pytest.raises(PreconditionFailed):
            upload(conn, tmp_path, "f", b"four", if_match=first.etag)
        assert fetch(conn, tmp_path, "f")[0] == b"three"
        assert conn.head("f").etag == second.etag

    def test_conditional_multipart_upload_if_none_match(self, conn, tmp_path):
        upload(conn, tmp_path, "big", b"small", if_none_match=True)
        with pytest.raises(PreconditionFailed):
            upload(conn, tmp_path, "big", b"y" * (11 * MIB), if_none_match=True)
        assert fetch(conn, tmp_path, "big")[0] == b"small"

    def test_copy_is_conditional_and_keeps_content(self, conn, tmp_path):
        obj = upload(conn, tmp_path, "a/f.csv", b"content")
        archived = layout.archive_key("run1", "a/f.csv")
        conn.copy("a/f.csv", archived, if_match=obj.etag)
        assert fetch(conn, tmp_path, archived)[0] == b"content"
        assert conn.checksum(archived, tmp_path) == sha(b"content")
        upload(conn, tmp_path, "a/f.csv", b"changed")
        with pytest.raises(PreconditionFailed):
            conn.copy("a/f.csv", layout.archive_key("run2", "a/f.csv"), if_match=obj.etag)
        assert conn.head(layout.archive_key("run2", "a/f.csv")) is None

    def test_a_copy_never_replaces_an_object(self, conn, tmp_path):
        """A copy makes a new key (an archive, a moved or copied file): a teammate's object
        already there is never replaced."""
        src = upload(conn, tmp_path, "src.bin", b"mine")
        upload(conn, tmp_path, "dst.bin", b"a teammate's")
        with pytest.raises(PreconditionFailed):
            conn.copy("src.bin", "dst.bin", if_match=src.etag)
        with pytest.raises(PreconditionFailed):
            conn.copy("src.bin", "dst.bin")
        assert fetch(conn, tmp_path, "dst.bin")[0] == b"a teammate's"

    def test_delete_is_conditional(self, conn, tmp_path):
        obj = upload(conn, tmp_path, "d/f", b"1")
        upload(conn, tmp_path, "d/f", b"2")
        with pytest.raises(PreconditionFailed):
            conn.delete("d/f", if_match=obj.etag)
        assert conn.head("d/f") is not None
        conn.delete("d/f", if_match=conn.head("d/f").etag)
        assert conn.head("d/f") is None

    def test_list_includes_the_state_folder(self, conn, tmp_path):
        keys = ("a.csv", "dir/b.csv", "dir with space/ü.csv", layout.VERSIONS_KEY,
                layout.archive_key("x", "a.csv"))
        for key in keys:
            upload(conn, tmp_path, key, key.encode())
        listed = {o.key: o.size for o in conn.list("")}
        assert listed == {k: len(k.encode()) for k in keys}
        assert {k for k in listed if layout.is_state_key(k)} == set(keys[3:])
        assert {o.key for o in conn.list(layout.ARCHIVE_ROOT + "/")} == {keys[4]}
        assert {o.key for o in conn.list("dir/")} == {"dir/b.csv"}

    def test_honours_conditional_writes(self, conn):
        assert conn.PROBE_KEY == layout.PROBE_KEY
        assert conn.honours_conditional_writes() is True
        # the probe itself, also where the backend answers by construction (Local)
        assert DataPlatformConnection.honours_conditional_writes(conn) is True
        assert conn.head(conn.PROBE_KEY) is None, "the probe cleans up after itself"


class TestLocalConnection(ConnectionContract):
    @pytest.fixture
    def conn(self, tmp_path):
        return LocalConnection(tmp_path / "remote" / "repo" / "Data", user="tester")

    def expected_url(self, conn, key):
        return str(conn.root / "a" / "b.csv")

    def test_stale_lock_of_a_dead_process_is_broken(self, conn, tmp_path, caplog):
        import json
        import socket

        etag = conn.put_bytes("x", b"0")  # unconditional: takes no lock
        lock = conn.root.joinpath(*layout.REMOTE_LOCK.split("/"))
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": 2 ** 22 + 12345,
                                    "user": "ghost"}))
        conn.put_bytes("x", b"1", if_match=etag)  # a replace-if-unchanged takes it
        assert not lock.exists() and conn.get_bytes("x")[0] == b"1"
        assert "ghost" in caplog.text and "broke" in caplog.text

    def test_old_lock_expires_and_live_lock_waits(self, tmp_path):
        import json

        from s3sync_mirror.core.errors import LockBusy

        conn = LocalConnection(tmp_path / "r", lock_stale=0.3, lock_wait=0.1)
        etag = conn.put_bytes("x", b"0")
        lock = conn.root.joinpath(*layout.REMOTE_LOCK.split("/"))
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"host": "other-host", "pid": 1, "user": "bob"}))
        with pytest.raises(LockBusy) as exc:
            conn.put_bytes("x", b"1", if_match=etag)
        assert "bob" in str(exc.value) and str(lock) in str(exc.value)
        os.utime(lock, (0, 0))  # an hour-old lock: its holder is long gone
        conn.put_bytes("x", b"1", if_match=etag)
        assert conn.get_bytes("x")[0] == b"1"

    def test_emptied_folders_are_pruned(self, conn, tmp_path):
        upload(conn, tmp_path, "a/b/c.csv", b"1")
        conn.delete("a/b/c.csv")
        assert not (conn.root / "a").exists()

    def test_temporary_parts_live_in_the_layouts_tmp_folder(self, conn, tmp_path):
        upload(conn, tmp_path, "f", b"1")
        tmp = conn.root.joinpath(*layout.REMOTE_TMP.split("/"))
        assert tmp.is_dir() and not any(tmp.iterdir())


class TestS3Connection(ConnectionContract):
    """Each transport of whole-object PUT/GET: the AWS Common Runtime, botocore, obstore."""

    @pytest.fixture(params=["crt", "botocore", "obstore"])
    def conn(self, request, bucket, aws_env, moto_honours_if_match_on_completion):
        c = s3_connection(bucket, aws_env, request.param)
        yield c
        c.close()

    def expected_url(self, conn, key):
        return f"s3://{conn.bucket}/repo/Data/{key}"

    def test_the_transport_is_chosen_once(self, conn, tmp_path):
        chosen = conn.objects
        upload(conn, tmp_path, "f", b"1")
        fetch(conn, tmp_path, "f")
        assert conn.objects is chosen

    def test_uploads_carry_sha256(self, conn, tmp_path, bucket, aws_env):
        import base64

        import boto3

        for key, data in (("c.txt", b"checked"), ("big.bin", os.urandom(BIG))):
            upload(conn, tmp_path, key, data)
            r = boto3.client("s3", endpoint_url=aws_env).head_object(
                Bucket=bucket, Key=f"repo/Data/{key}", ChecksumMode="ENABLED")
            assert r["Metadata"]["sha256"] == sha(data)
            if len(data) <= conn.single_put_max:  # multipart: per part, composite
                assert r["ChecksumSHA256"] == base64.b64encode(
                    hashlib.sha256(data).digest()).decode()

    def test_missing_bucket_is_a_clear_error(self, request, conn, aws_env, tmp_path):
        transport = conn.transport
        c = s3_connection("no-such-bucket-here", aws_env, transport, prefix="p")
        request.addfinalizer(c.close)
        for attempt in (lambda: c.get_bytes(layout.VERSIONS_KEY),
                        lambda: upload(c, tmp_path, "f", b"1"),
                        lambda: c.download("f", tmp_path / "x")):
            with pytest.raises(RemoteNotFound) as exc:
                attempt()
            assert str(exc.value) == (
                f"bucket 'no-such-bucket-here' does not exist at {aws_env}: create it, or "
                f"fix storage.tenant in s3sync_mirror.yml")


@pytest.mark.parametrize("transport", ["botocore", "crt", "obstore"])
def test_unreachable_server_is_named_with_the_fix(monkeypatch, tmp_path, transport):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    c = S3Connection("bkt", "p", endpoint_url="http://127.0.0.1:9", region="us-east-1",
                     transport=transport)
    try:
        # botocore: the state file; the transport under test: a whole-object download
        for attempt in (lambda: c.get_bytes("x"), lambda: c.download("x", tmp_path / "x")):
            with pytest.raises(RemoteUnreachable) as exc:
                attempt()
            assert str(exc.value).startswith("cannot reach http://127.0.0.1:9 (")
            assert str(exc.value).endswith(
                "is the server running? check storage.endpoint_url in s3sync_mirror.yml")
    finally:
        c.close()


# -- a lost race: the same exception on every transport ------------------------------------
@pytest.fixture
def transports(tmp_path, bucket, aws_env, moto_honours_if_match_on_completion):
    conns = {"local": LocalConnection(tmp_path / "remote", user="tester"),
             "botocore": s3_connection(bucket, aws_env, "botocore", prefix="bc"),
             "crt": s3_connection(bucket, aws_env, "crt", prefix="crt"),
             "obstore": s3_connection(bucket, aws_env, "obstore", prefix="obs")}
    yield conns
    for c in conns.values():
        c.close()


def _upload_if_match_after_delete(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1" * size)
    conn.delete("f")
    try:
        upload(conn, tmp, "f", b"2" * size, if_match=first.etag)
    finally:
        assert conn.head("f") is None, "nothing was written"


def _upload_if_match_after_change(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1" * size)
    upload(conn, tmp, "f", b"2" * size)
    try:
        upload(conn, tmp, "f", b"3" * size, if_match=first.etag)
    finally:
        assert fetch(conn, tmp, "f", size)[0] == b"2" * size


def _create_only_over_existing(conn, tmp, size):
    upload(conn, tmp, "f", b"1" * size)
    try:
        upload(conn, tmp, "f", b"2" * size, if_none_match=True)
    finally:
        assert fetch(conn, tmp, "f", size)[0] == b"1" * size


def _download_if_match_after_change(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1" * size)
    upload(conn, tmp, "f", b"2" * size)
    fetch(conn, tmp, "f", size, if_match=first.etag)


def _download_if_match_after_delete(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1" * size)
    conn.delete("f")
    fetch(conn, tmp, "f", size, if_match=first.etag)


def _put_bytes_if_match_after_change(conn, tmp, size):
    etag = conn.put_bytes("s", b"1")
    conn.put_bytes("s", b"2")
    try:
        conn.put_bytes("s", b"3", if_match=etag)
    finally:
        assert conn.get_bytes("s")[0] == b"2"


def _put_bytes_if_match_after_delete(conn, tmp, size):
    etag = conn.put_bytes("s", b"1")
    conn.delete("s")
    try:
        conn.put_bytes("s", b"3", if_match=etag)
    finally:
        assert conn.head("s") is None


def _put_bytes_create_only_over_existing(conn, tmp, size):
    conn.put_bytes("s", b"1")
    conn.put_bytes("s", b"2", if_none_match=True)


def _delete_if_match_after_change(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1")
    upload(conn, tmp, "f", b"2")
    try:
        conn.delete("f", if_match=first.etag)
    finally:
        assert conn.head("f") is not None


def _delete_if_match_after_delete(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1")
    conn.delete("f")
    conn.delete("f", if_match=first.etag)


def _copy_if_match_after_change(conn, tmp, size):
    first = upload(conn, tmp, "f", b"1")
    upload(conn, tmp, "f", b"2")
    conn.copy("f", "g", if_match=first.etag)


RACES = [
    (_upload_if_match_after_delete, 3, PreconditionFailed),
    (_upload_if_match_after_delete, BIG, PreconditionFailed),
    (_upload_if_match_after_change, 3, PreconditionFailed),
    (_upload_if_match_after_change, BIG, PreconditionFailed),
    (_create_only_over_existing, 3, PreconditionFailed),
    (_create_only_over_existing, BIG, PreconditionFailed),
    (_download_if_match_after_change, 3, PreconditionFailed),
    (_download_if_match_after_change, BIG, PreconditionFailed),
    (_download_if_match_after_delete, 3, RemoteNotFound),
    (_download_if_match_after_delete, BIG, RemoteNotFound),
    (_put_bytes_if_match_after_change, 0, PreconditionFailed),
    (_put_bytes_if_match_after_delete, 0, PreconditionFailed),
    (_put_bytes_create_only_over_existing, 0, PreconditionFailed),
    (_delete_if_match_after_change, 0, PreconditionFailed),
    (_delete_if_match_after_delete, 0, PreconditionFailed),
    (_copy_if_match_after_change, 0, PreconditionFailed),
]


@pytest.mark.parametrize("race,size,expected", RACES,
                         ids=[f"{r.__name__.strip('_')}-{s}" for r, s, _ in RACES])
def test_a_lost_race_is_the_same_exception_everywhere(transports, tmp_path, race, size,
                                                       expected):
    raised = {}
    for name, conn in transports.items():
        work = tmp_path / name
        work.mkdir()
        try:
            race(conn, work, size)
        except RemoteError as exc:
            raised[name] = type(exc)
        else:
            raised[name] = None
    assert raised == {name: expected for name in TRANSPORTS}


# -- the one table -------------------------------------------------------------------------
@pytest.mark.parametrize("status,code,operation,conditional,expected", [
    (404, "NoSuchKey", "GetObject", False, RemoteNotFound),
    (404, "NoSuchKey", "GetObject", True, RemoteNotFound),  # a read: the file is gone
    (404, "404", "HeadObject", False, RemoteNotFound),
    (404, "NoSuchKey", "PutObject", False, RemoteNotFound),
    (404, "NoSuchKey", "PutObject", True, PreconditionFailed),  # the race botocore and
    (404, "404", "PutObject", True, PreconditionFailed),  # the CRT used to disagree on
    (404, "NoSuchKey", "CompleteMultipartUpload", True, PreconditionFailed),
    (404, "NoSuchKey", "DeleteObject", True, PreconditionFailed),
    (404, "NoSuchKey", "CopyObject", True, RemoteNotFound),
    (404, "NoSuchBucket", "PutObject", True, RemoteNotFound),
    (404, "NoSuchUpload", "CompleteMultipartUpload", True, RemoteError),
    (412, "PreconditionFailed", "PutObject", True, PreconditionFailed),
    (412, "412", "GetObject", True, PreconditionFailed),
    (409, "ConditionalRequestConflict", "PutObject", True, PreconditionFailed),
    (403, "AccessDenied", "GetObject", False, RemotePermissionError),
    (403, "SignatureDoesNotMatch", "PutObject", False, RemotePermissionError),
    (400, "ExpiredToken", "ListObjectsV2", False, RemotePermissionError),
    (0, "NoCredentialsError", "", False, RemotePermissionError),
    (400, "BadDigest", "PutObject", False, ChecksumMismatch),
    (400, "XAmzContentSHA256Mismatch", "UploadPart", False, ChecksumMismatch),
    (503, "SlowDown", "PutObject", False, RemoteError),
    (503, "503", "GetObject", False, RemoteError),
    (0, "AWS_ERROR_S3_SLOW_DOWN", "PutObject", False, RemoteError),
    (0, "EndpointConnectionError", "", False, RemoteUnreachable),
    (0, "ReadTimeoutError", "", False, RemoteUnreachable),
    (0, "AWS_IO_SOCKET_CONNECTION_REFUSED", "GetObject", False, RemoteUnreachable),
    (0, "AWS_IO_DNS_INVALID_NAME", "GetObject", False, RemoteUnreachable),
    (0, "AWS_ERROR_S3_CANCELED", "GetObject", False, RemoteError),
    (0, "EndpointResolutionError", "", False, RemoteError),
    (500, "InternalError", "GetObject", False, RemoteError),
])
def test_classify(status, code, operation, conditional, expected):
    exc = classify(status, code, operation, conditional, "a/f.csv", bucket="team",
                   endpoint="http://127.0.0.1:5055", message="the server's words")
    assert type(exc) is expected
    text = str(exc)
    if expected is RemoteUnreachable:  # about the server, not a file
        assert "a/f.csv" not in text and text.startswith("cannot reach"), text
    elif code not in ("NoSuchBucket", "NoCredentialsError"):
        assert text.startswith("a/f.csv: "), text
    assert ": " in text and any(fix in text for fix in (
        "run the sync again", "run again", "storage.", "AWS_ACCESS_KEY_ID")), \
        f"names the fix: {text}"


def test_classify_messages_name_where_and_the_fix():
    assert str(classify(0, "EndpointConnectionError", "", False, "f",
                        endpoint="http://127.0.0.1:5055")) == (
        "cannot reach http://127.0.0.1:5055 (EndpointConnectionError): is the server "
        "running? check storage.endpoint_url in s3sync_mirror.yml")
    aws = str(classify(0, "EndpointConnectionError", "", False, "f"))
    assert "cannot reach AWS S3" in aws and "storage.region" in aws
    assert str(classify(404, "NoSuchBucket", "GetObject", False, "f", bucket="x",
                        endpoint="http://h:1")) == (
        "bucket 'x' does not exist at http://h:1: create it, or fix storage.tenant in "
        "s3sync_mirror.yml")
    denied = str(classify(403, "AccessDenied", "GetObject", False, "f", bucket="x"))
    assert "access denied" in denied and "AWS_ACCESS_KEY_ID" in denied
    assert "throttling" in str(classify(503, "SlowDown", "PutObject", False, "f"))


def test_both_transports_read_an_answer_through_the_table():
    """The same answer (404 NoSuchKey to a PUT with If-Match) through botocore's
    ClientError and through the CRT's failure record: the same exception."""
    from botocore.exceptions import ClientError

    from s3sync_mirror.platforms.s3.errors import botocore_errors

    error = ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"},
                         "ResponseMetadata": {"HTTPStatusCode": 404}}, "PutObject")
    with pytest.raises(PreconditionFailed):
        with botocore_errors("f", conditional=True, bucket="b"):
            raise error
    with pytest.raises(RemoteNotFound):
        with botocore_errors("f", conditional=False, bucket="b"):
            raise error
    crt = CrtTransport.__new__(CrtTransport)
    crt.bucket, crt.endpoint = "b", None
    out = {"status": 404, "error": RuntimeError("AWS_ERROR_S3_INVALID_RESPONSE_STATUS"),
           "error_body": b"<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"}
    assert type(crt._failure("PUT", [("If-Match", '"e"')], out, "f")) is PreconditionFailed
    assert type(crt._failure("PUT", [], out, "f")) is RemoteNotFound
    assert type(crt._failure("GET", [("If-Match", '"e"')], out, "f")) is RemoteNotFound
