"""``dataclass``, ``field``, ``fields`` and ``replace`` for the modules on every sync's start,
without loading ``inspect``.

dataclasses imports inspect at its top (and with it ast, dis, tokenize, token, linecache:
about 6 ms of each start, measured on the no-change sync) for one call: the signature it
writes as the docstring of a dataclass that has none. Imported from here, dataclasses is
handed a stand-in that imports the real inspect on its first use; every other importer of
inspect, before or after, gets the real module. When dataclasses or inspect is already
loaded, this is a plain ``import dataclasses``."""
from __future__ import annotations

import sys
import types


def _without_inspect():
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        import dataclasses

        return dataclasses
    stand_in = types.ModuleType("inspect", "imports the real inspect on first use")

    def __getattr__(name: str):
        if sys.modules.get("inspect") is stand_in:  # still in place: step aside first
            del sys.modules["inspect"]
        import importlib

        return getattr(importlib.import_module("inspect"), name)

    stand_in.__getattr__ = __getattr__
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
    return dataclasses


_dataclasses = _without_inspect()
dataclass = _dataclasses.dataclass
field = _dataclasses.field
fields = _dataclasses.fields
replace = _dataclasses.replace
