"""The Python API (docs/interface.md#python-api)."""
from __future__ import annotations


import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import ConfigError, SyncFailed, UsageError


def test_exports():
    assert s3sync_mirror.get_supported_platforms() == ["Local", "S3", "GCS", "Blob"]
    from s3sync_mirror import DataPlatformConnection, LocalConnection, S3Connection
    assert issubclass(LocalConnection, DataPlatformConnection)
    assert issubclass(S3Connection, DataPlatformConnection)
    for name in ("run", "smart_sync", "reset_confirm", "FSMirror", "load_config"):
        assert callable(getattr(s3sync_mirror, name))


@pytest.mark.parametrize("provider,tenant,client", [
    ("gcs", "team-bucket", "google.cloud.storage"), ("blob", "team-data", "azure.storage.blob")])
def test_a_provider_without_its_client_library_is_exit_2_with_the_pip_command(
        tmp_path, monkeypatch, provider, tenant, client):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == client else real(name, *a))
    platform = {"gcs": "GCS", "blob": "Blob"}[provider]
    assert platform not in s3sync_mirror.get_supported_platforms()
    (tmp_path / "s3sync_mirror.yml").write_text(
        f"storage: {{provider: {provider}, tenant: {tenant}, namespace: p/Data}}\n")
    with pytest.raises(ConfigError) as e:
        s3sync_mirror.run(tmp_path, yes=True, quiet=True)
    assert e.value.exit_code == 2
    assert f"pip install 's3sync_mirror[{provider}]'" in str(e.value)


def test_run_returns_actions_and_outcomes(local_team, monkeypatch):
    alice = local_team.alice
    alice.write("a.csv", "1")
    result = s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    assert result.exit_code == 0 and result.ok
    assert [(r["path"], r["action"], r["status"]) for r in result.rows()] == [
        ("a.csv", "upload", "done")]
    assert result.to_dict()["summary"]["done"] == 1
    status = s3sync_mirror.run(alice.repo, status=True, quiet=True)
    assert status.plan.empty


def test_run_limits_to_paths(local_team):
    alice = local_team.alice
    alice.write("x/a.csv", "1")
    alice.write("y/b.csv", "2")
    s3sync_mirror.run(alice.repo, yes=True, quiet=True, paths=["Data/x"])
    assert set(local_team.remote_files()) == {"x/a.csv"}


def test_run_raises_documented_errors(tmp_path, local_team):
    with pytest.raises(ConfigError):
        s3sync_mirror.run(tmp_path)
    with pytest.raises(UsageError):
        s3sync_mirror.run(local_team.alice.repo, colour="blue")
    with pytest.raises(UsageError):
        s3sync_mirror.run(local_team.alice.repo, conflict="maybe", quiet=True)


def _bob_blocked_by_a_folder(local_team):
    """alice shares ok.csv and locked.csv; bob has a folder named locked.csv where that
    file should land, so that one download cannot be placed."""
    alice = local_team.alice
    alice.write("ok.csv", "fine")
    alice.write("locked.csv", "x")
    s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    bob = local_team.bob
    bob.data.mkdir(parents=True)
    (bob.data / "locked.csv").mkdir()  # a folder where a file should land
    with pytest.raises(SyncFailed) as exc:
        s3sync_mirror.run(bob.repo, yes=True, quiet=True)
    return bob, exc.value


def test_run_raises_sync_failed_with_the_result(local_team):
    bob, failure = _bob_blocked_by_a_folder(local_team)
    rows = {r["path"]: r for r in failure.result.rows()}
    assert rows["ok.csv"]["status"] == "done"
    assert rows["locked.csv"]["status"] == "failed"
    assert rows["locked.csv"]["error"].startswith("locked.csv: ")
    assert "locked.csv" in str(failure)
    assert failure.result.exit_code == 1
    # bob's folder is left as it was, and nothing else landed in his data folder
    assert (bob.data / "locked.csv").is_dir()
    assert list((bob.data / "locked.csv").iterdir()) == []
    assert bob.files() == {"ok.csv": b"fine"}
    assert "locked.csv" not in bob.baseline() and "ok.csv" in bob.baseline()


def test_a_download_blocked_by_a_local_folder_names_the_local_cause(local_team):
    _bob, failure = _bob_blocked_by_a_folder(local_team)
    error = {r["path"]: r for r in failure.result.rows()}["locked.csv"]["error"]
    assert "teammate" not in error and "versions_remote.csv" not in error, error
    assert "a folder of that name is in the way here" in error


def test_smart_sync_local_keyword_style(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "a.csv").write_text("1")
    (tmp_path.parent / "remote").mkdir(exist_ok=True)  # the share must exist
    r = s3sync_mirror.smart_sync(platform="Local", remote_dir="../remote", yes=True,
                                 quiet=True, user="alice")
    assert r.ok
    assert (tmp_path.parent / "remote" / "a.csv").read_text() == "1"


def test_smart_sync_s3_keyword_style(tmp_path, monkeypatch, bucket, aws_env):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "a.csv").write_text("1")
    r = s3sync_mirror.smart_sync(platform="S3", aws_bkt=bucket, aws_prfx="team/data",
                                 datafolder="Data", yes=True, quiet=True)
    assert r.ok
    import boto3
    body = boto3.client("s3", endpoint_url=aws_env).get_object(
        Bucket=bucket, Key="team/data/a.csv")["Body"].read()
    assert body == b"1"


def test_smart_sync_refuses_bad_keywords(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError):
        s3sync_mirror.smart_sync(platform="FTP")
    with pytest.raises(UsageError):
        s3sync_mirror.smart_sync(platform="S3")
    with pytest.raises(UsageError):
        s3sync_mirror.smart_sync(platform="Local")


def test_reset_confirm_declined_removes_nothing(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    with create_pipe_input() as inp:
        inp.send_text("n")
        assert s3sync_mirror.reset_confirm(alice.repo, prompt_io=(inp, DummyOutput())) is False
    assert (alice.data / ".S3" / "versions_local.csv").exists()
    assert ".S3/versions_remote.csv" in local_team.remote_objects()
    with create_pipe_input() as inp:
        inp.send_text("y")
        assert s3sync_mirror.reset_confirm(alice.repo, prompt_io=(inp, DummyOutput())) is True
    assert not (alice.data / ".S3" / "versions_local.csv").exists()
    assert alice.files() == {"a.csv": b"1"}


def test_reset_confirm_without_a_terminal_does_not_ask_and_returns_false(local_team):
    alice = local_team.alice
    alice.write("a.csv", "1")
    s3sync_mirror.run(alice.repo, yes=True, quiet=True)
    assert s3sync_mirror.reset_confirm(alice.repo) is False
    assert (alice.data / ".S3" / "versions_local.csv").exists()
