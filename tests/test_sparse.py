"""The sparse selection (docs/metadata.md#sparse-selection) on both remotes, through the
real CLI: set before a first sync, add, narrowing refused while a leaving file has
unsynced changes and otherwise moving the in-sync copies to the trash, off; what a clone
does not hold is never downloaded, uploaded or deleted, by it or by a full member's sync;
a `--where` selection follows the shared metadata (mmmeta's Client1: only contracts)."""
from __future__ import annotations

import json

TEAM_FILES = {"raw/1.csv": "1", "raw/2.csv": "2", "docs/a.pdf": "contract A",
              "docs/b.pdf": "invoice B", "other/x.bin": "x"}


def statuses(member) -> dict:
    r = member.run("files", "--json", check_rc=0)
    return {row["File"]: row["status"] for row in json.loads(r.stdout)["files"]}


def test_sparse_set_add_narrow_off_and_a_full_member_deletes_nothing(make_team):
    team = make_team(("alice", "carol"))
    alice, carol = team.alice, team.carol
    for path, text in TEAM_FILES.items():
        alice.write(path, text)
    alice.sync()
    # before carol's first sync: no Data/ yet
    r = carol.run("sparse", "set", "raw/", check_rc=0)
    assert "raw/" in r.stdout
    carol.write("other/mine.txt", "carol's, outside the selection")
    assert "2 downloaded" in carol.sync().stdout
    assert set(carol.files()) == {"raw/1.csv", "raw/2.csv", "other/mine.txt"}
    assert statuses(carol) == {"raw/1.csv": "in sync", "raw/2.csv": "in sync",
                               "docs/a.pdf": "not held", "docs/b.pdf": "not held",
                               "other/x.bin": "not held"}
    # carol changes what she holds; alice's full sync then deletes nothing
    carol.write("raw/1.csv", "1, by carol")
    carol.sync()
    r = alice.sync()
    assert "1 downloaded" in r.stdout and "delet" not in r.stdout
    assert set(team.remote_files()) == set(TEAM_FILES)
    assert set(alice.files()) == set(TEAM_FILES)
    # widening: the next sync downloads what was added
    carol.run("sparse", "add", "docs/", check_rc=0)
    assert "2 downloaded" in carol.sync().stdout
    assert carol.read("docs/a.pdf") == b"contract A"
    # narrowing while a leaving file has an unsynced change: refused, nothing changed
    carol.write("docs/a.pdf", "contract A, signed")
    selection = (carol.data / ".S3" / "sparse.json").read_bytes()
    r = carol.run("sparse", "set", "raw/")
    assert r.returncode == 2
    assert "docs/a.pdf (modified here)" in r.stderr and "Sync first" in r.stderr
    assert (carol.data / ".S3" / "sparse.json").read_bytes() == selection
    assert carol.read("docs/a.pdf") == b"contract A, signed" and carol.exists("docs/b.pdf")
    # synced, the same narrowing moves the in-sync copies to the trash
    carol.sync()
    r = carol.run("sparse", "set", "raw/", check_rc=0)
    assert "no longer held here: docs/a.pdf" in r.stdout
    assert not carol.exists("docs/a.pdf") and not carol.exists("docs/b.pdf")
    assert sorted(carol.trash().values()) == [b"contract A, signed", b"invoice B"]
    assert not any(p.startswith("docs/") for p in carol.baseline())
    carol.sync()
    r = alice.sync()
    assert "1 downloaded" in r.stdout and "delet" not in r.stdout  # the signed contract
    assert set(team.remote_files()) == set(TEAM_FILES)
    assert team.remote_files()["docs/a.pdf"] == b"contract A, signed"
    # off: everything comes down, and carol's own file outside the selection goes up
    carol.run("sparse", "off", check_rc=0)
    carol.sync()
    assert set(carol.files()) == set(TEAM_FILES) | {"other/mine.txt"}
    assert "other/mine.txt" in team.remote_files()


def test_a_where_selection_follows_the_shared_metadata(make_team):
    team = make_team(("alice", "bob"))
    alice, bob = team.alice, team.bob
    for path, text in TEAM_FILES.items():
        alice.write(path, text)
    alice.sync()
    alice.run("meta", "set", "docs/a.pdf", "document_type=contract", check_rc=0)
    alice.run("meta", "set", "docs/b.pdf", "document_type=invoice", check_rc=0)
    # mmmeta's Client1: fetch only the contracts
    bob.run("sparse", "set", "--where", "document_type=contract", check_rc=0)
    bob.sync()
    assert bob.files() == {"docs/a.pdf": b"contract A"}
    assert bob.sync().stdout.strip().endswith("Everything is in sync.")
    alice.run("meta", "set", "docs/b.pdf", "document_type=contract", check_rc=0)
    assert "1 downloaded" in bob.sync().stdout  # the metadata changed, not the files
    assert set(bob.files()) == {"docs/a.pdf", "docs/b.pdf"}
    r = bob.run("sparse", "list", "--json", check_rc=0)
    holds = json.loads(r.stdout)
    assert holds["selection"] == ["--where document_type=contract"]
    assert (holds["selected_files"], holds["synced_files"]) == (2, 2)
    assert set(team.remote_files()) == set(TEAM_FILES)


def test_narrowing_keeps_every_unsynced_change_and_trashes_only_synced_copies():
    from s3sync_mirror.core.model import FileState
    from s3sync_mirror.meta.selection import Rule, Selection, narrowing

    def st(c):
        return FileState(c * 64, 1)

    base = {"same": st("a"), "remote_moved": st("a"), "edited": st("a"), "gone_here": st("a"),
            "gone_both": st("a")}
    local = {"same": st("a"), "remote_moved": st("a"), "edited": st("b"), "new": st("c"),
             "first_sync": st("d")}
    remote = {"same": st("a"), "remote_moved": st("e"), "edited": st("a"),
              "gone_here": st("a"), "first_sync": st("d")}
    trash, forget, refused = narrowing(set(base) | set(local), base, local, remote)
    assert trash == ["first_sync", "remote_moved", "same"]
    assert forget == ["gone_both", "remote_moved", "same"]
    assert refused == {"edited": "modified here", "gone_here": "deleted here",
                       "new": "new here"}
    sel = Selection((Rule(("raw/", "!raw/tmp/")), Rule((), ("kind=contract",))))
    outside = sel.outside({"docs/c.pdf": {"kind": {"type": "str", "value": "contract"}}})
    assert [p for p in ("raw/a", "raw/tmp/b", "docs/c.pdf", "docs/d.pdf", "raw/")
            if outside(p)] == ["raw/tmp/b", "docs/d.pdf"]
    assert sel.signature("etag1") != sel.signature("etag2")
    assert Selection((Rule(("raw/",)),)).signature("e1") == \
        Selection((Rule(("raw/",)),)).signature("e2")
