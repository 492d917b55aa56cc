"""Secrets: no credential is ever written by the tool or printed, also with -v/-vv; a
secret found in a config file is refused (see also test_config)."""
from __future__ import annotations

from .conftest import RELIABILITY

KEY_ID = "AKIAQUITEDISTINCTIVE7"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYQUITEDISTINCTIVE"


def everything_written(team) -> bytes:
    blobs = [v for v in team.remote_objects().values()]
    for m in team.members.values():
        for p in m.repo.rglob("*"):
            if p.is_file():
                blobs.append(p.read_bytes())
    return b"\n".join(blobs)


def test_credentials_never_printed_or_written(make_team, remote_kind):
    team = make_team()
    for m in team.members.values():
        m.env.update(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET)
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1")
    outputs = []
    for member, args in ((alice, ["--yes", "-vv"]), (alice, ["status", "-vv", "--json"]),
                         (bob, ["--yes", "-v"]), (bob, ["--yes", "-vv", "--dry-run"])):
        r = member.run(*args)
        assert r.returncode == 0, r.stderr
        outputs += [r.stdout, r.stderr]
    # an error path too: a bucket that does not exist, or a remote folder that cannot be made
    cfg = alice.repo / "s3sync_mirror.yml"
    cfg.write_text(cfg.read_text().replace(
        "tenant: ", "tenant: no-such-bucket-anywhere #" if team.kind == "s3" else
        "tenant: /proc/forbidden #"))
    r = alice.run("--yes", "-vv")
    assert r.returncode != 0
    outputs += [r.stdout, r.stderr]
    text = "\n".join(outputs)
    for secret in (KEY_ID, SECRET):
        assert secret not in text
        assert secret.encode() not in everything_written(team)
    RELIABILITY[f"secret checks, {remote_kind} remote"] += 1
