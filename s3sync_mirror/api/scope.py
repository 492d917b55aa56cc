"""What a Python call names: the settings of the repo at a path, and the data paths (or a
code object's artifacts) its ``paths`` argument means, from the current folder."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..config import load_settings


def settings_at(path, config=None):
    """The settings of the repo at (or above) ``path``, or of ``config``."""
    return load_settings(path, config)


def data_paths(settings, paths: Iterable) -> tuple:
    """``paths`` (data paths, folders, or ``module:qualname``) as data-relative paths."""
    from .run import resolve_scope

    return tuple(resolve_scope(settings, [str(p) for p in paths or ()], Path.cwd()))
