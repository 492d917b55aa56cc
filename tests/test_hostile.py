"""Hostile input (docs/promises.md#bad-input-is-refused): crafted state CSVs and configs are
refused with a clear error; no file outside the data folder (and the remote) is ever created
or touched; no traceback reaches the user. ``S3SYNC_HOSTILE_EXAMPLES`` scales the end-to-end
runs."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from s3sync_mirror.state import csvfiles as state
from s3sync_mirror.state import legacy
from s3sync_mirror.cli.main import main
from s3sync_mirror.config import settings_from_document
from s3sync_mirror.core.errors import ConfigError, StateError
from s3sync_mirror.core.paths import unsafe_reason

from .conftest import RELIABILITY, Team

E2E_EXAMPLES = int(os.environ.get("S3SYNC_HOSTILE_EXAMPLES", "25"))
GOOD = hashlib.sha256(b"x").hexdigest()

nasty_paths = st.one_of(
    st.sampled_from(["/etc/passwd", "../escape.csv", "a/../../b", "..", ".", "a\\b.csv",
                     "C:/Windows/x", "C:\\x", ".S3/versions_local.csv", ".s3/x", "a\x00b",
                     "a//b", "a/", "", " ", "ok.csv", "dir/ok.csv", "../../../tmp/pwn",
                     "~/x", "a\nb", "\u202etxt.exe", "cafe\u0301.csv", "café.csv",
                     "a.csv"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30))
checksums = st.sampled_from([GOOD, GOOD.upper(), GOOD[:-1], "", "zz" * 32, GOOD + "0",
                             "0" * 64, "not-a-checksum"])
sizes = st.sampled_from(["1", "0", "-1", "abc", "", "1.5", "1e3", "99999999999999999999",
                         " 3"])
times = st.sampled_from(["2026-11-21T14:03:05Z", "", "yesterday", "2026-11-21 14:03:05",
                         "2026-11-21T14:03:05+00:00"])
rows = st.lists(st.tuples(nasty_paths, st.text(max_size=8), times, checksums, sizes),
                max_size=6)
# rows that pass validation, so that the end-to-end test also reaches the plan and the
# transfers often, not only the refusal
well_formed_rows = st.lists(st.tuples(
    st.sampled_from(["a.csv", "ok.csv", "dir/ok.csv", "café.csv", "cafe\u0301.csv"]),
    st.text(max_size=8), st.sampled_from(["2026-11-21T14:03:05Z", ""]),
    st.sampled_from([GOOD, "0" * 64]), st.sampled_from(["0", "1", "4"])), max_size=4,
    unique_by=lambda row: unicodedata.normalize("NFC", row[0]))
headers = st.sampled_from([
    "File,Edited By,Time Edited,Checksum,Size",
    "File,Edited By,Time Edited,Checksum,Size,ETag",
    "File,Edited By,Time Edited,Checksum",
    "File,Checksum,Edited By,Time Edited,Size",
    "Path,Edited By,Time Edited,Checksum,Size",
    ""])


def render(header: str, body) -> bytes:
    buf = io.StringIO()
    import csv

    w = csv.writer(buf, lineterminator="\n")
    if header:
        buf.write(header + "\n")
    for r in body:
        w.writerow(r)
    return buf.getvalue().encode("utf-8", errors="surrogatepass")


@given(headers, rows, st.booleans())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_versions_csv_is_either_safe_or_refused(header, body, duplicate):
    if duplicate and body:
        body = body + [body[0]]
    data = render(header, body)
    RELIABILITY["hostile inputs: crafted state CSVs (parser)"] += 1
    try:
        parsed = state.parse_versions(data, "remote versions_remote.csv")
    except StateError as exc:
        assert "versions_remote.csv" in str(exc)
        return
    for path, fs in parsed.items():
        assert unsafe_reason(path) is None
        assert len(fs.checksum) == 64 and int(fs.checksum, 16) >= 0
        assert fs.checksum == fs.checksum.lower() and fs.size >= 0
    assert len(parsed) == len(body)


config_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
              st.sampled_from(["s3", "local", "gcs", "MIRROR", "/abs", "../up", "a/../b",
                               "http://x:9000", "http://u:p@x", "team-bucket", "Data"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(
                                   ["provider", "tenant", "namespace", "endpoint_url", "root",
                                    "aws_secret_access_key", "password", "region", "x"]),
                                   children, max_size=4)),
    max_leaves=10)
config_docs = st.one_of(
    config_values,
    st.dictionaries(st.sampled_from(["storage", "data_dir", "user", "mirrors", "extra"]),
                    config_values, max_size=4))


@given(config_docs)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_config_document_is_valid_or_refused_clearly(doc):
    RELIABILITY["hostile inputs: crafted configs"] += 1
    try:
        s = settings_from_document(doc, Path("/cfg/s3sync_mirror.yml"), Path("/cfg"))
    except ConfigError as exc:
        assert str(exc).startswith("/cfg/s3sync_mirror.yml: ") and "Fix" in str(exc)
        return
    assert s.provider in ("s3", "local")
    assert "/cfg" in str(s.data_dir) and ".." not in s.data_dir.parts


def snapshot(root: Path, skip) -> dict:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(rel.parts[:len(s)] == s for s in skip):
            continue
        st_ = p.lstat()
        out[rel.as_posix()] = (st_.st_size, st_.st_mtime_ns, p.is_dir())
    return out


def cli(repo: Path, *args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(args))
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


def expected_run(crafted: bytes) -> tuple[int, str]:
    """(exit code, a fragment of stderr) of alice's sync against this remote state, when
    her only file, a.csv ("mine"), is in her baseline and nothing on the remote but a.csv
    ("mine") holds any of the crafted checksums (it replaced the state her commit wrote)."""
    if legacy.is_legacy(crafted):
        # S3Synchrony 0.4's four columns: adopted (docs/state-files.md#s3synchrony). The
        # state is rebuilt from the objects themselves, the rows only lend authors and
        # times, so a well-formed legacy file changes nothing here; a bad row is refused.
        try:
            legacy.rows(crafted, "crafted")
        except StateError:
            return 1, "versions_remote.csv"
        return 0, ""
    try:
        state.parse_versions(crafted, "crafted")
    except StateError:
        return 1, "versions_remote.csv"  # refused, named
    # A well-formed state that no commit wrote is not one the state head knows
    # (docs/state-files.md#the-state-head): it is corrected from the objects themselves,
    # said in one line, and nothing is placed or deleted on its word.
    return 0, "the remote state had lost a piece"


VALID_HEADERS = ["File,Edited By,Time Edited,Checksum,Size",
                 "File,Edited By,Time Edited,Checksum,Size,ETag"]


@given(st.one_of(st.tuples(headers, rows),
                 st.tuples(st.sampled_from(VALID_HEADERS), well_formed_rows)))
@example(("File,Edited By,Time Edited,Checksum", []))  # S3Synchrony 0.4's, empty: adopted
@example(("File,Edited By,Time Edited,Checksum", [["a.csv", "eve", "yesterday", "x"]]))
@settings(max_examples=E2E_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_a_crafted_remote_state_never_escapes_the_data_folder(crafted_state):
    header, body = crafted_state
    home = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        team = Team("local", home)
        alice = team.alice
        alice.write("a.csv", "mine")
        assert cli(alice.repo, "--yes", "-q")[0] == 0
        crafted = render(header, body)
        team.put_remote(".S3/versions_remote.csv", crafted)
        protected = [("alice", "repo", "Data"), ("remote",)]
        before = snapshot(home, protected)
        rc, out, err = cli(alice.repo, "--yes")
        RELIABILITY["hostile inputs: crafted remote states (end to end)"] += 1
        want_rc, fragment = expected_run(crafted)
        assert rc == want_rc and fragment in err, (want_rc, fragment, rc, out, err)
        assert "Traceback" not in err and "internal error" not in err, err
        assert snapshot(home, protected) == before, "a file outside the data folder changed"
        for p in (home / "remote").rglob("*"):
            assert (home / "remote" / "repo" / "Data") in (p, *p.parents) or \
                p in ((home / "remote" / "repo"),), f"escaped the remote prefix: {p}"
        assert alice.files() == {"a.csv": b"mine"}, "nothing placed or deleted"
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("bad", [
    b"File,Edited By,Time Edited,Checksum,Size\n/etc/passwd,eve,,%s,1\n",
    b"File,Edited By,Time Edited,Checksum,Size\n..\\..\\boot.ini,eve,,%s,1\n",
    b"File,Edited By,Time Edited,Checksum,Size\n.S3/versions_local.csv,eve,,%s,1\n",
    b"File,Edited By,Time Edited,Checksum,Size\na.csv,eve,,%s,-5\n",
    b"File,Edited By,Time Edited,Checksum,Size\na.csv,eve,,%s,1\na.csv,eve,,%s,1\n",
    b"File,Checksum\na.csv,%s\n",
])
def test_hostile_remote_states_are_refused_on_both_remotes(team, bad):
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "mine")
    alice.sync()
    team.put_remote(".S3/versions_remote.csv", bad.replace(b"%s", GOOD.encode()))
    before = team.remote_objects()
    r = bob.run("--yes")
    RELIABILITY[f"hostile inputs: crafted remote states, {team.kind} remote"] += 1
    assert r.returncode == 1
    assert "versions_remote.csv" in r.stderr and "Traceback" not in r.stderr
    assert bob.files() == {} and team.remote_objects() == before


def test_content_not_matching_its_checksum_is_never_placed(team):
    """A state whose checksum lies about the object (same ETag, other bytes recorded)."""
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "the real bytes")
    alice.write("b.csv", "fine")
    alice.sync()
    rows = state.parse_versions(team.remote_objects()[".S3/versions_remote.csv"], "x")
    rows["a.csv"] = rows["a.csv"]._replace(checksum=hashlib.sha256(b"a lie").hexdigest())
    team.put_remote(".S3/versions_remote.csv", state.render_versions(rows, local=False))
    r = bob.run("--yes")
    RELIABILITY[f"hostile inputs: lying checksums, {team.kind} remote"] += 1
    assert r.returncode == 1
    assert "a.csv" in r.stderr and "does not match its recorded SHA-256" in r.stderr
    assert bob.files() == {"b.csv": b"fine"}
    assert not any((bob.data / ".S3" / "tmp").iterdir())


def test_an_object_replaced_behind_the_tools_back_is_a_remote_change(team):
    """An object overwritten by another tool is recognised by its content and treated as
    a remote change: the run that meets it repairs the state and converges; the version it
    replaced survives in a trash (docs/decision-table.md#evidence)."""
    alice, bob = team.alice, team.bob
    alice.write("a.csv", "v1")
    alice.sync()
    team.put_remote("a.csv", b"overwritten by some other tool")
    r = bob.run("--yes")
    RELIABILITY[f"hostile inputs: foreign overwrites, {team.kind} remote"] += 1
    assert r.returncode == 0, r.stdout + r.stderr
    assert bob.files() == {"a.csv": b"overwritten by some other tool"}
    row = team.remote_state()["a.csv"]
    assert row["Checksum"] == hashlib.sha256(b"overwritten by some other tool").hexdigest()
    alice.sync()
    assert alice.files() == {"a.csv": b"overwritten by some other tool"}
    assert b"v1" in alice.trash().values()


def test_hostile_deleted_log_is_named_and_left_alone(team):
    alice = team.alice
    for i in range(4):
        alice.write(f"f{i}.csv", str(i))
    alice.sync()
    team.put_remote(".S3/deleted_remote.csv", b"File\n/etc/passwd\n")
    alice.delete("f0.csv")
    # The deletion log is the evidence teammates delete on: a deletion that cannot be
    # recorded there is not carried out (docs/decision-table.md#evidence).
    r = alice.sync(rc=1)
    assert "deleted_remote.csv" in r.stderr and "missing column" in r.stderr
    assert team.remote_objects()[".S3/deleted_remote.csv"] == b"File\n/etc/passwd\n"
    assert team.remote_files()["f0.csv"] == b"0"
