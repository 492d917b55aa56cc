"""The parsed config kept by its text (core/parsecache.py): a command whose config has not
changed does not import the YAML parser, and nothing a user writes is ever read stale."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from s3sync_mirror.config import load_settings
from s3sync_mirror.core import parsecache
from s3sync_mirror.core.errors import ConfigError

from .conftest import ROOT

CONFIG = "storage: {provider: s3, tenant: team-bucket}\nuser: ann\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.delenv(parsecache.OFF_ENV, raising=False)
    return folder / "s3sync_mirror" / "yaml"


def _config(repo, text=CONFIG):
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "s3sync_mirror.yml").write_text(text)
    return repo


def _loads_yaml(repo, env) -> bool:
    """Whether a fresh interpreter imported the YAML parser to read the config."""
    code = ("import sys; from s3sync_mirror.config import load_settings; "
            "s = load_settings(sys.argv[1]); print(s.user, 'yaml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(repo)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "ann"
    return out[1] == "True"


def test_a_second_command_does_not_import_yaml(tmp_path, cache):
    repo = _config(tmp_path / "repo")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert _loads_yaml(repo, env)
    assert len(list(cache.glob("*.json"))) == 1
    assert not _loads_yaml(repo, env)
    assert _loads_yaml(repo, {**env, parsecache.OFF_ENV: "1"})  # turned off: parsed


def test_an_edit_is_always_read_even_with_the_same_size_and_time(tmp_path, cache):
    repo = _config(tmp_path / "repo")
    cfg = repo / "s3sync_mirror.yml"
    assert load_settings(repo).user == "ann"
    st = cfg.stat()
    cfg.write_text(CONFIG.replace("ann", "bob"))
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cfg.stat().st_size == st.st_size
    assert load_settings(repo).user == "bob"
    assert len(list(cache.glob("*.json"))) == 2


def test_a_damaged_or_foreign_cache_file_is_parsed_over(tmp_path, cache):
    repo = _config(tmp_path / "repo")
    assert load_settings(repo).user == "ann"
    (kept,) = cache.glob("*.json")
    for damage in ("{not json", '{"format": 1, "key": "other", "doc": {}}', "[]", ""):
        kept.write_text(damage)
        assert load_settings(repo).user == "ann"
    # a file that names the right key is believed only in this format
    kept.write_text('{"format": 99, "key": "%s", "doc": {"user": "eve"}}' % kept.stem)
    assert load_settings(repo).user == "ann"


def test_what_json_cannot_carry_is_parsed_every_time(tmp_path, cache):
    calls = []

    def parse(text):
        calls.append(text)
        import yaml

        return yaml.safe_load(text)

    for text in ("when: 2026-12-06\n", "1: one\n", "{a: 1}\n"):
        assert parsecache.parsed(text, parse) == parsecache.parsed(text, parse)
    assert calls.count("when: 2026-12-06\n") == 2  # a date: not JSON
    assert calls.count("1: one\n") == 2  # an int key would come back a string
    assert calls.count("{a: 1}\n") == 1


def test_invalid_yaml_is_refused_the_same_way_each_time(tmp_path, cache):
    repo = _config(tmp_path / "repo", "storage: {provider: s3\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_settings(repo)
    assert not cache.exists() or not list(cache.glob("*.json"))
    repo = _config(tmp_path / "other", "storage: [1, 2]\n")  # valid YAML, a bad config
    for _ in range(2):
        with pytest.raises(ConfigError, match="storage"):
            load_settings(repo)


def test_an_unwritable_cache_is_no_failure(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    repo = _config(tmp_path / "repo")
    assert load_settings(repo).user == "ann"
    assert load_settings(repo).user == "ann"
    assert not list(tmp_path.rglob("*.tmp"))
