"""Artifacts (docs/artifacts.md), on both remotes, through the CLI and the API: files and
manifests round-trip, a pydantic model (v2, and v1 through ``pydantic.v1``) and a dataclass
come back as themselves, ``get`` refuses a damaged object, a content is stored once (a copy
on the remote when it is there already), provenance (pin and commit) is listed, ``prune``
never removes an artifact, and the real cas-manifest 0.4.1 interoperates both ways.

cas-manifest 0.4.1 needs pydantic<2 and hashfs, which the test venv does not hold, so the
real package is installed from PyPI into a venv of its own, once per session, and driven in
a subprocess (as tests/test_fsmirror04.py does for fsmirror 0.4)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path
from typing import Dict, Optional

import pydantic
import pydantic.v1
import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import ChecksumMismatch, UsageError

from .test_pins import commit_pin, git


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(team) -> dict:
    """{hash: bytes} of the artifact store, read from the outside as hashfs lays it out."""
    return {k.split("/", 2)[2].replace("/", ""): v for k, v in team.remote_objects().items()
            if k.startswith(".S3/cas/")}


def tamper(team, checksum: str, data: bytes) -> None:
    """Replace a stored object's bytes (a new file on a folder remote: the store's copy
    may be a hard link of a data file, which a real edit on the share would not touch)."""
    key = f".S3/cas/{checksum[:2]}/{checksum[2:]}"
    if team.kind == "local":
        (team.remote_root / team.prefix / key).unlink()
    team.put_remote(key, data)


class Dataset(pydantic.BaseModel):
    name: str
    rows: int
    data: Path
    notes: Optional[str] = None


class OtherV1(pydantic.v1.BaseModel):
    title: str
    sizes: Dict[str, int]


@dataclasses.dataclass
class Run:
    seed: int
    loss: float
    tags: list


@pytest.fixture
def alice(team):
    alice = team.alice
    alice.write("a.csv", "id,x\n1,2\n")
    alice.sync()
    return alice


def test_cli_round_trip_stores_each_file_once_and_gets_every_byte(team, alice, tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x00weights\xff" * 100)
    r = alice.run("artifact", "put", "Data/a.csv", str(model), "--class", "Model",
                  "--set", "lr=0.01", "epochs=3", check_rc=0)
    h = r.stdout.split()[-1]
    assert "copied on the remote  a.csv" in r.stdout, "a synced file is copied, not sent"
    assert "sent                  model.pkl" in r.stdout
    files = {"a.csv": sha(b"id,x\n1,2\n"), "model.pkl": sha(model.read_bytes())}
    got = stored(team)
    assert set(got) == {h, *files.values()}, "hashfs's xx/rest keys, one per content"
    assert all(sha(v) == k for k, v in got.items())
    assert json.loads(got[h]) == {"class": "Model", "value": {
        "files": files, "pin": "", "commit": "", "lr": 0.01, "epochs": 3}}
    out = tmp_path / "out"
    r = alice.run("artifact", "get", h[:8], "--to", str(out), check_rc=0)
    assert r.stdout.count("verified") == 2
    assert (out / "a.csv").read_bytes() == b"id,x\n1,2\n"
    assert (out / "model.pkl").read_bytes() == model.read_bytes()
    assert alice.run("artifact", "get", h, check_rc=0).stdout.encode() == got[h]
    listed = json.loads(alice.run("artifact", "list", "--json", check_rc=0).stdout)
    assert [(a["hash"], a["class"], a["files"], a["by"]) for a in listed["artifacts"]] == \
        [(h, "Model", 2, "alice")]
    assert s3sync_mirror.read_artifact(files["model.pkl"], alice.repo) == model.read_bytes()


def test_a_second_put_writes_nothing_new(team, alice, tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"same content")
    first = alice.run("artifact", "put", str(f), check_rc=0).stdout
    before = team.remote_objects()
    again = alice.run("artifact", "put", str(f), check_rc=0).stdout
    assert "already stored        m.bin" in again and first.split()[-1] == again.split()[-1]
    assert team.remote_objects() == before, "nothing new on the remote"
    assert s3sync_mirror.put_artifact(f, alice.repo) == sha(b"same content")
    assert team.remote_objects() == before


def test_an_archived_version_is_copied_not_sent(team, alice, tmp_path):
    old = tmp_path / "old.csv"
    old.write_bytes(alice.read("a.csv"))
    alice.write("a.csv", "id,x\n1,3\n")
    alice.sync()  # the first version now lives only in the archive
    assert sha(old.read_bytes()) in {k.rsplit("/", 1)[-1] for k in team.archive()}
    r = alice.run("artifact", "put", str(old), check_rc=0)
    assert "copied on the remote  old.csv" in r.stdout


def test_get_refuses_a_damaged_object_and_put_repair_mends_it(team, alice, tmp_path):
    f = tmp_path / "result.json"
    f.write_bytes(b'{"auc": 0.9}')
    h = alice.run("artifact", "put", str(f), "-q", check_rc=0).stdout.strip()
    tamper(team, sha(f.read_bytes()), b'{"auc": 0.99}')
    out = tmp_path / "out"
    r = alice.run("artifact", "get", h, "--to", str(out), check_rc=1)
    assert f"artifact {sha(f.read_bytes())[:16]} is damaged" in r.stderr
    assert "nothing was written" in r.stderr and "artifact put --repair" in r.stderr
    assert not out.exists() or not any(out.rglob("*")), "no file of the artifact was written"
    with pytest.raises(ChecksumMismatch, match="is damaged"):
        s3sync_mirror.read_artifact(sha(f.read_bytes()), alice.repo)
    alice.run("artifact", "put", "--repair", str(f), check_rc=0)
    alice.run("artifact", "get", h, "--to", str(out), check_rc=0)
    assert (out / "result.json").read_bytes() == f.read_bytes()


def test_a_pydantic_model_v2_and_v1_and_a_dataclass_come_back_as_themselves(alice, tmp_path):
    data = tmp_path / "train.csv"
    data.write_bytes(b"a,b\n1,2\n")
    ds = Dataset(name="train", rows=1, data=data)
    h = s3sync_mirror.put_artifact(ds, alice.repo)
    manifest = json.loads(s3sync_mirror.read_artifact(h, alice.repo))
    assert manifest == {"class": "Dataset", "value": {
        "name": "train", "rows": 1, "data": sha(data.read_bytes()), "notes": None}}
    back = s3sync_mirror.load_artifact(h, (OtherV1, Dataset, Run), alice.repo)
    assert type(back) is Dataset and (back.name, back.rows, back.notes) == ("train", 1, None)
    assert back.data.read_bytes() == data.read_bytes() and back.data != data
    v1 = OtherV1(title="sizes", sizes={"a": 1})
    assert s3sync_mirror.load_artifact(s3sync_mirror.put_artifact(v1, alice.repo),
                                       (Dataset, OtherV1), alice.repo) == v1
    run = Run(seed=7, loss=0.25, tags=["x", "y"])
    assert s3sync_mirror.load_artifact(s3sync_mirror.put_artifact(run, alice.repo),
                                       [Run], alice.repo) == run
    with pytest.raises(UsageError, match="not among the classes given"):
        s3sync_mirror.load_artifact(h[:10], [Run], alice.repo)
    with pytest.raises(UsageError, match="not a manifest"):
        s3sync_mirror.load_artifact(sha(data.read_bytes()), [Dataset], alice.repo)


def test_bad_input_gets_the_fix(alice, tmp_path):
    assert "`artifact list` shows" in alice.run("artifact", "get", "xyz", check_rc=2).stderr
    assert "no artifact 0000" in alice.run("artifact", "get", "0000", check_rc=2).stderr
    r = alice.run("artifact", "put", "--set", "lr", "m.pkl", check_rc=2)
    assert "write KEY=VALUE" in r.stderr and "files go before --set" in r.stderr
    assert "no such file or folder" in alice.run("artifact", "put", "nope.bin",
                                                 check_rc=2).stderr
    assert "VERB" in alice.run("artifact", check_rc=2).stderr
    assert "hashfs" in alice.run("artifact", "--help", check_rc=0).stdout
    with pytest.raises(UsageError, match="file path, a pydantic model or a dataclass"):
        s3sync_mirror.put_artifact(42, alice.repo)


def test_a_mirrors_output_is_stored_with_the_pin_and_the_commit(team, alice, tmp_path):
    (alice.repo / "s3sync_mirror.yml").write_text(
        team.config_text("alice") + "mirrors:\n  etl: {root: etl, prefix: MIRROR, "
                                    "output_name: out, output_format: csv}\n")
    (alice.repo / "etl").mkdir()
    (alice.repo / "etl" / "__init__.py").write_text("")
    (alice.repo / "etl" / "lift.py").write_text("def lift():\n    return 1\n")
    alice.write("etl/lift/20260101000000/lift/out.csv", "id,y\n1,5\n")
    alice.sync()
    git(alice, "init", "-q")
    (alice.repo / ".gitignore").write_text("Data/\n")
    git(alice, "add", ".")
    git(alice, "commit", "-q", "-m", "code")
    commit = commit_pin(alice, "etl input")
    pin = dict(line.split(": ", 1) for line in (alice.repo / "s3sync_mirror.lock")
               .read_text().splitlines() if line and not line.startswith("#"))["content"]
    h = alice.run("artifact", "put", "etl.lift:lift", "--set", "stage=lift", "-q",
                  check_rc=0).stdout.strip()
    [row] = json.loads(alice.run("artifact", "list", "--json", check_rc=0).stdout)["artifacts"]
    assert (row["hash"], row["class"], row["pin"], row["commit"]) == \
        (h, "MirrorOutput", pin, commit)
    assert row["value"] == {"files": {"out.csv": sha(b"id,y\n1,5\n")}, "pin": pin,
                            "commit": commit, "object": "etl.lift:lift",
                            "run": "20260101000000", "stage": "lift",
                            "output": "etl/lift/20260101000000/lift/out.csv"}
    assert pin[:12] in alice.run("artifact", "list", check_rc=0).stdout
    assert row["files"] == 1, "the pin is a content id, no stored file"
    out = tmp_path / "out"
    alice.run("artifact", "get", h, "--to", str(out), check_rc=0)
    assert {p.name: p.read_bytes() for p in out.rglob("*")} == {"out.csv": b"id,y\n1,5\n"}


def test_prune_never_removes_an_artifact(team, alice, tmp_path):
    old = tmp_path / "a.csv"
    old.write_bytes(alice.read("a.csv"))
    h = alice.run("artifact", "put", str(old), "-q", check_rc=0).stdout.strip()
    alice.write("a.csv", "id,x\n1,3\n")
    alice.sync()
    alice.write("a.csv", "id,x\n1,4\n")
    alice.sync()
    before = stored(team)
    r = alice.run("prune", "--keep-last", "0", "--grace", "0", "--yes", check_rc=0)
    assert not team.archive(), f"the archive was pruned: {r.stdout}"
    assert stored(team) == before
    out = tmp_path / "out"
    alice.run("artifact", "get", h, "--to", str(out), check_rc=0)
    assert (out / "a.csv").read_bytes() == old.read_bytes()


def test_prune_reaches_only_the_archive(alice):
    """Even a plan that names an artifact (a bug elsewhere) cannot remove it."""
    from s3sync_mirror.api.scope import settings_at
    from s3sync_mirror.history import prune
    from s3sync_mirror.session import open_session

    h = s3sync_mirror.put_artifact(alice.data / "a.csv", alice.repo)
    key = f".S3/cas/{h[:2]}/{h[2:]}"
    with open_session(settings_at(alice.repo), writes=False) as s:
        assert prune.carry_out(s, prune.Plan({key: 9}, {key: 9}, 0)) == 0
        assert s.remote.head(key) is not None
    assert not prune.prunable(key) and prune.prunable(f".S3/archive/{h[:2]}/{h}")


# -- the real cas-manifest 0.4.1 ----------------------------------------------------------
CAS = textwrap.dedent('''
    import json, sys
    from typing import Dict
    import boto3
    from hashfs import HashFS
    from cas_manifest.registry import Registry
    from cas_manifest.registerable import Registerable
    from cas_manifest.s3_hashfs import S3HashFS, S3CasInfo

    class Model(Registerable):
        files: Dict[str, str]
        lr: float

    class Dataset(Registerable):
        name: str
        rows: int
        data: str

    def store(where):
        if where.startswith("s3://"):
            bucket, _, prefix = where[5:].partition("/")
            client = boto3.client("s3", endpoint_url=sys.argv[3], region_name="us-east-1")
            return S3HashFS(sys.argv[4], client, S3CasInfo(bucket=bucket, prefix=prefix))
        return HashFS(where, depth=int(sys.argv[3]), width=int(sys.argv[4]))

    verb, where = sys.argv[1], sys.argv[2]
    fs = store(where)
    if verb == "load":
        obj = Registry(fs, [Model, Dataset]).load(sys.argv[5])
        with fs.open(obj.files["data.bin"]) as f:
            data = f.read()
        print(json.dumps({"class": type(obj).__name__, "value": obj.dict(),
                          "data": data.decode("latin-1")}))
    else:
        data = fs.put(open(sys.argv[5], "rb"), extension="csv")
        ds = Dataset(name="from cas-manifest", rows=2, data=data.id)
        print(json.dumps({"manifest": ds.self_dump(fs).id, "data": data.id}))
''')


@pytest.fixture(scope="session")
def cas_manifest(tmp_path_factory):
    """The python of a venv holding the real cas-manifest 0.4.1 (with hashfs, pydantic 1)."""
    home = tmp_path_factory.mktemp("casmanifest")
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "cas-manifest==0.4.1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (home / "cas.py").write_text(CAS)
    return python, home / "cas.py"


def run_cas(cas_manifest, member, *args) -> dict:
    python, script = cas_manifest
    proc = subprocess.run([str(python), str(script), *map(str, args)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **member.env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def our_store(team, tmp_path) -> list:
    """Where cas-manifest finds this tool's store: a HashFS folder (depth 1, width 2), or
    S3HashFS's bucket, prefix, endpoint and local cache."""
    if team.kind == "local":
        return [team.remote_root / team.prefix / ".S3" / "cas", 1, 2]
    return [f"s3://{team.bucket}/{team.prefix}/.S3/cas", team.endpoint, tmp_path / "cache"]


def test_cas_manifests_registry_loads_what_this_tool_wrote(team, alice, tmp_path, cas_manifest):
    blob = tmp_path / "data.bin"
    blob.write_bytes(bytes(range(256)))
    h = alice.run("artifact", "put", str(blob), "--class", "Model", "--set", "lr=0.5", "-q",
                  check_rc=0).stdout.strip()
    got = run_cas(cas_manifest, alice, "load", *our_store(team, tmp_path), h)
    assert got == {"class": "Model", "value": {"files": {"data.bin": sha(blob.read_bytes())},
                                               "lr": 0.5},
                   "data": bytes(range(256)).decode("latin-1")}


def _read_theirs(alice, tmp_path, source, written, raw: bytes) -> None:
    """This tool reads a store cas-manifest wrote: directly, then once imported."""
    class Dataset(pydantic.BaseModel):
        name: str
        rows: int
        data: str

    want = Dataset(name="from cas-manifest", rows=2, data=written["data"])
    assert s3sync_mirror.load_artifact(written["manifest"], [Dataset], alice.repo,
                                       store=source) == want
    out = tmp_path / "direct"
    alice.run("artifact", "get", written["manifest"], "--from", str(source), "--to", str(out),
              check_rc=0)
    assert (out / "data").read_bytes() == raw
    r = alice.run("artifact", "import", str(source), check_rc=0)
    assert "imported 2 objects (0 already stored), 1 manifest listed" in r.stdout, r.stdout
    assert s3sync_mirror.load_artifact(written["manifest"][:12], [Dataset], alice.repo) == want
    assert s3sync_mirror.read_artifact(written["data"], alice.repo) == raw
    listed = s3sync_mirror.artifacts(alice.repo)
    assert [(a["hash"], a["class"]) for a in listed] == [(written["manifest"], "Dataset")]
    again = alice.run("artifact", "import", str(source), check_rc=0)
    assert "imported 0 objects (2 already stored)" in again.stdout


def test_this_tool_reads_and_imports_a_hashfs_folder_cas_manifest_wrote(alice, tmp_path,
                                                                      cas_manifest):
    raw = b"id,v\n1,2\n2,3\n"
    (tmp_path / "in.csv").write_bytes(raw)
    folder = tmp_path / "their-hashfs"
    written = run_cas(cas_manifest, alice, "put", folder, 4, 1, tmp_path / "in.csv")
    d = written["data"]
    assert (folder / d[0] / d[1] / d[2] / d[3] / f"{d[4:]}.csv").read_bytes() == raw, \
        "hashfs's default layout, with its extension"
    _read_theirs(alice, tmp_path, folder, written, raw)


def test_this_tool_reads_and_imports_an_s3hashfs_prefix(alice, tmp_path, cas_manifest,
                                                        aws_env):
    from .conftest import new_bucket

    raw = b"id,v\n9,9\n"
    (tmp_path / "in.csv").write_bytes(raw)
    source = f"s3://{new_bucket(aws_env)}/their/cas"
    written = run_cas(cas_manifest, alice, "put", source, aws_env, tmp_path / "cache",
                      tmp_path / "in.csv")
    env = {**alice.env, "AWS_ENDPOINT_URL": aws_env}
    alice.env = env
    _read_theirs(alice, tmp_path, source, written, raw)


def test_the_same_model_has_the_same_hash_in_both_tools(alice, tmp_path, cas_manifest):
    """Manifests are written byte for byte as cas-manifest's ``self_dump`` writes them."""
    (tmp_path / "in.csv").write_bytes(b"x\n")
    written = run_cas(cas_manifest, alice, "put", tmp_path / "theirs", 1, 2,
                      tmp_path / "in.csv")

    class Dataset(pydantic.BaseModel):
        name: str
        rows: int
        data: str

    ours = s3sync_mirror.put_artifact(Dataset(name="from cas-manifest", rows=2,
                                              data=written["data"]), alice.repo)
    assert ours == written["manifest"]
