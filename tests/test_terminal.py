"""The terminal experience, one test per complaint of the user who tried it (README
"Commands", "Exit codes"): commands and paths, summaries, --json, errors that say the fix,
help, the details of the plan table, the README's quick start and the team's ignore list.
Each goes through the real CLI."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from .conftest import ROOT, Team


def _team(tmp_path, names=("alice", "bob")):
    return Team("local", tmp_path, names=names)


# -- commands and paths ------------------------------------------------------------------
def test_a_misspelt_command_is_an_error_naming_the_closest_one(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    r = alice.run("stauts")
    assert r.returncode == 2 and "did you mean `status`" in r.stderr
    assert not (alice.data / ".S3").exists(), "nothing was touched"


def test_paths_that_match_nothing_are_named(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    (alice.repo / "README.md").write_text("not data")
    for arg, fragment in (("nosuch/file.csv", "nosuch/file.csv: matches no file"),
                          ("README.md", "README.md is not inside the data folder"),
                          ("../README.md", "not inside the data folder"),
                          (":x", ":x: matches no file")):
        r = alice.run("status", arg)
        assert r.returncode == 2 and fragment in r.stderr, (arg, r.stderr)
        assert "internal error" not in r.stderr


def test_a_data_path_with_a_colon_is_a_path(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("raw/run 12:30.csv", "x")
    alice.write("other.csv", "y")
    r = alice.run("--yes", "raw/run 12:30.csv", check_rc=0)
    assert "1 uploaded" in r.stdout
    r = alice.run("mirror", ":x")
    assert r.returncode == 2 and "is not module:qualname" in r.stderr


# -- summaries ---------------------------------------------------------------------------
def test_the_summary_names_what_was_left_and_how_to_decide_it(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    alice.write("shared.csv", "base")
    alice.sync()
    bob.sync()
    alice.write("shared.csv", "alice's")
    alice.sync()
    bob.write("shared.csv", "bob's")
    bob.write("new.csv", "n")
    r = bob.run("--yes")
    assert r.returncode == 3
    assert "left: shared.csv: conflict not resolved: choose with --conflict" in r.stdout
    assert "run again to decide them" not in r.stdout
    m = re.search(r"Done: 1 uploaded; 1 B in (\d+\.\d\d) s", r.stdout)
    assert m, r.stdout
    r = bob.run("--yes", "--conflict", "both", check_rc=0)
    assert re.search(r"kept both: shared\.csv \(yours is now shared\.conflict-bob-\S+\.csv",
                     r.stdout), r.stdout


def test_verbose_lists_every_action_with_its_outcome(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    alice.write("b/c.csv", "22")
    r = alice.run("--yes", "-v", check_rc=0)
    assert re.search(r"uploaded +a\.csv, 1 B", r.stdout) and \
        re.search(r"uploaded +b/c\.csv, 2 B", r.stdout), r.stdout


def test_reset_says_what_it_removed_or_that_there_was_nothing(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    r = alice.run("reset", "--yes", check_rc=0)
    assert "There was no sync state to remove." in r.stdout
    alice.sync()
    r = alice.run("reset", "--yes", check_rc=0)
    assert "Removed:" in r.stdout and "versions_local.csv" in r.stdout


# -- --json ------------------------------------------------------------------------------
def test_json_never_prompts_even_in_a_terminal(tmp_path):
    import pexpect

    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    child = pexpect.spawn(sys.executable, ["-m", "s3sync_mirror", "--json"],
                          cwd=str(alice.repo), env={**alice.env, "PYTHONPATH": str(ROOT),
                                                    "PATH": "/usr/bin:/bin"},
                          encoding="utf-8", timeout=60,
                          use_poll=True)  # select() fails on a descriptor above 1023
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    out = json.loads(child.before[child.before.index("{"):])
    assert [(a["path"], a["status"]) for a in out["actions"]] == [("a.csv", "skipped")]
    assert not (tmp_path / "remote" / "repo" / "Data" / "a.csv").exists()


# -- errors say the fix --------------------------------------------------------------------
def test_errors_name_the_problem_and_the_fix(tmp_path, aws_env):
    repo = tmp_path / "r"
    repo.mkdir()
    cases = [
        ("storage: {provider: s3, tenant: team-x, endpoint_url: 'http://127.0.0.1:9'}\n",
         1, ["cannot reach http://127.0.0.1:9", "is the server running?",
             "storage.endpoint_url"]),
        (f"storage: {{provider: s3, tenant: no-such-bucket, endpoint_url: '{aws_env}'}}\n",
         1, ["bucket 'no-such-bucket' does not exist", "fix storage.tenant"]),
        ("storage: {provider: local, tenant: ../nowhere}\n", 2,
         ["does not exist (an unmounted share?)", "storage.tenant"]),
        ("storage: {provider: local, tenant: .}\ndata_dir: s3sync_mirror.yml\n", 2,
         ["data_dir", "is a file, not a folder", "Fix:"]),
    ]
    for text, rc, fragments in cases:
        (repo / "s3sync_mirror.yml").write_text(text)
        r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "--yes"], cwd=repo,
                           capture_output=True, text=True, timeout=120,
                           env={**aws_env_vars(aws_env), "PYTHONPATH": str(ROOT),
                                "AWS_MAX_ATTEMPTS": "1", "PATH": "/usr/bin:/bin"})
        assert r.returncode == rc, (text, r.stdout, r.stderr)
        for f in fragments:
            assert f in r.stderr, (text, f, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "nowhere").exists(), "an unmounted share is never created"


def aws_env_vars(endpoint):
    from .conftest import AWS_ENV

    return {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint}


# -- help --------------------------------------------------------------------------------
def test_status_help_lists_only_what_status_takes_and_130_is_documented(tmp_path):
    out = subprocess.run([sys.executable, "-m", "s3sync_mirror", "status", "--help"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)},
                         cwd=tmp_path).stdout
    for absent in ("--yes", "--dry-run", "--conflict", "--max-delete", "--force", "--jobs"):
        assert absent not in out
    assert "--json" in out
    top = subprocess.run([sys.executable, "-m", "s3sync_mirror", "--help"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)},
                         cwd=tmp_path).stdout
    assert re.search(r"^\s*130\s+interrupted", top, re.M)


# -- details -----------------------------------------------------------------------------
def test_the_plan_table_stays_aligned_past_long_paths(tmp_path):
    alice = _team(tmp_path).alice
    long_name = "deep/" * 18 + "file.csv"
    alice.write(long_name, "x")
    alice.write("short.csv", "y")
    r = alice.run("status", check_rc=0)
    rows = [ln for ln in r.stdout.splitlines() if "new locally" in ln]
    assert len(rows) == 2
    assert len({ln.index("new locally") for ln in rows}) == 1, r.stdout
    assert "Plan: 2 uploads." in r.stdout


def _alice_deletes_a(tmp_path):
    """Three files shared by alice and bob; then alice deletes a.csv and syncs."""
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    for i, name in enumerate(("a.csv", "b.csv", "c.csv")):
        alice.write(name, str(i))
    alice.sync()
    bob.sync()
    alice.delete("a.csv")
    alice.sync()
    return bob


def test_dry_run_words_match_the_plan(tmp_path):
    bob = _alice_deletes_a(tmp_path)
    r = bob.run("--dry-run", "--yes", check_rc=0)
    assert "would delete locally: a.csv" in r.stdout and "delete local:" not in r.stdout


def test_deleted_local_log_records_who_deleted(tmp_path):
    bob = _alice_deletes_a(tmp_path)
    bob.sync()
    log = (bob.data / ".S3" / "deleted_local.csv").read_text()
    assert "a.csv,bob," in log


def test_mirror_finds_the_artifact_the_last_run_wrote(tmp_path):
    env = {"PYTHONPATH": str(ROOT)}
    sample = tmp_path / "sample_repo"
    subprocess.run(["cp", "-r", str(ROOT / "sample_repo"), str(sample)], check=True)
    (tmp_path / ".sample_remote").mkdir()
    wrote = subprocess.run([sys.executable, "-m", "etl.lift"], cwd=sample, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    first = subprocess.run([sys.executable, "-m", "s3sync_mirror", "mirror",
                            "etl.lift:lift_sales"], cwd=sample, env=env, capture_output=True,
                           text=True, check=True).stdout
    assert f"local:    {wrote}" in first


# -- the README's quick start and the team's ignore list -------------------------------------
def test_quick_start_first_command_works_from_the_repository_root(tmp_path):
    from .test_readme import quick_start_commands

    first = quick_start_commands()[0]
    assert first.startswith("python3 -m venv .venv") and " cd " not in first
    tail = first.split("&& ", 2)[2]  # the sync itself, from the repository root
    assert tail.startswith(".venv/bin/python -m s3sync_mirror --config sample_repo/")
    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", *tail.split()[3:], "--yes"],
                       cwd=repo, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 uploaded" in r.stdout
    assert not (repo / "sample_repo" / ".venv").exists()
    assert (repo / ".sample_remote" / "sample_repo" / "Data" / "raw" / "2024" /
            "sales.csv").is_file()


def test_the_teams_ignore_list_in_the_config_applies_to_every_member(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    for m in (alice, bob):
        cfg = m.repo / "s3sync_mirror.yml"
        cfg.write_text(cfg.read_text() + 'ignore: ["*.tmp", "scratch/"]\n')
    alice.write("keep.csv", "k")
    alice.write("x.tmp", "t")
    alice.write("scratch/notes.txt", "s")
    alice.sync()
    assert team.remote_files() == {"keep.csv": b"k"}
    bob.write("mine.tmp", "b")
    bob.sync()
    assert bob.files() == {"keep.csv": b"k", "mine.tmp": b"b"}
    assert team.remote_files() == {"keep.csv": b"k"}


def test_init_writes_the_resolved_namespace_and_a_working_config(tmp_path):
    repo = tmp_path / "proj-carol"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin",
                    "git@example.com:team/project.git"], check=True)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "init"], cwd=repo, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (repo / "s3sync_mirror.yml").read_text()
    assert "namespace: project/Data" in text, text
    assert "made the remote folder" in r.stdout and (tmp_path / "proj-carol-remote").is_dir()
    assert "/Data/" in (repo / ".gitignore").read_text()
    (repo / "Data" / "a.csv").write_text("1")
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "--yes"], cwd=repo, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "proj-carol-remote" / "project" / "Data" / "a.csv").read_text() == "1"
