"""State CSVs (docs/state-files.md#csv-format): exact columns, strict validation, atomic
writes."""
from __future__ import annotations

import os
import re
import unicodedata

import pytest

from s3sync_mirror.core import paths
from s3sync_mirror.state import csvfiles as state
from s3sync_mirror.core.errors import StateError, UnsafePathError
from s3sync_mirror.core.model import FileState

H = "a" * 64
HEADER = "File,Edited By,Time Edited,Checksum,Size"


def csv(*rows, header=HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_roundtrip_keeps_every_field_and_the_column_order():
    states = {"raw/2024/a.csv": FileState(H, 12, "alice", "2026-11-21T14:03:05Z", 123, "etag1",
                                          (456, 789, 10)),
              "b c/ünï.txt": FileState("b" * 64, 0, "bob", "", -1, "")}
    data = state.render_versions(states, local=True, owner="0123456789abcdef")
    assert data.decode().splitlines()[0] == \
        HEADER + ",Mtime Ns,ETag,Ctime Ns,Inode,Device,Baseline Of"
    assert state.parse_owned(data, "x") == (states, {"0123456789abcdef"})
    remote = state.render_versions(states, local=False)
    assert remote.decode().splitlines()[0] == HEADER + ",ETag,Mtime Ns"
    parsed = state.parse_versions(remote, "x")
    assert parsed["raw/2024/a.csv"] == states["raw/2024/a.csv"]._replace(node=())


def test_the_original_four_columns_plus_size_suffice():
    parsed = state.parse_versions(csv(f"a.csv,alice,2026-11-21T14:03:05Z,{H},3"), "x")
    assert parsed == {"a.csv": FileState(H, 3, "alice", "2026-11-21T14:03:05Z")}


def test_paths_are_nfc_normalised():
    nfd = "cafe\u0301.csv"
    parsed = state.parse_versions(csv(f"{nfd},a,,{H},1"), "x")
    assert list(parsed) == ["caf\u00e9.csv"]


@pytest.mark.parametrize("data,fragment", [
    (b"", "empty"),
    (csv(f"a.csv,alice,,{H}", header="File,Edited By,Time Edited,Checksum"), "Size"),
    (csv(f"a.csv,{H},alice,,3", header="File,Checksum,Edited By,Time Edited,Size"),
     "out of order"),
    (csv(f"a.csv,a,,{H.upper()},3"), "Checksum"),
    (csv("a.csv,a,,abc,3"), "Checksum"),
    (csv(f"a.csv,a,,{H},-3"), "Size"),
    (csv(f"a.csv,a,,{H},3.5"), "Size"),
    (csv(f"a.csv,a,yesterday,{H},3"), "Time Edited"),
    (csv(f"a.csv,a,,{H},3", f"a.csv,b,,{H},3"), "listed twice"),
    (csv(f'a.csv,a,,{H},3,extra,"unterminated'), "readable"),
    (b"\xff\xfe\x00garbage", "readable"),
])
def test_corrupt_csvs_are_named_not_guessed(data, fragment):
    with pytest.raises(StateError) as exc:
        state.parse_versions(data, "remote versions_remote.csv")
    assert "remote versions_remote.csv" in str(exc.value)
    assert fragment.lower() in str(exc.value).lower()


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.csv", "a/../../b", "a\\b.csv",
                                  ".S3/versions_local.csv", ".s3/x", "C:/x.csv", "a//b",
                                  "a/", "./a"])
def test_unsafe_paths_in_a_csv_are_refused(path):
    with pytest.raises(UnsafePathError) as exc:
        state.parse_versions(csv(f"{path},a,,{H},1"), "x.csv")
    assert "refused path" in str(exc.value)


def test_nul_in_a_path_is_refused():
    with pytest.raises(StateError):
        state.parse_versions(csv(f"a\x00b,a,,{H},1"), "x.csv")


def test_logs_allow_a_path_many_times():
    rows = [state.log_row("a.csv", FileState(H, 1), "bob", "2026-11-21T14:03:05Z", "where")] * 2
    data = state.render_log(rows)
    assert data.decode().splitlines()[0] == HEADER + ",Where"
    assert len(state.parse_log(data, "x")) == 2


def test_write_atomic_replaces_whole_and_follows_the_umask(tmp_path):
    target = tmp_path / "sub" / "f.csv"
    state.write_atomic(target, b"one")
    state.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.csv"], "no temp file left"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


# -- the parser without pandas must agree with the pandas one wherever it answers ---------
from hypothesis import HealthCheck, given, settings, strategies as hs  # noqa: E402

_text = hs.text(alphabet=hs.sampled_from(list('ab ,"\r\n\t.-/\\\x00é中') + ["\u0301"]),
                max_size=8)
_state = hs.builds(
    FileState, hs.sampled_from(["a" * 64, "0123456789abcdef" * 4, "A" * 64, "xyz"]),
    hs.integers(0, 10**18), _text, hs.sampled_from(["2026-11-21T14:03:05Z", "", "today"]),
    hs.sampled_from([-1, 0, 10**18]), _text)
_states = hs.dictionaries(hs.text(alphabet="ab/é.\u0301 ", min_size=1, max_size=6), _state,
                          max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(states=_states, local=hs.booleans(), cut=hs.integers(0, 400),
       insert=hs.sampled_from(["", "\n", ",", '"', "\r\n", "x", "\ufeff"]))
def test_plain_parser_agrees_with_pandas(states, local, cut, insert):
    data = state.render_versions(states, local=local)
    cut = min(cut, len(data))
    data = data[:cut] + insert.encode("utf-8") + data[cut:]
    plain = state._parse_plain(data)
    try:
        full = _parse_with_pandas(data)
    except StateError:
        full = "error"
    try:
        public = state.parse_versions(data, "x")
    except StateError:
        public = "error"
    assert public == full, "parse_versions answers as the strict parser, either way"
    if plain is not None:
        assert plain[0] == full
    else:
        # declining is always safe, but the fast parser must not decline the common case:
        # an untouched rendering of valid states that the strict parser reads
        untouched = insert == ""
        assert full == "error" or not untouched or not _valid(states), \
            "the fast parser declined an untouched rendering of valid states"


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _valid(states) -> bool:
    """Whether every state would pass validation as rendered (the checks of state/csvfiles.py)."""
    return all(paths.unsafe_reason(p) is None and unicodedata.is_normalized("NFC", p)
               and _HEX64.fullmatch(s.checksum) and len(str(s.size)) <= 18
               and s.time_edited in ("", "2026-11-21T14:03:05Z")
               for p, s in states.items())


def _parse_with_pandas(data: bytes):
    real = state._parse_plain
    state._parse_plain = lambda _data: None
    try:
        return state.parse_versions(data, "x")
    finally:
        state._parse_plain = real


@pytest.mark.parametrize("local", [True, False])
def test_a_carriage_return_in_a_field_round_trips(local):
    states = {"a.csv": FileState(H, 1, "al\rice", "2026-11-21T14:03:05Z", 5, "e1")}
    data = state.render_versions(states, local=local)
    assert state.parse_versions(data, "x")["a.csv"].edited_by == "al\rice"


def test_plain_parser_takes_the_common_case():
    states = {"a.csv": FileState("a" * 64, 3, "alice", "2026-11-21T14:03:05Z", 5, "e1"),
              "d/é.csv": FileState("b" * 64, 0, "", "", -1, "")}
    for local in (True, False):
        data = state.render_versions(states, local=local)
        got = state._parse_plain(data)
        assert got is not None and got[0] == _parse_with_pandas(data)


# -- the parsed-state snapshot (statecache) is used only for the CSV it was made from ----
def test_snapshot_follows_the_csv_it_was_made_from(tmp_path):
    from s3sync_mirror.state.clonestate import StateDir

    sd = StateDir(tmp_path)
    sd.ensure()
    one = {"a.csv": FileState("a" * 64, 1, "alice", "2026-11-21T14:03:05Z", 5, "e1")}
    sd.save_baseline(one)
    assert (sd.cache / "versions_local.marshal").exists()
    assert sd.load_baseline() == one
    # edited by hand, same size: the snapshot no longer describes it
    text = sd.versions_local.read_text().replace("alice", "carol")
    sd.versions_local.write_text(text)
    assert sd.load_baseline()["a.csv"].edited_by == "carol"
    # a torn or foreign snapshot is ignored, never believed
    snap = sd.cache / "versions_local.marshal"
    snap.write_bytes(snap.read_bytes()[:-3])
    assert sd.load_baseline()["a.csv"].edited_by == "carol"
    snap.write_bytes(b"\x00" * 40)
    assert sd.load_baseline()["a.csv"].edited_by == "carol"


def test_a_read_only_run_writes_no_snapshot(tmp_path):
    from s3sync_mirror.state.clonestate import StateDir

    StateDir(tmp_path).ensure()
    data = state.render_versions(
        {"a.csv": FileState("a" * 64, 1, "", "", 5, "")}, local=True)
    state.write_atomic(tmp_path / ".S3" / "versions_local.csv", data)
    ro = StateDir(tmp_path, read_only=True)
    assert "a.csv" in ro.load_baseline()
    assert not (ro.cache / "versions_local.marshal").exists()


def test_restored_versions_are_json_by_name_and_the_old_name_is_still_read(tmp_path):
    """``restored.json`` (it was ``restored.csv``, though it always held JSON): a clone that
    restored a version under the old name keeps it until a sync shares it."""
    import json

    from s3sync_mirror.state.clonestate import StateDir

    sd = StateDir(tmp_path)
    sd.ensure()
    old = sd.layout.root / "restored.csv"
    old.write_text(json.dumps({"a.csv": "ab" * 32}), encoding="utf-8")
    assert sd.restored() == {"a.csv": "ab" * 32}
    sd.mark_restored({"b.csv": "cd" * 32})
    assert not old.exists()
    assert json.loads((sd.layout.root / "restored.json").read_text()) == {
        "a.csv": "ab" * 32, "b.csv": "cd" * 32}
    sd.forget_restored(["a.csv"])
    assert sd.restored() == {"b.csv": "cd" * 32}
