"""A batch's small downloads that no local file precedes are written unnamed in their folder
and linked under their name (``core/diskio.create_whole``, ``Replica.place_bytes``): whole
or not at all, never over a file that appeared meanwhile, no temp file left after a crash;
where the system has no unnamed files, a temp file and a rename as before."""
from __future__ import annotations

import errno
import os
import stat

import pytest

import s3sync_mirror
from s3sync_mirror.core import diskio
from s3sync_mirror.core.errors import SyncFailed
from s3sync_mirror.core.model import DONE, FAILED



def test_this_system_has_unnamed_files():
    """Linux has them (O_TMPFILE, /proc): what the tests below count on (elsewhere,
    ``create_whole`` gives None and the temp file and rename are used)."""
    assert diskio._unnamed_files() == (os.uname().sysname == "Linux")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_new_file_appears_whole_with_its_time_and_mode(tmp_path):
    dest = tmp_path / "a.csv"
    st = diskio.create_whole(dest, b"x,y\n1,2\n", 1_600_000_000_123_456_789)
    assert dest.read_bytes() == b"x,y\n1,2\n"
    now = os.stat(dest)
    assert st is not None and (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) == \
        (now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns)
    assert now.st_mtime_ns == 1_600_000_000_123_456_789
    assert stat.S_IMODE(now.st_mode) == 0o666 & ~_umask()
    assert sorted(os.listdir(tmp_path)) == ["a.csv"]  # nothing else was named


def test_a_taken_name_is_refused_and_left_as_it_was(tmp_path):
    (tmp_path / "mine.csv").write_bytes(b"the user's")
    (tmp_path / "folder").mkdir()
    os.symlink("elsewhere", tmp_path / "link")
    for name in ("mine.csv", "folder", "link"):
        with pytest.raises(FileExistsError):
            diskio.create_whole(tmp_path / name, b"downloaded", None)
    assert (tmp_path / "mine.csv").read_bytes() == b"the user's"
    assert os.listdir(tmp_path / "folder") == [] and not (tmp_path / "elsewhere").exists()
    assert sorted(os.listdir(tmp_path)) == ["folder", "link", "mine.csv"]


def test_a_missing_folder_is_said(tmp_path):
    with pytest.raises(FileNotFoundError):
        diskio.create_whole(tmp_path / "no" / "a.csv", b"x", None)


def _refusing_unnamed(real_open):
    """os.open as a file system without unnamed files answers O_TMPFILE."""
    def refusing(path, flags, *args, **kw):
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_open(path, flags, *args, **kw)
    return refusing


def test_a_system_without_unnamed_files_gets_none(tmp_path, monkeypatch):

    monkeypatch.setattr(diskio.os, "open", _refusing_unnamed(os.open))
    assert diskio.create_whole(tmp_path / "a.csv", b"x", None) is None
    assert os.listdir(tmp_path) == []


def _team_with_files(team, count=40):
    files = {f"d{i % 3}/f{i}.csv": f"row,{i}\n".encode() * (i + 1) for i in range(count)}
    for path, data in files.items():
        team.alice.write(path, data)
    team.alice.sync()
    return files


def _spied(monkeypatch) -> list:
    """Records what each create_whole call gave (a stat, None, or the exception)."""
    seen: list = []
    real = diskio.create_whole

    def spy(path, data, mtime_ns):
        try:
            st = real(path, data, mtime_ns)
        except BaseException as exc:
            seen.append(exc)
            raise
        seen.append(st)
        return st

    from s3sync_mirror.pipeline import replica

    monkeypatch.setattr(replica, "create_whole", spy)
    return seen


def _leftovers(member) -> list:
    """Temp files anywhere in the clone (the data files and .S3/tmp)."""
    return [p for p in member.data.rglob("*") if p.is_file()
            and (p.name.endswith((".part", ".tmp")) or p.parent.name == "tmp")]


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_fresh_clone_places_every_small_file_unnamed_first(team, monkeypatch):
    files = _team_with_files(team)
    seen = _spied(monkeypatch)
    result = s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert result.ok and {o.status for o in result.outcomes} == {DONE}
    assert team.bob.files() == files
    assert len(seen) == len(files) and all(isinstance(s, os.stat_result) for s in seen)
    assert _leftovers(team.bob) == []
    for path in files:  # the baseline records each file as it is on disk
        row, st = team.bob.baseline()[path], os.stat(team.bob.data / path)
        assert int(row["Size"]) == st.st_size
    assert "nothing to do" in team.bob.run("status", check_rc=0).stdout
    assert os.stat(team.bob.data / "d0/f0.csv").st_mtime_ns == \
        os.stat(team.alice.data / "d0/f0.csv").st_mtime_ns


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_a_file_made_locally_meanwhile_is_never_written_over(team, monkeypatch):
    files = _team_with_files(team, count=12)
    from s3sync_mirror.pipeline import replica

    real = diskio.create_whole

    def user_was_quicker(path, data, mtime_ns):
        if os.path.basename(path) == "f4.csv":  # the user saves a file of that name first
            with open(path, "wb") as f:
                f.write(b"the user's own")
        return real(path, data, mtime_ns)

    monkeypatch.setattr(replica, "create_whole", user_was_quicker)
    with pytest.raises(SyncFailed) as raised:
        s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    result = raised.value.result
    failed = [o for o in result.outcomes if o.status == FAILED]
    assert [o.action.path for o in failed] == ["d1/f4.csv"]
    assert "created locally during this sync" in failed[0].error
    assert team.bob.read("d1/f4.csv") == b"the user's own"
    assert "d1/f4.csv" not in team.bob.baseline() and _leftovers(team.bob) == []
    monkeypatch.setattr(replica, "create_whole", real)
    # the next run sees both versions and calls it a conflict; nothing is lost
    out = team.bob.run("--yes", "--conflict", "both", check_rc=0).stdout
    assert team.bob.read("d1/f4.csv") in (b"the user's own", files["d1/f4.csv"]), out
    kept = {team.bob.read(p) for p in team.bob.files() if p.startswith("d1/f4")}
    assert kept == {b"the user's own", files["d1/f4.csv"]}


@pytest.mark.parametrize("remote_kind", ["s3"])
def test_without_unnamed_files_a_temp_file_and_a_rename(team, monkeypatch):
    files = _team_with_files(team, count=10)
    seen = _spied(monkeypatch)
    monkeypatch.setattr(diskio.os, "open", _refusing_unnamed(os.open))
    result = s3sync_mirror.run(team.bob.repo, yes=True, quiet=True)
    assert result.ok and team.bob.files() == files and _leftovers(team.bob) == []
    assert seen == [None]  # asked once, then not again this run
