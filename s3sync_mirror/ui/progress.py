"""Progress as a small callback protocol; tqdm is one adapter of it, tests pass a silent one.

One bar for a run: files done of the total and files per second, bytes in the plan's
units (KiB, MiB...) with their rate, the percentage and the time left. Only on a
terminal."""
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
    """One tqdm bar on stderr, safe to advance from many threads. The whole line (files and
    their rate, bytes and their rate, the percentage, the time left) is drawn from one
    reading of the counters, at most every 0.2 s, so its numbers always agree."""

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
            if self._bar is None:  # tqdm never redraws on its own: _label draws the line
                self._bar = tqdm(total=max(total, 1), desc=self._desc, file=sys.stderr,
                                 dynamic_ncols=True, mininterval=float("inf"), leave=False,
                                 bar_format="{desc} |{bar}|")
            else:
                self._bar.total = max(total, 1)
            self._label(force=True)

    def _label(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._bar is None or (not force and now - self._shown < 0.2):
            return
        self._shown = now
        self._bar.set_description_str(line(self._desc, self._bar.n, self._bar.total,
                                           self._files_done, self._files,
                                           now - self._started), refresh=True)

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
                self._label(force=True)  # the last state, before the bar erases itself
                self._bar.close()
                self._bar = None


def line(desc: str, done: int, total: int, files_done: int, files: int,
         elapsed: float) -> str:
    """``sync: 1,204/20,000 files (402/s), 2.3 MiB/39.1 MiB (790.0 KiB/s), 6%, 47 s left``:
    the percentage from the same bytes as the text (from the files when there are no
    bytes), the time left from whichever of bytes and files is further behind."""
    from .text import human

    elapsed = max(elapsed, 1e-6)
    total = max(total, 1)
    parts = []
    if files:
        parts.append(f"{files_done:,}/{files:,} files ({files_done / elapsed:,.0f}/s)")
    parts.append(f"{human(done)}/{human(total)} ({human(int(done / elapsed))}/s)")
    share = done / total if total > 1 or not files else files_done / files
    parts.append(f"{min(100, int(share * 100))}%")
    left = []
    if done:
        left.append((total - done) / (done / elapsed))
    if files_done and files:
        left.append((files - files_done) / (files_done / elapsed))
    parts.append(f"{_duration(max(left))} left" if left else "time left: measuring")
    return f"{desc}: " + ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


def make(desc: str, enabled: bool) -> Progress:
    return TqdmProgress(desc) if enabled else Progress()
