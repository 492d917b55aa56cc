"""Batches of small transfers on S3 through obstore (``upload_many`` / ``download_many``),
against moto's server over HTTP: each item ends as ``upload`` / ``download`` would, in the
same exceptions, and Ctrl-C (``interrupt``) stops a batch within a second."""
from __future__ import annotations

import base64
import hashlib
import time

import boto3
import pytest

from s3sync_mirror.core.errors import ChecksumMismatch, PreconditionFailed, RemoteNotFound
from s3sync_mirror.platforms.base import Cancelled
from tests.test_contract import moto_keeps_checksums_as_aws_does  # noqa: F401 (autouse)
from tests.test_contract import s3_connection


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def conn(bucket, aws_env):
    c = s3_connection(bucket, aws_env, "obstore")
    c.single_put_max = 0  # big files in parts (tests/test_streamed.py: in one PUT)
    yield c
    c.close()


def items_for(tmp_path, contents: dict) -> list:
    items = []
    for key, data in contents.items():
        src = tmp_path / f"src-{key.replace('/', '-')}"
        src.write_bytes(data)
        items.append((key, src, sha(data), len(data), None, True))
    return items


def test_only_obstore_batches(bucket, aws_env, conn):
    assert conn.batch_limit > 0
    for transport in ("crt", "botocore"):
        other = s3_connection(bucket, aws_env, transport)
        assert other.batch_limit == 0
        other.close()


def test_upload_many_each_item_ends_as_upload_would(conn, tmp_path, bucket, aws_env):
    taken = items_for(tmp_path, {"taken": b"first"})
    assert isinstance(dict(conn.upload_many(taken))[0].etag, str)
    contents = {f"d/f{i}.bin": bytes([i]) * (100 + i) for i in range(20)}
    items = items_for(tmp_path, contents)
    items.append(("taken", *items_for(tmp_path, {"taken2": b"second"})[0][1:]))
    edited = items_for(tmp_path, {"edited": b"planned"})[0]
    edited[1].write_bytes(b"changed")
    items.append(edited)
    results = dict(conn.upload_many(items))
    assert sorted(results) == list(range(len(items)))
    assert isinstance(results[len(items) - 2], PreconditionFailed)
    assert isinstance(results[len(items) - 1], ChecksumMismatch)
    assert conn.head("edited") is None and conn.get_bytes("taken")[0] == b"first"
    s3 = boto3.client("s3", endpoint_url=aws_env)
    for i, (key, data) in enumerate(contents.items()):
        obj = results[i]
        assert (obj.key, obj.size, obj.sha256) == (key, len(data), sha(data))
        head = s3.head_object(Bucket=bucket, Key=f"repo/Data/{key}", ChecksumMode="ENABLED")
        assert head["ETag"].strip('"') == obj.etag
        assert head["Metadata"]["sha256"] == sha(data)
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_download_many_verifies_and_fails_per_item(conn, tmp_path):
    contents = {f"f{i}": bytes([i]) * (1000 + i) for i in range(10)}
    objs = dict(conn.upload_many(items_for(tmp_path, contents)))
    items = [(key, tmp_path / f"dest{i}", objs[i].etag) for i, key in enumerate(contents)]
    items.append(("missing", tmp_path / "dest-missing", None))
    items.append(("f0", tmp_path / "dest-stale", "not-its-etag"))
    results = dict(conn.download_many(items))
    for i, data in enumerate(contents.values()):
        assert results[i] == sha(data)
        assert (tmp_path / f"dest{i}").read_bytes() == data
    assert isinstance(results[10], RemoteNotFound)
    assert isinstance(results[11], PreconditionFailed)
    assert not (tmp_path / "dest-missing").exists() and not (tmp_path / "dest-stale").exists()


def test_interrupt_stops_a_batch_within_a_second(conn, tmp_path):
    items = items_for(tmp_path, {f"many/f{i}": b"x" * 4096 for i in range(600)})
    seen, stopped_at = {}, None
    for i, result in conn.upload_many(items):
        seen[i] = result
        if stopped_at is None:
            stopped_at = time.monotonic()
            conn.interrupt()
    assert time.monotonic() - stopped_at < 1.0
    assert sorted(seen) == list(range(len(items)))
    cancelled = [r for r in seen.values() if isinstance(r, Cancelled)]
    assert cancelled, "the batch went on after the interrupt"
    sent = [items[i][0] for i, r in seen.items() if not isinstance(r, BaseException)]
    assert len(sent) + len(cancelled) == len(items)
    for key in sent[:20]:
        assert conn.head(key) is not None
    # the connection works as usual afterwards (the run still records what completed)
    assert isinstance(dict(conn.upload_many(items_for(tmp_path, {"after": b"1"})))[0].etag,
                      str)


def test_a_batch_after_interrupt_started_is_cancelled(conn, tmp_path):
    def stopping(_n):
        raise Cancelled()

    with pytest.raises(Cancelled):
        list(conn.upload_many(items_for(tmp_path, {"f": b"1"}), advance=stopping))
    assert conn.head("f") is None


@pytest.mark.parametrize("upload", [True, False], ids=["put", "get"])
def test_interrupt_stops_a_request_on_the_wire(aws_env, bucket, tmp_path, upload):
    """Over a slow network (2 MiB/s), ``interrupt`` stops obstore's whole-object PUT or
    GET within a second, mid-request, and a cancelled PUT never lands (its request is
    dropped, not left to finish)."""
    from s3sync_mirror.platforms.s3.connection import S3Connection
    from tests.test_interrupt import MIB, SlowProxy, wait_out_a_cancelled_put, write_big

    size, proxy = 6 * MIB, SlowProxy(aws_env, 2 * MIB)
    conn = S3Connection(bucket, "p", endpoint_url=proxy.url, transport="obstore", jobs=2,
                        multipart_threshold=8 * MIB, part_size=5 * MIB)
    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    digest = write_big(tmp_path / "src", size // MIB)
    if not upload:
        s3.upload_file(str(tmp_path / "src"), bucket, "p/obj")
    when: list = []

    def later():
        time.sleep(0.7)
        when.append(time.monotonic())
        conn.interrupt()

    import threading

    threading.Thread(target=later, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            if upload:
                conn.upload("obj", tmp_path / "src", sha256=digest, size=size)
            else:
                conn.download("obj", tmp_path / "dest", size_hint=size)
        stopped = time.monotonic()
        assert when and stopped - when[0] < 1.0, f"{stopped - t0:.2f} s"
        if upload:
            wait_out_a_cancelled_put(t0, size, 2 * MIB)
            assert conn.head("obj") is None, "the cancelled PUT landed"
        assert conn.put_bytes("after", b"still works") and conn.head("after").size == 11
    finally:
        conn.close()
        proxy.close()


def _scanned(path) -> tuple:
    from s3sync_mirror.platforms.s3.multipart import signature

    return signature(path)


def test_a_big_upload_reuses_the_scans_hash(conn, tmp_path, monkeypatch, bucket, aws_env):
    """Hash once: with the scan's signature still holding, the multipart upload does not
    hash the file again (each part still carries its SHA-256)."""
    from s3sync_mirror.platforms import parts

    data = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts
    src = tmp_path / "big"
    src.write_bytes(data)
    calls = []
    original = parts.read_parts

    def spy(*a, **kw):
        calls.append(kw.get("whole", True))
        return original(*a, **kw)

    monkeypatch.setattr("s3sync_mirror.platforms.s3.multipart.read_parts", spy)
    obj = conn.upload("big", src, sha256=sha(data), size=len(data), scanned=_scanned(src))
    assert calls == [False] and obj.sha256 == sha(data)
    dest = tmp_path / "back"
    assert conn.download("big", dest, size_hint=len(data)) == sha(data)
    assert dest.read_bytes() == data


@pytest.mark.parametrize("when", ["before", "during"])
def test_a_big_file_changed_after_the_scan_is_not_sent(conn, tmp_path, monkeypatch, bucket,
                                                     aws_env, when):
    """Changed before the upload (the signature no longer holds: hashed, mismatch) or while
    its parts are sent (the signature changed by the end): ChecksumMismatch, no object, no
    multipart upload left."""
    from s3sync_mirror.platforms.s3 import multipart as s3multipart

    data = b"a" * (11 << 20)
    src = tmp_path / "big"
    src.write_bytes(data)
    scanned = _scanned(src)
    time.sleep(0.01)
    if when == "before":
        src.write_bytes(b"b" * len(data))
    else:
        original = s3multipart._send_part

        def send(conn_, key, full, upload_id, index, buf, transfer):
            if index == 0:
                with open(src, "r+b") as f:
                    f.seek(len(data) - 1)
                    f.write(b"z")
            return original(conn_, key, full, upload_id, index, buf, transfer)

        monkeypatch.setattr(s3multipart, "_send_part", send)
    with pytest.raises(ChecksumMismatch):
        conn.upload("big", src, sha256=sha(data), size=len(data), if_none_match=True,
                    scanned=scanned)
    assert conn.head("big") is None
    s3 = boto3.client("s3", endpoint_url=aws_env)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


STATE_OPS = """
import sys
from s3sync_mirror.platforms.s3.connection import S3Connection
c = S3Connection(sys.argv[1], "team", endpoint_url=sys.argv[2], transport="obstore")
etag = c.put_bytes(".S3/state.csv", b"a,b\\n", if_none_match=True)
assert c.get_bytes(".S3/state.csv") == (b"a,b\\n", etag)
assert c.get_bytes(".S3/state.csv", if_none_match=etag) is None
head = c.head(".S3/state.csv")
assert head.etag == etag and head.size == 4 and head.sha256, head
assert [o.key for o in c.list(".S3/")] == [".S3/state.csv"]
assert c.head(".S3/missing") is None
c.delete(".S3/state.csv")
assert list(c.list(".S3/")) == []
print("botocore" in sys.modules, "asyncio" in sys.modules)
"""


def test_state_requests_need_neither_botocore_nor_a_loop(bucket, aws_env):
    """With the keys and the region in the environment, the state's PUT, GET, HEAD, LIST
    and DELETE go through obstore alone: a no-change sync pays for no botocore client."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", STATE_OPS, bucket, aws_env], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_a_state_listing_obstore_cannot_represent_falls_back_to_botocore(conn, bucket):
    """A key with an empty segment (which object_store refuses) under .S3/ is still listed."""
    boto3.client("s3").put_object(Bucket=bucket, Key="repo/Data/.S3/odd//x", Body=b"1")
    boto3.client("s3").put_object(Bucket=bucket, Key="repo/Data/.S3/y", Body=b"2")
    assert sorted(o.key for o in conn.list(".S3/")) == [".S3/odd//x", ".S3/y"]


@pytest.mark.parametrize("path", ["obstore", "http.client"])
def test_a_big_download_in_ranges_is_one_version_verified(conn, bucket, tmp_path, path,
                                                          monkeypatch):
    """Both range paths: obstore's (AWS, or a proxy set) and http.client's (any other
    endpoint); each must be the one that ran."""
    from s3sync_mirror.platforms.s3 import httpranges

    used = []
    if path == "obstore":
        monkeypatch.setattr(httpranges, "usable", lambda url: False)
        real = conn.objects.get_big
        monkeypatch.setattr(conn.objects, "get_big",
                            lambda *a, **kw: used.append(path) or real(*a, **kw))
    else:
        real = httpranges.download
        monkeypatch.setattr(httpranges, "download",
                            lambda *a, **kw: used.append(path) or real(*a, **kw))
    data = bytes(range(256)) * (80 << 12)  # 20 MiB: ranges of 5 MiB
    etag = conn.put_bytes("big.bin", data)
    dest = tmp_path / "big.bin"
    assert conn.download("big.bin", dest, size_hint=len(data), if_match=etag) == sha(data)
    assert dest.read_bytes() == data
    boto3.client("s3").put_object(Bucket=bucket, Key="repo/Data/big.bin", Body=data[::-1])
    with pytest.raises(PreconditionFailed):
        conn.download("big.bin", dest, size_hint=len(data), if_match=etag)
    assert used == [path, path]


def test_obstore_ranges_refused_as_non_partial(conn, tmp_path, monkeypatch):
    """Where ``http.client`` is not used for ranges (AWS, or a proxy is set: tests
    ``test_httpranges``), obstore's ranges go first. On a server that labels each range
    200 (``rclone serve s3``) obstore refuses it ("non-partial"), as it refuses a whole
    object sent for a range. The download is then one streamed GET on obstore: verified,
    still conditional, and the ranges are not tried again on the connection, nor
    botocore's (their client alone costs a run ~0.3 s, and they read the file back to
    hash it)."""
    from s3sync_mirror.platforms.s3 import httpranges
    from s3sync_mirror.platforms.s3 import multipart as s3multipart

    monkeypatch.setattr(httpranges, "usable", lambda url: False)
    data = bytes(range(256)) * (80 << 12)
    etag = conn.put_bytes("big.bin", data)
    tried, streamed = [], []

    async def refused(*a, **kw):
        tried.append(a)
        raise RuntimeError("Generic S3 error: Got non-partial response for range request")

    monkeypatch.setattr(conn.objects, "get_async_raw", refused)

    def no_botocore_ranges(*a, **kw):
        raise AssertionError("botocore's ranges were used")

    monkeypatch.setattr(s3multipart, "download", no_botocore_ranges)
    real_get = conn.objects.get
    monkeypatch.setattr(conn.objects, "get",
                        lambda key, *a, **kw: streamed.append(key) or real_get(key, *a, **kw))
    for name in ("a.bin", "b.bin"):
        dest = tmp_path / name
        assert conn.download("big.bin", dest, size_hint=len(data), if_match=etag) == sha(data)
        assert dest.read_bytes() == data
    assert len(tried) == 1, "obstore's ranges were tried again"
    assert len(streamed) == 2
    conn.put_bytes("big.bin", data[::-1])  # another version: the condition still holds
    with pytest.raises(PreconditionFailed):
        conn.download("big.bin", tmp_path / "c.bin", size_hint=len(data), if_match=etag)


def test_botocore_ranges_refuse_a_whole_object_for_a_range(conn, tmp_path, monkeypatch):
    """A server that ignores Range sends the whole object: botocore's ranges write none of
    it (NotPartial), rather than the whole object at each range's offset."""
    from s3sync_mirror.platforms.parts import NotPartial
    from s3sync_mirror.platforms.s3 import multipart as s3multipart

    data = bytes(range(256)) * (80 << 12)
    conn.put_bytes("big.bin", data)
    client = conn.client
    real = client.get_object
    monkeypatch.setattr(client, "get_object",
                        lambda **kw: real(**{k: v for k, v in kw.items() if k != "Range"}))
    with conn.transfers.track(None) as transfer, pytest.raises(NotPartial):
        s3multipart.download(conn, "big.bin", tmp_path / "x", len(data), transfer, None)


def test_a_get_that_broke_off_is_sent_again_and_an_answer_is_not(conn, tmp_path,
                                                                 monkeypatch):
    """A GET whose body broke off (object_store's own retries spent) is sent again, at
    most twice more; a GET answered 404 is not: it fails at once, as before."""
    import obstore

    conn.put_bytes("f.csv", b"a,b\n")
    real, calls = obstore.get_async, []

    async def flaky(store, key, options=None):
        calls.append(key)
        if key.endswith("f.csv") and len([k for k in calls if k == key]) <= 2:
            raise RuntimeError("Generic S3 error: Error performing GET: HTTP error: "
                               "request or response body error")
        return await real(store, key, options=options)

    monkeypatch.setattr(obstore, "get_async", flaky)
    got = dict(conn.download_many([("f.csv", tmp_path / "a", None),
                                   ("missing.csv", tmp_path / "b", None)]))
    assert got[0] == sha(b"a,b\n") and (tmp_path / "a").read_bytes() == b"a,b\n"
    assert isinstance(got[1], RemoteNotFound)
    assert calls.count("repo/Data/f.csv") == 3 and calls.count("repo/Data/missing.csv") == 1


def test_a_file_up_to_64_mib_goes_in_one_put_from_memory_hashed_once(bucket, aws_env,
                                                                    tmp_path, monkeypatch):
    """With the default threshold on obstore, a 9 MiB file (above botocore's 8 MiB) goes
    up in one PUT from memory, not streamed or in parts; with the scan's signature still
    holding it is not hashed again; changed after the scan (the signature moved), it is
    hashed, found different and not sent."""
    from s3sync_mirror.platforms.s3 import connection as s3connection
    from s3sync_mirror.platforms.s3.connection import MEMORY_PUT_MAX, S3Connection

    conn = S3Connection(bucket, "p", endpoint_url=aws_env, transport="obstore")
    assert conn.multipart_threshold == MEMORY_PUT_MAX
    data = bytes(range(256)) * (9 << 12)
    src = tmp_path / "nine"
    src.write_bytes(data)
    from s3sync_mirror.platforms import base as platform_base

    hashed = []  # the one-request read (``base.read_whole``) hashes here
    real = platform_base.sha256_hex
    monkeypatch.setattr(platform_base, "sha256_hex", lambda b: hashed.append(len(b)) or real(b))
    for slow in ("streamed", "multipart"):  # neither way is taken
        monkeypatch.setattr(getattr(s3connection, f"s3{slow}"), "upload",
                            lambda *a, **kw: pytest.fail("not in one PUT from memory"))
    try:
        obj = conn.upload("nine", src, sha256=sha(data), size=len(data), scanned=_scanned(src))
        assert obj.sha256 == sha(data) and hashed == []
        assert conn.download("nine", tmp_path / "back", size_hint=len(data)) == sha(data)
        assert (tmp_path / "back").read_bytes() == data
        scanned = _scanned(src)
        src.write_bytes(b"x" * len(data))  # same size, another content: the ctime moved
        with pytest.raises(ChecksumMismatch):
            conn.upload("other", src, sha256=sha(data), size=len(data), scanned=scanned)
        assert hashed == [len(data)] and conn.head("other") is None
    finally:
        conn.close()


def test_the_memory_budget_holds_a_put_back_until_others_let_go():
    """Whole-file PUTs hold at most the budget at once; one alone may exceed it; a
    cancelled transfer stops waiting."""
    import threading

    from s3sync_mirror.platforms.base import Transfer
    from s3sync_mirror.platforms.parts import ByteBudget

    budget, t = ByteBudget(100), Transfer()
    with budget.hold(150, t):  # alone: over the budget, still goes
        assert budget.used == 150
    first = budget.hold(60, t)
    got = threading.Event()

    def second():
        with budget.hold(60, t):
            got.set()

    worker = threading.Thread(target=second)
    worker.start()
    assert not got.wait(0.3), "went past the budget"
    with first:
        pass
    assert got.wait(2), "never let through"
    worker.join(2)
    assert budget.used == 0
    held = budget.hold(100, t)
    t.cancel()
    with pytest.raises(Cancelled):
        budget.hold(1, t)
    with held:
        pass


def test_a_listing_of_data_keys_takes_obstore_only_for_an_empty_prefix(bucket, aws_env):
    """An empty prefix is seen empty through obstore (no botocore client is made); a
    prefix holding anything, a folder marker or a key obstore cannot represent among it,
    is listed on botocore, key for key."""
    from s3sync_mirror.platforms.s3.connection import S3Connection

    s3 = boto3.client("s3", endpoint_url=aws_env, region_name="us-east-1")
    conns = {p: S3Connection(bucket, p, endpoint_url=aws_env, transport="obstore")
             for p in ("empty", "marker", "odd")}
    s3.put_object(Bucket=bucket, Key="marker/dir/", Body=b"")
    s3.put_object(Bucket=bucket, Key="odd/a//b.csv", Body=b"1")
    s3.put_object(Bucket=bucket, Key="odd/c.csv", Body=b"22")
    try:
        assert list(conns["empty"].list("")) == [] and conns["empty"]._client is None
        assert list(conns["marker"].list("")) == [] and conns["marker"]._client is not None
        assert sorted((o.key, o.size) for o in conns["odd"].list("")) == \
            [("a//b.csv", 1), ("c.csv", 2)]
        # a prefix that is not a folder is listed as a prefix (obstore would take a folder)
        assert [o.key for o in conns["odd"].list("c")] == ["c.csv"]
    finally:
        for c in conns.values():
            c.close()


def test_the_client_options_keep_tls_checks_except_on_plain_http(monkeypatch):
    """The options the S3 store is made with: on an https endpoint object_store's TLS
    checks as they are; on a plain http one (no TLS at all) the system's root
    certificates are not loaded (5-10 ms of every start), unless a proxy, whose own TLS
    is checked, is set. obstore takes the options as they are given."""
    from obstore import store as obstores

    from s3sync_mirror.platforms.obloop import plain_http
    from s3sync_mirror.platforms.s3.obstore import ObstoreTransport

    for var in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    obstores.S3Store("b", endpoint="http://127.0.0.1:1", region="us-east-1",
                     skip_signature=True, client_options=plain_http("http://127.0.0.1:1"))
    made: list = []
    monkeypatch.setattr(obstores, "S3Store",
                        lambda bucket, **kw: made.append(kw["client_options"]) or object())
    for url in ("https://s3.example.org", "http://127.0.0.1:9000"):
        ObstoreTransport(bucket="b", endpoint_url=url, region="us-east-1",
                         credentials={"access_key_id": "k", "secret_access_key": "s"},
                         path_style=True, max_connections=8, endpoint=url)
    secure, plain = made
    assert secure["allow_http"] is False and "allow_invalid_certificates" not in secure
    assert plain["allow_http"] is True and plain["allow_invalid_certificates"] is True
    assert plain_http("https://x") == {"allow_http": False}
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example.org:3128")
    assert plain_http("http://127.0.0.1:9000") == {"allow_http": True}
