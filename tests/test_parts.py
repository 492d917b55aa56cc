"""Transfers in parts (``platforms/parts.py``), shared by S3's multipart uploads, Azure's
block uploads and the ranged downloads of S3, Azure and GCS.

The case that matters: a part fails while the reader waits for a free buffer slot. The
failure cancels the transfer; the reader must then stop quietly and let the part's own
error reach the caller, not raise the ``Cancelled`` that the cancel means for it (which
the run would report as an interruption). Played on S3 (moto) and Azure Blob (Azurite),
each through its real upload, then on ``Parts`` alone."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from s3sync_mirror.core.errors import RemotePermissionError
from s3sync_mirror.platforms.base import Cancelled, Transfer
from s3sync_mirror.platforms.parts import Parts, read_parts

from .test_contract import MIB, s3_connection, sha

SLOTS = 2


class FirstPartFails:
    """Wraps a provider's part upload: part 1 waits until the reader is blocked on a full
    set of slots, then fails with ``error``; the others wait for that failure first (so
    they hold their slots meanwhile), then go on as usual (and stop, being cancelled)."""

    def __init__(self, slots: threading.BoundedSemaphore, error: Exception):
        self.slots, self.error = slots, error
        self.failed = threading.Event()
        self.reader_was_waiting = False

    def __call__(self, first: bool, send):
        if not first:
            self.failed.wait(10)
            return send()
        deadline = time.monotonic() + 10
        while self.slots._value and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the reader is inside its wait for a slot by now
        self.reader_was_waiting = self.slots._value == 0
        self.failed.set()
        raise self.error


def _denied_s3():
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"},
                        "ResponseMetadata": {"HTTPStatusCode": 403}}, "UploadPart")


def _denied_blob():
    from azure.core.exceptions import HttpResponseError

    exc = HttpResponseError(message="This request is not authorized")
    exc.status_code, exc.error_code = 403, "AuthorizationFailure"
    return exc


def _source(tmp_path, size: int):
    data = os.urandom(size)
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    return path, data


def test_s3_a_part_failing_while_the_reader_waits_for_a_slot_is_the_error(aws_env, bucket,
                                                                          tmp_path):
    conn = s3_connection(bucket, aws_env, "botocore")
    conn._part_slots = threading.BoundedSemaphore(SLOTS)
    fault = FirstPartFails(conn._part_slots, _denied_s3())
    real = conn.client.upload_part

    def upload_part(**kw):
        return fault(kw["PartNumber"] == 1, lambda: real(**kw))

    conn.client.upload_part = upload_part
    path, data = _source(tmp_path, 3 * 5 * MIB + 1)  # 4 parts: 2 in flight, the reader waits
    try:
        with pytest.raises(RemotePermissionError) as exc:
            conn.upload("big.bin", path, sha256=sha(data), size=len(data))
        assert fault.reader_was_waiting, "the reader did not wait for a slot: no test"
        assert "big.bin (part 1)" in str(exc.value) and "access denied" in str(exc.value)
        assert conn.head("big.bin") is None
        assert not conn.client.list_multipart_uploads(Bucket=bucket).get("Uploads")
        assert conn._part_slots._value == SLOTS, "every slot is back"
    finally:
        conn.close()


def test_blob_a_block_failing_while_the_reader_waits_for_a_slot_is_the_error(
        blob_emulator, tmp_path, monkeypatch):
    from azure.storage.blob import BlobClient

    conn = blob_emulator.connection(blob_emulator.new_tenant(), "repo/Data", jobs=4,
                                    block_size=MIB, threshold=MIB)
    conn._part_slots = threading.BoundedSemaphore(SLOTS)
    fault = FirstPartFails(conn._part_slots, _denied_blob())
    real = BlobClient.stage_block

    def stage_block(self, block_id, *a, **kw):
        return fault(block_id.endswith("-00000"), lambda: real(self, block_id, *a, **kw))

    monkeypatch.setattr(BlobClient, "stage_block", stage_block)
    path, data = _source(tmp_path, 3 * MIB + 1)
    try:
        with pytest.raises(RemotePermissionError) as exc:
            conn.upload("big.bin", path, sha256=sha(data), size=len(data))
        assert fault.reader_was_waiting, "the reader did not wait for a slot: no test"
        assert "big.bin (block 1)" in str(exc.value)
        assert conn.head("big.bin") is None
        assert conn._part_slots._value == SLOTS, "every slot is back"
    finally:
        conn.close()


# -- Parts alone -----------------------------------------------------------------------------
@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=4) as p:
        yield p


def test_the_reader_stops_without_raising_and_gather_names_the_failure(pool, tmp_path):
    transfer, slots = Transfer(), threading.BoundedSemaphore(SLOTS)
    parts = Parts(transfer, pool, slots)
    path, _data = _source(tmp_path, 10 * 1024)
    fault = FirstPartFails(slots, ValueError("part 0 broke"))

    def send(index, buf):
        return fault(index == 0, lambda: transfer.advance(len(buf)))

    digest, sent = read_parts(parts, path, 1024, 10 * 1024, send)  # returns, no Cancelled
    assert fault.reader_was_waiting
    assert sent == SLOTS * 1024, "the reader stopped at the slot it was waiting for"
    with pytest.raises(ValueError, match="part 0 broke"):
        parts.gather()
    assert transfer.cancelled and slots._value == SLOTS


def test_a_cancel_from_outside_while_the_reader_waits_is_cancelled(pool, tmp_path):
    transfer, slots = Transfer(), threading.BoundedSemaphore(SLOTS)
    parts = Parts(transfer, pool, slots)
    path, _data = _source(tmp_path, 10 * 1024)
    release = threading.Event()

    def send(index, buf):
        release.wait(10)
        transfer.advance(len(buf))

    threading.Timer(0.3, transfer.cancel).start()  # Ctrl-C while both slots are held
    t0 = time.monotonic()
    _digest, sent = read_parts(parts, path, 1024, 10 * 1024, send)
    assert time.monotonic() - t0 < 2 and sent == SLOTS * 1024
    release.set()
    with pytest.raises(Cancelled):
        parts.gather()
    assert slots._value == SLOTS


def test_stop_drops_the_parts_not_started_and_gives_their_slots_back(tmp_path):
    transfer, slots = Transfer(), threading.BoundedSemaphore(4)
    started, release = threading.Event(), threading.Event()
    with ThreadPoolExecutor(max_workers=1) as one:
        parts = Parts(transfer, one, slots)

        def send(index, buf):
            started.set()
            release.wait(10)
            transfer.advance(len(buf))  # cancelled by now: stops here
            return index

        for i in range(4):
            assert parts.take_slot()
            parts.submit(send, i, b"x")
        started.wait(5)
        assert slots._value == 0
        threading.Timer(0.2, release.set).start()
        parts.stop()
        assert all(f.done() for f in parts.futures)
        assert sum(f.cancelled() for f in parts.futures) == 3, "three never started"
        assert slots._value == 4
        with pytest.raises(Cancelled):
            parts.gather()
