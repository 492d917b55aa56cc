"""Golden scenarios, in the style of rclone bisync's testdata: each folder
``tests/scenarios/<name>/`` is one team story, played through the real command line on both
remotes (a folder and S3 over HTTP), its plans and trees compared with ``golden/`` files.

A scenario folder holds:
  README           one line: what the scenario covers (then notes, if any)
  initial/<who>/   optional: files put in member <who>'s Data/ before the first step
  steps.txt        the script (below)
  golden/          the expected outputs: one file per ``> NAME``, ``tree NAME`` and
                   ``state NAME`` step, and ``end.json`` (the trees after the last step)

The step language: one step per line, words split like a shell's (quotes, no expansion),
``#`` starts a comment.
  <who> write PATH TEXT    write TEXT (``\\n`` = newline) to Data/PATH of member <who>
  <who> delete PATH        delete Data/PATH
  <who> move SRC DST       rename Data/SRC (a file or a folder) to Data/DST, as ``mv`` does
  <who> copy SRC DST       copy the file Data/SRC to Data/DST, as ``cp -p`` does
  <who> ARGS... [> NAME]   run ``python -m s3sync_mirror ARGS...`` in <who>'s repo, stdin not
                           a terminal; ``{data}`` in ARGS is <who>'s Data/ folder. ``> NAME``
                           compares the output with golden/NAME.json (a --json run: exit code,
                           actions sorted by path, warnings, error; a --json output that
                           is not a plan, e.g. ``log``'s: all of it, normalised) or golden/NAME.txt (stdout
                           and stderr as printed)
  expect-rc N              the run just before exited N (a run with no expect-rc must exit 0)
  tree NAME                every tree now, against golden/NAME.json
  state NAME               the sync state files (each member's Data/.S3/, the remote's .S3/),
                           by name, against golden/NAME.json
  clock SECONDS            every member's later runs read a clock SECONDS further on
                           (core/clock.py's S3SYNC_MIRROR_TEST_CLOCK_OFFSET): versions made
                           after it are later by whole seconds, without sleeping
``tree end`` is implied after the last step.

A tree is each member's data files and trash, the remote's data files, its archive
(``.S3/archive/``) and who last edited each file by ``versions_remote.csv``. Contents are shown
as text, or ``sha256:<hex>`` when not short UTF-8. Run-specific parts are normalised:
timestamps (compact and ISO 8601) become ``<time>``, durations ``<secs>``, transfer rates ``<rate>``, the remote's address ``<remote>``, a
member's repo ``<who>``; the archive and the trash drop their per-run folder (the archive
keeps the user who archived).

``pytest --update-golden`` rewrites golden/ instead of comparing (and fails if the two remotes
disagree). Golden files are shared by both remotes, unless a scenario has the folders
golden/local/ and golden/s3/ (its README says why the remotes legitimately differ).
"""
from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
NAMES = sorted(p.name for p in SCENARIOS.iterdir() if (p / "steps.txt").is_file())
STAMP = re.compile(r"\d{8}T\d{6}Z")
VOLATILE = [  # (pattern, replacement), applied in order after the literal replacements
    (STAMP, "<time>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z?"), "<time>"),
    (re.compile(r"(<time>-[\w.-]+?-)[0-9a-f]{4,32}\b"), r"\1<run>"),
    (re.compile(r"\b\d+\.\d+ s\b"), "<secs> s"),
    (re.compile(r"\(\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)/s\)"), "(<rate>)"),
]
# The local sync state files a user would name; cache/, tmp/, trash/ and the run lock are
# the tool's internals, and ``state`` leaves them out.
LOCAL_INTERNALS = {"cache", "tmp", "trash", "sync.lock", "history_pending.csv"}
REMOTE_INTERNALS = (".S3/deleted/", ".S3/archive/", ".S3/history/", ".S3/tmp/", ".S3/lock")

# What --update-golden wrote this session: {(scenario, file): (remote kind, text)}
_WRITTEN: dict = {}


def shown(content: bytes) -> str:
    try:
        text = content.decode("utf-8")
        if len(text) <= 80:
            return text
    except UnicodeDecodeError:
        pass
    return "sha256:" + hashlib.sha256(content).hexdigest()


def as_json(value, indent: int = 0) -> str:
    """JSON, indented, with every list or object that fits in 120 columns on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not value or not isinstance(value, (dict, list)) or indent + len(flat) <= 120:
        return flat + ("\n" if indent == 0 else "")
    pad = " " * (indent + 2)
    items = ([f"{pad}{json.dumps(k, ensure_ascii=False)}: {as_json(v, indent + 2)}"
              for k, v in value.items()] if isinstance(value, dict)
             else [pad + as_json(v, indent + 2) for v in value])
    opening, closing = "{}" if isinstance(value, dict) else "[]"
    text = opening + "\n" + ",\n".join(items) + "\n" + " " * indent + closing
    return text + ("\n" if indent == 0 else "")


class Scenario:
    def __init__(self, folder: Path, team, kind: str, update: bool):
        self.folder, self.team, self.kind, self.update = folder, team, kind, update
        per_remote = (folder / "golden" / "local").is_dir() and (folder / "golden" / "s3").is_dir()
        self.golden = folder / "golden" / kind if per_remote else folder / "golden"
        self.per_remote = per_remote
        self.outputs: dict[str, str] = {}  # golden file name -> what this run produced
        self.last = None  # the last run whose exit code no step has checked yet
        self.where = ""
        scheme = {"s3": "s3://", "gcs": "gs://", "blob": "az://"}.get(kind)
        remote = f"{scheme}{team.bucket}/{team.prefix}" if scheme \
            else str(team.remote_root / team.prefix)
        self.literals = [(remote, "<remote>"),
                         *((str(m.repo), f"<{n}>") for n, m in team.members.items()),
                         (str(team.tmp), "<tmp>")]

    # -- normalising -----------------------------------------------------------------
    def norm(self, text: str) -> str:
        for literal, placeholder in self.literals:
            text = text.replace(literal, placeholder)
        for pattern, replacement in VOLATILE:
            text = pattern.sub(replacement, text)
        return text

    def norm_all(self, value):
        if isinstance(value, str):
            return self.norm(value)
        if isinstance(value, list):
            return [self.norm_all(v) for v in value]
        if isinstance(value, dict):
            return {k: self.norm_all(v) for k, v in value.items()}
        return value

    def files(self, mapping: dict) -> dict:
        return dict(sorted((self.norm(k), shown(v)) for k, v in mapping.items()))

    def versions(self, pairs) -> dict:
        """[(path, bytes)] -> {path: [content, ...]}: every kept version of each path."""
        out: dict = {}
        for path, content in pairs:
            out.setdefault(self.norm(path), []).append(shown(content))
        return {k: sorted(out[k]) for k in sorted(out)}

    def trash(self, mapping: dict) -> dict:
        """{"<run folder>/<path>": bytes} -> {path: [content, ...]}."""
        return self.versions((k.split("/", 1)[1], v) for k, v in mapping.items())

    def archive(self, mapping: dict) -> list:
        """{key under the archive: bytes} -> the archived contents, each once (the archive
        keeps a content once, under its SHA-256; who replaced what is in the history)."""
        return sorted({shown(content) for content in mapping.values()})

    def trees(self) -> dict:
        team = self.team
        out = {n: {"files": self.files(m.files()), "trash": self.trash(m.trash())}
               for n, m in team.members.items()}
        out["remote"] = {
            "files": self.files(team.remote_files()),
            "edited_by": dict(sorted((self.norm(p), row["Edited By"])
                                     for p, row in team.remote_state().items())),
            "archive": self.archive(team.archive())}
        return out

    def state_files(self) -> dict:
        out = {n: sorted(p.name for p in (m.data / ".S3").iterdir()
                         if p.name not in LOCAL_INTERNALS) if (m.data / ".S3").exists() else []
               for n, m in self.team.members.items()}
        # a state log is named by its checkpoint's SHA-256, which holds the times of edits
        out["remote"] = sorted(re.sub(r"^(\.S3/state_log/)[0-9a-f]{32}/", r"\1<log>/", k)
                               for k in self.team.remote_objects()
                               if k.startswith(".S3/") and not k.startswith(REMOTE_INTERNALS))
        return out

    def plan(self, proc) -> dict:
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            pytest.fail(f"{self.where}: not JSON\n{self.failed(proc)}", pytrace=False)
        if "actions" not in out:  # not a plan (log, tags, files --json): all of it
            return self.norm_all(out)
        keep = ("path", "action", "reason", "status", "resolution", "conflict_path")
        actions = [{k: self.norm(a[k]) for k in keep if k in a} for a in out["actions"]]
        summary = out.get("summary", {})
        result = {"exit_code": summary.get("exit_code"),
                  "actions": sorted(actions, key=lambda a: (a["path"], a["action"])),
                  "warnings": [self.norm(w) for w in summary.get("warnings", [])]}
        if "error" in out:
            result["error"] = self.norm(out["error"])
        return result

    def produce(self, name: str, text: str) -> None:
        assert name not in self.outputs, f"{self.where}: golden name {name!r} used twice"
        self.outputs[name] = text

    # -- the steps -------------------------------------------------------------------
    def write(self, who, path, text):
        who.write(path, text.replace("\\n", "\n"))

    def delete(self, who, path):
        who.delete(path)

    def move(self, who, src, dst):
        target = who.data.joinpath(*dst.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        who.data.joinpath(*src.split("/")).rename(target)

    def copy(self, who, src, dst):
        target = who.data.joinpath(*dst.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(who.data.joinpath(*src.split("/")), target)

    def clock(self, seconds):
        self.team.advance_clock(int(seconds))

    def cli(self, who, *args):
        capture = None
        if ">" in args:
            i = args.index(">")
            assert i == len(args) - 2, f"{self.where}: `> NAME` ends a run step"
            args, capture = args[:i], args[i + 1]
        args = [a.replace("{data}", str(who.data)) for a in args]
        proc = who.run(*args, timeout=60)
        self.last = (self.where, proc)
        if capture is None:
            return
        if "--json" in args:
            self.produce(capture + ".json", as_json(self.plan(proc)))
        else:
            text = "$ " + " ".join(["s3sync-mirror", *args]) + "\n" + proc.stdout
            if proc.stderr:
                text += "--- stderr\n" + proc.stderr
            self.produce(capture + ".txt", self.norm(text))

    def expect_rc(self, rc):
        assert self.last is not None, f"{self.where}: expect-rc follows no run"
        where, proc = self.last
        self.last = None
        assert proc.returncode == int(rc), f"{where}: expected exit {rc}, got {self.failed(proc)}"

    def tree(self, name):
        self.produce(name + ".json", as_json(self.trees()))

    def state(self, name):
        self.produce(name + ".json", as_json(self.state_files()))

    MEMBER_VERBS = {"write": write, "delete": delete, "move": move, "copy": copy}
    STEPS = {"expect-rc": expect_rc, "tree": tree, "state": state, "clock": clock}

    def member(self, name):
        assert name in self.team.members, f"{self.where}: unknown member or step {name!r}"
        return self.team.members[name]

    @staticmethod
    def failed(proc) -> str:
        return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"

    def check_unchecked_run(self):
        if self.last is not None:
            where, proc = self.last
            self.last = None
            assert proc.returncode == 0, f"{where}: expected exit 0, got {self.failed(proc)}"

    def play(self) -> None:
        for who, member in self.team.members.items():
            initial = self.folder / "initial" / who
            if initial.is_dir():
                shutil.copytree(initial, member.data, dirs_exist_ok=True)
        lines = (self.folder / "steps.txt").read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            words = shlex.split(line, comments=True)
            if not words:
                continue
            self.where = f"{self.folder.name}/steps.txt:{number}: {line.strip()}"
            if words[0] != "expect-rc":
                self.check_unchecked_run()
            if words[0] in self.STEPS:
                step, args = self.STEPS[words[0]], words[1:]
            elif words[1:2] and words[1] in self.MEMBER_VERBS:
                step, args = self.MEMBER_VERBS[words[1]], [self.member(words[0]), *words[2:]]
            else:  # <who> ARGS...: the command line
                step, args = Scenario.cli, [self.member(words[0]), *words[1:]]
            try:
                inspect.signature(step).bind(self, *args)
            except TypeError as exc:  # a step with the wrong number of words
                pytest.fail(f"{self.where}: {exc}", pytrace=False)
            step(self, *args)
        self.where = f"{self.folder.name}: after the last step"
        self.check_unchecked_run()
        self.tree("end")
        self.settle()

    # -- comparing or rewriting golden/ ----------------------------------------------
    def settle(self) -> None:
        existing = {p.name for p in self.golden.glob("*") if p.is_file()}
        if self.update:
            self.golden.mkdir(parents=True, exist_ok=True)
            for name in existing - set(self.outputs):
                (self.golden / name).unlink()
            for name, text in self.outputs.items():
                (self.golden / name).write_text(text, encoding="utf-8")
                if not self.per_remote:
                    kind, seen = _WRITTEN.setdefault((self.folder.name, name), (self.kind, text))
                    assert seen == text, (
                        f"{self.folder.name}/golden/{name}: {kind} and {self.kind} disagree; "
                        f"fix the bug, or explain the difference in the README and keep "
                        f"golden/local/ and golden/s3/\n" + diff(seen, text, kind, self.kind))
            return
        problems = [f"golden/{n}: not produced by the steps any more" for n in
                    sorted(existing - set(self.outputs))]
        for name, text in self.outputs.items():
            path = self.golden / name
            if not path.is_file():
                problems.append(f"golden/{name}: missing (run pytest --update-golden)")
                continue
            expected = path.read_text(encoding="utf-8")
            if expected != text:
                problems.append(diff(expected, text, f"golden/{name}", f"{self.kind} run"))
        if problems:
            pytest.fail(f"scenario {self.folder.name} on {self.kind}:\n" + "\n".join(problems),
                        pytrace=False)


def diff(a: str, b: str, name_a: str, name_b: str) -> str:
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), name_a, name_b))


def members_of(folder: Path) -> tuple:
    names = {p.name for p in (folder / "initial").glob("*") if p.is_dir()}
    for line in (folder / "steps.txt").read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] not in Scenario.STEPS:
            names.add(words[0])
    return tuple(sorted(names))


@pytest.mark.parametrize("name", NAMES)
def test_golden(name, make_team, remote_kind, update_golden):
    folder = SCENARIOS / name
    team = make_team(names=members_of(folder))
    Scenario(folder, team, remote_kind, update_golden).play()


INDEX_LINE = re.compile(r"^  ([a-z0-9_]+) {2,}\S")


def indexed(readme_text: str) -> list:
    """The scenario names the index at the top of tests/scenarios/README lists: its lines
    up to the first line that is not blank and not indented, each ``  NAME  what it
    covers``."""
    names = []
    lines = readme_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Index of every case"))
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            if names:
                break
            continue  # the index's own heading, before its first entry
        match = INDEX_LINE.match(line)
        if match:
            names.append(match.group(1))
    return names


def test_the_index_names_every_scenario():
    listed = indexed((SCENARIOS / "README").read_text(encoding="utf-8"))
    folders = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
    assert len(listed) == len(set(listed)), f"listed twice: {sorted(listed)}"
    assert sorted(set(listed) - set(folders)) == [], "the index names a folder that is not there"
    assert sorted(set(folders) - set(listed)) == [], "a scenario folder missing from the index"
    assert folders == NAMES, "every folder is a scenario (has steps.txt)"


def test_the_index_reader_sees_a_missing_and_an_extra_name():
    text = ("Index of every case, one line per folder\nthat goes on:\n\n"
            "  alpha    the first\n  beta_2   the second\n\nGolden scenarios...\n"
            "  not_in_index   an indented line after the index\n")
    assert indexed(text) == ["alpha", "beta_2"]
