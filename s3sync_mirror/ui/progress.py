"""Progress as a small callback protocol; tqdm is one adapter of it, tests pass a silent one.

One bar for a run: files done of the total, and bytes in the plan's units (KiB, MiB...)
with the rate. Only on a terminal."""
from __future__ import annotations

import sys
import threading
import time


class Progress:
    """Silent progress: the protocol, doing nothing."""

    def set_size(self, total: int, files: int = 0) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmProgress(Progress):
    """One tqdm bar on stderr, safe to advance from many threads."""

    def __init__(self, desc: str):
        self._desc = desc
        self._bar = None
        self._lock = threading.Lock()
        self._files = self._files_done = 0
        self._started = time.monotonic()
        self._shown = 0.0

    def set_size(self, total: int, files: int = 0) -> None:
        from tqdm import tqdm

        with self._lock:
            self._files = files
            if self._bar is None:
                self._bar = tqdm(total=max(total, 1), desc=self._desc, file=sys.stderr,
                                 dynamic_ncols=True, mininterval=0.2, leave=False,
                                 bar_format="{desc} {percentage:3.0f}%|{bar}|")
            else:
                self._bar.total = max(total, 1)
            self._label(force=True)

    def _label(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is None or (not force and now - self._shown < 0.2):
            return
        from .text import human

        self._shown = now
        done, rate = self._bar.n, self._bar.n / max(now - self._started, 1e-6)
        files = f"{self._files_done}/{self._files} files, " if self._files else ""
        self._bar.set_description_str(f"{self._desc}: {files}{human(done)}/"
                                      f"{human(self._bar.total)}, {human(int(rate))}/s",
                                      refresh=force)

    def advance(self, n: int) -> None:
        if n:
            with self._lock:
                if self._bar is not None:
                    self._bar.update(n)
                    self._label()

    def file_done(self) -> None:
        with self._lock:
            self._files_done += 1
            self._label()

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def make(desc: str, enabled: bool) -> Progress:
    return TqdmProgress(desc) if enabled else Progress()
