"""A deletion needs evidence: the 14 reported cases of the issue, each a scenario on both
remotes (a folder and S3 on moto over HTTP), three clones (alice, bob, carol) through the
real command line.

Each scenario ends the same way (``Tracker.settle`` and ``Tracker.check``, in
tests/evidence_helpers.py): every member syncs twice (``--yes``, with ``--conflict`` where
a conflict must be resolved), then once more, and then

* every version anyone wrote is in someone's Data/, a trash, or the remote archive (or,
  at a path everyone ignores, still the remote's object);
* no member lost a file nobody deleted, and the remote still holds it;
* each member's tree is the remote's (on what that member does not ignore or leave alone),
  or the differing path is reported by its last run;
* no path fails forever: the third sync exits 0, or 3 reporting the conflict.

Case 8 (clock skew on a folder remote) is checked at the API level, folder remote only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from s3sync_mirror.core import layout
from s3sync_mirror.core.errors import PreconditionFailed
from s3sync_mirror.platforms.local.connection import LocalConnection

from .conftest import Member
from .evidence_helpers import (Tracker, disk_files, finish, popen_sync, remote_holds,
                               set_ignore, stop_when_visible, wait_for)

NAMES = ("alice", "bob", "carol")
OLD_NS = 1_600_000_000 * 10**9  # 2020: old enough for the quick no-change check to trust
BASE = ("f1.csv", "f2.csv", "f3.csv", "f4.csv", "notes.txt", "raw/x.bin", "raw/keep.csv",
        "sub/c.csv")
MIB = 1 << 20
ORIGIN = "https://git.example.com/team/repo.git"


def age(member: Member, rel: str, ns: int) -> None:
    p = member.data.joinpath(*rel.split("/"))
    os.utime(p, ns=(ns, ns))


def start(make_team, extra=(), git=False, mtime=None):
    """A team of three in sync on the base files (written by alice, with old mtimes; the
    ``extra`` files all with ``mtime`` when given)."""
    team = make_team(NAMES)
    if git:
        for m in team.members.values():
            git_origin(m.repo)
    t = Tracker(team)
    for i, rel in enumerate((*BASE, *extra)):
        t.write(team.alice, rel, size=40)
        age(team.alice, rel, mtime if mtime and rel in extra else OLD_NS + i * 10**9)
    for name in NAMES:
        t.sync(team.members[name], rc=0)
    base = disk_files(team.alice.data)
    for name in NAMES:
        assert disk_files(team.members[name].data) == base, name
    assert team.remote_files() == base
    return team, t


def git_origin(repo) -> None:
    subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", ORIGIN], check=True,
                   capture_output=True)


def big(t: Tracker, member: Member, rel: str, kind: str) -> bytes:
    """A file big enough that its upload is still going when a small one is visible."""
    data = os.urandom((24 if kind == "local" else 9) * MIB + 17)
    member.write(rel, data)
    t.wrote(member, rel, data)
    return data


def no_deletions(run, allowed=()) -> None:
    bad = [(k, p) for k, p in run.deletions() if p not in allowed]
    assert not bad, f"{run.member} deleted (or planned to delete) {bad}\n{run}"


def remote_state_text(team) -> bytes:
    return team.remote_objects().get(".S3/versions_remote.csv", b"")


# -- 1 ------------------------------------------------------------------------------------
def _paused_bob(t: Tracker, team, kind: str, tag: str, reset_args: tuple) -> dict:
    """bob edits, adds a small and a big file and syncs; once his small upload is visible
    he is stopped (SIGSTOP), alice runs ``reset_args``, bob goes on (SIGCONT) and must
    finish; then carol syncs and deletes nothing. Returns what bob wrote."""
    alice, bob, carol = team.alice, team.bob, team.carol
    wrote = {f"f{tag}.csv": t.write(bob, f"f{tag}.csv"),
             f"bob-new{tag}.csv": t.write(bob, f"bob-new{tag}.csv"),
             f"bob-big{tag}.bin": big(t, bob, f"bob-big{tag}.bin", kind)}
    proc = popen_sync(bob, "--yes", "--json")
    try:
        stop_when_visible(team, proc, f"bob-new{tag}.csv", wrote[f"bob-new{tag}.csv"])
        assert f"bob-new{tag}.csv" not in team.remote_state(), \
            "bob was stopped after his commit: the scenario did not happen"
        r = t.cli(alice, *reset_args, rc=0)
        if "--remote" in reset_args:
            assert ".S3/versions_remote.csv" not in team.remote_objects(), str(r)
        assert not (alice.data / ".S3" / "versions_local.csv").exists()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    rc, out, err = finish(proc)
    assert rc == 0, f"bob's resumed sync: rc={rc}\n{out}\n{err}"
    state_now = team.remote_state()
    left_out = sorted(p for p in {*BASE, *wrote} if p not in state_now)
    assert not left_out, f"bob's commit after alice's {reset_args} left {left_out} out of " \
                         f"the remote state"
    r = t.sync(carol, rc=0)
    no_deletions(r)
    files = disk_files(carol.data)
    for rel, content in wrote.items():
        assert files.get(rel) == content, f"carol has not got bob's {rel}\n{r}"
    missing = sorted(set(BASE) - set(files))
    assert not missing, f"carol lost {missing}"
    return wrote


def test_01_reset_while_a_sync_is_paused_before_its_commit(make_team, remote_kind):
    """alice runs a plain ``reset``, then later ``reset --remote``, each while bob's sync
    is stopped (SIGSTOP) after his upload is visible and before his commit; carol then
    deletes nothing, and the team converges."""
    team, t = start(make_team)
    first = _paused_bob(t, team, remote_kind, "2", ("reset", "--yes"))
    second = _paused_bob(t, team, remote_kind, "3", ("reset", "--remote", "--yes"))
    last = t.settle()
    t.check(last)
    final = team.remote_files()
    for rel, content in {**first, **second}.items():
        assert final.get(rel) == content, rel


# -- 2 ------------------------------------------------------------------------------------
def test_02_ignore_patterns_then_a_sync_without_changes(make_team, remote_kind):
    """alice starts ignoring things (``*`` and ``!*.csv``; later ``raw/`` and
    ``!raw/keep.csv``) and syncs without changing data: nothing is deleted on the remote
    or at the others; the ignored files stay alice's, untouched."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    before = team.remote_files()
    for patterns in (["*", "!*.csv"], ["raw/", "!raw/keep.csv"]):
        set_ignore(alice, patterns)
        r = t.sync(alice, rc=0)
        no_deletions(r)
        assert not r.actions, f"{patterns}: a sync with nothing changed did something: {r}"
        assert team.remote_files() == before, patterns
        assert disk_files(alice.data) == before, patterns
        for m in (bob, carol):
            r = t.sync(m, rc=0)
            no_deletions(r)
            assert disk_files(m.data) == before, (patterns, m.name)
    # the team goes on: the ignored files still move between the others
    raw = t.write(bob, "raw/x.bin")
    keep = t.write(carol, "raw/keep.csv")
    t.write(alice, "f1.csv")
    last = t.settle()
    t.check(last)
    for m in (bob, carol):
        assert disk_files(m.data)["raw/x.bin"] == raw
        assert disk_files(m.data)["raw/keep.csv"] == keep
    assert disk_files(alice.data)["raw/x.bin"] == before["raw/x.bin"], \
        "an ignored file was changed at alice"
    assert disk_files(alice.data)["raw/keep.csv"] == before["raw/keep.csv"], \
        "raw/keep.csv is inside the ignored raw/: ignored too (git's rule)"


# -- 3 ------------------------------------------------------------------------------------
def test_03_reset_remote_by_a_member_who_ignores_something(make_team, remote_kind):
    """``reset --remote`` by alice, who ignores *.txt and raw/: the state is rebuilt from
    the whole remote, others keep those files; one of them deleted and recreated later
    travels as usual."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    before = team.remote_files()
    set_ignore(alice, ["*.txt", "raw/"])
    t.sync(alice, rc=0)
    t.cli(alice, "reset", "--remote", "--yes", rc=0)
    r = t.sync(alice, rc=0)
    no_deletions(r)
    rebuilt = team.remote_state()
    assert set(rebuilt) == set(before), \
        f"the rebuilt state is not the whole remote: missing {set(before) - set(rebuilt)}"
    for m in (bob, carol):
        r = t.sync(m, rc=0)
        no_deletions(r)
        assert disk_files(m.data) == before, m.name
    assert team.remote_files() == before
    # recreating one later works
    t.delete(bob, "notes.txt")
    r = t.sync(bob, rc=0)
    assert r.done("delete_remote") == ["notes.txt"], str(r)
    t.sync(carol, rc=0)
    assert not carol.exists("notes.txt")
    again = t.write(carol, "notes.txt")
    r = t.sync(carol, rc=0)
    assert r.done("upload") == ["notes.txt"], str(r)
    r = t.sync(bob, rc=0)
    assert bob.read("notes.txt") == again, str(r)
    assert alice.read("notes.txt") == before["notes.txt"], "ignored: alice keeps hers"
    set_ignore(alice, [])
    last = t.settle()
    t.check(last)
    assert team.remote_files()["notes.txt"] == again


# -- 4 ------------------------------------------------------------------------------------
def test_04_an_older_remote_state_put_back(make_team, remote_kind):
    """A copy of versions_remote.csv taken earlier is put back after more changes and new
    files: nobody deletes the newer files, the team converges on the newer contents."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    old = remote_state_text(team)
    assert old
    f1 = t.write(bob, "f1.csv")
    n1 = t.write(bob, "new/n1.csv")
    t.sync(bob, rc=0)
    n2 = t.write(carol, "new/n2.csv")
    f2 = t.write(carol, "f2.csv")
    t.delete(carol, "f3.csv")
    t.sync(carol, rc=0)
    t.sync(alice, rc=0)
    team.put_remote(".S3/versions_remote.csv", old)
    for _ in range(2):
        for name in NAMES:
            r = t.sync(team.members[name], rc=(0, 1))  # the first may repair: "run again"
            no_deletions(r, allowed={"f3.csv"})
    last = t.settle()
    t.check(last)
    final = team.remote_files()
    assert final["f1.csv"] == f1 and final["f2.csv"] == f2
    assert final["new/n1.csv"] == n1 and final["new/n2.csv"] == n2
    assert "f3.csv" not in final
    for name in NAMES:
        assert disk_files(team.members[name].data) == final, name


# -- 5 ------------------------------------------------------------------------------------
def test_05_a_copied_clone_and_a_clone_in_another_folder(make_team, remote_kind):
    """alice's whole repo copied (``copytree(symlinks=True)``) to a folder of another name
    syncs later from its stale baseline: first-sync rules, nothing deleted. dave, a clone
    in a differently named folder, joins the same prefix (git's origin names the repo)."""
    team, t = start(make_team, git=True)
    alice, bob, carol = team.alice, team.bob, team.carol
    copy_repo = team.tmp / "alice-copy" / "workcopy"
    shutil.copytree(alice.repo, copy_repo, symlinks=True)
    copy = Member("alice-copy", copy_repo, alice.env)
    # the team moves on meanwhile
    t.delete(bob, "f1.csv")
    f2 = t.write(bob, "f2.csv")
    t.sync(bob, rc=0)
    t.write(carol, "carol-new.csv")
    t.sync(carol, rc=0)
    f3 = t.write(alice, "f3.csv")
    t.sync(alice, rc=0)
    t.add_member(copy)
    r = t.cli(copy, "status", "--json")
    no_deletions(r)
    r = t.sync(copy, rc=(0, 3))
    no_deletions(r)
    assert disk_files(copy.data)["f2.csv"] != f2, "a stale copy's file was overwritten"
    conflicts = {a["path"] for a in r.actions if a["action"] == "conflict"}
    assert {"f2.csv", "f3.csv"} <= conflicts, f"differences are conflicts: {r}"
    # dave: a clone in a folder named differently
    dave_repo = team.tmp / "dave" / "checkout"
    dave_repo.mkdir(parents=True)
    git_origin(dave_repo)
    (dave_repo / "s3sync_mirror.yml").write_text(team.config_text("dave"))
    dave = t.add_member(Member("dave", dave_repo, alice.env))
    t.write(dave, "f4.csv")
    t.write(dave, "dave-new.csv")
    r = t.sync(dave, rc=3)
    no_deletions(r)
    assert "dave-new.csv" in r.done("upload"), str(r)
    assert "carol-new.csv" in disk_files(dave.data), "dave is not on the team's prefix"
    last = t.settle()
    t.check(last)
    if remote_kind == "local":
        assert sorted(os.listdir(team.remote_root)) == ["repo"]
    else:
        keys = [o["Key"] for page in team._s3().get_paginator("list_objects_v2").paginate(
            Bucket=team.bucket) for o in page.get("Contents", ())]
        assert all(k.startswith("repo/Data/") for k in keys), sorted(keys)[:5]
    assert team.remote_files()["f3.csv"] == f3


# -- 6 ------------------------------------------------------------------------------------
def test_06_moves_copies_and_edits_that_keep_size_and_mtime(make_team, remote_kind):
    """Files of equal size and equal mtime, synced everywhere: ``cp -p c d``, an edit with
    its mtime put back (os.utime), then ``mv a b``: each is seen and sent, never "in
    sync"; every member ends with the copied, edited and moved content."""
    pairs = ("m/a.bin", "m/b.bin", "m/c.bin", "m/d.bin", "m/e.bin")
    same = OLD_NS + 500 * 10**9
    team, t = start(make_team, extra=pairs, mtime=same)
    alice, bob, carol = team.alice, team.bob, team.carol
    for m in (alice, bob, carol):
        for rel in pairs:
            assert os.stat(m.data / rel).st_mtime_ns == same, (m.name, rel)
    size = len(alice.read("m/a.bin"))
    assert {len(alice.read(p)) for p in pairs} == {size}
    # cp -p c.bin d.bin: d.bin keeps its inode, gets c's bytes and mtime
    subprocess.run(["cp", "-p", str(alice.data / "m/c.bin"), str(alice.data / "m/d.bin")],
                   check=True)
    copied = alice.read("m/c.bin")
    assert os.stat(alice.data / "m/d.bin").st_mtime_ns == same
    # an edit keeping the size, its mtime put back
    edited = t.content("alice", "m/e.bin", size=size)
    assert len(edited) == size
    t.write(alice, "m/e.bin", edited)
    age(alice, "m/e.bin", same)
    r = t.sync(alice, rc=0)
    assert sorted(r.done("upload")) == ["m/d.bin", "m/e.bin"], \
        f"cp -p / an edit keeping size and mtime was not sent:\n{r}"
    for m in (bob, carol):
        r = t.sync(m, rc=0)
        assert (m.read("m/d.bin"), m.read("m/e.bin")) == (copied, edited), f"{m.name}\n{r}"
    # mv a.bin b.bin
    moved = alice.read("m/a.bin")
    os.rename(alice.data / "m/a.bin", alice.data / "m/b.bin")
    t.deleted.add("m/a.bin")
    r = t.sync(alice, rc=0)
    assert r.done("upload") == ["m/b.bin"] and r.done("delete_remote") == ["m/a.bin"], \
        f"mv over a file of equal size and mtime was not seen:\n{r}"
    for m in (bob, carol):
        r = t.sync(m, rc=0)
        assert m.read("m/b.bin") == moved and not m.exists("m/a.bin"), f"{m.name}\n{r}"
    last = t.settle()
    t.check(last)
    final = team.remote_files()
    assert final["m/b.bin"] == moved and final["m/d.bin"] == copied
    assert final["m/e.bin"] == edited and "m/a.bin" not in final


# -- 7 ------------------------------------------------------------------------------------
def test_07_a_sync_killed_after_its_upload_then_another_edit(make_team, remote_kind):
    """bob's sync is SIGKILLed once its upload of f1.csv is visible and journaled (a big
    upload still going, so before its commit); bob edits f1.csv again and syncs: no
    conflict with himself, the killed version kept in the archive, nothing stuck."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    v1 = t.write(bob, "f1.csv")
    big(t, bob, "bob-big.bin", remote_kind)
    proc = popen_sync(bob, "--yes")
    journal = bob.data / ".S3" / "journal.csv"
    wait_for(lambda: remote_holds(team, "f1.csv", v1) and journal.exists()
             and "f1.csv" in journal.read_text(), proc, what="f1.csv sent and journaled")
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert team.remote_state()["f1.csv"]["Checksum"] != hashlib.sha256(v1).hexdigest(), \
        "bob was killed after his commit: the scenario did not happen"
    v2 = t.write(bob, "f1.csv")
    r = t.sync(bob, rc=0)
    assert not [a for a in r.actions if a["action"] == "conflict"], str(r)
    assert remote_holds(team, "f1.csv", v2)
    assert v1 in team.archive().values(), "the killed run's version was not archived"
    r = t.sync(bob, rc=0)
    assert not r.actions, f"bob's path is stuck: {r}"
    last = t.settle()
    t.check(last)
    for name in NAMES:
        assert team.members[name].read("f1.csv") == v2


# -- 8 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew", [60, -60], ids=["60s-ahead", "60s-behind"])
def test_08_clock_skew_on_a_folder_remote_loses_no_update(tmp_path, monkeypatch, skew):
    """Folder remote, API level: three members commit to versions_remote.csv with
    compare-and-swap at the same time, through a share that stamps file times with the
    writer's clock; alice's clock is ``skew`` seconds off (her ``time.time``, the mtime of
    the lock she takes or renews, the mtime of her clock probe). 60 s ahead, she judges the
    others' live locks stale; 60 s behind, they judge hers. Shares are slow (each check
    under the lock takes 2 ms). No committed update vanishes from versions_remote.csv."""
    from s3sync_mirror.platforms.local import connection as localmod
    from s3sync_mirror.platforms.local import lock as locallock

    root = tmp_path / "share"
    root.mkdir()
    key = layout.VERSIONS_KEY
    LocalConnection(root).put_bytes(key, b"")
    real_time, real_time_ns = time.time, time.time_ns
    real_share_now = locallock.share_now_ns
    mine = threading.local()

    def off_ns() -> int:
        return skew * 10**9 if getattr(mine, "name", "") == "alice" else 0

    monkeypatch.setattr(time, "time", lambda: real_time() + off_ns() / 1e9)
    monkeypatch.setattr(time, "time_ns", lambda: real_time_ns() + off_ns())
    monkeypatch.setattr(locallock, "share_now_ns", lambda lock: real_share_now(lock) + off_ns())

    def stamp(lock) -> None:
        if lock.user == "alice":
            when = real_time_ns() + skew * 10**9
            try:
                os.utime(lock.path, ns=(when, when))
            except FileNotFoundError:
                pass

    real_create, real_renew = locallock.FencedLock._create, locallock.FencedLock.renew
    real_break, real_check = locallock.FencedLock.break_stale, localmod.LocalConnection._check
    broken = []

    def create(self):
        ok = real_create(self)
        if ok:
            stamp(self)
        return ok

    def renew(self):
        ok = real_renew(self)
        if ok:
            stamp(self)
        return ok

    def break_stale(self, judged, why):
        done = real_break(self, judged, why)
        if done:
            broken.append((self.user, judged.info.get("user")))
        return done

    def slow_check(self, *args):
        time.sleep(0.002)
        return real_check(self, *args)

    monkeypatch.setattr(locallock.FencedLock, "_create", create)
    monkeypatch.setattr(locallock.FencedLock, "renew", renew)
    monkeypatch.setattr(locallock.FencedLock, "break_stale", break_stale)
    monkeypatch.setattr(localmod.LocalConnection, "_check", slow_check)
    rounds, most, won, errors = 30, 400, {}, []
    go = threading.Event()
    victims = {"alice"} if skew < 0 else {"bob", "carol"}

    def enough() -> bool:
        return sum(1 for _, holder in broken if holder in victims) >= 3

    def member(name: str) -> None:
        mine.name = name
        conn = LocalConnection(root, user=name, lock_stale=1.0, lock_wait=60)
        committed = []
        try:
            go.wait()
            for i in range(most):
                if i >= rounds and enough():
                    break
                line = f"{name}-{i}\n".encode()
                while True:
                    data, etag = conn.get_bytes(key)
                    try:
                        conn.put_bytes(key, data + line, if_match=etag)
                    except PreconditionFailed:
                        continue
                    committed.append(line.decode().strip())
                    break
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        won[name] = committed

    threads = [threading.Thread(target=member, args=(n,)) for n in NAMES]
    for th in threads:
        th.start()
    go.set()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    data, _ = LocalConnection(root).get_bytes(key)
    rows = [ln for ln in data.decode().splitlines() if ln]
    committed = [x for n in NAMES for x in won.get(n, [])]
    assert len(committed) >= rounds * len(NAMES)
    vanished = sorted(set(committed) - set(rows), key=committed.index)
    assert not vanished, f"committed updates vanished from {key}: {vanished} " \
                         f"(live locks broken: {len(broken)})"
    assert sorted(rows) == sorted(committed)
    assert enough(), \
        f"no live lock of {victims} was judged stale: the skew did not happen ({broken})"


def test_08_clock_skew_real_syncs_lose_no_update(tmp_path, monkeypatch):
    """Folder remote, in-process: the three members' real syncs run at the same time in
    threads, alice's clock 60 s ahead; every file each committed is in the remote state."""
    from .conftest import Team
    import s3sync_mirror

    team = Team("local", tmp_path, names=NAMES)
    real_time, real_time_ns = time.time, time.time_ns
    skewed = threading.local()
    monkeypatch.setattr(time, "time", lambda: real_time() + (60 if getattr(
        skewed, "on", False) else 0))
    monkeypatch.setattr(time, "time_ns", lambda: real_time_ns() + (60 * 10**9 if getattr(
        skewed, "on", False) else 0))
    errors = []

    def member(name: str) -> None:
        skewed.on = name == "alice"
        m = team.members[name]
        try:
            for i in range(4):
                m.write(f"{name}/{i}.csv", f"{name} {i}")
                for _ in range(6):
                    res = None
                    try:
                        res = s3sync_mirror.run(m.repo, yes=True, quiet=True, user=name,
                                                conflict="both")
                    except s3sync_mirror.SyncFailed:
                        continue
                    if res.exit_code == 0:
                        break
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=member, args=(n,)) for n in NAMES]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors
    monkeypatch.undo()
    t = Tracker(team)
    for name in NAMES:
        for i in range(4):
            t.wrote(team.members[name], f"{name}/{i}.csv", f"{name} {i}".encode())
    state_now = team.remote_state()
    missing = [f"{n}/{i}.csv" for n in NAMES for i in range(4)
               if f"{n}/{i}.csv" not in state_now]
    assert not missing, f"updates vanished from versions_remote.csv: {missing}"
    last = t.settle()
    t.check(last)


# -- 9 ------------------------------------------------------------------------------------
def test_09_a_synced_file_and_a_synced_folder_replaced_by_symlinks(make_team, remote_kind):
    """alice replaces f1.csv by a symlink (to f2.csv) and sub/ by a symlink to a folder
    outside: left alone on every side, nothing deleted anywhere, nothing written through
    the symlink."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    before = team.remote_files()
    outside = team.tmp / "outside"
    outside.mkdir()
    (outside / "other.csv").write_bytes(b"outside")
    alice.delete("f1.csv")
    os.symlink(alice.data / "f2.csv", alice.data / "f1.csv")
    shutil.rmtree(alice.data / "sub")
    os.symlink(outside, alice.data / "sub")
    t.had["alice"].discard("sub/c.csv")  # alice's own doing: sub/ is a symlink now
    r = t.sync(alice, rc=0)
    no_deletions(r)
    assert team.remote_files() == before
    assert any("symlink" in w for w in r.warnings), str(r)
    for m in (bob, carol):
        r = t.sync(m, rc=0)
        no_deletions(r)
        assert disk_files(m.data) == before, m.name
    # the others keep working on them; alice's symlinks are left alone
    c = t.write(bob, "sub/c.csv")
    f1 = t.write(carol, "f1.csv")
    last = t.settle()
    t.check(last)
    assert sorted(os.listdir(outside)) == ["other.csv"], "written through a symlink"
    assert os.path.islink(alice.data / "f1.csv") and os.path.islink(alice.data / "sub")
    assert team.remote_files()["sub/c.csv"] == c and team.remote_files()["f1.csv"] == f1


# -- 10 -----------------------------------------------------------------------------------
def test_10_a_baseline_copied_from_another_member(make_team, remote_kind):
    """carol puts bob's versions_local.csv in her .S3/: she deletes nothing she never had
    (bob-only.csv), and does not upload again f1.csv, which alice deleted."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    only = t.write(bob, "bob-only.csv")
    t.sync(bob, rc=0)
    t.delete(alice, "f1.csv")
    r = t.sync(alice, rc=0)
    assert r.done("delete_remote") == ["f1.csv"], str(r)
    t.sync(bob, rc=0)
    assert not bob.exists("f1.csv")
    shutil.copy(bob.data / ".S3" / "versions_local.csv", carol.data / ".S3" /
                "versions_local.csv")
    r = t.sync(carol, rc=(0, 3))
    no_deletions(r)
    assert team.remote_files().get("bob-only.csv") == only
    assert carol.read("bob-only.csv") == only
    assert "f1.csv" not in r.done("upload"), f"carol uploaded f1.csv again:\n{r}"
    assert "f1.csv" not in team.remote_files(), "a file alice deleted came back"
    last = t.settle(conflict="remote")
    t.check(last)
    assert "f1.csv" not in team.remote_files(), "a file alice deleted came back"


# -- 11 -----------------------------------------------------------------------------------
def test_11_a_file_older_than_1970(make_team, remote_kind):
    """Files with mtimes before 1970 (1938, and 1 ns before the epoch) sync; the baseline
    parses again without its cache; ``reset`` then sync works; bob gets the old mtime."""
    team, t = start(make_team)
    alice, bob, carol = team.alice, team.bob, team.carol
    t.write(alice, "old/1938.csv")
    age(alice, "old/1938.csv", -10**18)
    t.write(alice, "old/minus1.csv")
    age(alice, "old/minus1.csv", -1)
    r = t.sync(alice, rc=0)
    assert sorted(r.done("upload")) == ["old/1938.csv", "old/minus1.csv"], str(r)
    shutil.rmtree(alice.data / ".S3" / "cache")
    r = t.sync(alice, rc=0)
    assert not r.actions, str(r)
    rows = alice.baseline()
    assert rows["old/1938.csv"]["Mtime Ns"] in ("-1000000000000000000", "-1"), rows
    t.cli(alice, "reset", "--yes", rc=0)
    r = t.sync(alice, rc=0)
    assert not r.actions, f"after reset, equal files are only recorded: {r}"
    r = t.sync(bob, rc=0)
    assert sorted(r.done("download")) == ["old/1938.csv", "old/minus1.csv"], str(r)
    assert os.stat(bob.data / "old/1938.csv").st_mtime_ns == -10**18
    shutil.rmtree(bob.data / ".S3" / "cache")
    t.sync(bob, rc=0)
    last = t.settle()
    t.check(last)


# -- 12 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("first", ["alice", "bob"], ids=["folder-first", "edit-first"])
def test_12_a_file_replaced_by_a_folder_while_edited(make_team, remote_kind, first):
    """alice turns the synced file x into a folder (x/inner.csv) while bob edits x. The
    one who syncs second gets a conflict and a blocked path with its fix, resolves it
    (bob: --conflict remote; alice: --conflict local), and all converge on x/inner.csv;
    never "Not a directory" forever."""
    team, t = start(make_team, extra=("x",))
    alice, bob, carol = team.alice, team.bob, team.carol
    t.delete(alice, "x")
    inner = t.write(alice, "x/inner.csv")
    edited = t.write(bob, "x")
    second, keep = (bob, "remote") if first == "alice" else (alice, "local")
    t.sync(team.members[first], rc=0)
    r = t.sync(second)
    assert r.rc == 3, f"the clash is not reported as a conflict:\n{r}"
    rows = {a["path"]: a for a in r.actions}
    assert rows.get("x", {}).get("action") == "conflict", str(r)
    if first == "alice":
        assert "x/inner.csv" in rows, f"the blocked path is not reported:\n{r}"
        reason = rows["x/inner.csv"]["reason"]
        assert "x" in reason and ("resolve" in reason or "rename" in reason), reason
    assert "Not a directory" not in r.stdout + r.stderr, str(r)
    r = t.sync(second, "--conflict", keep, rc=(0, 3))
    r = t.sync(second, rc=0)
    t.deleted.add("x")
    last = t.settle(conflict=None)
    t.check(last)
    final = team.remote_files()
    assert final.get("x/inner.csv") == inner and "x" not in final, sorted(final)
    for name in NAMES:
        files = disk_files(team.members[name].data)
        assert files.get("x/inner.csv") == inner, name
    assert edited in t.everything()


# -- 13 -----------------------------------------------------------------------------------
def _tree(root) -> dict:
    """Every path under ``root`` (folders too) with its bytes (None for a folder)."""
    out = {}
    if not os.path.exists(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def test_13_status_and_dry_run_on_a_prefix_with_objects_but_no_state(make_team, remote_kind):
    """Objects under the prefix put there by another tool, no .S3/ state: ``status`` and
    ``--dry-run`` show the plan (status exits 0, a dry run with work left 3), with no
    traceback and nothing written on either side; then the team converges."""
    team = make_team(NAMES)
    t = Tracker(team)
    alice = team.alice
    theirs = {"a.csv": b"remote a", "sub/b.csv": b"remote b", "same.csv": b"same"}
    for k, v in theirs.items():
        team.put_remote(k, v)
        t.versions[v] = f"put:{k}"
    t.write(alice, "a.csv", b"alice's a")
    t.write(alice, "same.csv", b"same")
    t.write(alice, "mine.csv")
    remote_before = team.remote_objects()
    remote_tree = _tree(team.remote_root) if remote_kind == "local" else None
    repo_before = _tree(alice.repo)
    runs = [t.cli(alice, "status"), t.cli(alice, "status", "--json"),
            t.cli(alice, "--dry-run"), t.cli(alice, "--dry-run", "--json")]
    for r in runs:
        expected = 0 if "status" in r.args else 3
        assert r.rc == expected, str(r)
        assert _tree(alice.repo) == repo_before, f"{r.args} wrote locally"
        assert team.remote_objects() == remote_before, f"{r.args} wrote on the remote"
        if remote_tree is not None:
            assert _tree(team.remote_root) == remote_tree, f"{r.args} wrote on the remote"
    for r in runs[1::2]:
        rows = {a["path"]: a["action"] for a in r.actions}
        assert rows == {"a.csv": "conflict", "sub/b.csv": "download", "mine.csv": "upload"}, \
            str(r)
    for r in runs[::2]:
        for p in ("a.csv", "sub/b.csv", "mine.csv"):
            assert p in r.stdout, str(r)
    last = t.settle()
    t.check(last)
    assert team.remote_files()["a.csv"] == b"remote a"


# -- 14 -----------------------------------------------------------------------------------
def test_14_a_local_tenant_that_does_not_exist(make_team, remote_kind):
    """A folder remote whose folder does not exist (an unmounted share) is a config error:
    exit 2, naming the folder and the fix, nothing created. On S3 the same for a bucket
    that does not exist: a clear failure naming it, nothing created."""
    team = make_team(NAMES)
    t = Tracker(team)
    alice = team.alice
    mine = t.write(alice, "mine.csv")
    if remote_kind == "local":
        missing = team.tmp / "unmounted" / "share"
        text = team.config_text("alice").replace(str(team.remote_root), str(missing))
    else:
        missing = f"no-such-bucket-{os.getpid()}"
        text = team.config_text("alice").replace(team.bucket, missing)
    (alice.repo / "s3sync_mirror.yml").write_text(text)
    before = _tree(alice.repo)
    for args in (("--yes",), ("status",), ("--dry-run",), ("reset", "--yes"),
                 ("--yes", "--json")):
        r = t.cli(alice, *args)
        said = r.stdout + r.stderr
        if remote_kind == "local":
            assert r.rc == 2, str(r)
            assert str(missing) in said and "Fix" in said, str(r)
            assert not missing.exists() and not missing.parent.exists(), f"{args} created it"
        else:
            assert r.rc in (1, 2), str(r)
            assert missing in said, str(r)
            import botocore.exceptions

            with pytest.raises(botocore.exceptions.ClientError):
                team._s3().head_bucket(Bucket=missing)
        assert _tree(alice.repo) == before, f"{args} wrote in the clone"
    assert alice.read("mine.csv") == mine
    # the rest of the team is unaffected
    (alice.repo / "s3sync_mirror.yml").write_text(team.config_text("alice"))
    last = t.settle()
    t.check(last)
