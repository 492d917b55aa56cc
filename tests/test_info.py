"""``info`` names every member that synced, those who only download included, with the time
of their last sync (their own small record, ``.S3/members/<name>.json``), through the real
command line on a folder remote and on S3; a no-change sync writes nothing to the remote."""
from __future__ import annotations

import json
import os


def _info(member) -> dict:
    return json.loads(member.run("info", "--json", check_rc=0).stdout)


def _remote_marks(team) -> dict:
    """{key: what tells a rewrite}: mtime_ns on the folder remote, the ETag on S3."""
    if team.kind == "local":
        root = team.remote_root / team.prefix
        return {p.relative_to(root).as_posix(): os.stat(p).st_mtime_ns
                for p in root.rglob("*") if p.is_file() and ".S3/lock" not in p.as_posix()}
    s3 = team._s3()
    return {o["Key"]: (o["ETag"], o["LastModified"]) for page in
            s3.get_paginator("list_objects_v2").paginate(Bucket=team.bucket)
            for o in page.get("Contents", ())}


def test_info_lists_members_who_only_download(make_team):
    team = make_team(names=("alice", "bob", "carol"))
    alice, bob, carol = team.alice, team.bob, team.carol
    alice.write("a.csv", "1\n")
    alice.sync()
    bob.sync()  # receives a.csv, changes nothing on the remote
    carol.sync()
    by_name = {m["name"]: m for m in _info(alice)["members"]}
    assert set(by_name) == {"alice", "bob", "carol"}, by_name
    assert by_name["bob"]["runs"] == 0 and by_name["bob"]["last_sync"]
    assert by_name["alice"]["runs"] == 1 and by_name["alice"]["last_change"]
    text = alice.run("info", check_rc=0).stdout
    assert "bob" in text and "carol" in text

    before = _remote_marks(team)
    r = bob.sync()  # nothing changed: no remote write, the record included
    assert _remote_marks(team) == before, r.stdout

    record = ".S3/members/bob.json"
    assert json.loads(team.remote_objects()[record])["name"] == "bob"
    _remove(team, record)
    bob.sync()  # written within the hour: not again
    assert record not in team.remote_objects()
    note = bob.data / ".S3" / "member_seen.json"
    old = json.loads(note.read_text())
    note.write_text(json.dumps({**old, "at": 0}))  # as if written over an hour ago
    bob.sync()
    assert json.loads(team.remote_objects()[record])["last_sync"]  # refreshed
    assert json.loads(note.read_text())["at"] > 0


def _remove(team, key: str) -> None:
    if team.kind == "local":
        (team.remote_root / team.prefix / key).unlink()
    else:
        team._s3().delete_object(Bucket=team.bucket, Key=f"{team.prefix}/{key}")
