"""Google Cloud Storage and Azure Blob remotes, through the real CLI, on the emulators the
tests start themselves (fake-gcs-server, Azurite; tests/emulators.py): golden team
stories of tests/scenarios/ played again on each provider (in CI each story on one of
them, alternating), rounds of two members syncing
at once with no lost update (``S3SYNC_CLOUD_ROUNDS``: CI 4, the full reliability run 10),
and no credential printed or written. The backend contract of
each provider is in tests/test_contract_gcs.py and tests/test_contract_blob.py."""
from __future__ import annotations

import os

import pytest

from .conftest import RELIABILITY
from .test_races import race
from .test_golden import SCENARIOS, Scenario, members_of

# The golden stories played again on each cloud, against the same golden files.
CLOUD_STORIES = ["first_sync", "receive_new_changed_deleted", "conflict_keep_local",
                 "conflict_keep_remote", "conflict_keep_both", "edit_delete_keep_local",
                 "two_populated_clones", "move_rename"]

ROUNDS = int(os.environ.get("S3SYNC_CLOUD_ROUNDS", "4"))
# Which clouds play which stories: in CI (no S3SYNC_CLOUD_ROUNDS) each story plays on one of
# the two, alternating, so every story is played on a cloud; the full run plays all on both.
PAIRS = [(cloud, story) for i, story in enumerate(CLOUD_STORIES)
         for cloud in ("gcs", "blob")
         if "S3SYNC_CLOUD_ROUNDS" in os.environ or cloud == ("gcs", "blob")[i % 2]]


@pytest.fixture(params=["gcs", "blob"])
def remote_kind(request):
    return request.param


@pytest.mark.parametrize("remote_kind, name", PAIRS)
def test_a_golden_story_plays_the_same_on_the_cloud(name, make_team, remote_kind):
    folder = SCENARIOS / name
    Scenario(folder, make_team(names=members_of(folder)), remote_kind, False).play()


def test_the_config_names_the_cloud(team):
    text = (team.alice.repo / "s3sync_mirror.yml").read_text()
    assert f"provider: {team.kind}" in text
    team.alice.write("a.csv", "1")
    r = team.alice.run("status", check_rc=0)
    scheme = {"gcs": "gs://", "blob": "az://"}[team.kind]
    assert f"{scheme}{team.bucket}/repo/Data" in r.stdout + r.stderr


def test_two_members_syncing_at_once_round_after_round_lose_no_update(team):
    members = [team.alice, team.bob]
    for m in members:
        m.write(f"{m.name}/edit.csv", "v0")
        m.write(f"{m.name}/gone-0.csv", "bye")
    for m in members + members:
        m.sync()
    expected = {}
    for rnd in range(ROUNDS):
        for m in members:
            m.write(f"{m.name}/new-{rnd}.csv", f"{m.name} new {rnd}")
            m.write(f"{m.name}/edit.csv", f"{m.name} edit {rnd}")
            m.delete(f"{m.name}/gone-{rnd}.csv")
            m.write(f"{m.name}/gone-{rnd + 1}.csv", f"bye {rnd}")
            expected[f"{m.name}/new-{rnd}.csv"] = f"{m.name} new {rnd}".encode()
            expected[f"{m.name}/edit.csv"] = f"{m.name} edit {rnd}".encode()
        for name, (rc, out, err) in race(members).items():
            assert rc == 0, f"round {rnd}, {name}: rc={rc}\n{out}\n{err}"
        remote, state = team.remote_files(), team.remote_state()
        for path, content in expected.items():
            assert remote.get(path) == content, f"round {rnd}: {path} lost on the remote"
            assert state[path]["Checksum"], f"round {rnd}: {path} lost from the state"
        for m in members:
            assert f"{m.name}/gone-{rnd}.csv" not in remote
        assert set(state) == set(remote), "the state lists exactly the remote files"
        RELIABILITY[f"concurrent syncs, {team.kind} remote, 2 members"] += 2
    archived = set(team.archive().values())
    assert {f"bye {r}".encode() for r in range(ROUNDS - 1)} <= archived
    for m in members:
        m.sync()
    for m in members:
        assert m.files() == team.remote_files()


@pytest.mark.parametrize("remote_kind", ["blob"])  # GCS's emulator takes no credential
def test_the_account_key_is_never_printed_or_written(team):
    (connection_string,) = [v for k, v in team.alice.env.items()
                            if k == "AZURE_STORAGE_CONNECTION_STRING"]
    (key,) = [p.split("=", 1)[1] for p in connection_string.split(";")
              if p.startswith("AccountKey=")]
    team.alice.write("a.csv", "1")
    outputs = []
    for member, args in ((team.alice, ["--yes", "-vv"]), (team.bob, ["--yes", "-vv"]),
                         (team.bob, ["status", "--json", "-vv"])):
        r = member.run(*args, check_rc=0)
        outputs += [r.stdout, r.stderr]
    written = b"".join(team.remote_objects().values())
    for m in team.members.values():
        written += b"".join(p.read_bytes() for p in m.repo.rglob("*") if p.is_file())
    assert team.bob.read("a.csv") == b"1"
    assert key not in "".join(outputs)
    assert key.encode() not in written
