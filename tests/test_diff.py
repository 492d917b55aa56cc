"""``diff`` and ``diff()`` (docs/diff.md), on both remotes, through the CLI and the API:
tables by key and by row with known rows and columns added, removed and changed; Parquet,
JSON Lines, text, binary; two versions of the history; a folder between two tags."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

import s3sync_mirror
from s3sync_mirror.core.errors import UsageError

OLD = "id,name,price\n1,apple,10\n2,pear,20\n3,plum,30\n4,fig,40\n"
# 2: price 20 -> 25; 3 removed; 5 added; 4: name fig -> figs and price 40 -> 41; new column
NEW = "id,name,price,discount\n1,apple,10,0\n2,pear,25,0\n4,figs,41,5\n5,kiwi,50,0\n"


def files_json(member, *args) -> list[dict]:
    r = member.run("diff", "--json", *args, check_rc=0)
    return json.loads(r.stdout)["files"]


def shared(team, rel, content):
    """alice writes and syncs ``rel``; bob syncs it down."""
    team.alice.write(rel, content)
    team.alice.sync()
    team.bob.sync()


def test_keyed_csv_local_edit_against_the_remote(team):
    shared(team, "raw/sales.csv", OLD)
    bob = team.bob
    bob.write("raw/sales.csv", NEW)
    (f,) = files_json(bob, "raw/sales.csv", "--key", "id")
    assert (f["kind"], f["status"], f["key"]) == ("table", "changed", ["id"])
    assert (f["rows_added"], f["rows_removed"], f["rows_changed"]) == (1, 1, 2)
    assert f["columns_added"] == ["discount"] and f["columns_removed"] == []
    assert f["added"] == [{"id": "5", "name": "kiwi", "price": 50, "discount": 0}]
    assert f["removed"] == [{"id": "3", "name": "plum", "price": 30}]
    assert sorted((c["key"], c["column"], c["old"], c["new"]) for c in f["changes"]) == [
        ("2", "price", 20, 25), ("4", "name", "fig", "figs"), ("4", "price", 40, 41)]
    assert f["old"].startswith("remote alice") and f["new"] == "local"
    text = bob.run("diff", "raw/sales.csv", "--key", "id", check_rc=0).stdout
    assert "table: +1 -1 ~2 rows, +1 column (discount) (key: id)" in text
    assert "~ id=4  name: fig -> figs" in text
    assert "+ id=5, name=kiwi, price=50, discount=0" in text
    assert "- id=3, name=plum, price=30" in text
    stat = bob.run("diff", "raw/sales.csv", "--key", "id", "--stat", check_rc=0).stdout
    assert stat.split() == "raw/sales.csv +1 -1 ~2 rows, +1 column (discount)".split()
    assert team.remote_files()["raw/sales.csv"] == OLD.encode(), "diff changes nothing"


def test_unkeyed_csv_compares_rows_as_a_multiset(team):
    shared(team, "t.csv", "a,b\n1,x\n1,x\n2,y\n3,z\n")
    bob = team.bob
    bob.write("t.csv", "a,b\n1,x\n2,y\n2,y\n3,z\n4,w\n")
    (f,) = files_json(bob, "t.csv")
    assert (f["rows_added"], f["rows_removed"], f["rows_changed"]) == (2, 1, 0)
    assert sorted(map(tuple, (r.values() for r in f["added"]))) == [(2, "y"), (4, "w")]
    assert f["removed"] == [{"a": 1, "b": "x"}]
    assert f["changes"] == [] and f["key"] == []


def test_key_declared_in_the_config_and_max_rows(team):
    shared(team, "raw/s.csv", "id,v\n" + "".join(f"{i},{i}\n" for i in range(30)))
    bob = team.bob
    cfg = bob.repo / "s3sync_mirror.yml"
    cfg.write_text(cfg.read_text() + 'diff:\n  keys:\n    "raw/*.csv": [id]\n')
    bob.write("raw/s.csv", "id,v\n" + "".join(f"{i},{i + 1}\n" for i in range(30)))
    (f,) = files_json(bob, "raw/s.csv", "--max-rows", "3")
    assert f["key"] == ["id"] and f["rows_changed"] == 30 and len(f["changes"]) == 3
    text = bob.run("diff", "raw/s.csv", "--max-rows", "2", check_rc=0).stdout
    assert text.count("\n~ ") == 2 and "... 28 more changed cells not shown" in text


def test_a_key_that_is_not_unique_or_missing_is_a_clear_error(team):
    shared(team, "d.csv", "id,v\n1,a\n1,b\n")
    bob = team.bob
    bob.write("d.csv", "id,v\n1,a\n2,b\n")
    r = bob.run("diff", "d.csv", "--key", "id", check_rc=2)
    assert "not unique in the old version" in r.stderr and "Traceback" not in r.stderr
    r = bob.run("diff", "d.csv", "--key", "nope", check_rc=2)
    assert "has no column nope" in r.stderr


def test_two_versions_of_the_history_text_and_binary(team):
    alice, bob = team.alice, team.bob
    alice.write("notes.txt", "one\ntwo\nthree\n")
    alice.write("img.bin", b"\x89PNG\0\1\2")
    alice.sync()
    team.advance_clock()  # version times have one-second precision
    alice.write("notes.txt", "one\n2\nthree\nfour\n")
    alice.write("img.bin", b"\x89PNG\0\1\2\3")
    alice.sync()
    bob.sync()
    r = bob.run("diff", "notes.txt", "--version", "2", "--to-version", "1", check_rc=0)
    assert "-two\n+2\n" in r.stdout and "+four" in r.stdout
    assert "text: +2 -1 lines" in r.stdout
    (f,) = files_json(bob, "img.bin", "--version", "2")
    assert (f["kind"], f["old_size"], f["new_size"]) == ("binary", 7, 8)
    assert f["old"].startswith("v2 ") and f["new"] == "local"
    stat = bob.run("diff", "img.bin", "--version", "2", "--stat", check_rc=0).stdout
    assert "binary, 7 B -> 8 B" in stat
    same = bob.run("diff", "notes.txt", check_rc=0).stdout
    assert "no change" in same
    v2 = json.loads(bob.run("log", "notes.txt", "--json", check_rc=0).stdout)["versions"][1]
    for chosen in (["--checksum", v2["checksum"][:10]], ["--at", v2["time"]]):
        (f,) = files_json(bob, "notes.txt", *chosen)
        assert (f["old_checksum"], f["lines_added"], f["lines_removed"]) == \
            (v2["checksum"], 2, 1), chosen
    r = bob.run("diff", ".", "--version", "2", check_rc=2)
    assert "names a version of one file" in r.stderr


def test_parquet_and_json_lines(team):
    frame = pd.DataFrame({"id": [1, 2, 3], "score": [1.5, 2.5, 3.5]})
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    shared(team, "p.parquet", buf.getvalue())
    shared(team, "e.jsonl", '{"id": 1, "tag": "a"}\n{"id": 2, "tag": "b"}\n')
    bob = team.bob
    edited = pd.DataFrame({"id": [1, 2, 4], "score": [1.5, 9.0, 4.5], "n": [1, 2, 3]})
    buf = io.BytesIO()
    edited.to_parquet(buf, index=False)
    bob.write("p.parquet", buf.getvalue())
    bob.write("e.jsonl", '{"id": 1, "tag": "a"}\n{"id": 2, "tag": "c"}\n{"id": 3, "tag": "d"}\n')
    (p,) = files_json(bob, "p.parquet", "--key", "id")
    assert (p["kind"], p["rows_added"], p["rows_removed"], p["rows_changed"]) == \
        ("table", 1, 1, 1)
    assert p["changes"] == [{"key": "2", "column": "score", "old": 2.5, "new": 9.0}]
    assert p["columns_added"] == ["n"]
    (j,) = files_json(bob, "e.jsonl", "--key", "id")
    assert (j["rows_added"], j["rows_removed"], j["rows_changed"]) == (1, 0, 1)
    assert j["changes"] == [{"key": "2", "column": "tag", "old": "b", "new": "c"}]


def test_a_folder_between_two_tags(team):
    alice, bob = team.alice, team.bob
    alice.write("raw/a.csv", "id,v\n1,x\n2,y\n")
    alice.write("raw/b.txt", "hello\n")
    alice.write("raw/gone.csv", "id\n1\n")
    alice.write("other.txt", "outside raw/\n")
    alice.sync()
    alice.run("tag", "v1", check_rc=0)
    alice.write("raw/a.csv", "id,v\n1,x\n2,z\n3,w\n")
    alice.delete("raw/gone.csv")
    alice.write("raw/new.csv", "id\n7\n8\n")
    alice.write("other.txt", "changed, but outside raw/\n")
    alice.sync("--force")
    alice.run("tag", "v2", check_rc=0)
    bob.sync()
    r = bob.run("diff", "raw/", "--tag", "v1", "--to-tag", "v2", "--key", "id", check_rc=0)
    lines = [ln.split(None, 1) for ln in r.stdout.splitlines()[:-1]]
    assert lines == [["raw/a.csv", "+1 -0 ~1 rows"], ["raw/gone.csv", "removed, 1 row"],
                     ["raw/new.csv", "added, 2 rows"]]
    every = files_json(bob, "--tag", "v1", "--to-tag", "v2")
    assert [f["path"] for f in every] == ["other.txt", "raw/a.csv", "raw/gone.csv",
                                          "raw/new.csv"]
    assert bob.run("diff", "raw/", "--tag", "v2", "--stat", check_rc=0).stdout == \
        "No file differs.\n"


def test_the_api_returns_dataframes(team):
    shared(team, "raw/sales.csv", OLD)
    bob = team.bob
    bob.write("raw/sales.csv", NEW)
    d = s3sync_mirror.diff("raw/sales.csv", bob.repo, key="id")
    assert isinstance(d.added, pd.DataFrame) and list(d.added["id"]) == ["5"]
    assert list(d.removed["name"]) == ["plum"]
    assert sorted(zip(d.changed["key"], d.changed["column"])) == [
        ("2", "price"), ("4", "name"), ("4", "price")]
    assert d.columns_added == ("discount",) and d.columns_removed == ()
    assert d.summary["rows_changed"] == 2
    rows = s3sync_mirror.diff("raw/sales.csv", bob.repo)  # no key: rows by content
    assert (rows.summary["rows_added"], rows.summary["rows_removed"]) == (3, 3)
    assert sorted(rows.removed["id"]) == [2, 3, 4] and rows.changed is None
    folder, found = s3sync_mirror.diffs([], bob.repo, key="id")
    assert folder and [f.path for f in found] == ["raw/sales.csv"]
    back = s3sync_mirror.diff("raw/sales.csv", bob.repo, old="local", new="remote", key=["id"])
    assert list(back.added["id"]) == ["3"] and back.columns_removed == ("discount",)
    bob.sync()
    first = s3sync_mirror.diff("raw/sales.csv", bob.repo, old={"version": 2},
                               new={"version": 1}, key="id")
    assert first.summary["rows_added"] == 1 and first.summary["rows_removed"] == 1
    with pytest.raises(UsageError, match="no such version"):
        s3sync_mirror.diff("raw/sales.csv", bob.repo, old={"version": 9})
    with pytest.raises(UsageError, match="names no version"):
        s3sync_mirror.diff("raw/sales.csv", bob.repo, old="yesterday")


def test_the_conflict_prompt_diff_shows_each_sides_rows_against_the_baseline(team):
    from .test_prompts import answer, finish, spawn

    alice, bob = team.alice, team.bob
    for m in (alice, bob):
        cfg = m.repo / "s3sync_mirror.yml"
        cfg.write_text(cfg.read_text() + "diff:\n  keys:\n    '*.csv': [id]\n")
    shared(team, "t.csv", "id,v\n1,a\n2,b\n3,c\n")
    alice.write("t.csv", "id,v\n1,a\n2,B\n3,c\n4,d\n")
    alice.sync()
    bob.write("t.csv", "id,v\n2,b\n3,C\n")
    child = spawn(bob)
    answer(child, "t.csv: keep [l]ocal", "d")
    child.expect_exact("local changes against the baseline:")
    child.expect_exact("table: +0 -1 ~1 rows (key: id)")
    child.expect_exact("- id=1, v=a")
    child.expect_exact("~ id=3  v: c -> C")
    child.expect_exact("remote changes against the baseline:")
    child.expect_exact("table: +1 -0 ~1 rows (key: id)")
    child.expect_exact("+ id=4, v=d")
    child.expect_exact("~ id=2  v: b -> B")
    child.expect_exact("+1,a")  # then the lines, local -> remote, as for any text file
    answer(child, "t.csv: keep [l]ocal", "s")
    assert finish(child) == 3
    assert bob.read("t.csv") == b"id,v\n2,b\n3,C\n"


def test_log_stat_says_what_each_version_changed(team):
    alice, bob = team.alice, team.bob
    alice.write("t.csv", "id,v\n1,a\n2,b\n")
    alice.write("n.txt", "one\n")
    alice.sync()
    bob.sync()
    team.advance_clock()  # version times have one-second precision
    bob.write("t.csv", "id,v\n1,a\n2,B\n3,c\n")
    bob.write("n.txt", "one\ntwo\n")
    bob.sync()
    alice.sync()
    team.advance_clock()  # version times have one-second precision
    alice.write("t.csv", "id,v,w\n2,B,x\n3,c,y\n")
    alice.sync()
    r = alice.run("log", "t.csv", "--stat", check_rc=0).stdout.splitlines()
    assert [ln.split("  ")[-1] for ln in r] == [
        "+0 -1 ~0 rows, +1 column (w)", "+2 -1 ~0 rows", "added, 2 rows"]
    cfg = alice.repo / "s3sync_mirror.yml"
    cfg.write_text(cfg.read_text() + "diff:\n  keys:\n    t.csv: [id]\n")
    rows = json.loads(alice.run("log", "--json", "--stat", check_rc=0).stdout)["versions"]
    stats = {(v["path"], v["version"]): v["stat"] for v in rows}
    assert [stats[("t.csv", n)]["rows_changed"] for n in (1, 2)] == [0, 1]
    assert stats[("t.csv", 2)]["rows_added"] == 1
    assert (stats[("n.txt", 1)]["lines_added"], stats[("n.txt", 1)]["lines_removed"]) == (1, 0)
    assert alice.run("log", "t.csv", check_rc=0).stdout.count("rows") == 0, \
        "without --stat, log reads no version"
