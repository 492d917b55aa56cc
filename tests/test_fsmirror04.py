"""fsmirror 0.4 code runs unchanged, and under ``compat: fsmirror-0.4`` its paths are
exactly the real fsmirror 0.4's (README: Moving over from S3Synchrony, fsmirror and mmmeta).

fsmirror 0.4 pins PyYAML==6.0.1, which the test extra's moto server cannot run with, so the
real package is installed from PyPI with its pins into a venv of its own, once per session,
and asked for its paths in a subprocess; this tool answers in-process for the same objects.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import venv

import pytest

from s3sync_mirror import FSMirror, FSMirrorException, MirrorError
from s3sync_mirror.mirror import MirrorConfigError

RUN = "20240227160221"
PROVIDERS = ("local", "s3", "gcs", "blob")
OBJECTS = ("task", "Task", "instance", "Task.run", "instance.run", "nested", "shallow_task",
           "twice_task")
METHODS = ("mirror_relative", "mirror_full", "mirror_relative_output", "mirror_full_output")

MODULE = textwrap.dedent('''
    def task():
        return 1


    class Task:
        def run(self):
            return 2


    def outer():
        def inner():
            return 3
        return inner


    instance = Task()
    nested = outer()
''')


@pytest.fixture(scope="session")
def fsmirror04(tmp_path_factory):
    """The python of a venv holding the real fsmirror 0.4 (and its pinned requirements)."""
    home = tmp_path_factory.mktemp("fsmirror04")
    venv.create(home / "venv", with_pip=True)
    python = home / "venv" / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "fsmirror==0.4"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return python


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """``proj/pipe04/jobs/deep/er/mod.py`` (a deep module), ``proj/pipe04/shallow.py``, and
    ``proj/pipe04/again/pipe04/twice.py`` (the root folder's name twice on the path)."""
    root = tmp_path_factory.mktemp("code") / "proj"
    for pkg in ("pipe04", "pipe04/jobs", "pipe04/jobs/deep", "pipe04/jobs/deep/er",
                "pipe04/again", "pipe04/again/pipe04"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "pipe04/jobs/deep/er/mod.py").write_text(MODULE)
    (root / "pipe04/shallow.py").write_text("def shallow_task():\n    return 4\n")
    (root / "pipe04/again/pipe04/twice.py").write_text("def twice_task():\n    return 5\n")
    return root


def config(provider: str, compat: bool = True) -> dict:
    out = {"storage": {"provider": provider, "tenant": "team-bucket" if provider != "local"
                       else "/mnt/share", "namespace": "proj/Data"},
           "mirrors": {"m": {"root": "pipe04", "prefix": "MIRROR", "output_name": "out",
                             "output_format": "parquet"}}}
    if compat:
        out["compat"] = "fsmirror-0.4"
    return out


_ASK = textwrap.dedent('''
    import importlib, json, sys
    sys.path.insert(0, sys.argv[1])
    from fsmirror import FSMirror
    mod = importlib.import_module("pipe04.jobs.deep.er.mod")
    objects = {"task": mod.task, "Task": mod.Task, "instance": mod.instance,
               "Task.run": mod.Task.run, "instance.run": mod.instance.run,
               "nested": mod.nested,
               "shallow_task": importlib.import_module("pipe04.shallow").shallow_task,
               "twice_task": importlib.import_module("pipe04.again.pipe04.twice").twice_task}
    out = {}
    for case in json.loads(sys.argv[2]):
        provider, take_last, name, method, with_id = case
        fm = FSMirror(CONFIGS[provider], "m", take_last_instance=take_last)
        fm._id = RUN
        out[json.dumps(case)] = getattr(fm, method)(objects[name], with_id=with_id)
    print(json.dumps(out))
''')


def _cases():
    return [[p, take_last, name, method, with_id] for p in PROVIDERS
            for take_last in (True, False) for name in OBJECTS for method in METHODS
            for with_id in (True, False)]


def _objects(project):
    import importlib

    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    mod = importlib.import_module("pipe04.jobs.deep.er.mod")
    return {"task": mod.task, "Task": mod.Task, "instance": mod.instance,
            "Task.run": mod.Task.run, "instance.run": mod.instance.run, "nested": mod.nested,
            "shallow_task": importlib.import_module("pipe04.shallow").shallow_task,
            "twice_task": importlib.import_module("pipe04.again.pipe04.twice").twice_task}


def test_paths_match_fsmirror_04_under_the_switch(fsmirror04, project):
    cases = _cases()
    script = f"CONFIGS = {json.dumps({p: config(p) for p in PROVIDERS})}\nRUN = {RUN!r}\n" \
        + _ASK
    proc = subprocess.run([str(fsmirror04), "-c", script, str(project), json.dumps(cases)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    objects = _objects(project)
    ours = {}
    for case in cases:
        provider, take_last, name, method, with_id = case
        fm = FSMirror(config(provider), "m", take_last_instance=take_last, run_id=RUN)
        ours[json.dumps(case)] = getattr(fm, method)(objects[name], with_id=with_id)
    assert len(theirs) == len(cases) == 512
    assert ours == theirs
    # what the comparison covers, spelled out for one case of each kind
    got = {json.loads(k)[2]: v for k, v in theirs.items()
           if json.loads(k)[:2] == ["s3", True] and json.loads(k)[3:] == ["mirror_full", True]}
    assert got["task"] == f"s3://team-bucket/pipe04/jobs/deep/er/mod/task/{RUN}"
    assert got["instance"] == \
        f"s3://team-bucket/pipe04/jobs/deep/er/mod/pipe04.jobs.deep.er.mod/Task/{RUN}"
    assert got["Task.run"] == f"s3://team-bucket/pipe04/jobs/deep/er/mod/run/{RUN}"
    assert got["nested"] == f"s3://team-bucket/pipe04/jobs/deep/er/mod/inner/{RUN}"
    assert got["twice_task"] == f"s3://team-bucket/pipe04/twice/twice_task/{RUN}"


def test_the_id_is_fsmirror_04s_format_chosen_per_instance(fsmirror04, project):
    script = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(project)!r})
        from fsmirror import FSMirror
        from pipe04.shallow import shallow_task
        print(FSMirror({config("s3")!r}, "m").mirror_relative(shallow_task))
    ''')
    proc = subprocess.run([str(fsmirror04), "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    shape = r"pipe04/shallow/shallow_task/\d{14}"
    assert re.fullmatch(shape, proc.stdout.strip())
    fm = FSMirror(config("s3"), "m")
    ours = fm.mirror_relative(_objects(project)["shallow_task"])
    assert re.fullmatch(shape, ours)
    assert fm.mirror_relative(_objects(project)["shallow_task"]) == ours  # one id per instance


def test_fsmirror_04_calls_run_unchanged(project):
    objects = _objects(project)
    cfg = config("s3", compat=False)
    by_keyword = FSMirror(cfg, "m", take_last_instance=False, run_id=RUN)
    positional = FSMirror(cfg, "m", "date", False, run_id=RUN)
    assert by_keyword.mirror_relative(objects["task"]) == \
        positional.mirror_relative(objects["task"])
    uuid_ids = FSMirror(cfg, "m", "uuid")
    assert re.fullmatch(r"[0-9a-f]{32}", uuid_ids.run_id_for(cfg["mirrors"]["m"]))
    # the first folder named like the root, or the last
    assert FSMirror(cfg, "m", take_last_instance=False, run_id=RUN).mirror_relative(
        objects["twice_task"], with_id=False).startswith("pipe04/again/pipe04/twice")
    assert FSMirror(cfg, "m", run_id=RUN).mirror_relative(
        objects["twice_task"], with_id=False).startswith("pipe04/twice")


def test_every_mirror_error_is_an_fsmirror_exception(project, tmp_path):
    with pytest.raises(FSMirrorException):
        FSMirror(config("s3"), "no-such-mirror")
    outside = config("s3")
    outside["mirrors"]["m"]["root"] = "elsewhere"
    for compat in (True, False):
        if not compat:
            outside.pop("compat")
        with pytest.raises(FSMirrorException) as exc:
            FSMirror(outside, "m").mirror_relative(_objects(project)["task"])
        assert "outside the code this mirror covers" in str(exc.value)
    bad = tmp_path / "bad.yml"
    bad.write_text("mirrors: {m: {root: pipe04, compat: fsmirror-0.3}}\n")
    from s3sync_mirror import load_config

    with pytest.raises(FSMirrorException) as exc:
        load_config(str(bad))
    assert isinstance(exc.value, MirrorConfigError) and "compat" in str(exc.value)
    assert issubclass(MirrorError, FSMirrorException)
