"""How long to wait before asking a throttling or failing server again."""
from __future__ import annotations


def pause(attempt: int) -> float:
    """Seconds before retry number ``attempt + 1``: 0.1 s doubling each time, capped at
    5 s, jittered down to half so that clients throttled together do not return
    together."""
    import random  # here: its import (hashlib, bisect) is off every start

    return min(5.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0)
