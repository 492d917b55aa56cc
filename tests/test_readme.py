"""The README's quick start stays true: CI runs exactly its test command."""
from __future__ import annotations

import re

from .conftest import ROOT


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [ln.strip() for ln in re.findall(r"```bash\n(.*?)```", section, re.S)
            for ln in ln.splitlines() if ln.strip() and not ln.startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_second():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "sample_repo" in commands[0] and "s3sync_mirror" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_sample_repo_is_set_up():
    assert (ROOT / "sample_repo" / "s3sync_mirror.yml").is_file()
    data = ROOT / "sample_repo" / "Data"
    assert len([p for p in data.rglob("*.csv") if ".S3" not in p.parts]) >= 3
