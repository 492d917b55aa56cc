"""The small words of every screen: a size as people read it, and colour only on a terminal
that wants it."""
from __future__ import annotations

import os


def human(n: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def use_color(stream) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set or the terminal is dumb."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, code: str, color: bool) -> str:
    """``text`` in the ANSI colour ``code`` when ``color``, else as it is."""
    return f"\033[{code}m{text}\033[0m" if color else text
