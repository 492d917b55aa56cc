"""Self-describing manifests, cas-manifest's format: ``{"class": NAME, "value": {...}}`` as
JSON, stored by its own SHA-256. A pydantic model (v1 or v2) or a dataclass becomes one and
comes back as itself; a ``pathlib.Path`` field naming a file is stored by content and the
manifest names it by its SHA-256 (docs/artifacts.md). Pure: no I/O, pydantic only duck-typed."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import PurePath
from typing import Iterable

from ..core.errors import UsageError

_SHA = re.compile(r"[0-9a-f]{64}")
# Provenance fields of a manifest's value: a pin is the content id of the data (a SHA-256
# too), never a stored object, so these never name files.
PROVENANCE = ("pin", "commit")


def class_name(cls) -> str:
    """The name a manifest gives a class: pydantic's schema title (cas-manifest's rule),
    else the class's own name."""
    config = getattr(cls, "model_config", None)
    if isinstance(config, dict) and config.get("title"):
        return config["title"]
    title = getattr(getattr(cls, "Config", None), "title", None) \
        if not isinstance(config, dict) else None
    return title or cls.__name__


def is_model(obj) -> bool:
    """A pydantic model (v1 or v2) or a dataclass instance."""
    return (hasattr(obj, "model_dump") or (hasattr(obj, "dict") and hasattr(obj, "__fields__"))
            or (dataclasses.is_dataclass(obj) and not isinstance(obj, type)))


def _plain(obj):
    """A JSON-ready copy of a model's fields (paths kept as PurePath for ``_files``)."""
    if hasattr(obj, "model_dump"):  # pydantic v2
        raw = obj.model_dump()
    elif hasattr(obj, "__fields__") and hasattr(obj, "dict"):  # pydantic v1
        raw = obj.dict()
    else:
        raw = dataclasses.asdict(obj)
    return raw


def _files(value, found: dict):
    """``value`` with every PurePath replaced by its placeholder; ``found``: placeholder ->
    path, filled in."""
    if isinstance(value, PurePath):
        found[str(value)] = value
        return value
    if isinstance(value, dict):
        return {k: _files(v, found) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_files(v, found) for v in value]
    return value


def paths_of(obj) -> tuple[dict, dict]:
    """(fields, {str(path): path}) of a model: its plain fields and the files they name."""
    found: dict = {}
    return _files(_plain(obj), found), found


def _encode_default(obj):
    if isinstance(obj, PurePath):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON")


def _hashed(value, hashes: dict):
    if isinstance(value, PurePath):
        return hashes[str(value)]
    if isinstance(value, dict):
        return {k: _hashed(v, hashes) for k, v in value.items()}
    if isinstance(value, list):
        return [_hashed(v, hashes) for v in value]
    return value


def render(name: str, value: dict, hashes: dict | None = None) -> bytes:
    """The manifest's bytes: ``json.dumps`` as cas-manifest's ``self_dump`` writes it (the
    same model gives the same bytes, so the same hash, from either tool)."""
    try:
        text = json.dumps({"class": name, "value": _hashed(value, hashes or {})},
                          default=_encode_default)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{name} cannot be stored as a manifest ({exc}): give its fields "
                         f"JSON values (numbers, text, lists, dicts, paths, dates)") from None
    return text.encode("utf-8")


def parse(data: bytes):
    """``(class, value)`` of a manifest, or None when the bytes are not one."""
    if not data[:1] == b"{":
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("class"), str) \
            and isinstance(doc.get("value"), dict):
        return doc["class"], doc["value"]
    return None


def build(name: str, value: dict, classes: Iterable):
    """The instance of the class of ``classes`` that ``name`` names (cas-manifest's
    ``Registry.load``): ``klass(**value)``, pydantic's validation included."""
    known = {class_name(c): c for c in classes}
    klass = known.get(name)
    if klass is None:
        raise UsageError(f"the manifest is a {name}, which is not among the classes given "
                         f"({', '.join(known) or 'none'}): pass it in classes=(...)")
    try:
        return klass(**value)
    except Exception as exc:  # pydantic's ValidationError, a dataclass's TypeError
        raise UsageError(f"the manifest's value does not make a {name}: {exc}") from None


def _annotations(klass) -> dict:
    """{field: type} of a pydantic model (v1 or v2) or a dataclass."""
    fields = getattr(klass, "model_fields", None)
    if isinstance(fields, dict):
        return {k: f.annotation for k, f in fields.items()}
    fields = getattr(klass, "__fields__", None)
    if isinstance(fields, dict):
        return {k: getattr(f, "outer_type_", None) for k, f in fields.items()}
    try:
        import typing

        return typing.get_type_hints(klass)
    except Exception:  # an annotation that does not resolve: no Path fields known
        return {}


def path_fields(name: str, value: dict, classes: Iterable) -> dict:
    """{field: SHA-256} of the fields of ``value`` that its class declares as a path
    (``Path``, ``Optional[Path]``) and that hold a hash: their files are fetched before the
    object is built, so that the field is a path again."""
    import typing

    klass = {class_name(c): c for c in classes}.get(name)
    out = {}
    for field, kind in (_annotations(klass) if klass else {}).items():
        kinds = typing.get_args(kind) or (kind,)
        if any(isinstance(k, type) and issubclass(k, PurePath) for k in kinds) and \
                isinstance(value.get(field), str) and _SHA.fullmatch(value[field]):
            out[field] = value[field]
    return out


def named_hashes(value, where: str = "") -> list[tuple[str, str]]:
    """Every (name, SHA-256) of a file a manifest's value names: a hash under a dict key is
    named by that key (``files: {"a.csv": HASH}`` -> ``a.csv``), in a list by ``key/i``;
    the top-level ``pin`` and ``commit`` are provenance, not files."""
    out = []
    if isinstance(value, str) and _SHA.fullmatch(value):
        return [(where or value, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            if not (where == "" and k in PROVENANCE):
                out += named_hashes(v, f"{where}/{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += named_hashes(v, f"{where}/{i}" if where else str(i))
    return out
