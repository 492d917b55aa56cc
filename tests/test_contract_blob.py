"""The Azure Blob backend: the contract every remote passes (tests/test_contract.py), on
Azurite over HTTP (tests/emu_blob.py), with blocks of 1 MiB from 5 MiB on so that the
contract's big files go in several blocks and ranges; then what is Blob's own: the SHA-256
in the metadata, the errors (missing container, unreachable server, wrong key, no
credentials), a conditional write raced by 20 threads, and uploads that change or are
interrupted mid-way."""
from __future__ import annotations

import os
import threading

import pytest

from s3sync_mirror.core import layout
from s3sync_mirror.core.errors import (ChecksumMismatch, ConfigError, PreconditionFailed,
                                       RemoteError, RemoteNotFound, RemotePermissionError,
                                       RemoteUnreachable)
from s3sync_mirror.platforms.base import Cancelled
from s3sync_mirror.platforms.blob.connection import BlobConnection
from s3sync_mirror.platforms.blob.errors import ContainerNotFound, classify

from .emu_blob import connection_string
from .test_contract import BIG, MIB, ConnectionContract, fetch, sha, upload

SMALL_BLOCKS = {"jobs": 4, "block_size": MIB, "threshold": 5 * MIB}
CREDENTIAL_VARS = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL",
                   "AZURE_STORAGE_ACCOUNT")


@pytest.fixture
def tenant(blob_emulator):
    return blob_emulator.new_tenant()


@pytest.fixture
def make_conn(request, blob_emulator, tenant):
    def make(container=None, prefix="repo/Data", **kw):
        c = blob_emulator.connection(container or tenant, prefix, **{**SMALL_BLOCKS, **kw})
        request.addfinalizer(c.close)
        return c
    return make


class TestBlobConnection(ConnectionContract):
    @pytest.fixture
    def conn(self, make_conn):
        return make_conn()

    def expected_url(self, conn, key):
        return f"az://{conn.container}/repo/Data/{key}"

    def test_uploads_carry_sha256_in_the_metadata(self, conn, tmp_path, blob_emulator,
                                                  tenant):
        container = blob_emulator.service().get_container_client(tenant)
        small, big = b"checked", os.urandom(BIG)
        conn.put_bytes("state.csv", small)
        upload(conn, tmp_path, "c.txt", small)
        upload(conn, tmp_path, "big.bin", big)
        conn.copy("big.bin", "copied.bin")
        odd = "dir with space/ü #1%.csv"
        upload(conn, tmp_path, odd, small)
        conn.copy(odd, layout.archive_key("run", odd), if_match=conn.head(odd).etag)
        expected = {"state.csv": sha(small), "c.txt": sha(small), "big.bin": sha(big),
                    "copied.bin": sha(big), odd: sha(small),
                    layout.archive_key("run", odd): sha(small)}
        for key, digest in expected.items():
            assert container.get_blob_client(f"repo/Data/{key}").get_blob_properties() \
                .metadata["sha256"] == digest
            assert conn.head(key).sha256 == digest
        blocks = container.get_blob_client("repo/Data/big.bin").get_block_list("committed")
        assert len(blocks[0]) == BIG // MIB, "the big file went in 1 MiB blocks"
        assert {o.key: o.sha256 for o in conn.list()} == expected

    def test_missing_container_is_a_clear_error(self, make_conn, blob_emulator, tmp_path):
        c = make_conn("no-such-container")
        message = (f"container 'no-such-container' does not exist at {blob_emulator.endpoint}:"
                   f" create it, or fix storage.tenant in s3sync_mirror.yml")
        for attempt in (lambda: c.get_bytes(layout.VERSIONS_KEY), lambda: c.head("f"),
                        lambda: list(c.list()), lambda: upload(c, tmp_path, "f", b"1"),
                        lambda: upload(c, tmp_path, "f", b"1" * BIG),
                        lambda: c.download("f", tmp_path / "x"), lambda: c.delete("f"),
                        lambda: c.download("f", tmp_path / "x", size_hint=BIG)):
            with pytest.raises(RemoteNotFound) as exc:
                attempt()
            assert str(exc.value) == message

    def test_bad_account_key_is_permission_denied(self, blob_emulator, tenant, tmp_path):
        wrong = "V3Jvbmcga2V5IGZvciB0aGUgdGVzdHMgb2YgczNzeW5jX21pcnJvcg=="
        env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(blob_emulator.endpoint,
                                                                    wrong)}
        with blob_emulator.environment(**env):
            c = BlobConnection(tenant, "p", retries=0)
        try:
            for attempt in (lambda: c.get_bytes("x"), lambda: c.put_bytes("x", b"1"),
                            lambda: list(c.list())):
                with pytest.raises(RemotePermissionError) as exc:
                    attempt()
                text = str(exc.value)
                assert "access denied by Azure Storage" in text and tenant in text
                assert "AZURE_STORAGE_CONNECTION_STRING" in text and "az login" in text
                assert wrong not in text
        finally:
            c.close()

    def test_twenty_racing_conditional_writes_one_wins(self, conn):
        etag = conn.put_bytes(layout.VERSIONS_KEY, b"v0")
        start, won, lost, other = threading.Barrier(20), [], [], []

        def member(n):
            start.wait()
            try:
                conn.put_bytes(layout.VERSIONS_KEY, f"member {n}".encode(), if_match=etag)
                won.append(n)
            except PreconditionFailed:
                lost.append(n)
            except Exception as exc:  # noqa: BLE001  (reported below)
                other.append(exc)

        threads = [threading.Thread(target=member, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not other and len(won) == 1 and len(lost) == 19
        assert conn.get_bytes(layout.VERSIONS_KEY)[0] == f"member {won[0]}".encode()

    def test_a_source_changing_mid_upload_is_refused_and_changes_nothing(self, conn,
                                                                         tmp_path):
        data = os.urandom(8 * MIB)
        first = upload(conn, tmp_path, "f.bin", b"before")
        src = tmp_path / "src"
        src.write_bytes(data)
        staged = []

        def advance(n):  # the first block is staged; the last one is not read yet
            if n and not staged:
                with open(src, "r+b") as f:
                    f.seek(len(data) - 10)
                    f.write(b"0123456789")
            if n:
                staged.append(n)

        for kw in ({"if_match": first.etag}, {"if_none_match": True}):
            key = "f.bin" if "if_match" in kw else "new.bin"
            staged.clear()
            src.write_bytes(data)
            with pytest.raises(ChecksumMismatch):
                conn.upload(key, src, sha256=sha(data), size=len(data), advance=advance, **kw)
            assert staged, "blocks were staged before the change was seen"
        assert conn.head("f.bin").etag == first.etag
        assert fetch(conn, tmp_path, "f.bin")[0] == b"before"
        assert conn.head("new.bin") is None

    def test_an_interrupted_block_upload_commits_nothing(self, conn, tmp_path):
        data = os.urandom(BIG)

        def advance(n):
            if n:
                conn.interrupt()

        with pytest.raises(Cancelled):
            upload(conn, tmp_path, "big.bin", data, advance=advance)
        assert conn.head("big.bin") is None
        assert [o.key for o in conn.list()] == []
        obj = upload(conn, tmp_path, "big.bin", data)  # the connection works on
        assert fetch(conn, tmp_path, "big.bin", BIG, if_match=obj.etag)[0] == data


def test_unreachable_server_is_named_with_the_fix(monkeypatch, tmp_path):
    endpoint = f"http://127.0.0.1:9/{'devstoreaccount1'}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(endpoint))
    c = BlobConnection("team", "p", retries=0)
    try:
        for attempt in (lambda: c.get_bytes("x"), lambda: c.download("x", tmp_path / "x")):
            with pytest.raises(RemoteUnreachable) as exc:
                attempt()
            assert str(exc.value) == (
                f"cannot reach {endpoint} (ServiceRequestError): is the server running? "
                f"check storage.endpoint_url in s3sync_mirror.yml and "
                f"AZURE_STORAGE_CONNECTION_STRING")
    finally:
        c.close()


@pytest.mark.parametrize("env,expected", [
    ({}, "no Azure Storage account is named for container 'team'"),
    ({"AZURE_STORAGE_ACCOUNT_URL": "http://127.0.0.1:9/acct"}, "is not https"),
    ({"AZURE_STORAGE_CONNECTION_STRING": "not a connection string"},
     "AZURE_STORAGE_CONNECTION_STRING is not a valid connection string"),
])
def test_no_usable_credentials_is_a_config_error_with_the_fix(monkeypatch, env, expected):
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as exc:
        BlobConnection("team", "p")
    assert expected in str(exc.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(exc.value) and "Fix" in str(exc.value)
    assert "az login" in str(exc.value)


def test_a_busy_server_is_retried_with_backoff_then_named(monkeypatch):
    """503 ServerBusy (Azure's throttling) is retried by the SDK's policy, with a growing
    back-off (recorded here, not slept), then reported as throttling with the fix."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from azure.storage.blob import ExponentialRetry

    seen, backoffs = [], []

    class Busy(BaseHTTPRequestHandler):
        def _busy(self):
            seen.append(self.command)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(503, "Server Busy")
            self.send_header("x-ms-error-code", "ServerBusy")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_HEAD = do_DELETE = _busy

        def log_message(self, *args):
            pass

    real_backoff = ExponentialRetry.get_backoff_time
    monkeypatch.setattr(ExponentialRetry, "get_backoff_time", lambda self, settings: (
        backoffs.append(real_backoff(self, settings)), 0.01)[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/devstoreaccount1"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(endpoint))
    c = BlobConnection("team", "p", retries=3)
    try:
        with pytest.raises(RemoteError) as exc:
            c.put_bytes("x", b"1")
        assert str(exc.value) == (
            "x: Azure Storage is throttling or unavailable (ServerBusy) even after retries: "
            "run again later, or with fewer --jobs")
        assert seen == ["PUT"] * 4
        assert len(backoffs) == 3 and 0 < backoffs[0] < backoffs[1] < backoffs[2]
    finally:
        c.close()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status,code,conditional,write,expected", [
    (404, "BlobNotFound", False, False, RemoteNotFound),
    (404, "BlobNotFound", True, False, RemoteNotFound),  # a read or a copy: the file is gone
    (404, "BlobNotFound", True, True, PreconditionFailed),  # a write under If-Match: a race
    (404, "ContainerNotFound", True, True, ContainerNotFound),
    (412, "ConditionNotMet", True, True, PreconditionFailed),
    (412, "SourceConditionNotMet", True, False, PreconditionFailed),
    (409, "BlobAlreadyExists", True, True, PreconditionFailed),
    (409, "BlobAlreadyExists", False, True, RemoteError),
    (409, "LeaseIdMissing", True, True, RemoteError),
    (403, "AuthorizationFailure", False, False, RemotePermissionError),
    (403, "AuthorizationPermissionMismatch", False, True, RemotePermissionError),
    (0, "CredentialUnavailableError", False, False, RemotePermissionError),
    (400, "Md5Mismatch", False, True, ChecksumMismatch),
    (503, "ServerBusy", False, True, RemoteError),
    (0, "ServiceRequestError", False, False, RemoteUnreachable),
    (0, "ServiceResponseError", False, False, RemoteUnreachable),
    (500, "InternalError", False, False, RemoteError),
    (400, "InvalidHeaderValue", False, False, RemoteError),
])
def test_classify(status, code, conditional, write, expected):
    exc = classify(status, code, conditional=conditional, write=write, what="a/f.csv",
                   container="team", where="https://acct.blob.core.windows.net",
                   message="the server's words")
    assert type(exc) is expected
    text = str(exc)
    if expected is RemoteUnreachable:  # about the server, not a file
        assert "a/f.csv" not in text and text.startswith("cannot reach"), text
    elif code != "ContainerNotFound":
        assert text.startswith("a/f.csv: "), text
    assert any(fix in text for fix in ("run the sync again", "run again", "storage.",
                                       "AZURE_STORAGE_CONNECTION_STRING")), text


def test_an_account_url_without_a_login_is_permission_denied_with_the_fix(tmp_path):
    """No connection string: DefaultAzureCredential, here with nothing to log in with (no
    environment credential, an empty home and az config); it fails before any request,
    with one message and none of the SDK's warnings on stderr."""
    import subprocess
    import sys

    from .conftest import ROOT

    drop = CREDENTIAL_VARS + ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                              "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HOME=str(tmp_path), AZURE_CONFIG_DIR=str(tmp_path / "az"), PYTHONPATH=str(ROOT))
    script = ("from s3sync_mirror.platforms.blob.connection import BlobConnection\n"
              "c = BlobConnection('team', 'p', endpoint_url="
              "'https://acct.blob.core.windows.net', retries=0)\n"
              "try:\n    c.get_bytes('x')\n"
              "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.stderr == ""
    assert r.stdout.startswith("RemotePermissionError x: no usable Azure credentials (")
    assert r.stdout.endswith(
        "): set AZURE_STORAGE_CONNECTION_STRING, or set storage.endpoint_url (or "
        "AZURE_STORAGE_ACCOUNT_URL) and log in with `az login`\n")
    assert len(r.stdout.splitlines()) == 1
