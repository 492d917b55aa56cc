"""Artifacts in Python (docs/artifacts.md): ``put_artifact`` stores a file or a model (a
pydantic model or a dataclass, as its manifest), ``load_artifact`` turns a manifest back
into its object (cas-manifest's ``Registry.load``), ``read_artifact`` gives an object's
bytes; ``put_files`` and ``put_output`` store files with their provenance (the pin of the
data and the git commit), ``artifacts`` lists the store, ``import_artifacts`` copies an
existing hashfs / S3HashFS store in. The CLI's ``artifact`` command calls these."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Iterable, Optional

from ..core import layout
from ..core.errors import UsageError
from ..history import artifacts as stored, cas, hashfs, manifests, pins as pinning
from ..session import open_session
from .scope import settings_at


@contextmanager
def _session(path, config):
    with open_session(settings_at(path, config), writes=False) as s, \
            tempfile.TemporaryDirectory(prefix="s3sync-artifact-") as tmp:
        yield s, Path(tmp)


def provenance(settings) -> dict:
    """The pin of the data (the lock's content id) and the git commit of the code, each ""
    when there is none."""
    lock = pinning.read(Path(settings.repo_root))
    return {"pin": lock["content"] if lock else "",
            "commit": pinning.head_commit(Path(settings.repo_root))}


def put_artifact(obj_or_path, path: str | os.PathLike = ".", *, config=None) -> str:
    """Store a file (given by its path) or a model (a pydantic model, v1 or v2, or a
    dataclass: its manifest ``{"class", "value"}``, the files its ``Path`` fields name
    stored by content); returns the SHA-256 it is stored under."""
    if manifests.is_model(obj_or_path):
        value, paths = manifests.paths_of(obj_or_path)
        with _session(path, config) as (s, tmp):
            return stored.put_value(s, manifests.class_name(type(obj_or_path)), value,
                                    paths, tmp, provenance(s.settings))[0]
    if not isinstance(obj_or_path, (str, PurePath)):
        raise UsageError(f"put_artifact takes a file path, a pydantic model or a dataclass, "
                         f"not {type(obj_or_path).__name__}")
    checksum, size = cas.hash_file(Path(obj_or_path))
    with _session(path, config) as (s, tmp):
        stored.store_paths(s, {str(obj_or_path): Path(obj_or_path)}, tmp)
    return checksum


def _named(files: Iterable) -> dict:
    """{name in the manifest: path} for files and folders (a folder: every file inside,
    named by its path below the folder)."""
    out: dict = {}
    for f in files:
        p = Path(f)
        if not p.exists():
            raise UsageError(f"{f}: no such file or folder (artifact put stores files, or "
                             f"every file of a folder; a code object is module:qualname)")
        found = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        if p.is_dir() and not found:
            raise UsageError(f"{f}: an empty folder; nothing to store")
        for x in found:
            name = x.relative_to(p).as_posix() if p.is_dir() else x.name
            if name in out and out[name] != x:
                raise UsageError(f"two files are named {name} in one artifact ({out[name]} "
                                 f"and {x}): put them in two artifacts, or store their folder")
            out[name] = x
    return out


def put_files(files: Iterable, path: str | os.PathLike = ".", *, cls: str = "Artifact",
              values: Optional[dict] = None, repair: bool = False,
              config=None) -> tuple[str, dict]:
    """Store files (and folders' files) with a manifest ``{"class": cls, "value": {"files":
    {name: SHA-256}, "pin", "commit", **values}}``; returns (the manifest's hash, {name:
    (SHA-256, kept|copied|sent)}). ``repair``: replace stored copies found damaged."""
    named = _named(files)
    if not named:
        raise UsageError("artifact put needs at least one file")
    with _session(path, config) as (s, tmp):
        value = {"files": {n: PurePath(p) for n, p in named.items()},
                 **provenance(s.settings), **(values or {})}
        paths = {str(p): p for p in named.values()}
        checksum, done = stored.put_value(s, cls, value, paths, tmp, repair=repair)
    return checksum, {n: done[str(p)] for n, p in named.items()}


def put_output(obj, path: str | os.PathLike = ".", *, mirror=None, run_id=None,
               values: Optional[dict] = None, config=None) -> tuple[str, dict]:
    """Store what an FSMirror code object (``module:qualname`` or the object) wrote in its
    newest run (or ``run_id``): a ``MirrorOutput`` manifest naming the object, the run, the
    files, the pin of the data and the git commit."""
    from ..mirror import FSMirror, latest_run, load_config, resolve_object

    settings = settings_at(path, config)
    cfg = load_config(str(settings.source or Path(settings.repo_root, layout.CONFIG_NAME)))
    spec = obj if isinstance(obj, str) else f"{obj.__module__}:{obj.__qualname__}"
    target = resolve_object(spec, Path(settings.repo_root)) if isinstance(obj, str) else obj
    run = run_id or latest_run(FSMirror(cfg, mirror, run_id="*"), target)
    if run is None:
        raise UsageError(f"{spec} has no output in {settings.data_dir} yet: run it (or sync) "
                         f"first, or name the run with --run-id")
    fm = FSMirror(cfg, mirror, run_id=run)
    out = fm.local_output(target)
    if not out.exists():
        raise UsageError(f"{out}: no such output of {spec} (run {run})")
    return put_files([out], path, cls="MirrorOutput", config=config,
                     values={"object": spec, "run": run,
                             "output": fm.mirror_relative_output(target), **(values or {})})


@contextmanager
def _reader(path, store, config):
    """(connection, hash -> (full hash, key)) of this repo's store, or of the hashfs
    store ``store`` (a folder or s3://BUCKET/PREFIX) when given."""
    if store is None:
        with _session(path, config) as (s, tmp):
            def where(h):
                full = cas.resolve(s.remote, h)
                return full, layout.cas_key(full)
            yield s.remote, where, tmp
        return
    from ..platforms import registry

    with registry.connect_url(str(store)) as conn, \
            tempfile.TemporaryDirectory(prefix="s3sync-artifact-") as tmp:
        def where(h):
            full = (h or "").lower()
            key = hashfs.find(conn, full) if len(full) == 64 else None
            if key is None:
                raise UsageError(f"no object {h!r} in the hashfs store {store} (give the "
                                 f"full 64-digit SHA-256)")
            return full, key
        yield conn, where, Path(tmp)


def read_artifact(checksum: str, path: str | os.PathLike = ".", *, store=None,
                  config=None) -> bytes:
    """The bytes stored under ``checksum`` (a unique prefix will do), every byte checked;
    ``store``: read an existing hashfs folder or S3HashFS prefix instead."""
    with _reader(path, store, config) as (conn, where, tmp):
        full, key = where(checksum)
        return cas.read(conn, full, tmp / "object", key=key)


def load_artifact(checksum: str, classes: Iterable = (), path: str | os.PathLike = ".", *,
                  store=None, config=None):
    """The instance of the class of ``classes`` that manifest ``checksum`` names, built from
    its value (cas-manifest's ``Registry(fs, classes).load(hash)``). A field the class
    declares as a ``Path`` that holds a file's hash comes back as the path of a verified
    copy in the data folder's ``.S3/cache/cas/``."""
    settings = settings_at(path, config)
    with _reader(path, store, config) as (conn, where, tmp):
        full, key = where(checksum)
        parsed = manifests.parse(cas.read(conn, full, tmp / "object", key=key))
        if parsed is None:
            raise UsageError(f"{checksum[:16]} is a stored file, not a manifest: read its "
                             f"bytes with read_artifact (or `artifact get`)")
        name, value = parsed
        for field, h in manifests.path_fields(name, value, classes).items():
            copy = Path(settings.data_dir, layout.STATE_DIR, layout.CACHE,
                        *layout.cas_key(h).split("/")[1:])
            if not copy.is_file():
                copy.parent.mkdir(parents=True, exist_ok=True)
                part = copy.with_name(copy.name + ".part")
                cas.fetch(conn, h, part, key=where(h)[1])
                part.replace(copy)
            value = {**value, field: copy}
    return manifests.build(name, value, classes)


def _safe(name: str) -> str:
    parts = name.split("/")
    if "\\" in name or "\x00" in name or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"the manifest names a file {name!r}, which is no safe relative "
                         f"path: read it by its hash instead (`artifact get HASH`)")
    return name


def get_artifact(checksum: str, to, path: str | os.PathLike = ".", *, store=None,
                 config=None) -> list[tuple[str, str]]:
    """Write object ``checksum`` under folder ``to``: a manifest's files under the names it
    gives them (a hash under ``files`` by its key, any other by its field), a plain file as
    ``<hash>``; every byte checked. Returns [(SHA-256, path written)]."""
    target = Path(to)
    with _reader(path, store, config) as (conn, where, tmp):
        full, key = where(checksum)
        data = cas.read(conn, full, tmp / "object", key=key)
        parsed = manifests.parse(data)
        named = [(full, full)] if parsed is None else [
            (n[len("files/"):] if n.startswith("files/") else n, h)
            for n, h in manifests.named_hashes(parsed[1])]
        parts = []
        try:
            for name, h in named:
                dest = target.joinpath(*_safe(name).split("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                parts.append((h, dest, dest.with_name(dest.name + ".part")))
                if h == full:
                    parts[-1][2].write_bytes(data)
                else:
                    cas.fetch(conn, h, parts[-1][2], key=where(h)[1])
        except BaseException:
            for _h, _dest, part in parts:
                part.unlink(missing_ok=True)
            raise
        for _h, dest, part in parts:  # every file checked: only now are they put in place
            part.replace(dest)
        return [(h, str(dest)) for h, dest, _part in parts]


def artifacts(path: str | os.PathLike = ".", *, config=None) -> list[dict]:
    """Every artifact put or imported here, oldest first: hash, class, stored, by, files,
    pin, commit, value (the manifest's)."""
    with _session(path, config) as (s, _tmp):
        return stored.listing(s.remote)


def import_artifacts(source, path: str | os.PathLike = ".", *, config=None) -> dict:
    """Copy an existing hashfs folder or S3HashFS prefix (``s3://BUCKET/PREFIX``) into this
    store, every object SHA-256-checked; its manifests are listed from then on."""
    from ..platforms import registry

    with _session(path, config) as (s, tmp), registry.connect_url(str(source)) as conn:
        counts = stored.import_store(s, conn, tmp / "object")
    if counts["damaged"]:
        counts["message"] = (f"{len(counts['damaged'])} object(s) of {source} do not match "
                             f"their hash and were not imported: {', '.join(counts['damaged'][:5])}")
    return counts
