"""The backend contract (tests/test_contract.py) on Google Cloud Storage, against
fake-gcs-server started by the tests (tests/emu_gcs.py), plus what is particular to GCS:
the SHA-256 in the object's metadata, the clear errors (missing bucket, unreachable server,
no credentials), the no-lost-update promise under twenty concurrent writers, conditions on
a state file too big for the library's own simple upload, and uploads that are stopped
half-way (the source changed, Ctrl-C) leaving the remote as it was."""
from __future__ import annotations

import os
import threading

import pytest

from s3sync_mirror.core import layout
from s3sync_mirror.core.errors import (ChecksumMismatch, ConfigError, PreconditionFailed,
                                       RemoteError, RemoteNotFound, RemotePermissionError,
                                       RemoteUnreachable)
from s3sync_mirror.platforms import GCSConnection
from s3sync_mirror.platforms.base import Cancelled
from s3sync_mirror.platforms.gcs.errors import classify, gcs_errors

from .test_contract import BIG, MIB, RACES, ConnectionContract, fetch, sha, upload

SMALL = {"threshold": 5 * MIB, "chunk_size": 1 * MIB}  # BIG goes in six chunks


@pytest.fixture
def gcs_env(gcs_emulator, monkeypatch):
    for k, v in gcs_emulator.env.items():
        monkeypatch.setenv(k, v)
    return gcs_emulator


@pytest.fixture
def conn(gcs_env):
    c = gcs_env.connection(gcs_env.new_tenant(), "repo/Data", jobs=4, **SMALL)
    yield c
    c.close()


def stored(emu, conn, key):
    """The object as the provider's own client sees it."""
    return emu.client.bucket(conn.bucket).get_blob(f"repo/Data/{key}")


class TestGCSConnection(ConnectionContract):
    def expected_url(self, conn, key):
        return f"gs://{conn.bucket}/repo/Data/{key}"

    def test_sha256_is_in_the_metadata(self, conn, gcs_env, tmp_path):
        for key, data in (("c.txt", b"checked"), ("big.bin", os.urandom(BIG))):
            obj = upload(conn, tmp_path, key, data)
            blob = stored(gcs_env, conn, key)
            assert blob.metadata["sha256"] == sha(data)
            assert str(blob.generation) == obj.etag
            assert conn.head(key).sha256 == sha(data)
        etag = conn.put_bytes(layout.VERSIONS_KEY, b"state")
        assert stored(gcs_env, conn, layout.VERSIONS_KEY).metadata["sha256"] == sha(b"state")
        assert {o.key: o.sha256 for o in conn.list("")}[layout.VERSIONS_KEY] == sha(b"state")
        archived = layout.archive_key("r", "big.bin")
        conn.copy("big.bin", archived, if_match=conn.head("big.bin").etag)
        assert stored(gcs_env, conn, archived).metadata["sha256"] == conn.head("big.bin").sha256
        assert conn.head(layout.VERSIONS_KEY).etag == etag

    def test_missing_bucket_is_a_clear_error(self, gcs_env, tmp_path):
        c = gcs_env.connection("no-such-bucket-here", "p", **SMALL)
        expected = (f"bucket 'no-such-bucket-here' does not exist at {gcs_env.endpoint}: "
                    f"create it, or fix storage.tenant in s3sync_mirror.yml")
        for attempt in (lambda: c.get_bytes(layout.VERSIONS_KEY),
                        lambda: c.put_bytes(layout.VERSIONS_KEY, b"1", if_none_match=True),
                        lambda: upload(c, tmp_path, "f", b"1"),
                        lambda: upload(c, tmp_path, "g", b"1" * BIG),
                        lambda: c.download("f", tmp_path / "x"),
                        lambda: c.download("f", tmp_path / "x", size_hint=BIG),
                        lambda: list(c.list(""))):
            with pytest.raises(RemoteNotFound) as exc:
                attempt()
            assert str(exc.value) == expected
        c.close()

    def test_a_copy_never_replaces_an_object(self, conn, tmp_path):
        obj = upload(conn, tmp_path, "f", b"new")
        upload(conn, tmp_path, "g", b"already there")
        with pytest.raises(PreconditionFailed):
            conn.copy("f", "g", if_match=obj.etag)
        assert fetch(conn, tmp_path, "g")[0] == b"already there"

    def test_twenty_writers_of_one_generation_one_wins(self, conn):
        """The no-lost-update promise on the state file: of writers that all read the same
        generation, exactly one replaces it; every other one is told it lost."""
        etag = conn.put_bytes(layout.VERSIONS_KEY, b"v0")
        won, lost, other, start = [], [], [], threading.Barrier(20)

        def write(i):
            start.wait()
            try:
                won.append((i, conn.put_bytes(layout.VERSIONS_KEY, b"v%d" % i, if_match=etag)))
            except PreconditionFailed:
                lost.append(i)
            except Exception as exc:  # noqa: BLE001  (any other outcome fails the test)
                other.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert other == [] and len(won) == 1 and len(lost) == 19
        ((i, new),) = won
        assert conn.get_bytes(layout.VERSIONS_KEY) == (b"v%d" % i, new)

    def test_a_state_sized_write_still_honours_its_condition(self, conn, gcs_env):
        """The library would send more than 8 MiB in a resumable upload, whose condition
        the emulator ignores: put_bytes never does."""
        big = os.urandom(12 * MIB)
        etag = conn.put_bytes(layout.VERSIONS_KEY, big, if_none_match=True)
        with pytest.raises(PreconditionFailed):
            conn.put_bytes(layout.VERSIONS_KEY, big[::-1], if_none_match=True)
        newer = conn.put_bytes(layout.VERSIONS_KEY, big[:-1], if_match=etag)
        with pytest.raises(PreconditionFailed):
            conn.put_bytes(layout.VERSIONS_KEY, big[::-1], if_match=etag)
        assert conn.get_bytes(layout.VERSIONS_KEY) == (big[:-1], newer)
        assert conn.get_bytes(layout.VERSIONS_KEY, if_none_match=newer) is None

    @pytest.mark.parametrize("before", [None, b"the version before"])
    def test_a_source_changed_mid_upload_is_not_stored(self, conn, tmp_path, before):
        if before is not None:
            upload(conn, tmp_path, "f", before)
        data = os.urandom(BIG)
        src = tmp_path / "src"
        src.write_bytes(data)
        seen = []

        def edit_once_started(n):
            seen.append(n)
            if n and sum(seen) == n:  # the first chunk is sent: the user saves the file
                with open(src, "r+b") as f:
                    f.seek(BIG - 10)
                    f.write(b"0123456789")

        with pytest.raises(ChecksumMismatch):
            conn.upload("f", src, sha256=sha(data), size=BIG, advance=edit_once_started)
        assert 0 < sum(seen) < BIG, "stopped before the last chunk"
        if before is None:
            assert conn.head("f") is None
        else:
            assert fetch(conn, tmp_path, "f")[0] == before

    def test_ctrl_c_mid_upload_leaves_no_object(self, conn, tmp_path, gcs_env):
        data = os.urandom(BIG)
        src = tmp_path / "src"
        src.write_bytes(data)

        def interrupt_after_a_chunk(n):
            if n:
                conn.interrupt()

        with pytest.raises(Cancelled):
            conn.upload("f", src, sha256=sha(data), size=BIG, advance=interrupt_after_a_chunk)
        assert conn.head("f") is None and stored(gcs_env, conn, "f") is None
        upload(conn, tmp_path, "f", data)  # calls made afterwards work as usual
        assert fetch(conn, tmp_path, "f", BIG)[0] == data

    def test_ctrl_c_mid_download_stops_it(self, conn, tmp_path):
        upload(conn, tmp_path, "f", os.urandom(BIG))
        got = []

        def interrupt_after_a_block(n):
            got.append(n)
            if n:
                conn.interrupt()

        for size in (-1, BIG):  # one GET, ranges
            got.clear()
            with pytest.raises(Cancelled):
                conn.download("f", tmp_path / "x", size_hint=size,
                              advance=interrupt_after_a_block)
            assert sum(got) < BIG


def test_unreachable_server_is_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    c = GCSConnection("bkt", "p", endpoint_url="http://127.0.0.1:9", retry_deadline=0)
    try:
        for attempt in (lambda: c.get_bytes("x"), lambda: c.download("x", tmp_path / "x"),
                        lambda: c.put_bytes("x", b"1")):
            with pytest.raises(RemoteUnreachable) as exc:
                attempt()
            assert str(exc.value).startswith("cannot reach http://127.0.0.1:9 (")
            assert str(exc.value).endswith(
                "is the server running? check storage.endpoint_url in s3sync_mirror.yml")
    finally:
        c.close()


def test_no_credentials_is_a_config_error_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    c = GCSConnection("bkt", "p")
    with pytest.raises(ConfigError) as exc:
        c.head("x")
    assert "gcloud auth application-default login" in str(exc.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(exc.value)


@pytest.mark.parametrize("race,size,expected", RACES,
                         ids=[f"{r.__name__.strip('_')}-{s}" for r, s, _ in RACES])
def test_a_lost_race_is_the_same_exception_as_on_the_other_remotes(conn, tmp_path, race, size,
                                                                    expected):
    with pytest.raises(RemoteError) as exc:
        race(conn, tmp_path, size)
    assert type(exc.value) is expected


def throttle(monkeypatch, conn, times: int) -> list:
    """The next ``times`` requests of ``conn`` are answered 503 without reaching the server;
    returns the list of every request's URL, answered or not."""
    import requests

    session, seen = conn.transport, []
    real = session.request

    def request(*args, **kw):
        seen.append(kw.get("url") or args[1])
        if len(seen) > times:
            return real(*args, **kw)
        r = requests.Response()
        r.status_code, r.reason, r.url = 503, "Service Unavailable", seen[-1]
        r.request = requests.Request(kw.get("method") or args[0], seen[-1]).prepare()
        r._content = b'{"error": {"code": 503, "message": "slow down"}}'
        return r

    monkeypatch.setattr(session, "request", request)
    return seen


def test_throttling_is_retried_with_backoff(monkeypatch, gcs_env):
    conn = gcs_env.connection(gcs_env.new_tenant(), "p", retry_deadline=5)
    seen = throttle(monkeypatch, conn, 1)
    etag = conn.put_bytes("s", b"1", if_none_match=True)  # a media upload
    assert seen.count(seen[0]) == 2, "sent again"
    conn.head("s")  # whatever the client looks up once (the bucket) is done before
    seen = throttle(monkeypatch, conn, 1)
    assert conn.head("s").etag == etag  # a JSON API call
    assert seen.count(seen[0]) == 2, "sent again"
    conn.close()
    hasty = gcs_env.connection(conn.bucket, "p", retry_deadline=0)
    throttle(monkeypatch, hasty, 1)
    with pytest.raises(RemoteError) as exc:
        hasty.get_bytes("s")
    assert str(exc.value) == (f"s: {gcs_env.endpoint} is throttling or unavailable (HTTP 503) "
                              f"even after retries: run again later, or with fewer --jobs")
    hasty.close()


@pytest.mark.parametrize("status,code,conditional,expected,fix", [
    (404, "notFound", False, RemoteNotFound, "run the sync again"),
    (404, "notFound", True, PreconditionFailed, "run the sync again"),
    (404, "NoSuchBucket", True, RemoteNotFound, "storage.tenant"),
    (412, "conditionNotMet", True, PreconditionFailed, "run the sync again"),
    (409, "conflict", True, PreconditionFailed, "run the sync again"),
    (401, "required", False, RemotePermissionError, "gcloud auth application-default login"),
    (403, "forbidden", False, RemotePermissionError, "GOOGLE_APPLICATION_CREDENTIALS"),
    (0, "RefreshError", False, RemotePermissionError, "gcloud auth application-default login"),
    (0, "DataCorruption", False, ChecksumMismatch, "run again"),
    (429, "rateLimitExceeded", False, RemoteError, "fewer --jobs"),
    (503, "backendError", False, RemoteError, "fewer --jobs"),
    (0, "ConnectionError", False, RemoteUnreachable, "storage.endpoint_url"),
    (0, "ReadTimeout", False, RemoteUnreachable, "storage.endpoint_url"),
    (0, "SomethingElse", False, RemoteError, "run again"),
    (500, "internalError", False, RemoteError, "run again later"),
    (400, "invalid", False, RemoteError, "run again"),
])
def test_classify(status, code, conditional, expected, fix):
    exc = classify(status, code, conditional, "a/f.csv", bucket="team",
                   endpoint="http://127.0.0.1:4443", message="the server's words")
    assert type(exc) is expected
    text = str(exc)
    if expected is RemoteUnreachable:  # about the server, not a file
        assert "a/f.csv" not in text and text.startswith("cannot reach"), text
    elif code != "NoSuchBucket":
        assert text.startswith("a/f.csv: "), text
    assert fix in text, text


def test_classify_without_an_endpoint_names_google():
    text = str(classify(0, "ConnectionError", what="f"))
    assert text == ("cannot reach Google Cloud Storage (ConnectionError): check your "
                    "network connection (and any proxy settings)")
    assert "does not exist at Google Cloud Storage" in str(classify(404, "NoSuchBucket",
                                                                    bucket="b"))


def test_library_exceptions_are_translated():
    import requests
    from google.api_core import exceptions as api
    from google.auth.exceptions import RefreshError

    cases = [(api.Forbidden("no"), RemotePermissionError),
             (api.NotFound("gone"), RemoteNotFound),
             (api.PreconditionFailed("lost"), PreconditionFailed),
             (api.RetryError("gave up", api.TooManyRequests("slow")), RemoteError),
             (RefreshError("expired"), RemotePermissionError),
             (requests.exceptions.ConnectionError("refused"), RemoteUnreachable)]
    for raised, expected in cases:
        with pytest.raises(expected):
            with gcs_errors("f", bucket="b", endpoint="http://h:1"):
                raise raised
    with pytest.raises(KeyError):  # not the libraries': left alone
        with gcs_errors("f"):
            raise KeyError("bug")
    with pytest.raises(RemoteNotFound) as exc:  # a 404, the bucket itself missing
        with gcs_errors("f", bucket="b", endpoint="http://h:1", bucket_exists=lambda: False):
            raise api.NotFound("gone")
    assert str(exc.value).startswith("bucket 'b' does not exist at http://h:1")
