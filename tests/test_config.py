"""Configuration (docs/interface.md#configuration): lookup, the MIRROR namespace, the legacy
JSON, and refusals."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from s3sync_mirror.config import load_settings
from s3sync_mirror.core.errors import ConfigError

from .conftest import ROOT


def write(p, text):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_found_upwards_and_mirror_namespace(tmp_path):
    repo = tmp_path / "my-repo"
    write(repo / "s3sync_mirror.yml", "storage: {provider: s3, tenant: team-bucket}\n")
    deep = repo / "src" / "pkg"
    deep.mkdir(parents=True)
    s = load_settings(deep)
    assert s.repo_root == repo
    assert s.prefix == "my-repo/Data"
    assert s.data_dir == repo / "Data"
    assert s.remote_url == "s3://team-bucket/my-repo/Data"


def test_explicit_namespace_data_dir_and_user(tmp_path):
    write(tmp_path / "s3sync_mirror.yml",
          "storage: {provider: s3, tenant: b-1, namespace: /team/shared/}\n"
          "data_dir: data/shared\nuser: carol\n")
    s = load_settings(tmp_path)
    assert (s.prefix, s.data_dir, s.user) == ("team/shared", tmp_path / "data/shared", "carol")


def test_local_tenant_is_relative_to_the_config_file(tmp_path):
    write(tmp_path / "repo" / "s3sync_mirror.yml",
          "storage: {provider: local, tenant: ../remote, namespace: ''}\n")
    s = load_settings(tmp_path / "repo")
    assert s.tenant == str(tmp_path / "remote")
    assert s.remote_url == str(tmp_path / "remote")


def test_env_and_explicit_override(tmp_path, monkeypatch):
    a = write(tmp_path / "a" / "s3sync_mirror.yml", "storage: {provider: s3, tenant: aaa}\n")
    b = write(tmp_path / "b.yml", "storage: {provider: s3, tenant: bbb}\n")
    monkeypatch.setenv("S3SYNC_MIRROR_CONFIG", str(b))
    assert load_settings(a.parent).tenant == "bbb"
    assert load_settings(a.parent, str(a)).tenant == "aaa"


def test_git_user_name_is_the_default_user(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    subprocess.run(["git", "config", "--global", "user.name", "Grace Hopper"], check=True)
    write(tmp_path / "r" / "s3sync_mirror.yml", "storage: {provider: s3, tenant: bbb}\n")
    assert load_settings(tmp_path / "r").user == "Grace Hopper"


@pytest.mark.parametrize("text,fragments", [
    ("storage: {provider: gcs, tenant: x}\n", ["storage.tenant", "not a valid bucket name"]),
    ("storage: {provider: blob, tenant: Team_Data}\n", ["storage.tenant", "container name"]),
    ("storage: {provider: s3}\n", ["storage.tenant", "missing"]),
    ("storage: {provider: s3, tenant: x\n", ["not valid YAML"]),
    ("storage: {provider: s3, tenant: bkt}\ncolour: blue\n", ["colour", "unknown key"]),
    ("storage: {provider: s3, tenant: bkt, bucket: x}\n", ["storage.bucket", "unknown key"]),
    ("storage: {provider: s3, tenant: 's3://bkt/pfx'}\n", ["storage.tenant", "bucket name"]),
    ("storage: {provider: s3, tenant: Bad_Bucket}\n", ["storage.tenant", "valid bucket"]),
    ("storage: {provider: s3, tenant: bkt}\ndata_dir: /abs\n", ["data_dir", "inside the repo"]),
    ("storage: {provider: s3, tenant: bkt}\ndata_dir: ../up\n", ["data_dir"]),
    ("storage: {provider: s3, tenant: bkt, aws_secret_access_key: abc}\n",
     ["aws_secret_access_key", "credential", "AWS_PROFILE"]),
    ("storage: {provider: s3, tenant: bkt, endpoint_url: 'http://u:p@h:9000'}\n",
     ["endpoint_url", "password"]),
    ("storage: {provider: s3, tenant: bkt, namespace: 'a/../b'}\n", ["storage.namespace"]),
    ("- just\n- a list\n", ["top level", "mapping"]),
    ("storage: [1, 2]\n", ["storage", "mapping"]),
    ("storage: {provider: s3, tenant: bkt}\nmirrors: {etl: {root: etl, colour: red}}\n",
     ["mirrors.etl.colour"]),
])
def test_invalid_configs_are_refused_with_one_clear_message(tmp_path, text, fragments):
    cfg = write(tmp_path / "s3sync_mirror.yml", text)
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path)
    message = str(exc.value)
    assert str(cfg) in message
    for f in fragments:
        assert f in message, message
    assert "Fix" in message
    assert exc.value.exit_code == 2


def test_cli_exits_2_and_touches_nothing(tmp_path):
    write(tmp_path / "s3sync_mirror.yml",
          f"storage: {{provider: ftp, tenant: {tmp_path / 'remote'}}}\n")
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "a.csv").write_text("a")
    before = sorted(p for p in tmp_path.rglob("*"))
    for cmd in ([], ["status"], ["--yes"], ["reset", "--yes"]):
        r = subprocess.run([sys.executable, "-m", "s3sync_mirror", *cmd], cwd=tmp_path,
                           capture_output=True, text=True, env={"PYTHONPATH": str(ROOT),
                                                                "PATH": "/usr/bin:/bin"})
        assert r.returncode == 2, r.stderr
        assert "storage.provider" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_no_config_at_all_says_how_to_make_one(tmp_path):
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "status"], cwd=tmp_path,
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT),
                                                            "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    assert "init" in r.stderr


# -- the original tool's s3synchrony.json ---------------------------------------------------
def test_legacy_json_s3(tmp_path):
    write(tmp_path / "s3synchrony.json", json.dumps({
        "platform": "S3", "aws_bkt": "old-bucket", "remote_data_dir": "proj/Data",
        "local_data_rel_dir": "MyData", "_name": "proj",
        "credentials": {"endpoint_url": "http://127.0.0.1:9000"}}))
    s = load_settings(tmp_path)
    assert (s.provider, s.tenant, s.prefix) == ("s3", "old-bucket", "proj/Data")
    assert s.data_dir == tmp_path / "MyData"
    assert s.endpoint_url == "http://127.0.0.1:9000"


def test_legacy_json_uses_name_when_no_remote_dir(tmp_path):
    write(tmp_path / "s3synchrony.json", json.dumps({"aws_bkt": "old-bucket", "_name": "proj"}))
    assert load_settings(tmp_path).prefix == "proj/Data"


def test_legacy_json_local(tmp_path):
    write(tmp_path / "repo" / "s3synchrony.json",
          json.dumps({"platform": "Local", "remote_data_dir": "../share"}))
    s = load_settings(tmp_path / "repo")
    assert (s.provider, s.tenant, s.prefix) == ("local", str(tmp_path / "share"), "")


def test_yaml_wins_over_legacy_json(tmp_path):
    write(tmp_path / "s3synchrony.json", json.dumps({"aws_bkt": "old-bucket"}))
    write(tmp_path / "s3sync_mirror.yml", "storage: {provider: s3, tenant: new-bucket}\n")
    assert load_settings(tmp_path).tenant == "new-bucket"


@pytest.mark.parametrize("secret", ["aws_secret_access_key", "aws_access_key_id",
                                    "aws_session_token"])
def test_legacy_secrets_are_refused_with_where_to_put_them(tmp_path, secret):
    write(tmp_path / "s3synchrony.json", json.dumps({
        "aws_bkt": "old-bucket", "credentials": {secret: "AKIAXXXXXXXX"}}))
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path)
    msg = str(exc.value)
    assert secret in msg and "AWS_ACCESS_KEY_ID" in msg and "AKIAXXXXXXXX" not in msg
