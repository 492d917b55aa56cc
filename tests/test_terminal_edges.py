"""The rough edges a new user found around the conflict prompt (issue 24's numbered list),
one test each, through the real CLI: ``log -n``, options in the wrong place or mistyped,
counts instead of walls of lines, an unknown path to ``log``, ``store set``, an
unreachable server, who "I" am, ``init`` with a missing folder, names that cannot sync."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from .conftest import AWS_ENV, ROOT, Team


def _team(tmp_path, names=("alice", "bob")):
    return Team("local", tmp_path, names=names)


def _versions(member, n=3, name="a.csv"):
    for i in range(n):
        member.write(name, f"v{i}\n")
        member.sync()


# 1 ---------------------------------------------------------------------------------------
def test_1_log_n_limits_one_file_and_json(tmp_path):
    alice = _team(tmp_path).alice
    _versions(alice, 3)
    r = alice.run("log", "a.csv", "-n", "1", check_rc=0)
    rows = [ln for ln in r.stdout.splitlines() if re.match(r"v\d", ln)]
    assert len(rows) == 1 and rows[0].startswith("v1 "), r.stdout
    assert "2 more (use -n 0 for all)" in r.stdout
    r = alice.run("log", "--json", "-n", "2", check_rc=0)
    assert len(json.loads(r.stdout)["versions"]) == 2
    r = alice.run("log", "a.csv", check_rc=0)  # without -n: every version of one file
    assert len([ln for ln in r.stdout.splitlines() if re.match(r"v\d", ln)]) == 3


# 2 ---------------------------------------------------------------------------------------
def test_2_an_option_in_the_wrong_place_or_mistyped_says_why(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("a.csv", "1")
    r = alice.run("-j", "0", "status")
    assert r.returncode == 2
    assert "-j is not an option of `status` (it belongs to `sync`)" in r.stderr, r.stderr
    r = alice.run("--yess")
    assert r.returncode == 2 and "did you mean `--yes`?" in r.stderr, r.stderr
    r = alice.run("sync", "--frobnicate")
    assert r.returncode == 2 and "unknown option --frobnicate for `sync`" in r.stderr
    assert "s3sync-mirror sync --help" in r.stderr
    for out in (alice.run("--yess").stderr, alice.run("-j", "0", "status").stderr):
        assert "usage:" not in out, "one line with the reason, not the top-level usage"
    assert not (alice.data / ".S3").exists(), "nothing was touched"


# 9 ---------------------------------------------------------------------------------------
def test_9_log_of_a_path_that_matches_nothing_is_an_error(tmp_path):
    alice = _team(tmp_path).alice
    _versions(alice, 1)
    r = alice.run("log", "nothere.csv")
    assert r.returncode == 2 and "nothere.csv: matches no file" in r.stderr, r.stderr
    alice.write("new.csv", "not synced yet")  # in the folder, not yet in the history
    assert alice.run("log", "new.csv", check_rc=0).stdout.strip() == "No versions found."


# 11 --------------------------------------------------------------------------------------
def test_11_store_set_says_what_it_set_and_keeps_the_type(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1")
    alice.sync()
    r = alice.run("store", "set", "new_files", "3", check_rc=0)
    assert "set new_files = 3 (int)" in r.stdout
    r = bob.run("store", "set", "new_files", "abc")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "new_files holds an int (set by alice)" in r.stderr and "--type" in r.stderr
    r = bob.run("store", "get", "new_files", "--json", check_rc=0)
    assert json.loads(r.stdout) == 3, "the int is still an int"
    r = bob.run("store", "set", "new_files", "abc", "--type", "str", check_rc=0)
    assert "set new_files = abc (str, was int)" in r.stdout


# 13 --------------------------------------------------------------------------------------
def test_13_an_unreachable_server_is_named_without_internal_files(tmp_path):
    repo = tmp_path / "r"
    (repo / "Data").mkdir(parents=True)
    (repo / "s3sync_mirror.yml").write_text(
        "storage: {provider: s3, tenant: team-x, endpoint_url: 'http://127.0.0.1:9'}\n"
        "user: alice\n")
    env = {**AWS_ENV, "PYTHONPATH": str(ROOT), "AWS_MAX_ATTEMPTS": "1", "PATH": "/usr/bin:/bin"}
    for args in (["--yes"], ["log"]):
        r = subprocess.run([sys.executable, "-m", "s3sync_mirror", *args], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("error: cannot reach http://127.0.0.1:9"), r.stderr
        assert ".S3/" not in r.stderr


# 14 --------------------------------------------------------------------------------------
def test_14_who_i_am_is_per_member_never_in_the_shared_file(tmp_path):
    alice = _team(tmp_path, ("alice",)).alice
    cfg = alice.repo / "s3sync_mirror.yml"
    cfg.write_text(cfg.read_text().replace("user: alice\n", "user: null\n"))
    shared = cfg.read_text()
    env = {"GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(alice.repo)], check=True,
                   env={**os.environ, **env})
    subprocess.run(["git", "-C", str(alice.repo), "config", "s3sync-mirror.user", "ana"],
                   check=True, env={**os.environ, **env})
    alice.write("a.csv", "1")
    alice.run("--yes", env=env, check_rc=0)  # the clone-local setting
    alice.write("b.csv", "2")
    alice.run("--yes", env={**env, "S3SYNC_MIRROR_USER": "al"}, check_rc=0)  # the variable
    alice.write("c.csv", "3")
    alice.run("--user", "a.l.", "--yes", env={**env, "S3SYNC_MIRROR_USER": "al"},
              check_rc=0)  # --user wins
    log = json.loads(alice.run("log", "--json", env=env, check_rc=0).stdout)["versions"]
    assert {v["path"]: v["author"] for v in log} == {"a.csv": "ana", "b.csv": "al",
                                                     "c.csv": "a.l."}
    cfg.write_text(shared.replace("user: null\n", "user: teamwide\n"))
    alice.write("a.csv", "edited")
    alice.run("--yes", env=env, check_rc=0)  # the member's own setting beats the file
    log = json.loads(alice.run("log", "a.csv", "--json", "-n", "1", env=env).stdout)
    assert log["versions"][0]["author"] == "ana"
    assert cfg.read_text() == shared.replace("user: null\n", "user: teamwide\n"), \
        "nothing was written into the tracked file"
    assert "s3sync-mirror.user" not in cfg.read_text()


def test_14_init_tells_each_member_how_to_set_their_name(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "init"], cwd=repo,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (repo / "s3sync_mirror.yml").read_text()
    assert "user: null" in text and "git config s3sync-mirror.user" in text


# 15 --------------------------------------------------------------------------------------
def test_15_init_refuses_a_folder_remote_that_does_not_exist(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    missing = tmp_path / "nonexistent" / "x"
    r = subprocess.run([sys.executable, "-m", "s3sync_mirror", "init", "--force", "--tenant",
                        str(missing)], cwd=repo, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "does not exist" in r.stderr and "mount the share, or create the folder" in r.stderr
    assert not (repo / "s3sync_mirror.yml").exists() and not missing.exists()


# 16 --------------------------------------------------------------------------------------
def test_16_a_name_that_cannot_sync_says_how_to_fix_it(tmp_path):
    alice = _team(tmp_path).alice
    alice.write("ok.csv", "1")
    alice.write("tab\there.csv", "2")
    alice.write("back\\slash.csv", "3")
    r = alice.run("--yes", check_rc=0)
    out = r.stdout + r.stderr
    for name in ("'tab\\there.csv'", "'back\\\\slash.csv'"):
        assert re.search(re.escape(f"skipped {name}: its name ") + r".*rename it to sync it",
                         out), out


# 3 ---------------------------------------------------------------------------------------
# The CLI, with a real SIGINT sent to itself as the first transfer reports progress (tests
# only): the run is interrupted with every other file untouched, whatever the machine's
# speed.
CTRL_C_AT_FIRST_BYTE = r"""
import os, signal, sys
from s3sync_mirror.pipeline import execute
real = execute.Executor.advance
def ctrl_c_once(self, n, _real=real, _sent=[]):
    if not _sent:
        _sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
    return _real(self, n)
execute.Executor.advance = ctrl_c_once
from s3sync_mirror.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_3_ctrl_c_mid_sync_counts_what_was_left(tmp_path):
    alice = _team(tmp_path).alice
    for i in range(40):
        alice.write(f"f{i:02}.csv", f"{i}\n")
    env = {**os.environ, **alice.env, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", CTRL_C_AT_FIRST_BYTE, "--yes", "--jobs", "1"],
                       cwd=alice.repo, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 130, r.stdout + r.stderr
    m = re.search(r"left: (\d+) files: interrupted: run again to finish \(-v lists them\)",
                  r.stdout)
    done = re.search(r"Done: (\d+) uploaded", r.stdout)
    # the interrupt reaches the main thread while the worker goes on a little (how far
    # depends on the machine): what is left is counted in one line, and adds up
    assert m and int(m.group(1)) >= 1, r.stdout
    assert int(m.group(1)) + (int(done.group(1)) if done else 0) == 40, r.stdout
    assert not re.search(r"left: f\d\d\.csv", r.stdout), "a count, not a line per file"
    alice.sync()
    assert len(alice.baseline()) == 40, "the next run finishes the work"


def _spawn(member, *args):
    import io

    import pexpect

    env = {**os.environ, **member.env, "PYTHONPATH": str(ROOT), "TERM": "xterm",
           "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "s3sync_mirror", *args], cwd=str(member.repo),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200),
                          use_poll=True)
    child.logfile_read = io.StringIO()
    return child


def _finish(child) -> tuple[int, str]:
    import pexpect

    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.logfile_read.getvalue()


PLAN_Q = "Apply this plan? [Y]es / [n]o / [c]hoose by group / [d]etails"


def test_3_no_at_the_prompt_and_ctrl_c_at_the_prompt_say_nothing_was_done(tmp_path):
    team = _team(tmp_path)
    alice = team.alice
    for i in range(12):
        alice.write(f"f{i:02}.csv", f"{i}\n")
    child = _spawn(alice)
    child.expect_exact(PLAN_Q)
    child.send("n")
    rc, out = _finish(child)
    assert rc == 3, out
    assert "Nothing done." in out and "Done: nothing completed" not in out, out
    assert "left: 12 files: not confirmed: run again to decide, or --yes" in out, out
    assert "left: f00.csv" not in out
    child = _spawn(alice)
    child.expect_exact(PLAN_Q)
    child.send("\x03")
    rc, out = _finish(child)
    assert rc == 130, out
    assert "interrupted at the prompt: nothing was carried out" in out, out
    assert "what completed is recorded" not in out
    assert team.remote_files() == {}, "nothing was uploaded"


# 12 --------------------------------------------------------------------------------------
def test_12_moves_show_size_and_author_and_copies_add_up(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    body = "row,value\n" * 500  # 4.9 KiB
    alice.write("old.csv", body)
    alice.sync()
    bob.sync()
    (alice.data / "old.csv").rename(alice.data / "new.csv")
    r = alice.run("status", check_rc=0)
    assert re.search(r"move on remote +new\.csv +4\.9 KiB +renamed locally from old\.csv",
                     r.stdout), r.stdout
    alice.sync()
    r = bob.run("status", check_rc=0)
    assert re.search(r"move locally +new\.csv +4\.9 KiB +renamed on remote by alice from "
                     r"old\.csv", r.stdout), r.stdout
    bob.sync()
    for name in ("c1.csv", "c2.csv"):  # content the remote already holds: copied there
        bob.write(name, body)
    bob.write("tiny.csv", "t\n")
    r = bob.sync()
    assert "Done: 3 uploaded (2 sent nothing: the content was already there, copied in " \
           "place); 2 B in" in r.stdout, r.stdout


# 10 --------------------------------------------------------------------------------------
def test_10_prune_dry_run_lists_the_versions_and_says_what_is_kept(tmp_path):
    alice = _team(tmp_path).alice
    _versions(alice, 4)  # a.csv v1 (live) .. v4
    r = alice.run("prune", "--keep-last", "1", "--grace", "0", "--dry-run", check_rc=0)
    listed = re.findall(r"^  a\.csv v(\d) ", r.stdout, re.M)
    assert sorted(listed) == ["3", "4"], r.stdout  # v1 live, v2 the 1 newest replaced
    assert "To remove now (2):" in r.stdout
    assert "on top of its live one" in r.stdout and "every live version" in r.stdout
    log = json.loads(alice.run("log", "a.csv", "--json").stdout)["versions"]
    assert len(log) == 4, "a dry run removes nothing"
    out = alice.run("prune", "--help").stdout
    assert "besides its live" in out and "restic" in out


# 7 ---------------------------------------------------------------------------------------
WIDE_NAMES = ("报告/数据.csv", "emoji-😀.csv", "plain.csv", "café.csv")


def _column_at(line: str, text: str) -> int:
    """The display column (terminal cells) where ``text`` starts in ``line``."""
    from wcwidth import wcswidth

    return wcswidth(line[:line.index(text)])


def test_7_wide_characters_keep_the_columns_aligned(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    for name in WIDE_NAMES:
        alice.write(name, "x\n")
    r = alice.run("status", check_rc=0)
    rows = [ln for ln in r.stdout.splitlines() if "new locally" in ln]
    assert len(rows) == 4
    assert len({_column_at(ln, "new locally") for ln in rows}) == 1, r.stdout
    assert len({_column_at(ln, " B ") for ln in rows}) == 1, r.stdout
    alice.sync()
    r = bob.run("files", check_rc=0)
    rows = [ln for ln in r.stdout.splitlines() if "new on remote" in ln]
    assert len(rows) == 4, r.stdout
    assert len({_column_at(ln, "new on remote") for ln in rows}) == 1, r.stdout


# 8 ---------------------------------------------------------------------------------------
def test_8_every_prompt_is_a_single_key_and_choose_preselects_nothing(tmp_path):
    team = _team(tmp_path)
    alice = team.alice
    for name in ("a.csv", "b.csv", "c.csv", "d.csv"):
        alice.write(name, name)
    child = _spawn(alice)
    child.expect_exact(PLAN_Q)
    child.send("c")
    child.expect_exact("New here: upload: 4 files? [a]ll / [c]hoose each / [n]one (Enter)")
    child.send("c")
    child.expect_exact("  a.csv (upload, 5 B: new locally)? [y]es / [n]o (Enter)")
    child.send("\r")  # Enter: no, nothing is preselected
    child.expect_exact("  b.csv (upload")
    child.send("y")
    child.expect_exact("  c.csv (upload")
    child.send("N")  # no, and to the rest of the group: d.csv is not asked
    rc, out = _finish(child)
    assert rc == 3, out
    assert "d.csv (upload" not in out
    assert team.remote_files() == {"b.csv": b"b.csv"}
    child = _spawn(alice, "reset")
    child.expect_exact("Remove the sync state? [y]es / [N]o")
    child.send("\r")  # Enter: no
    rc, out = _finish(child)
    assert rc == 3 and (alice.data / ".S3" / "versions_local.csv").exists(), out
    for _ in range(2):
        alice.write("b.csv", f"edit {_}")
        alice.sync()
    child = _spawn(alice, "prune", "--keep-last", "0", "--grace", "0")
    child.expect_exact("Remove them? [y]es / [N]o")
    child.send("y")
    rc, out = _finish(child)
    assert rc == 0 and "Removed 2 archived versions" in out, out


# 4, 17 -----------------------------------------------------------------------------------
_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
FRAME = re.compile(r"sync: ([\d,]+)/([\d,]+) files \(([\d,]+)/s\), ([\d.]+) (\w+)/([\d.]+) "
                   r"(\w+) \([\d.]+ \w+/s\), (\d+)%, (\d+ s|\d+ min \d+ s|\d+ h \d+ min) left")


def _bounds(value: str, unit: str) -> tuple[float, float]:
    """The bytes a size printed as ``value unit`` may stand for (one decimal above B)."""
    slack = 0 if unit == "B" else 0.05
    return (float(value) - slack) * _UNITS[unit], (float(value) + slack) * _UNITS[unit]


def test_4_17_the_progress_line_agrees_with_itself_and_shows_files_per_second(tmp_path):
    alice = _team(tmp_path).alice
    for i in range(40):
        alice.write(f"f{i:02}.csv", "x" * (100 + i))
    child = _spawn(alice, "--yes")
    rc, out = _finish(child)
    assert rc == 0, out
    frames = FRAME.findall(out)
    assert frames, out  # at least the last state, drawn before the bar erases itself
    for done_f, files, _rate, done, du, total, tu, pct, _left in frames:
        assert files == "40"
        lo, hi = _bounds(done, du), _bounds(total, tu)  # what the rounded text allows
        assert 100 * lo[0] / hi[1] - 1 <= int(pct) <= 100 * lo[1] / hi[0], \
            (pct, done, du, total, tu)
    last = frames[-1]
    assert last[0] == "40" and last[7] == "100" and last[8] == "0 s", last


# 6 ---------------------------------------------------------------------------------------
def test_6_sparse_off_says_what_it_does_and_files_come_back_as_such(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    bob.write("raw/a.csv", "1")
    bob.write("other/b.csv", "2")
    bob.sync()
    r = alice.run("sparse", "off", check_rc=0)
    assert "there was no sparse selection); nothing changed" in r.stdout, r.stdout
    assert "downloads what the selection adds" not in r.stdout
    alice.sync()
    alice.run("sparse", "set", "raw/", check_rc=0)
    r = alice.run("sparse", "off", check_rc=0)
    assert "The next sync downloads the files the selection left out." in r.stdout
    r = alice.run("status", check_rc=0)
    assert re.search(r"download +other/b\.csv +1 B +back in the selection \(by bob\)",
                     r.stdout), r.stdout
    assert "new on remote" not in r.stdout
    alice.sync()
    assert alice.read("other/b.csv") == b"2"
    bob.write("other/c.csv", "3")  # after that sync, a new file is new again
    bob.sync()
    r = alice.run("status", check_rc=0)
    assert re.search(r"other/c\.csv +1 B +new on remote by bob", r.stdout), r.stdout


# 5 ---------------------------------------------------------------------------------------
def test_5_a_file_new_on_both_sides_says_so_to_a_member_with_a_baseline(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    alice.write("shared.csv", "s")
    alice.sync()
    bob.sync()  # bob has a baseline
    alice.write("both.csv", "alice's")
    alice.sync()
    bob.write("both.csv", "bob's")
    r = bob.run("status", check_rc=0)
    assert re.search(r"conflict +both\.csv +new locally, new on remote by alice", r.stdout), \
        r.stdout
    assert "no baseline to tell" not in r.stdout


def test_5_after_reset_the_history_tells_whose_version_a_file_is(tmp_path):
    team = _team(tmp_path)
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "alice's first\n")
    alice.sync()
    bob.sync()
    bob.write("a.csv", "bob's edit\n")
    bob.sync()
    alice.run("reset", "--yes", check_rc=0)  # her a.csv is simply her older version
    r = alice.run("status", check_rc=0)
    assert re.search(r"conflict +a\.csv +yours is alice's version of \S+ \(v2 in `log`\); "
                     r"the remote's, by bob, is newer", r.stdout), r.stdout
    child = _spawn(alice)
    child.expect_exact("Conflict 1 of 1: a.csv")
    child.expect_exact("local:  14 B, edited ")
    child.expect(r"by (\w+)\r?\n")
    assert child.match.group(1) == "alice", "not 'by you': the history knows it is hers"
    child.expect_exact("a.csv: keep [l]ocal")
    child.send("\r")  # skip
    rc, out = _finish(child)
    assert rc == 3 and alice.read("a.csv") == b"alice's first\n", out
