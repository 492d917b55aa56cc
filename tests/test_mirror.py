"""Mirrored paths (the fsmirror API): the original's documented example, the pure path
function table, and the round trip through a sync to a teammate's clone."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from s3sync_mirror import FSMirror, load_config
from s3sync_mirror.mirror import (MirrorError, base_url, module_parts, mirror_path, new_run_id,
                                  run_id)

from .conftest import ROOT

EXAMPLE_CONFIG = """\
# artifacts
storage:
  # local, s3, gcs, blob
  provider: s3
  # root file path, bucket, etc.
  tenant: test.bucket
  # prefix - if 'MIRROR' will mirror filesystem
  namespace: MIRROR


# Each mirror should be a subdirectory
# within your project for example your
# orchestrator codebase lives at the
# following path:
#
# /opt/orchestrator
#
# To mirror this subdirectory we would
# add an "orchestrator" mirror as is
# done below
mirrors:
  fsmirror:
    # directory or subdirectory to split on
    root: fsmirror
    prefix: MIRROR
    output_name: out
    output_format: parquet

  aipipeline:
    root: aipipeline
    prefix: MIRROR
    output_name: out
    output_format: pkl
"""

DOCUMENTED_LOAD_CONFIG = (
    "{'storage': {'provider': 's3', 'tenant': 'test.bucket', 'namespace': 'MIRROR'}, "
    "'mirrors': {'fsmirror': {'root': 'fsmirror', 'prefix': 'MIRROR', 'output_name': 'out', "
    "'output_format': 'parquet'}, 'aipipeline': {'root': 'aipipeline', 'prefix': 'MIRROR', "
    "'output_name': 'out', 'output_format': 'pkl'}}}")


@pytest.fixture
def original_project(tmp_path, monkeypatch):
    """The original's layout: the fsmirror repo, its package, and tests/test_mirror.py."""
    tests = tmp_path / "fsmirror" / "fsmirror" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_mirror.py").write_text(textwrap.dedent("""\
        def some_task():
            return 1


        class SomeTask:
            class Inner:
                pass

            def run(self):
                return 2
        """))
    cfg = tmp_path / "fsmirror" / "examples" / "example_config.yml"
    cfg.parent.mkdir()
    cfg.write_text(EXAMPLE_CONFIG)
    monkeypatch.setenv("FSMIRROR_CONFIG_PATH", str(cfg))
    spec = importlib.util.spec_from_file_location("test_mirror", tests / "test_mirror.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["test_mirror"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["test_mirror"]


def test_the_documented_example_reproduces_exactly(original_project):
    some_task = original_project.some_task
    assert repr(load_config()) == DOCUMENTED_LOAD_CONFIG
    config = load_config()
    fm = FSMirror(config=config, mirror="fsmirror", run_id="20240227160221")
    assert fm.mirror_relative(some_task) == "fsmirror/tests/test_mirror/20240227160221/some_task"
    assert fm.mirror_relative(some_task, with_id=False) == "fsmirror/tests/test_mirror/some_task"
    assert fm.mirror_full(some_task) == \
        "s3://test.bucket/fsmirror/tests/test_mirror/20240227160221/some_task"
    assert fm.mirror_full_output(some_task) == \
        "s3://test.bucket/fsmirror/tests/test_mirror/20240227160221/some_task/out.parquet"
    assert fm.mirror_relative_output(some_task, with_id=False) == \
        "fsmirror/tests/test_mirror/some_task/out.parquet"


def test_date_id_is_utc_and_fixed_for_the_run(original_project):
    assert new_run_id("date", now=1709049741) == "20240227160221"
    fm = FSMirror(mirror="fsmirror")
    first = fm.mirror_relative(original_project.some_task)
    assert FSMirror(mirror="fsmirror").mirror_relative(original_project.some_task) == first
    assert run_id("date") in first


def test_uuid_id_method(original_project):
    fm = FSMirror(mirror="fsmirror", id_method="uuid")
    rel = fm.mirror_relative(original_project.some_task)
    rid = rel.split("/")[3]
    assert len(rid) == 32 and int(rid, 16) >= 0
    assert fm.mirror_relative(original_project.some_task) == rel
    with pytest.raises(MirrorError):
        FSMirror(mirror="fsmirror", id_method="random").mirror_relative(
            original_project.some_task)


def test_functions_classes_instances_methods_and_modules(original_project):
    m = original_project
    fm = FSMirror(mirror="fsmirror", run_id="R")
    assert fm.mirror_relative(m.SomeTask) == "fsmirror/tests/test_mirror/R/SomeTask"
    assert fm.mirror_relative(m.SomeTask()) == "fsmirror/tests/test_mirror/R/SomeTask"
    assert fm.mirror_relative(m.SomeTask().run) == "fsmirror/tests/test_mirror/R/SomeTask.run"
    assert fm.mirror_relative(m.SomeTask.Inner) == "fsmirror/tests/test_mirror/R/SomeTask.Inner"
    assert fm.mirror_relative(m) == "fsmirror/tests/test_mirror/R"
    assert FSMirror(mirror="aipipeline").mirrors["aipipeline"]["output_format"] == "pkl"
    with pytest.raises(MirrorError) as exc:
        FSMirror(mirror="aipipeline").mirror_relative(m.some_task)
    assert "not under the mirror's root 'aipipeline'" in str(exc.value)
    with pytest.raises(MirrorError):
        FSMirror(mirror="nope")


ETL = {"root": "etl", "prefix": "MIRROR", "output_name": "out", "output_format": "csv"}


@pytest.mark.parametrize("file,qualname,mirror,run,expected", [
    ("/repo/project/etl/my_etl_task.py", "LiftDataTask", ETL, None,
     "etl/my_etl_task/LiftDataTask"),
    ("/repo/project/etl/my_etl_task.py", "LiftDataTask", ETL, "20260101000000",
     "etl/my_etl_task/20260101000000/LiftDataTask"),
    ("/repo/etl/jobs/__init__.py", "lift", ETL, None, "etl/jobs/lift"),
    ("/repo/etl/jobs/__init__.py", None, ETL, None, "etl/jobs"),
    ("/repo/etl/a.py", "Outer.Inner.method", ETL, "R", "etl/a/R/Outer.Inner.method"),
    ("/repo/etl/a.py", "make.<locals>.step", ETL, None, "etl/a/make.step"),
    ("/repo/etl/scripts/run_me.py", "main", ETL, None, "etl/scripts/run_me/main"),  # __main__
    ("/etl/repo/etl/x.py", "f", ETL, None, "etl/x/f"),  # the innermost root wins
    ("C:\\work\\repo\\etl\\x.py", "f", ETL, None, "etl/x/f"),  # Windows file path
    ("/r/project/etl/x.py", "f", {**ETL, "root": "project\\etl"}, None, "project/etl/x/f"),
    ("/r/project/etl/x.py", "f", {**ETL, "root": "project/etl/"}, None, "project/etl/x/f"),
    ("/r/etl/x.py", "f", {**ETL, "prefix": "artifacts/v2"}, "R", "artifacts/v2/etl/x/R/f"),
    ("/r/etl/données/é.py", "tâche", ETL, None, "etl/données/é/tâche"),
])
def test_mirror_path_table(file, qualname, mirror, run, expected):
    assert mirror_path(module_parts(file), qualname, mirror, run) == expected


@pytest.mark.parametrize("file,mirror", [
    ("/repo/other/x.py", ETL),
    ("/repo/etlx/x.py", ETL),
    ("/repo/etl/x.py", {**ETL, "root": ""}),
    ("/repo/etl/x.py", {**ETL, "prefix": "../../escape"}),
])
def test_mirror_path_refusals(file, mirror):
    with pytest.raises(MirrorError):
        mirror_path(module_parts(file), "f", mirror, None)


@pytest.mark.parametrize("storage,expected", [
    ({"provider": "s3", "tenant": "b", "namespace": "MIRROR"}, "s3://b"),
    ({"provider": "s3", "tenant": "b", "namespace": "team/x"}, "s3://b/team/x"),
    ({"provider": "gcs", "tenant": "b"}, "gs://b"),
    ({"provider": "blob", "tenant": "c", "namespace": "n"}, "az://c/n"),
    ({"provider": "local", "tenant": "/data", "namespace": "MIRROR"}, "/data"),
    ({"provider": "local", "tenant": "/data", "namespace": "ns"}, "/data/ns"),
])
def test_providers(storage, expected):
    assert base_url(storage) == expected


# -- the bridge: an artifact written through FSMirror, synced, received ---------------------
ETL_MODULE = '''\
"""An ETL step that writes its output where FSMirror says."""
from s3sync_mirror import FSMirror


def lift_data():
    out = FSMirror(mirror="etl").local_output(lift_data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("id,value\\n1,42\\n")
    return out
'''


def add_etl(member):
    pkg = member.repo / "etl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "lift.py").write_text(ETL_MODULE)
    cfg = member.repo / "s3sync_mirror.yml"
    cfg.write_text(cfg.read_text() + "mirrors:\n  etl: {root: etl, prefix: MIRROR, "
                                     "output_name: out, output_format: csv}\n")


def test_artifact_round_trip_through_sync(team):
    alice, bob = team.alice, team.bob
    add_etl(alice)
    add_etl(bob)
    alice.write("unrelated.csv", "not part of this sync")
    # alice runs the ETL step for real: its output lands inside her data folder
    env = {**os.environ, **alice.env, "PYTHONPATH": f"{alice.repo}{os.pathsep}{ROOT}"}
    out = subprocess.run([sys.executable, "-c", "from etl.lift import lift_data; "
                          "print(lift_data())"], cwd=alice.repo, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    rel = Path(out).relative_to(alice.data).as_posix()
    run = rel.split("/")[2]
    assert rel == f"etl/lift/{run}/lift_data/out.csv" and len(run) == 14
    # `mirror` prints the same paths for that run id
    r = alice.run("mirror", "etl.lift:lift_data", "--run-id", run, check_rc=0)
    lines = {k: v.strip() for k, v in (ln.split(":", 1) for ln in r.stdout.splitlines())}
    assert lines["relative"] == rel and lines["local"] == out
    if team.kind == "s3":
        assert lines["remote"] == f"s3://{team.bucket}/{team.prefix}/{rel}"
    else:
        assert lines["remote"] == str(team.remote_root / team.prefix / rel)
    # a sync limited to that artifact uploads it, and only it, to the mirrored key
    r = alice.run("sync", "--yes", "--json", "etl.lift:lift_data", check_rc=0)
    assert [a["path"] for a in json.loads(r.stdout)["actions"]] == [rel]
    assert team.remote_files() == {rel: b"id,value\n1,42\n"}
    # the teammate receives it at the same mirrored local path
    bob.run("sync", "--yes", "etl.lift:lift_data", check_rc=0)
    assert bob.files() == {rel: b"id,value\n1,42\n"}
    r = bob.run("mirror", "etl.lift:lift_data", "--run-id", run, check_rc=0)
    assert str(bob.data / rel) in r.stdout


def test_mirror_command_errors_are_clear(local_team):
    alice = local_team.alice
    add_etl(alice)
    r = alice.run("mirror", "etl.lift:nothing_here")
    assert r.returncode == 2 and "no 'nothing_here'" in r.stderr
    r = alice.run("mirror", "etl.missing:f")
    assert r.returncode == 2 and "cannot import" in r.stderr
    r = alice.run("mirror", "json:dumps")
    assert r.returncode == 2 and "not under the mirror's root" in r.stderr
