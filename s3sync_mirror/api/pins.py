"""Pins in Python (docs/history.md#pins): ``pin()`` records the data in
``s3sync_mirror.lock``, ``pins()`` lists the commits that hold one, ``pin_tag()`` names
the tag a commit's pin is kept by (``restore --pin`` and ``diff --pin`` read it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..core.errors import UsageError
from ..history import pins as pinning
from ..session import open_session
from .scope import settings_at


def pin(path: str | os.PathLike = ".", message: Optional[str] = None, *, config=None) -> str:
    """Record the data's current state in ``s3sync_mirror.lock`` (commit it with the
    code); returns its content id. The clone must be in sync with the remote, so that
    every pinned byte is on the remote for the team to restore."""
    from .run import run

    settings = settings_at(path, config)
    status = run(path, status=True, quiet=True, config=config)
    pending = len(status.plan.actions) + len(status.plan.problems)
    if pending:
        raise UsageError(f"{settings.data_dir.name}/ has {pending} change"
                         f"{'s' if pending != 1 else ''} not on the remote yet (see `status`): "
                         f"sync first, then pin, so that the team can restore every pinned "
                         f"byte")
    from ..state import remotestate

    with open_session(settings, writes=False) as s:
        files = remotestate.fetch(s.remote, s.statedir, use_cache=False, save_cache=False,
                                  jobs=s.jobs).files
        if s.selection is not None:
            raise UsageError("this clone holds part of the folder (sparse): pin from a full "
                             "clone, or `sparse off` first")
        return pinning.create(s, files, message or "")["content"]


def pins(path: str | os.PathLike = ".", *, config=None) -> list[dict]:
    """Every commit that changed ``s3sync_mirror.lock``, newest first, with its pin; the
    working tree's lock first when no commit holds it yet (``commit`` is "")."""
    settings = settings_at(path, config)
    rows = pinning.history(Path(settings.repo_root))
    here = pinning.read(Path(settings.repo_root))
    if here is not None and (not rows or rows[0]["content"] != here["content"]):
        rows.insert(0, {"commit": "", "committed": "", "subject": "(not committed)", **here})
    return rows


def pin_tag(settings, rev: str) -> str:
    """The tag that keeps the data commit ``rev`` was pinned with."""
    if not rev:
        raise UsageError("--pin takes a git revision (HEAD, HEAD~2, a commit, a tag)")
    return pinning.at(Path(settings.repo_root), rev)["tag"]
