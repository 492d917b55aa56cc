"""``reset``: remove the sync state (this clone's and the remote's state files) after
asking. Never a data file, never the local trash, never the remote archive."""
from __future__ import annotations

import shutil
from typing import Callable

from . import layout
from .errors import RemoteNotFound
from .session import open_session


def describe(settings) -> str:
    return (f"This removes the sync state of {settings.data_dir}:\n"
            f"  local:  {settings.data_dir.name}/{layout.STATE_DIR}/ state files (versions, "
            f"deleted logs)\n"
            f"  remote: {layout.VERSIONS_KEY} and {layout.DELETED_KEY} at "
            f"{settings.remote_url}\n"
            f"It never removes a data file, the local {layout.STATE_DIR}/{layout.TRASH}/ or "
            f"the remote {layout.ARCHIVE_ROOT}/ archive. The next sync starts over: equal "
            f"files are recorded, one-sided files are transferred, files that differ become "
            f"conflicts.")


def reset_state(settings, confirm: Callable[[str], bool]) -> bool:
    """Ask ``confirm`` with a description; remove the state only on True."""
    if not confirm(describe(settings)):
        return False
    with open_session(settings, writes=True, jobs=2) as s:
        for key in (layout.VERSIONS_KEY, layout.DELETED_KEY):
            try:
                s.remote.delete(key)
            except RemoteNotFound:
                pass
        for path in s.layout.state_files:
            path.unlink(missing_ok=True)
        for folder in (s.layout.tmp, s.layout.cache):
            shutil.rmtree(folder, ignore_errors=True)
    return True
