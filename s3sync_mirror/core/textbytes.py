"""Whether bytes are text, and which: git's NUL rule, then UTF-8 or Windows-1252."""
from __future__ import annotations

from typing import Optional

SNIFF = 8000  # git's rule: a NUL byte in the first 8000 bytes means binary


def as_text(data: bytes) -> Optional[str]:
    """The text of ``data``, or None when it is binary: a NUL byte in its first 8000 bytes
    (git's rule), or bytes that are neither UTF-8 nor Windows-1252 (Excel's CSVs)."""
    if b"\0" in data[:SNIFF]:
        return None
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None
