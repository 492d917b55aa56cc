"""Shared fixtures: a real S3 server over HTTP (moto's ThreadedMotoServer on 127.0.0.1,
started here), and teams of clones (alice, bob, ...) of one repo against one remote, on
both backends, driven through the real command line."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from .emu_blob import blob_emulator  # noqa: F401  (fixtures, see emulators.py)
from .emu_gcs import gcs_emulator  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent

# What the reliability tests tried, by kind; written as JSON at the end of the session when
# S3SYNC_RELIABILITY_REPORT names a file (the README's Reliability figures come from it).
RELIABILITY: Counter = Counter()
RELIABILITY_NOTES: dict = {}


def pytest_sessionfinish(session, exitstatus):
    """Each xdist worker writes its own part (``<file>.gw0``...); the controller, which
    finishes last, adds them up into the file."""
    target = os.environ.get("S3SYNC_RELIABILITY_REPORT")
    if not target:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    counts, notes = Counter(RELIABILITY), dict(RELIABILITY_NOTES)
    if worker is None:
        for part in sorted(Path(target).parent.glob(Path(target).name + ".gw*")):
            doc = json.loads(part.read_text())
            counts.update(doc["counts"])
            notes.update(doc["notes"])
            part.unlink()
    if counts or worker is None:
        Path(target + (f".{worker}" if worker else "")).write_text(json.dumps({
            "counts": dict(sorted(counts.items())), "notes": notes,
            "failed_tests": session.testsfailed, "exit_status": int(exitstatus)}, indent=2))
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _make_moto_atomic():
    """moto checks If-Match/If-None-Match and then writes, with no lock between: two
    concurrent conditional PUTs can both pass. Real S3 makes the check and the write one
    atomic step, so the tests give moto's object writes the same guarantee."""
    from moto.s3.responses import S3Response

    lock = threading.RLock()
    _teach_moto_copy_source_if_match(S3Response)
    for name in ("put_object", "copy_object", "delete_object"):
        original = getattr(S3Response, name, None)
        if original is None or getattr(original, "_atomic", False):
            continue

        def atomic(self, *a, __orig=original, **kw):
            with lock:
                return __orig(self, *a, **kw)

        atomic._atomic = True
        setattr(S3Response, name, atomic)
    original_post = S3Response._key_response_post

    def atomic_post(self, *a, **kw):
        with lock:
            return original_post(self, *a, **kw)

    if not getattr(original_post, "_atomic", False):
        atomic_post._atomic = True
        S3Response._key_response_post = atomic_post


def _teach_moto_copy_source_if_match(S3Response):
    """AWS honours ``x-amz-copy-source-if-match`` on CopyObject (412 when the source's ETag
    differs) and ``If-None-Match: *`` (412 when the destination exists); moto ignores both. Give moto that documented behaviour so the tests can check
    that the tool asks for it."""
    from urllib.parse import unquote, urlparse

    from moto.s3.exceptions import PreconditionFailed

    original = S3Response.copy_object
    if getattr(original, "_if_match", False):
        return

    def copy_object(self, *a, **kw):
        if self.headers.get("if-none-match") == "*" and \
                self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None:
            raise PreconditionFailed("If-None-Match")  # AWS refuses to copy over an object
        wanted = self.headers.get("x-amz-copy-source-if-match")
        if wanted:
            source = self.headers.get("x-amz-copy-source")
            if isinstance(source, bytes):
                source = source.decode("utf-8")
            bkt, key = unquote(urlparse(source).path).lstrip("/").split("/", 1)
            obj = self.backend.get_object(bkt, key)
            if obj is not None and obj.etag.strip('"') != wanted.strip('"'):
                raise PreconditionFailed("x-amz-copy-source-If-Match")
        return original(self, *a, **kw)

    copy_object._if_match = True
    S3Response.copy_object = copy_object


def teach_moto_aws_checksums(monkeypatch) -> None:
    """AWS keeps the x-amz-checksum-sha256 an upload carries (after checking it against the
    body); moto keeps it only next to the SDKs' x-amz-sdk-checksum-algorithm, which obstore
    does not send. Teach moto AWS's rule, checking the body too (BadDigest otherwise)."""
    import base64

    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    original = S3Response._get_checksum

    def get_checksum(self, response_headers):
        given = self.headers.get("x-amz-checksum-sha256")
        if given and not self.headers.get("x-amz-sdk-checksum-algorithm"):
            body = self.raw_body if isinstance(self.raw_body, bytes) else b""
            if base64.b64encode(hashlib.sha256(body).digest()).decode() != given:
                raise S3ClientError("BadDigest", "The SHA256 you specified did not match.")
            response_headers["x-amz-checksum-sha256"] = given
            return "SHA256", given
        return original(self, response_headers)

    monkeypatch.setattr(S3Response, "_get_checksum", get_checksum)


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _make_moto_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(k, raising=False)
    return moto_server


@pytest.fixture
def bucket(aws_env):
    return new_bucket(aws_env)


def parse_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


class Member:
    """One clone of the team's repo: ``repo/`` with ``s3sync_mirror.yml`` and ``Data/``."""

    def __init__(self, name: str, repo: Path, env: dict):
        self.name = name
        self.repo = repo
        self.data = repo / "Data"
        self.env = env

    def run(self, *args, check_rc=None, timeout=180, cwd=None, env=None):
        """Run the real CLI in a subprocess (no terminal on stdin)."""
        full_env = {**os.environ, **self.env, **(env or {})}
        full_env.setdefault("PYTHONPATH", str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "s3sync_mirror", *args],
                              cwd=cwd or self.repo, env=full_env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check_rc is not None:
            assert proc.returncode == check_rc, \
                f"{self.name} {args}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def advance_clock(self, seconds: int = 2) -> None:
        """This member's later runs see a clock ``seconds`` further on."""
        from s3sync_mirror.core.clock import TEST_CLOCK_OFFSET

        now = int(self.env.get(TEST_CLOCK_OFFSET, "0"))
        self.env[TEST_CLOCK_OFFSET] = str(now + seconds)

    def sync(self, *args, rc=0):
        return self.run("--yes", *args, check_rc=rc)

    def write(self, rel: str, content) -> Path:
        p = self.data.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode("utf-8")
        p.write_bytes(content)
        return p

    def read(self, rel: str) -> bytes:
        return self.data.joinpath(*rel.split("/")).read_bytes()

    def exists(self, rel: str) -> bool:
        return self.data.joinpath(*rel.split("/")).exists()

    def delete(self, rel: str) -> None:
        self.data.joinpath(*rel.split("/")).unlink()

    def files(self) -> dict:
        """{relative path: bytes} of the data files (not .S3/)."""
        out = {}
        if not self.data.exists():
            return out
        for p in sorted(self.data.rglob("*")):
            rel = p.relative_to(self.data).as_posix()
            if rel == ".S3" or rel.startswith(".S3/") or not p.is_file():
                continue
            out[rel] = p.read_bytes()
        return out

    def trash(self) -> dict:
        out = {}
        root = self.data / ".S3" / "trash"
        for p in sorted(root.rglob("*")) if root.exists() else ():
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
        return out

    def baseline(self) -> dict:
        """{path: row}: versions_local.csv, and the changes written since it was written
        whole (versions_local.changes.csv, when its Of names this versions_local.csv)."""
        from s3sync_mirror.state import baselinechanges as baselinelog, snapshot as statecache

        p = self.data / ".S3" / "versions_local.csv"
        rows = {r["File"]: r for r in parse_csv(p.read_bytes())} if p.exists() else {}
        changes = self.data / ".S3" / "versions_local.changes.csv"
        if rows and changes.exists():
            of = baselinelog.of(statecache.signature(p))
            for r in parse_csv(changes.read_bytes()):
                change, applies = r.pop("Change"), r.pop("Of") == of
                if applies and change == "remove":
                    rows.pop(r["File"], None)
                elif applies:
                    rows[r["File"]] = r
        return rows


class Team:
    """Members sharing one remote, and a view of that remote from the outside."""

    def __init__(self, kind: str, tmp: Path, bucket: str | None = None,
                 endpoint: str | None = None, names=("alice", "bob"), emulator=None):
        self.kind = kind
        self.emulator = emulator  # gcs, blob: the emulator (tests/emulators.py's interface)
        self.tmp = tmp
        self.bucket = bucket
        self.endpoint = endpoint
        self.prefix = "repo/Data"
        self.remote_root = tmp / "remote"
        if kind == "local":
            self.remote_root.mkdir(parents=True, exist_ok=True)  # the share, mounted
        self.members = {n: self.add(n) for n in names}

    def advance_clock(self, seconds: int = 2) -> None:
        """Move the clock every member's runs take version times from (core/clock.py)
        forward by ``seconds``, instead of sleeping until the next second."""
        for member in self.members.values():
            member.advance_clock(seconds)

    def __getattr__(self, name):
        members = self.__dict__.get("members", {})
        if name in members:
            return members[name]
        raise AttributeError(name)

    def config_text(self, user: str) -> str:
        if self.kind in ("s3", "gcs", "blob"):
            storage = (f"  provider: {self.kind}\n  tenant: {self.bucket}\n"
                       f"  endpoint_url: {self.endpoint}\n")
        else:
            storage = f"  provider: local\n  tenant: {self.remote_root}\n"
        return f"storage:\n{storage}  namespace: MIRROR\ndata_dir: Data\nuser: {user}\n"

    def add(self, name: str) -> Member:
        repo = self.tmp / name / "repo"
        repo.mkdir(parents=True)
        (repo / "s3sync_mirror.yml").write_text(self.config_text(name))
        env = dict(AWS_ENV)
        if self.emulator is not None:
            env.update(self.emulator.env)
        elif self.endpoint:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        return Member(name, repo, env)

    # -- the remote seen from outside ----------------------------------------------------
    def _s3(self):
        import boto3
        from botocore.config import Config

        # moto gives a copy of a multipart object its composite checksum as if it were a
        # full-object one, which SDK-side validation then rejects; real S3 marks it
        # composite. The tests compare bytes themselves, as the tool does.
        return boto3.client("s3", endpoint_url=self.endpoint, **{
            "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": "us-east-1",
            "config": Config(response_checksum_validation="when_required")})

    def remote_objects(self) -> dict:
        """{key relative to the prefix: bytes}, .S3/ included."""
        out = {}
        if self.emulator is not None:
            return self.emulator.objects(self.bucket, self.prefix)
        if self.kind == "s3":
            s3 = self._s3()
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + "/")
            for page in pages:
                for obj in page.get("Contents", ()):
                    body = s3.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                    out[obj["Key"][len(self.prefix) + 1:]] = body
        else:
            root = self.remote_root / self.prefix
            for p in sorted(root.rglob("*")) if root.exists() else ():
                if p.is_file():
                    out[p.relative_to(root).as_posix()] = p.read_bytes()
        return out

    def remote_files(self) -> dict:
        return {k: v for k, v in self.remote_objects().items() if not k.startswith(".S3/")}

    def archive(self) -> dict:
        """{key under the archive: bytes}: the content archive (.S3/archive/) and the
        layout before it (.S3/deleted/)."""
        return {k.split("/", 2)[2]: v for k, v in self.remote_objects().items()
                if k.startswith((".S3/deleted/", ".S3/archive/"))}

    def remote_state(self) -> dict:
        """{path: row} of the remote state as any reader sees it, read here on its own:
        the checkpoint ``.S3/versions_remote.csv``, then the log entries after it,
        ``.S3/state_log/<first 32 hex of the checkpoint's SHA-256>/<n>.csv.gz``."""
        objects = self.remote_objects()
        data = objects.get(".S3/versions_remote.csv")
        if not data:
            return {}
        header = data.split(b"\n", 1)[0].decode().split(",")
        log = header[-1][4:] if header[-1].startswith("Log ") \
            else hashlib.sha256(data).hexdigest()[:32]
        rows = {r["File"]: r for r in parse_csv(data)}
        if header[-1].startswith("Log "):
            for r in rows.values():
                del r[header[-1]]
        folder, n = f".S3/state_log/{log}/", 1
        while f"{folder}{n:010d}.csv.gz" in objects:
            entry = parse_csv(gzip.decompress(objects[f"{folder}{n:010d}.csv.gz"]))
            for r in entry:
                if r.pop("Change") == "remove":
                    rows.pop(r["File"])
                else:
                    rows[r["File"]] = r
            if entry[0]["Ends"].startswith("checkpoint "):
                break
            n += 1
        for r in rows.values():
            r.pop("Ends", None)
        return rows

    def remove_remote(self, key: str) -> None:
        """Remove one object straight from the remote (a lifecycle rule, ``aws s3 rm``)."""
        assert self.emulator is None, "used on the folder remote and S3 only"
        if self.kind == "s3":
            self._s3().delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")
        else:
            (self.remote_root / self.prefix / key).unlink()

    def put_remote(self, key: str, data: bytes) -> None:
        """Write straight into the remote, as a hostile or careless third party would."""
        if self.emulator is not None:
            self.emulator.put(self.bucket, f"{self.prefix}/{key}", data)
        elif self.kind == "s3":
            self._s3().put_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}", Body=data)
        else:
            p = self.remote_root / self.prefix / key
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


@pytest.fixture(params=["local", "s3"])
def remote_kind(request):
    return request.param


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"team-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"]).create_bucket(
        Bucket=name)
    return name


@pytest.fixture
def make_team(request, tmp_path, remote_kind):
    """Each call: a new team in its own folder (and, on S3, its own bucket)."""
    made = []

    def make(names=("alice", "bob")):
        home = tmp_path if not made else tmp_path / f"team{len(made)}"
        made.append(home)
        if remote_kind == "s3":
            endpoint = request.getfixturevalue("aws_env")
            return Team("s3", home, new_bucket(endpoint), endpoint, names)
        if remote_kind in ("gcs", "blob"):  # tests/emulators.py
            emu = request.getfixturevalue(f"{remote_kind}_emulator")
            return Team(remote_kind, home, emu.new_tenant(), emu.endpoint, names, emu)
        return Team("local", home, names=names)
    return make


@pytest.fixture
def team(make_team):
    return make_team()


@pytest.fixture
def local_team(tmp_path):
    return Team("local", tmp_path)


# -- golden scenarios (tests/test_golden.py) ---------------------------------------------
def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="regenerate tests/scenarios/*/golden/ instead of comparing")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


# -- the CI sample of the two-remote stories -----------------------------------------------
# These modules play the same stories on the folder remote and on S3 (the backends' own
# differences are in tests/test_contract*.py). CI plays each story on one of the two,
# alternating in name order so that both play about half; ``S3SYNC_BOTH_REMOTES=1`` (the
# full run, README "Reliability") plays every story on both.
BOTH_REMOTES = os.environ.get("S3SYNC_BOTH_REMOTES", "") not in ("", "0")
SAMPLED_MODULES = {"test_golden.py", "test_evidence.py", "test_state_evidence.py",
                   "test_keepboth.py", "test_statelog.py", "test_history.py", "test_pins.py"}
KINDS = ("local", "s3")


def _story(item) -> tuple:
    """(module, the test's id without its remote) of a two-remote item; None otherwise."""
    spec = getattr(item, "callspec", None)
    if spec is None or spec.params.get("remote_kind") not in KINDS \
            or item.path.name not in SAMPLED_MODULES:
        return None
    rest = "-".join(f"{k}={v!r}" for k, v in sorted(spec.params.items())
                    if k != "remote_kind")
    return item.path.name, item.originalname, rest


def pytest_collection_modifyitems(config, items):
    if BOTH_REMOTES:
        return
    stories: dict = {}
    for item in items:
        key = _story(item)
        if key is not None:
            stories.setdefault(key, set()).add(item.callspec.params["remote_kind"])
    order: dict = {}
    for key in sorted(stories):  # the same choice on every xdist worker
        order.setdefault(key[0], []).append(key)
    keep = {}
    for keys in order.values():
        for i, key in enumerate(keys):
            kinds = stories[key]
            keep[key] = KINDS[i % 2] if len(kinds) == 2 else next(iter(kinds))
    chosen, dropped = [], []
    for item in items:
        key = _story(item)
        if key is None or item.callspec.params["remote_kind"] == keep[key]:
            chosen.append(item)
        else:
            dropped.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen
