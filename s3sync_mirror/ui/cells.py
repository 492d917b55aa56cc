"""Display widths: how many terminal cells a text takes (wcwidth), for aligned columns."""
from __future__ import annotations


def width(text: str) -> int:
    """The cells ``text`` takes in a terminal: 2 for a CJK character or an emoji, 0 for a
    combining mark. A character with no width of its own (a control) counts as 1, as it is
    shown escaped, never as a negative width that would break a column."""
    if text.isascii() and text.isprintable():
        return len(text)  # wcwidth (12 ms to import) only for the rest
    from wcwidth import wcswidth, wcwidth

    n = wcswidth(text)
    if n >= 0:
        return n
    return sum(max(wcwidth(c), 1) if wcwidth(c) != 0 else 0 for c in text)


def ljust(text: str, cells: int) -> str:
    """``text`` padded with spaces to ``cells`` cells (never cut)."""
    return text + " " * max(0, cells - width(text))


def rjust(text: str, cells: int) -> str:
    return " " * max(0, cells - width(text)) + text
