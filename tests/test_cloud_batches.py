"""GCS and Azure Blob downloads in batches on obstore (``download_many``: platforms/obloop.py,
gcs/reader.py, blob/reader.py), against fake-gcs-server and Azurite over HTTP: every file
comes down verified with its progress counted once, and each failure is the exception the
one-by-one ``download`` raises for the same answer (a replaced version, a missing object,
a version that is no generation); where obstore cannot speak for the connection there
are no batches; the credential bridges hand over tokens as obstore asks for them."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from s3sync_mirror.core.errors import PreconditionFailed, RemoteNotFound


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["gcs", "blob"])
def cloud(request, monkeypatch):
    emu = request.getfixturevalue(f"{request.param}_emulator")
    for k, v in emu.env.items():
        monkeypatch.setenv(k, v)
    conn = emu.connection(emu.new_tenant(), "repo/Data", jobs=4)
    yield conn
    conn.close()


def _one_by_one(conn, key, dest, if_match):
    try:
        return conn.download(key, dest, size_hint=10, if_match=if_match)
    except Exception as exc:  # noqa: BLE001 - compared with the batch's
        return exc


def test_a_batch_downloads_every_file_verified(cloud, tmp_path):
    assert cloud.download_batch_limit > 0 and cloud.batch_limit == 0  # uploads: their own
    files = {f"d/f{i}.csv": f"row,{i}\n".encode() * (i + 1) for i in range(40)}
    files["empty.txt"] = b""
    etags = {k: cloud.put_bytes(k, v) for k, v in files.items()}
    items = [(k, tmp_path / f"{n}.part", etags[k]) for n, k in enumerate(files)]
    seen: list = []
    got = dict(cloud.download_many(items, advance=seen.append))
    assert sorted(got) == list(range(len(items)))
    for i, (key, dest, _etag) in enumerate(items):
        assert got[i] == sha(files[key]) and dest.read_bytes() == files[key]
    assert sum(seen) == sum(map(len, files.values()))


def test_each_failure_is_what_download_raises(cloud, tmp_path):
    old = cloud.put_bytes("replaced.csv", b"v1")
    cloud.put_bytes("replaced.csv", b"v2", if_match=old)
    kept = cloud.put_bytes("kept.csv", b"same")
    cases = [("replaced.csv", old, PreconditionFailed), ("missing.csv", None, RemoteNotFound),
             ("kept.csv", kept, None)]
    if cloud.platform == "GCS":  # a version that is no generation of this remote
        cases.append(("kept.csv", "not-a-generation", PreconditionFailed))
    items = [(key, tmp_path / f"b{i}", etag) for i, (key, etag, _) in enumerate(cases)]
    got = dict(cloud.download_many(items))
    for i, (key, etag, expected) in enumerate(cases):
        alone = _one_by_one(cloud, key, tmp_path / f"a{i}", etag)
        if expected is None:
            assert got[i] == alone == sha(b"same")
        else:
            assert type(got[i]) is type(alone) and isinstance(got[i], expected), (key, got[i])
            assert not items[i][1].exists()  # a failed one leaves no file


def test_a_batch_takes_what_was_read_ahead(cloud, tmp_path, monkeypatch):
    """What ``read_ahead`` read is the batch's answer, counted once in its progress and
    sent once; one that failed (a replaced version) is asked again by the batch, and
    fails as ``download`` does."""
    import time

    import obstore

    from s3sync_mirror.platforms.base import Fetched

    files = {f"a/f{i}.csv": f"ahead,{i}\n".encode() * (i + 1) for i in range(12)}
    etags = {k: cloud.put_bytes(k, v) for k, v in files.items()}
    old = cloud.put_bytes("replaced.csv", b"v1")
    cloud.put_bytes("replaced.csv", b"v2", if_match=old)
    sent: list = []
    real = obstore.get_async
    monkeypatch.setattr(obstore, "get_async",
                        lambda store, key, *a, **k: sent.append(key) or real(store, key, *a, **k))
    cloud.read_ahead([(k, etags[k], len(v)) for k, v in files.items()] +
                     [("replaced.csv", old, 2)])
    reader = cloud.reader
    end = time.monotonic() + 30
    while time.monotonic() < end and not (
            len(reader._ahead) == 13 and all(s.fut.done() for s in reader._ahead.values())):
        time.sleep(0.01)
    ahead_sent = len(sent)
    assert ahead_sent >= 13
    items = [(k, tmp_path / f"{n}.part", etags[k]) for n, k in enumerate(files)]
    items.append(("replaced.csv", tmp_path / "r.part", old))
    seen: list = []
    got = dict(cloud.download_many(items, advance=seen.append, keep=True))
    for i, (key, dest, _etag) in enumerate(items[:-1]):
        assert got[i] == Fetched(sha(files[key]), files[key]) and not dest.exists()
    assert isinstance(got[len(files)], PreconditionFailed)
    assert sum(seen) == sum(map(len, files.values()))
    assert [k for k in sent[ahead_sent:] if not k.endswith("replaced.csv")] == []
    assert any(k.endswith("replaced.csv") for k in sent[ahead_sent:])  # asked again
    assert reader._ahead == {}


def test_no_batches_where_obstore_cannot_speak_for_the_connection(monkeypatch):
    from s3sync_mirror.platforms.gcs.connection import GCSConnection

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)

    class Client:  # a sovereign cloud's https endpoint: the client's own path
        _credentials = None

    conn = GCSConnection("b", "p", endpoint_url="https://storage.example.gov", client=Client())
    assert conn.reader is None and conn.download_batch_limit == 0


def test_the_credential_bridges_give_obstore_fresh_tokens():
    from s3sync_mirror.platforms.blob.reader import SCOPE, _azure_tokens
    from s3sync_mirror.platforms.gcs.reader import _google_tokens

    class Google:
        token, expiry, valid, refreshed = "old", None, False, 0

        def refresh(self, _request):
            self.refreshed += 1
            self.token, self.valid = "new", True
            self.expiry = datetime(2030, 1, 1)  # google-auth's naive UTC

    creds = Google()
    got = _google_tokens(creds)()
    assert got == {"token": "new", "expires_at": datetime(2030, 1, 1, tzinfo=timezone.utc)}
    _google_tokens(creds)()
    assert creds.refreshed == 1  # still valid: not refreshed again

    class Azure:
        scopes: list = []

        def get_token(self, scope):
            self.scopes.append(scope)
            when = datetime.now(timezone.utc) + timedelta(hours=1)

            class Token:
                token, expires_on = "bearer", int(when.timestamp())
            return Token()

    azure = Azure()
    got = _azure_tokens(azure)()
    assert got["token"] == "bearer" and got["expires_at"] > datetime.now(timezone.utc)
    assert azure.scopes == [SCOPE]


def test_a_gcs_read_is_of_the_planned_generation_or_none(monkeypatch):
    """GCS's reads are not asked by generation (the emulator's costly path) but checked
    against the answer's own: another generation is that generation gone (404); an answer
    that does not say is asked again by name. Unit test: obstore's GET stands in."""
    import asyncio

    import obstore

    from s3sync_mirror.platforms.gcs.reader import GCSReader

    asked: list = []
    live = {"version": "8"}

    class Answer:
        def __init__(self, options):
            self.meta = {"size": 1, **({"version": options["version"]} if options else live)}

    async def get_async(store, path, options=None):
        asked.append(options)
        return Answer(options)

    async def fetch(request, dest, **kw):
        return (await request()).meta

    monkeypatch.setattr(obstore, "get_async", get_async)
    reader = GCSReader.__new__(GCSReader)
    reader.store, reader.fetch = None, fetch

    def read(generation):
        asked.clear()
        return asyncio.run(reader.get_async("k", None, generation=generation, transfer=None,
                                            label="k"))
    assert read("8")["version"] == "8" and asked == [None]
    assert read(None)["version"] == "8" and asked == [None]
    with pytest.raises(FileNotFoundError):
        read("7")
    assert asked == [None]
    live.pop("version")
    assert read("7")["version"] == "7" and asked == [None, {"version": "7"}]
