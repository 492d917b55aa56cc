"""One call run on a thread of its own while the caller goes on (``Background``: the
remote's state is read while the folder is walked), and the thread pools of the work that
needs several (``thread_pool``).

`concurrent.futures` imports `logging` (with traceback, string, weakref): about 6 ms of
every start, measured, on the no-change sync that needs no pool. So ``Background`` is a
thread of its own, not a one-worker pool, and ``thread_pool`` imports the module only
when a pool is made. As a ``with`` block, like the executor, ``Background`` waits for the
call on the way out, also when the block raises."""
from __future__ import annotations

import threading


class Background:
    def __init__(self, fn, *args, **kwargs):
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs),
                                        name="s3sync_mirror-background")
        self._thread.start()

    def _run(self, fn, args, kwargs) -> None:
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to result(), as a Future does
            self._error = exc

    def result(self):
        """Wait for the call; its value, or its exception raised here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc) -> None:
        self._thread.join()


def thread_pool(workers: int, name: str = ""):
    """A ``ThreadPoolExecutor`` of ``workers`` threads (at least one), named ``name``."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
