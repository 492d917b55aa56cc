"""Shared metadata and per-clone marks (docs/metadata.md), on both remotes, through the
real CLI and the API: metadata one member sets is queried by another after a sync, typed
(`year=2024` matches the int); sidecar files are imported and kept in step; a key two
members change from the value each last saw is a conflict (exit 3), never overwritten;
metadata survives a deletion and a restore (it is keyed by path); marks never leave the
clone, survive syncs and drive the "process every new file once" loop."""
from __future__ import annotations

import json

import pytest

import s3sync_mirror
from s3sync_mirror.meta.shared import MetadataConflict


def files_json(member, *args) -> dict:
    r = member.run("files", "--json", *args, check_rc=0)
    return {row["File"]: row for row in json.loads(r.stdout)["files"]}


def test_metadata_set_by_one_member_is_queried_by_another_after_sync(team, monkeypatch):
    alice, bob = team.alice, team.bob
    alice.write("docs/a.pdf", "contract A")
    alice.write("docs/b.pdf", "invoice B")
    alice.write("docs/c.pdf", "contract C")
    alice.sync()
    alice.run("meta", "set", "docs/a.pdf", "document_type=contract", "year=2024",
              "score=0.5", "signed=true", "retrieved_at=2026-11-20T10:00:00Z", check_rc=0)
    alice.run("meta", "set", "docs/b.pdf", "document_type=invoice", "year=2023",
              check_rc=0)
    monkeypatch.chdir(alice.repo)
    assert s3sync_mirror.set_meta("docs/c.pdf", alice.repo, document_type="contract",
                                  year="2024") == {"document_type": "contract",
                                                   "year": "2024"}
    bob.sync()
    rows = files_json(bob, "--where", "year=2024")
    assert set(rows) == {"docs/a.pdf", "docs/c.pdf"}  # the int, and the text "2024"
    a = rows["docs/a.pdf"]
    assert (a["year"], a["score"], a["signed"], a["status"]) == (2024, 0.5, True, "in sync")
    assert a["retrieved_at"] == "2026-11-20T10:00:00Z" and a["Edited By"] == "alice"
    assert set(files_json(bob, "--where", "year>=2024", "--where",
                          "retrieved_at<2026-11-21")) == {"docs/a.pdf"}
    assert set(files_json(bob, "--where", "signed!=true")) == {"docs/b.pdf", "docs/c.pdf"}
    assert set(files_json(bob, "--where", "score=")) == {"docs/b.pdf", "docs/c.pdf"}
    monkeypatch.chdir(bob.repo)
    df = s3sync_mirror.files(bob.repo, document_type="contract")
    assert sorted(df.File) == ["docs/a.pdf", "docs/c.pdf"]
    assert list(df.columns[:6]) == ["File", "Edited By", "Time Edited", "Checksum", "Size",
                                    "status"]
    df = s3sync_mirror.files(bob.repo, year=2024, score=lambda s: s > 0.1)
    assert list(df.File) == ["docs/a.pdf"] and df.year[0] == 2024
    assert s3sync_mirror.get_meta("docs/b.pdf", bob.repo) == {"document_type": "invoice",
                                                              "year": 2023}
    r = bob.run("meta", "get", "docs/a.pdf", check_rc=0)
    assert "year = 2024 (int)" in r.stdout and "signed = true (bool)" in r.stdout
    bob.run("meta", "unset", "docs/a.pdf", "score", check_rc=0)
    assert "score" not in alice.run("meta", "get", "docs/a.pdf", "--json").stdout
    r = bob.run("meta", "set", "nowhere.pdf", "x=1")
    assert r.returncode == 2 and "no such file" in r.stderr
    # one companion object under .S3/; the data files are untouched
    objects = team.remote_objects()
    assert ".S3/metadata.json" in objects
    assert set(team.remote_files()) == {"docs/a.pdf", "docs/b.pdf", "docs/c.pdf"}


def test_sidecar_import_and_reimport_keep_in_step(team):
    alice, bob = team.alice, team.bob
    alice.write("scrape/x.pdf", "x")
    alice.write("scrape/x.pdf.meta.json", json.dumps(
        {"document_type": "contract", "pages": 3, "retrieved_at": "2026-11-20T10:00:00Z",
         "tags": ["a", "b"], "note": None}))
    alice.write("scrape/y.pdf.meta.json", "{not json")
    alice.sync()
    r = alice.run("meta", "import", check_rc=0)
    assert "scrape/y.pdf.meta.json: not readable JSON; skipped" in r.stdout
    assert "Read 1 sidecar file: 4 value(s) set" in r.stdout
    alice.run("meta", "set", "scrape/x.pdf", "reviewed=true", check_rc=0)
    assert "0 value(s) set, 0 removed, 5 already so" in alice.run("meta", "import").stdout
    # the sidecar changes: a value, a key gone; re-import follows it, leaves `reviewed`
    alice.write("scrape/x.pdf.meta.json", json.dumps({"document_type": "invoice",
                                                      "tags": ["a", "b"]}))
    r = alice.run("meta", "import", "scrape", check_rc=0)
    assert "1 value(s) set, 2 removed" in r.stdout
    bob.sync()
    got = json.loads(bob.run("meta", "get", "scrape/x.pdf", "--json", check_rc=0).stdout)
    assert got == {"document_type": "invoice", "tags": '["a", "b"]', "reviewed": True}


def test_a_key_two_members_change_is_a_conflict_never_overwritten(team, monkeypatch):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1")
    alice.sync()
    bob.sync()
    alice.run("meta", "set", "a.csv", "year=2023", "owner=alice", check_rc=0)
    bob.run("meta", "get", "a.csv", check_rc=0)  # bob has now seen year=2023
    alice.run("meta", "set", "a.csv", "year=2024", check_rc=0)
    r = bob.run("meta", "set", "a.csv", "year=2025", "stage=raw")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "year is now 2024 (int) by alice" in r.stdout and "(2023 (int)" in r.stdout
    assert "yours, 2025 (int)" in r.stdout and "run the same command again" in r.stdout
    assert "set a.csv: stage = raw" in r.stdout  # the other key went through
    got = json.loads(alice.run("meta", "get", "a.csv", "--json").stdout)
    assert got == {"year": 2024, "owner": "alice", "stage": "raw"}
    # alice changes it again; bob, who saw 2024 in the conflict, must see this one too
    alice.run("meta", "set", "a.csv", "year=2026", check_rc=0)
    monkeypatch.chdir(bob.repo)
    with pytest.raises(MetadataConflict) as exc:
        s3sync_mirror.set_meta("a.csv", bob.repo, year=2025)
    assert exc.value.exit_code == 3 and exc.value.conflicts[0].key == "year"
    # having seen it, bob replaces it knowingly
    bob.run("meta", "set", "a.csv", "year=2025", check_rc=0)
    assert json.loads(alice.run("meta", "get", "a.csv", "--json").stdout)["year"] == 2025
    # removing a key a teammate changed since is a conflict too
    alice.run("meta", "set", "a.csv", "owner=carol", check_rc=0)
    r = bob.run("meta", "unset", "a.csv", "owner")
    assert r.returncode == 3 and "owner is now carol" in r.stdout


def test_metadata_is_kept_when_a_file_is_deleted_and_restored(local_team):
    """Keyed by path, on the folder remote (the backend adds nothing to this case)."""
    team = local_team
    alice, bob = team.alice, team.bob
    alice.write("r.csv", "v1")
    alice.sync()
    alice.run("meta", "set", "r.csv", "year=2024", check_rc=0)
    alice.delete("r.csv")
    alice.sync("--force")
    assert files_json(alice) == {}
    alice.run("restore", "r.csv", check_rc=0)
    alice.sync()
    bob.sync()
    assert files_json(bob)["r.csv"]["year"] == 2024


def test_marks_never_leave_the_clone_and_drive_a_process_once_loop(team, monkeypatch):
    alice, bob = team.alice, team.bob
    for name in ("n1", "n2", "n3"):
        alice.write(f"in/{name}.json", name)
    alice.sync()
    bob.sync()
    r = bob.run("mark", "in/n1.json", "imported=true", "batch=MARK-VALUE-7f3e", check_rc=0)
    assert "imported = true (bool)" in r.stdout
    r = bob.run("mark", "in/none.json", "imported=true")
    assert r.returncode == 2 and "no such file" in r.stderr
    # the three-line loop of the README
    monkeypatch.chdir(bob.repo)
    done = []
    for f in s3sync_mirror.files(bob.repo, status="in sync", imported=None).File:
        done.append(f)
        s3sync_mirror.mark(f, bob.repo, imported=True)
    assert done == ["in/n2.json", "in/n3.json"]
    assert s3sync_mirror.files(bob.repo, imported=None).empty
    alice.write("in/n4.json", "n4")
    alice.sync()
    bob.sync()
    assert set(files_json(bob, "--where", "imported!=true")) == {"in/n4.json"}
    assert files_json(bob)["in/n1.json"]["batch"] == "MARK-VALUE-7f3e"  # survived syncs
    bob.run("mark", "in/n1.json", "--unset", "batch", check_rc=0)
    assert "batch" not in files_json(bob)["in/n1.json"]
    bob.run("mark", "in/n2.json", "batch=MARK-VALUE-7f3e", check_rc=0)
    bob.write("in/n2.json", "edited by bob")
    bob.sync()
    alice.sync()
    # never on the remote: no object holds the mark's name or value
    for key, data in team.remote_objects().items():
        assert b"MARK-VALUE-7f3e" not in data and b"imported" not in data, key
    assert "imported" not in files_json(alice)["in/n1.json"]
    assert (bob.data / ".S3" / "marks.json").is_file()


# -- on values: typing, filters, the conflict rule ---------------------------------------
def test_typed_words_and_filters_compare_as_the_kept_type():
    from datetime import datetime, timezone

    from s3sync_mirror.core import typed

    assert [typed.infer(w) for w in ("2024", "-3", "0.5", "1e3", "true", "x", "")] == \
        [2024, -3, 0.5, 1000.0, True, "x", ""]
    assert typed.infer("2026-11-21T15:03:05+01:00") == \
        datetime(2026, 11, 21, 14, 3, 5, tzinfo=timezone.utc)

    def where(text, value):
        return typed.Filter.parse(text).matches(value)

    assert where("year=2024", 2024) and where("year=2024", "2024")
    assert where("year=2024", 2024.0) and not where("year=2024", 2023)
    assert where("year>=2023", 2024) and not where("year<2024", 2024)
    assert where("year!=2024", None) and not where("year=2024", None)
    assert where("year=", None) and not where("year=", 2024) and where("year!=", 0)
    assert where("ok=yes", True) and not where("ok=false", True)
    assert where("t>2026-11-20", typed.infer("2026-11-21")) and where("t>=7d", datetime.now(
        timezone.utc))
    assert not where("year<abc", 2024) and where("year!=abc", 2024)
    assert typed.Filter.parse("a>=b").op == ">=" and typed.Filter.parse("a!=b").op == "!="
    assert typed.Filter.of("k", None).matches(None) and typed.Filter.of("k", 2).matches(2.0)
    assert typed.Filter.of("k", lambda v: v > 1).matches(2)
    assert not typed.Filter.of("k", lambda v: True).matches(None)
    for bad in ("=1", "nokey", "a\x00=1"):
        with pytest.raises(s3sync_mirror.UsageError):
            typed.Filter.parse(bad)
    assert typed.decode(typed.encode(datetime(2026, 1, 2, tzinfo=timezone.utc))) == \
        datetime(2026, 1, 2, tzinfo=timezone.utc)


def test_merge_applies_what_was_seen_and_keeps_a_teammates_change():
    from s3sync_mirror.meta.shared import entry, merge

    def e(v, by="x"):
        return entry(v, by, "2026-11-21T00:00:00Z")

    seen = {"a": {"year": e(2023), "owner": e("me")}}
    current = {"a": {"year": e(2024, "bob"), "owner": e("me")}}
    new, done = merge(current, seen, {"a": {"year": e(2025), "owner": e("you"),
                                            "stage": e("raw")}, "b": {"k": None}})
    assert [(c.path, c.key) for c in done.conflicts] == [("a", "year")]
    assert new["a"]["year"]["value"] == 2024 and new["a"]["owner"]["value"] == "you"
    assert new["a"]["stage"]["value"] == "raw" and "b" not in new
    assert done.unchanged == 1  # b.k: already not set
    # the same wanted value as the teammate's is no conflict; unsetting what was seen is fine
    new, done = merge(current, seen, {"a": {"year": e(2024), "owner": None}})
    assert not done.conflicts and "owner" not in new["a"] and done.unchanged == 1
    # swapping who is who mirrors the outcome
    new2, done2 = merge(seen, current, {"a": {"year": e(2025)}})
    assert [c.key for c in done2.conflicts] == ["year"] and new2["a"]["year"]["value"] == 2023
