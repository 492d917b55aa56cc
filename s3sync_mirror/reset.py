"""``reset``: remove the sync state (local and remote ``.S3`` state files) after asking.
Never a data file, never the local trash, never the remote ``.S3/deleted/`` archive."""
from __future__ import annotations

import shutil
from typing import Callable

from .errors import RemoteNotFound
from .platforms import connect
from .remote_state import DELETED_KEY, VERSIONS_KEY
from .statedir import StateDir


def describe(settings) -> str:
    return (f"This removes the sync state of {settings.data_dir}:\n"
            f"  local:  {settings.data_dir.name}/.S3/ state files (versions, deleted logs)\n"
            f"  remote: {VERSIONS_KEY} and {DELETED_KEY} at {settings.remote_url}\n"
            f"It never removes a data file, the local .S3/trash/ or the remote .S3/deleted/ "
            f"archive. The next sync starts over: equal files are recorded, one-sided files "
            f"are transferred, files that differ become conflicts.")


def reset_state(settings, confirm: Callable[[str], bool]) -> bool:
    """Ask ``confirm`` with a description; remove the state only on True."""
    if not confirm(describe(settings)):
        return False
    statedir = StateDir(settings.data_dir)
    if not settings.data_dir.is_dir():
        settings.data_dir.mkdir(parents=True)
    with statedir.run_lock(), connect(settings, jobs=2) as remote:
        for key in (VERSIONS_KEY, DELETED_KEY):
            try:
                remote.delete(key)
            except RemoteNotFound:
                pass
        for path in statedir.state_files:
            path.unlink(missing_ok=True)
        for folder in (statedir.tmp, statedir.cache):
            shutil.rmtree(folder, ignore_errors=True)
    return True
