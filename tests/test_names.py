"""File names and kinds: NFC vs NFD, names differing only by case on a case-insensitive
disk, spaces, unicode and very long paths, empty files, a file replaced by a folder of the
same name (and back), symlinks."""
from __future__ import annotations

import json
import os
import unicodedata

import pytest

import s3sync_mirror
from s3sync_mirror.pipeline import scan as scan_module

from .conftest import RELIABILITY

NFC = unicodedata.normalize("NFC", "café.csv")
NFD = unicodedata.normalize("NFD", "café.csv")


def kinds(team):
    RELIABILITY[f"file name and kind cases, {team.kind} remote"] += 1


def test_nfd_name_on_disk_is_one_file_in_nfc(team):
    alice, bob = team.alice, team.bob
    assert NFC != NFD
    (alice.data / "raw").mkdir(parents=True)
    (alice.data / "raw" / NFD).write_text("accent")
    alice.sync()
    assert set(team.remote_state()) == {f"raw/{NFC}"}
    assert list(team.remote_files()) == [f"raw/{NFC}"]
    r = alice.run("status", "--json", check_rc=0)
    assert json.loads(r.stdout)["actions"] == [], "stable: not re-uploaded, not deleted"
    (alice.data / "raw" / NFD).write_text("accent, edited")
    alice.sync()
    bob.sync()
    assert bob.files() == {f"raw/{NFC}": b"accent, edited"}
    kinds(team)


def test_nfc_and_nfd_twins_are_reported_and_left_alone(team):
    alice = team.alice
    alice.write(NFC, "composed")
    (alice.data / NFD).write_text("decomposed")
    alice.write("other.csv", "x")
    r = alice.run("--yes")
    assert r.returncode == 3
    assert "different Unicode forms" in r.stdout + r.stderr
    assert team.remote_files() == {"other.csv": b"x"}
    kinds(team)


def test_names_differing_only_by_case_on_a_case_insensitive_disk(local_team, monkeypatch):
    alice, bob = local_team.alice, local_team.bob
    alice.write("Report.csv", "upper")
    alice.write("report.csv", "lower")
    alice.write("fine.csv", "ok")
    alice.sync()
    bob.data.mkdir(parents=True)
    monkeypatch.setitem(scan_module._CASE_CACHE, os.path.abspath(bob.data), True)
    result = s3sync_mirror.run(bob.repo, yes=True, quiet=True)
    assert result.exit_code == 3
    problems = {a.path: a.reason for a in result.plan.problems}
    assert set(problems) == {"Report.csv", "report.csv"}
    assert all("differ only by case" in r for r in problems.values())
    assert bob.files() == {"fine.csv": b"ok"}, "neither clobbers the other"
    kinds(local_team)


def test_spaces_unicode_long_paths_and_empty_files(team):
    alice, bob = team.alice, team.bob
    deep = "/".join([("d" * 60 + f"{i}") for i in range(12)])  # ~740 characters
    names = {
        "with spaces/and  double  spaces .csv": b"spaces",
        "日本語/データ.csv": "ユニコード".encode(),
        "emoji/🎉 party.txt": b"tada",
        f"{deep}/{'f' * 200}.bin": b"deep",
        "empty/nothing.dat": b"",
        "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p.csv": b"nested",
        "#hash%percent&amp+plus=eq?q.csv": b"odd chars",
    }
    for p, c in names.items():
        alice.write(p, c)
    alice.sync()
    assert team.remote_files() == names
    bob.sync()
    assert bob.files() == names
    assert alice.run("status", "--json", check_rc=0).stdout.count('"path"') == 0
    kinds(team)


def test_a_file_replaced_by_a_folder_of_the_same_name_and_back(team):
    alice, bob = team.alice, team.bob
    for i in range(3):
        alice.write(f"pad{i}.csv", "pad")
    alice.write("thing", "I am a file")
    alice.sync()
    bob.sync()
    alice.delete("thing")
    alice.write("thing/inside.csv", "now a folder")
    alice.sync()
    assert team.remote_files().get("thing/inside.csv") == b"now a folder"
    assert "thing" not in team.remote_files()
    bob.sync()
    assert bob.files() == alice.files()
    assert b"I am a file" in bob.trash().values()
    # and back: the folder becomes a file again
    bob.delete("thing/inside.csv")
    (bob.data / "thing").rmdir()
    bob.write("thing", "a file again")
    bob.sync()
    alice.sync()
    assert alice.files() == bob.files() == team.remote_files()
    assert alice.read("thing") == b"a file again"
    assert b"now a folder" in set(team.archive().values()) | set(alice.trash().values())
    kinds(team)


def test_symlinked_folders_are_skipped_and_never_written_through(team, tmp_path):
    alice, bob = team.alice, team.bob
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.csv").write_text("not shared")
    alice.write("real/a.csv", "a")
    (alice.data / "linkdir").symlink_to(outside, target_is_directory=True)
    r = alice.sync()
    assert "symlink" in r.stderr and "linkdir" in r.stderr
    assert set(team.remote_files()) == {"real/a.csv"}
    # bob's remote now lists a file under a path that is a symlink in bob's folder
    bob.data.mkdir(parents=True)
    (bob.data / "real").symlink_to(outside, target_is_directory=True)
    # a symlink is left alone on every side: nothing under it is downloaded, nothing
    # written through it, and what the remote holds there is not deleted
    r = bob.run("--yes", check_rc=0)
    assert "skipped symlink real" in r.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["private.csv"], \
        "nothing written through the symlink"
    assert set(team.remote_files()) == {"real/a.csv"}
    kinds(team)


@pytest.mark.parametrize("name", ["CON.csv", "trailing-dot.", "-leading-dash.csv"])
def test_names_other_systems_dislike_still_roundtrip_here(local_team, name):
    alice, bob = local_team.alice, local_team.bob
    alice.write(name, "x")
    alice.sync()
    bob.sync()
    assert bob.files() == {name: b"x"}


def test_control_characters_in_names_are_skipped_with_a_warning(local_team):
    alice = local_team.alice
    alice.write("tab\tname.csv", "x")
    alice.write("fine.csv", "y")
    r = alice.sync()
    assert "tab\\tname.csv" in r.stderr and "control character" in r.stderr
    assert local_team.remote_files() == {"fine.csv": b"y"}
