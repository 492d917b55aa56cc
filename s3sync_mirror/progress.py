"""Progress as a small callback protocol; tqdm is one adapter of it, tests pass a silent one."""
from __future__ import annotations

import sys
import threading


class Progress:
    """Silent progress: the protocol, doing nothing."""

    def set_size(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmProgress(Progress):
    """One byte-counting tqdm bar on stderr, safe to advance from many threads."""

    def __init__(self, desc: str):
        self._desc = desc
        self._bar = None
        self._lock = threading.Lock()

    def set_size(self, total: int) -> None:
        from tqdm import tqdm

        with self._lock:
            if self._bar is None:
                self._bar = tqdm(total=total, desc=self._desc, unit="B", unit_scale=True,
                                 unit_divisor=1024, file=sys.stderr, dynamic_ncols=True,
                                 mininterval=0.2, leave=False)
            else:
                self._bar.total = total
                self._bar.refresh()

    def advance(self, n: int) -> None:
        if n:
            with self._lock:
                if self._bar is not None:
                    self._bar.update(n)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def make(desc: str, enabled: bool) -> Progress:
    return TqdmProgress(desc) if enabled else Progress()
