"""The options of a sync (``sync``/``status`` on the command line, ``run()`` in the API)."""
from __future__ import annotations

from .core.records import dataclass
from typing import Optional

from .core.errors import UsageError

DEFAULT_JOBS = 16
CONFLICT_CHOICES = ("ask", "skip", "local", "remote", "both")


@dataclass
class Options:
    """What the command line or ``run()`` asked of this sync (docs/interface.md)."""

    yes: bool = False
    dry_run: bool = False
    conflict: Optional[str] = None  # None: "ask" with a terminal, "skip" without
    max_delete: float = 50.0
    force: bool = False
    jobs: Optional[int] = None
    json: bool = False
    quiet: bool = False
    verbose: int = 0
    paths: tuple = ()  # limit the run to these data-relative files or folders
    must_match: tuple = ()  # the paths of those the user named: each must match a file
    status: bool = False
    interactive: Optional[bool] = None  # None: decided by whether stdin is a terminal
    prompt_io: Optional[tuple] = None  # (input, output) for prompt_toolkit (tests)

    def validate(self) -> None:
        if self.conflict is not None and self.conflict not in CONFLICT_CHOICES:
            raise UsageError(f"--conflict must be one of {', '.join(CONFLICT_CHOICES)}, "
                             f"not {self.conflict!r}")
        if not 0 <= float(self.max_delete) <= 100:
            raise UsageError(f"--max-delete is a percentage from 0 to 100, not {self.max_delete}")
        if self.jobs is not None and not 1 <= int(self.jobs) <= 256:
            raise UsageError(f"--jobs must be between 1 and 256, not {self.jobs}")

    @property
    def mode(self) -> str:
        return "status" if self.status else ("dry-run" if self.dry_run else "sync")

    @property
    def job_count(self) -> int:
        return int(self.jobs or DEFAULT_JOBS)
