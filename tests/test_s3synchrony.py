"""A team that used S3Synchrony 0.4 moves over in place (README: Moving over from
S3Synchrony, fsmirror and mmmeta): its s3synchrony.json, its clones' .S3/ and the remote's
.S3/ are adopted as config, baseline, remote state and history.

The remote and the clones are laid out byte for byte as S3Synchrony 0.4.0's code writes
them (BasePlatform: pandas ``to_csv`` of File,Edited By,Time Edited,Checksum with MD5 and
``%Y-%m-%d %H:%M:%S`` mtimes; ``deleted_remote.csv`` written with its index; a deleted
object copied to ``.S3/deleted/<path>``; uploads as plain PUTs whose ETag is the MD5)."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pandas as pd

from tests.conftest import Team, parse_csv

COLUMNS = ["File", "Edited By", "Time Edited", "Checksum"]


def _row(path, content: bytes, who: str, when: float) -> dict:
    return {"File": path, "Edited By": who,
            "Time Edited": datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S"),
            "Checksum": hashlib.md5(content).hexdigest()}


def _csv(rows, index=False) -> bytes:
    return pd.DataFrame(rows, columns=COLUMNS).to_csv(index=index).encode()


def _legacy_team(tmp_path, bucket, endpoint):
    """alice uploaded a.txt, b.txt, c.txt; bob edited b.txt; alice deleted c.txt."""
    team = Team("s3", tmp_path, bucket=bucket, endpoint=endpoint)
    s3 = team._s3()
    a, b1, b2, c = b"alpha\n", b"bravo 1\n", b"bravo 2 by bob\n", b"charlie\n"
    t0 = 1_700_000_000
    remote_rows = [_row("a.txt", a, "alice", t0), _row("b.txt", b2, "bob", t0 + 60)]
    deleted_rows = [_row("c.txt", c, "alice", t0)]
    for key, body in (("a.txt", a), ("b.txt", b2), (".S3/deleted/c.txt", c)):
        s3.put_object(Bucket=bucket, Key=f"{team.prefix}/{key}", Body=body)
    for name, body in (("versions_remote.csv", _csv(remote_rows)),
                       ("deleted_remote.csv", _csv(deleted_rows, index=True))):
        s3.put_object(Bucket=bucket, Key=f"{team.prefix}/.S3/{name}", Body=body)
    for m in team.members.values():
        (m.repo / "s3sync_mirror.yml").unlink()
        (m.repo / "s3synchrony.json").write_text(json.dumps({
            "template": "no_creds_needed", "platform": "s3", "_name": m.name,
            "local_data_rel_dir": "Data", "remote_data_dir": team.prefix, "aws_bkt": bucket,
            "aws_prfx": team.prefix, "credentials": {"endpoint_url": endpoint}}))
        m.env["S3SYNC_MIRROR_USER"] = m.name
        m.write("a.txt", a)
        m.write("b.txt", b2)
        # S3Synchrony's _compute_directory: every row names the member who ran it
        local_rows = [_row("a.txt", a, m.name, t0), _row("b.txt", b2, m.name, t0 + 60)]
        s = m.data / ".S3"
        s.mkdir()
        (s / "versions_local.csv").write_bytes(_csv(local_rows))
        (s / "deleted_local.csv").write_bytes(_csv([]))
        (s / "versions_remote.csv").write_bytes(_csv(remote_rows))
        (s / "deleted_remote.csv").write_bytes(_csv(deleted_rows, index=True))
        (s / "ignore_remote.txt").write_text("")
    return team, {"a.txt": a, "b.txt": b2, "c.txt": c}, remote_rows


def _etags(team) -> dict:
    s3 = team._s3()
    return {k: s3.head_object(Bucket=team.bucket, Key=f"{team.prefix}/{k}")["ETag"]
            for k in ("a.txt", "b.txt")}


def test_team_moves_over_in_place(tmp_path, bucket, aws_env):
    team, content, remote_rows = _legacy_team(tmp_path, bucket, aws_env)
    alice, bob = team.alice, team.bob
    before = _etags(team)
    legacy_remote = team.remote_objects()[".S3/versions_remote.csv"]

    r = alice.run("status", "--json", check_rc=0)
    out = json.loads(r.stdout)
    assert out["actions"] == [], out  # nothing to transfer, nothing to delete, no reset
    assert any("S3Synchrony 0.4" in w for w in out["summary"]["warnings"]), out
    assert team.remote_objects()[".S3/versions_remote.csv"] == legacy_remote  # status wrote nothing

    alice.sync()
    assert _etags(team) == before  # nothing re-uploaded
    state = team.remote_state()
    assert {p: r["Edited By"] for p, r in state.items()} == {"a.txt": "alice", "b.txt": "bob"}
    assert state["b.txt"]["Checksum"] == hashlib.sha256(content["b.txt"]).hexdigest()
    kept = team.remote_objects()
    assert kept[".S3/s3synchrony-0.4/versions_remote.csv"] == legacy_remote
    assert (alice.data / ".S3/s3synchrony-0.4/versions_local.csv").exists()
    assert {r["File"] for r in alice.baseline().values()} == {"a.txt", "b.txt"}

    bob.sync()
    assert bob.files() == {"a.txt": content["a.txt"], "b.txt": content["b.txt"]}
    assert _etags(team) == before

    versions = json.loads(alice.run("log", "--json", "c.txt", check_rc=0).stdout)["versions"]
    assert versions and all(v["path"] == "c.txt" for v in versions), versions
    alice.run("restore", "c.txt", check_rc=0)
    assert alice.read("c.txt") == content["c.txt"]

    bob.delete("a.txt")
    bob.sync()
    assert "a.txt" not in team.remote_files()
    assert content["a.txt"] in team.archive().values()
    deleted = parse_csv(team.remote_objects()[".S3/deleted_remote.csv"])
    assert {r["File"] for r in deleted} >= {"a.txt", "c.txt"}
    assert ".S3/s3synchrony-0.4/deleted_remote.csv" in team.remote_objects()
    alice.sync()
    assert not alice.exists("a.txt")  # the deletion reached alice (kept in her trash)
    assert content["a.txt"] in alice.trash().values()


def test_file_changed_since_s3synchrony_is_a_conflict(tmp_path, bucket, aws_env):
    team, content, _rows = _legacy_team(tmp_path, bucket, aws_env)
    team.alice.write("b.txt", b"alice changed it after her last S3Synchrony run\n")
    r = team.alice.run("status", "--json", check_rc=0)
    kinds = {a["path"]: a["action"] for a in json.loads(r.stdout)["actions"]}
    assert kinds == {"b.txt": "conflict"}, kinds
    team.alice.sync("--conflict", "both", rc=0)
    assert team.remote_files()["b.txt"] == content["b.txt"]  # not overwritten
