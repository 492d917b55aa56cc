"""A clone copied to a folder of another name, outside git, with ``namespace: MIRROR``:
its config now resolves another prefix, and its baseline records the team's. Through the
real command line on a folder remote and on S3: the run stops with exit 2 naming both
prefixes and the fix, writes nothing to the new prefix, and once the namespace is pinned
the copy syncs with the team."""
from __future__ import annotations

import os
import shutil

from .conftest import Member


def _remote_roots(team) -> set:
    if team.kind == "local":
        return set(os.listdir(team.remote_root))
    keys = [o["Key"] for page in team._s3().get_paginator("list_objects_v2").paginate(
        Bucket=team.bucket) for o in page.get("Contents", ())]
    return {k.split("/", 1)[0] for k in keys}


def test_a_copied_clone_of_another_prefix_is_stopped_with_the_fix(team):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "1\n")
    alice.sync()
    bob.sync()
    copy_repo = team.tmp / "elsewhere" / "workcopy"
    shutil.copytree(alice.repo, copy_repo, symlinks=True)
    copy = Member("alice-copy", copy_repo, alice.env)
    copy.write("new.csv", "made in the copy\n")

    for args in (("--yes",), ("status",)):
        r = copy.run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "'repo/Data'" in r.stderr and "'workcopy/Data'" in r.stderr, r.stderr
        assert "`namespace: repo/Data` under `storage:`" in r.stderr, r.stderr
    assert _remote_roots(team) == {"repo"}  # no new, empty remote was started

    config = copy_repo / "s3sync_mirror.yml"
    config.write_text(config.read_text().replace("namespace: MIRROR",
                                                 "namespace: repo/Data"))
    copy.sync()
    assert team.remote_files()["new.csv"] == b"made in the copy\n"
    bob.sync()
    assert bob.read("new.csv") == b"made in the copy\n"
    assert _remote_roots(team) == {"repo"}


def test_a_changed_namespace_is_stopped_and_reset_starts_over(team):
    alice = team.alice
    alice.write("a.csv", "1\n")
    alice.sync()
    config = alice.repo / "s3sync_mirror.yml"
    config.write_text(config.read_text().replace("namespace: MIRROR",
                                                 "namespace: other/place"))
    r = alice.run("--yes")
    assert r.returncode == 2 and "'other/place'" in r.stderr, r.stderr
    assert "s3sync-mirror reset" in r.stderr
    alice.run("--yes", "reset", check_rc=0)
    alice.sync()  # on purpose: the new prefix gets the files
    assert _remote_roots(team) == {"repo", "other"}
    assert alice.run("status", check_rc=0).stdout.strip().endswith("nothing to do.")
