"""The names the metadata commands offer (a file's status, a value's type), kept apart
from the modules that compute them so that `--help` loads nothing else."""
from __future__ import annotations

IN_SYNC, NOT_HELD, CONFLICT = "in sync", "not held", "conflict"
STATUSES = (IN_SYNC, "modified here", "new here", "deleted here", "changed on remote",
            "new on remote", "deleted on remote", CONFLICT, NOT_HELD)
TYPES = ("int", "float", "bool", "time", "str")
