"""The default install, as the README's first command leaves it (``pip install -e .``, no
extras): a Python in which the ``google`` and ``azure`` packages cannot be imported (a
``sys.meta_path`` finder refuses them, as an interpreter without them does) lists the
platforms it can sync with, prints every command's ``--help``, syncs with a folder remote,
and refuses a config naming gcs or blob with the pip command that fixes it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

WITHOUT_EXTRAS = """
import runpy, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("google", "azure"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
for name in [n for n in sys.modules if n.split(".")[0] in ("google", "azure")]:
    del sys.modules[name]  # a namespace package a .pth file put there at startup
sys.meta_path.insert(0, Absent())
"""

COMMANDS = ("sync", "status", "reset", "init", "mirror", "log", "restore", "tag", "prune",
            "tags", "files", "mark", "info", "meta", "sparse", "store", "pin", "pins", "artifact")


def _python(code: str, *args, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS + code, *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return _python("sys.argv = ['s3sync_mirror', *sys.argv[1:]]\n"
                   "runpy.run_module('s3sync_mirror', run_name='__main__')", *args, cwd=cwd)


def test_the_blocker_really_hides_the_packages():
    r = _python("import importlib\ntry:\n    importlib.import_module('google.cloud.storage')\n"
                "except ModuleNotFoundError:\n    print('absent')\n")
    assert r.stdout.strip() == "absent", r.stderr


def test_supported_platforms_and_the_seed_api_without_extras():
    r = _python("import s3sync_mirror as m\nprint(m.get_supported_platforms())\n"
                "print(all(callable(getattr(m, n)) for n in ('get_supported_platforms',)))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["['Local', 'S3']", "True"]


@pytest.mark.parametrize("command", ("",) + COMMANDS)
def test_every_help_without_extras(command):
    r = _cli(*([command] if command else []), "--help")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout


def test_a_folder_remote_syncs_and_a_gcs_config_is_refused_with_the_fix(tmp_path: Path):
    repo, share = tmp_path / "repo", tmp_path / "share"
    (repo / "Data").mkdir(parents=True)
    share.mkdir()
    (repo / "Data" / "a.csv").write_text("1\n")
    (repo / "s3sync_mirror.yml").write_text(
        f"storage:\n  provider: local\n  tenant: {share}\n  namespace: team/Data\n"
        f"data_dir: Data\nuser: alice\n")
    r = _cli("--yes", cwd=repo)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (share / "team" / "Data" / "a.csv").read_text() == "1\n"
    for provider, extra in (("gcs", "gcs"), ("blob", "blob")):
        (repo / "s3sync_mirror.yml").write_text(
            f"storage:\n  provider: {provider}\n  tenant: team-bucket\n"
            f"  namespace: team/Data\ndata_dir: Data\nuser: alice\n")
        r = _cli("--yes", cwd=repo)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"pip install 's3sync_mirror[{extra}]'" in r.stderr, r.stderr


def test_the_console_script_pyproject_declares_runs():
    """``s3sync-mirror`` as pip installs it: the entry point pyproject.toml names must be a
    callable that prints the usage (it once named a package, not its ``main``)."""
    import tomllib

    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = spec["s3sync-mirror"].partition(":")
    r = _python(f"import {module} as m\nsys.argv = ['s3sync-mirror', '--help']\n"
                f"try:\n    m.{attr}()\nexcept SystemExit as e:\n    assert e.code == 0\n")
    assert r.returncode == 0, r.stderr
    assert "usage: s3sync-mirror" in r.stdout
