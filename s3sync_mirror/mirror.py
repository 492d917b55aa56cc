"""FSMirror: where a code object's artifacts live, mirroring the code's path.

Code at ``project/etl/my_etl_task.py::LiftDataTask`` keeps its output at
``etl/my_etl_task/<run id>/LiftDataTask/out.parquet``: in the synced data folder locally
(``local_output``) and, after a sync, at the same key under the remote (``remote_output``).

The path is a pure function (``mirror_path``) of the module's path parts, the qualname,
the mirror's config and the run id; ``FSMirror`` only introspects the object and joins.
Compatible with fsmirror 0.4's config and methods (``mirror_relative``, ``mirror_full``,
``mirror_relative_output``, ``mirror_full_output``). What the original got wrong, fixed:

- the run id is chosen once per run (process), not at each call, and can be passed in
  (``run_id=``); ``id_method`` ``date`` (UTC ``%Y%m%d%H%M%S``) and ``uuid`` both work;
- ``prefix`` (per mirror) and ``namespace`` (storage) are honoured: any value other than
  ``MIRROR`` is a literal key prefix placed before the mirrored path;
- a code object outside the mirror's ``root`` is a clear ``MirrorError`` instead of an
  absolute path leaking into a key; so is an unsafe name;
- a package's ``__init__`` is the package, and ``<locals>`` never reaches a path.

``compat: fsmirror-0.4`` (top level, or in one mirror) gives 0.4's paths exactly instead
(``compat04_relative``, ``compat04_full``): README "Moving over from S3Synchrony, fsmirror and
mmmeta" lists every difference.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import time
import uuid
from pathlib import Path, PurePath
from typing import Any, Optional

from .config import CONFIG_NAME, MIRROR, find_config, settings_from_document
from .core.errors import ConfigError, UsageError
from .core.paths import unsafe_reason
from .platforms import registry

CONFIG_ENV = "FSMIRROR_CONFIG_PATH"
ID_METHODS = ("date", "uuid")
_MIRROR_KEYS = {"root", "prefix", "output_name", "output_format", "id_method", "compat"}
COMPAT_04 = "fsmirror-0.4"


class FSMirrorException(UsageError):
    """fsmirror 0.4's exception: the base of every error of the mirror API."""


class MirrorError(FSMirrorException):
    """A code object, mirror or mirror config that cannot give a path."""


class MirrorConfigError(FSMirrorException, ConfigError):
    """A mirror config that cannot be read or is invalid (exit 2, as any config error)."""


class MirrorConfig(dict):
    """The config as loaded (a plain dict to compare and print), remembering its file."""

    source: Optional[Path] = None


# -- the run id: once per run ---------------------------------------------------------------
_RUN_IDS: dict = {}


def new_run_id(method: str = "date", now: Optional[float] = None) -> str:
    if method == "date":
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    if method == "uuid":
        return uuid.uuid4().hex
    raise MirrorError(f"id_method must be one of {', '.join(ID_METHODS)}, not {method!r}")


def run_id(method: str = "date") -> str:
    """This process's run id for ``method``: chosen at the first call, then the same."""
    if method not in _RUN_IDS:
        _RUN_IDS[method] = new_run_id(method)
    return _RUN_IDS[method]


# -- the pure part ----------------------------------------------------------------------------
def _split(path: str) -> list[str]:
    return [p for p in str(path).replace("\\", "/").split("/") if p and p != "."]


def module_parts(module_file: str) -> tuple[str, ...]:
    """A module file's path parts without the suffix; a package's ``__init__`` is the
    package itself."""
    parts = list(PurePath(str(module_file).replace("\\", "/")).parts)
    if not parts:
        return ()
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    parts[-1] = stem
    if stem == "__init__":
        parts.pop()
    return tuple(parts)


def mirror_path(parts, qualname: Optional[str], mirror: dict, run: Optional[str], *,
                take_last: bool = True) -> str:
    """PURE. The mirrored relative path of a code object.

    ``parts``: its module's path parts (``module_parts``); ``qualname``: its qualified name
    (None for a module); ``mirror``: one ``mirrors.<name>`` mapping; ``run``: the run id, or
    None for the path without one; ``take_last``: the last (innermost) folder matching the
    root starts the path, else the first."""
    root = _split(mirror.get("root") or "")
    if not root:
        raise MirrorError("the mirror has no `root`: set it to the folder its code lives in")
    parts = tuple(parts)
    start = None
    starts = range(len(parts) - len(root), -1, -1)  # the last (innermost) match first
    for i in (starts if take_last else reversed(starts)):
        if list(parts[i:i + len(root)]) == root:
            start = i
            break
    if start is None:
        where = "/".join(parts) or "(unknown file)"
        raise MirrorError(f"{where} is not under the mirror's root {'/'.join(root)!r}: "
                          f"the object lives outside the code this mirror covers")
    out = []
    prefix = mirror.get("prefix", MIRROR)
    if prefix and prefix != MIRROR:
        out.extend(_split(prefix))
    out.extend(parts[start:])
    if run:
        out.append(str(run))
    if qualname:
        out.append(qualname.replace(".<locals>", ""))
    rel = "/".join(out)
    why = unsafe_reason(rel)
    if why is not None:
        raise MirrorError(f"the mirrored path {rel!r} {why}")
    return rel


def output_name(mirror: dict) -> str:
    name = mirror.get("output_name") or "out"
    fmt = mirror.get("output_format")
    return f"{name}.{fmt}" if fmt else str(name)


def base_url(storage: dict) -> str:
    """Where ``mirror_full`` paths start, as the original: the tenant, then the namespace
    unless it is MIRROR."""
    provider = registry.get(storage.get("provider", "local"))
    if provider is None:
        raise MirrorError(f"storage.provider {storage.get('provider')!r} has no URL form; "
                          f"use one of {', '.join(registry.PROVIDERS)}")
    tenant = str(storage.get("tenant") or "")
    namespace = storage.get("namespace", MIRROR)
    extra = "/".join(_split(namespace)) if namespace and namespace != MIRROR else ""
    if not provider.scheme:
        return os.path.join(tenant, *extra.split("/")) if extra else tenant
    base = f"{provider.scheme}{tenant.strip('/')}"
    return f"{base}/{extra}" if extra else base


# -- introspection --------------------------------------------------------------------------
def locate(obj: Any) -> tuple[str, Optional[str]]:
    """(module file, qualname or None) of a function, class, method, instance or module."""
    if inspect.ismodule(obj):
        module, qualname = obj, None
    else:
        target = obj
        if inspect.ismethod(target):
            target = target.__func__
        if not (inspect.isfunction(target) or inspect.isclass(target)
                or hasattr(target, "__qualname__") and hasattr(target, "__module__")):
            target = type(obj)  # an instance: its class
        qualname = getattr(target, "__qualname__", None)
        module = sys.modules.get(getattr(target, "__module__", None) or "")
        if module is None:
            module = inspect.getmodule(target)
    path = getattr(module, "__file__", None)
    if not path:
        name = getattr(module, "__name__", "?")
        raise MirrorError(f"module {name} has no file (interactive?), so it has no path "
                          f"to mirror")
    return os.path.abspath(path), qualname


def load_config(path: Optional[str] = None) -> MirrorConfig:
    """The mirror config: ``path``, else $FSMIRROR_CONFIG_PATH, else the project's
    s3sync_mirror.yml (found upwards). Returned as loaded (a dict)."""
    import yaml

    chosen = path or os.environ.get(CONFIG_ENV)
    try:
        source = Path(chosen).expanduser() if chosen else find_config(".")
    except ConfigError as exc:
        raise MirrorConfigError(str(exc)) from None
    try:
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MirrorConfigError(f"{source}: cannot be read ({exc.strerror}). Fix: point "
                          f"{CONFIG_ENV} at your config file.") from None
    except yaml.YAMLError as exc:
        raise MirrorConfigError(f"{source}: not valid YAML ({exc}). Fix the syntax.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("mirrors", {}), dict):
        raise MirrorConfigError(f"{source}: mirrors: must be a mapping of mirror names. Fix: see "
                          f"the README, 'Mirrored paths'.")
    for name, spec in (doc.get("mirrors") or {}).items():
        if not isinstance(spec, dict):
            raise MirrorConfigError(f"{source}: mirrors.{name}: must be a mapping. Fix: write "
                              f"{{root: ..., output_name: out, output_format: parquet}}.")
        unknown = set(spec) - _MIRROR_KEYS
        if unknown:
            raise MirrorConfigError(f"{source}: mirrors.{name}.{sorted(unknown)[0]}: unknown "
                                    f"key. Fix: use {', '.join(sorted(_MIRROR_KEYS))}.")
    switches = [("compat", doc.get("compat"))] + [
        (f"mirrors.{n}.compat", sp.get("compat")) for n, sp in (doc.get("mirrors") or {}).items()]
    for where, value in switches:
        if value is not None and value != COMPAT_04:
            raise MirrorConfigError(f"{source}: {where}: unknown value {value!r}. Fix: write "
                                    f"`compat: {COMPAT_04}` (fsmirror 0.4's paths) or remove it.")
    out = MirrorConfig(doc)
    out.source = source.resolve()
    return out


class FSMirror:
    """Paths for one mirror of a config. ``mirror`` may be left out when the config has
    one mirror, or to pick, per object, the mirror whose root holds its module."""

    def __init__(self, config: Optional[dict] = None, mirror: Optional[str] = None,
                 id_method: Optional[str] = None, take_last_instance: bool = True, *,
                 run_id: Optional[str] = None):
        """fsmirror 0.4's signature (``config, mirror, id_method, take_last_instance``,
        positional or by keyword), plus ``run_id``. ``take_last_instance=False``: the
        first (outermost) folder named like the root wins, not the last."""
        self.config = load_config() if config is None else config
        self.mirrors = self.config.get("mirrors") or {}
        if mirror is not None and mirror not in self.mirrors:
            raise MirrorError(f"no mirror {mirror!r} in the config; it has: "
                              f"{', '.join(self.mirrors) or 'none'}")
        self.mirror = mirror
        self._run_id = run_id
        self._id_method = id_method
        self._take_last = bool(take_last_instance)
        # fsmirror 0.4 chose its id once per instance, at construction, in local time
        self._compat_id = time.strftime("%Y%m%d%H%M%S", time.localtime())

    # the id
    def _method(self, spec: dict) -> str:
        method = self._id_method or spec.get("id_method") or "date"
        if method not in ID_METHODS:
            raise MirrorError(f"id_method must be one of {', '.join(ID_METHODS)}, "
                              f"not {method!r}")
        return method

    def run_id_for(self, spec: dict) -> str:
        return self._run_id or run_id(self._method(spec))

    def _spec(self, parts) -> dict:
        if self.mirror is not None:
            return self.mirrors[self.mirror]
        if len(self.mirrors) == 1:
            return next(iter(self.mirrors.values()))
        for spec in self.mirrors.values():
            root = _split(spec.get("root") or "")
            if root and any(list(parts[i:i + len(root)]) == root for i in range(len(parts))):
                return spec
        raise MirrorError(f"no mirror's root holds {'/'.join(parts)}; name one with "
                          f"mirror=... (the config has: {', '.join(self.mirrors) or 'none'})")

    def _compat(self, spec: dict) -> bool:
        return (spec.get("compat") or self.config.get("compat")) == COMPAT_04

    def _spec_of(self, obj) -> tuple[dict, tuple, Optional[str]]:
        file, qualname = locate(obj)
        parts = module_parts(file)
        return self._spec(parts), parts, qualname

    # the original's four methods
    def mirror_relative(self, obj, with_id: bool = True) -> str:
        spec, parts, qualname = self._spec_of(obj)
        if self._compat(spec):
            return compat04_relative(obj, spec, self._run_id or self._compat_id, with_id,
                                     self._take_last)
        return mirror_path(parts, qualname, spec, self.run_id_for(spec) if with_id else None,
                           take_last=self._take_last)

    def mirror_relative_output(self, obj, with_id: bool = True) -> str:
        spec = self._spec_of(obj)[0]
        return f"{self.mirror_relative(obj, with_id)}/{output_name(spec)}"

    def mirror_full(self, obj, with_id: bool = True) -> str:
        if self._compat(self._spec_of(obj)[0]):
            return compat04_full(self.config.get("storage") or {},
                                 self.mirror_relative(obj, with_id))
        return _join(base_url(self.config.get("storage") or {}),
                     self.mirror_relative(obj, with_id))

    def mirror_full_output(self, obj, with_id: bool = True) -> str:
        if self._compat(self._spec_of(obj)[0]):
            return compat04_full(self.config.get("storage") or {},
                                 self.mirror_relative_output(obj, with_id))
        return _join(base_url(self.config.get("storage") or {}),
                     self.mirror_relative_output(obj, with_id))

    # the bridge to sync
    def settings(self):
        """The sync settings of this config (its data folder and remote)."""
        source = getattr(self.config, "source", None)
        root = source.parent if source else Path.cwd()
        doc = {k: v for k, v in self.config.items()}
        try:
            return settings_from_document(doc, source, root)
        except ConfigError as exc:
            raise MirrorError(f"this config cannot be synced, so it has no local or remote "
                              f"output: {exc}") from None

    def local_output(self, obj, with_id: bool = True) -> Path:
        """The artifact's path inside the synced data folder."""
        rel = self.mirror_relative_output(obj, with_id)
        return self.settings().data_dir.joinpath(*rel.split("/"))

    def remote_output(self, obj, with_id: bool = True) -> str:
        """Where the artifact is on the remote after a sync."""
        rel = self.mirror_relative_output(obj, with_id)
        s = self.settings()
        if not registry.get(s.provider).scheme:
            return str(Path(s.remote_url, *rel.split("/")))
        return f"{s.remote_url}/{rel}"


# -- fsmirror 0.4's paths, exactly (``compat: fsmirror-0.4``) -----------------------------
def compat04_relative(obj, spec: dict, run: str, with_id: bool, take_last: bool) -> str:
    """fsmirror 0.4's ``mirror_relative``: the module file's parts from the root folder
    (the last such folder, or with ``take_last`` False the first), every part cut at its
    first dot, then the object's ``__name__`` (an instance: ``<its __module__>/<class>``),
    then the id."""
    if callable(obj):
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        name = getattr(obj, "__name__", None)
    else:
        module = sys.modules.get(type(obj).__module__)
        name = f"{obj.__module__}/{obj.__class__.__name__}"
    file = getattr(module, "__file__", None)
    if not file or not name:
        raise MirrorError(f"{obj!r} has no module file or name to mirror")
    parts = file.split("/")
    root = spec.get("root")
    found = [i for i, p in enumerate(parts) if p == root]
    if not found:
        raise MirrorError(f"{file} is not under the mirror's root {root!r}: the object "
                          f"lives outside the code this mirror covers")
    base = "/".join(p if "." not in p else p.split(".")[0]
                    for p in parts[found[-1] if take_last else found[0]:])
    return f"{base}/{name}/{run}" if with_id else f"{base}/{name}"


def compat04_full(storage: dict, rel: str) -> str:
    """fsmirror 0.4's ``mirror_full``: ``<tenant>/<rel>`` for a local tenant,
    ``<provider>://<tenant>/<rel>`` for s3, gcs, blob and hdfs (no namespace)."""
    provider, tenant = storage.get("provider"), storage.get("tenant")
    if provider == "local":
        return f"{tenant}/{rel}"
    if provider in ("s3", "gcs", "blob", "hdfs"):
        return f"{provider}://{tenant}/{rel}"
    raise MirrorError(f"storage.provider {provider!r} has no fsmirror 0.4 path; use local, "
                      f"s3, gcs, blob or hdfs")


def _join(base: str, rel: str) -> str:
    if not base:
        return rel
    if "://" in base:
        return f"{base.rstrip('/')}/{rel}"
    return os.path.join(base, *rel.split("/"))


# -- the command line ------------------------------------------------------------------------
def resolve_object(spec: str, search_root: Path):
    """Import ``module:qualname`` (the repo root on sys.path) and return the object."""
    module_name, _, qualname = spec.partition(":")
    if not re.match(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", module_name) or \
            not re.match(r"^([A-Za-z_][\w<>]*(\.[A-Za-z_<][\w<>]*)*)?$", qualname):
        raise MirrorError(f"{spec!r} is not module:qualname (e.g. etl.lift:lift_data)")
    for p in (str(search_root), os.getcwd()):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise MirrorError(f"cannot import {module_name!r}: {exc}") from None
    for attr in filter(None, qualname.split(".")):
        if attr == "<locals>":
            raise MirrorError(f"{spec}: objects defined inside functions cannot be looked up")
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise MirrorError(f"{module_name} has no {qualname!r}") from None
    return obj


def _config_for(config: Optional[str]) -> MirrorConfig:
    return load_config(str(find_config(".", config)) if config or not os.environ.get(
        CONFIG_ENV) else None)


def describe_object(spec: str, *, config: Optional[str] = None, mirror: Optional[str] = None,
                    with_id: bool = True, run_id: Optional[str] = None) -> list[str]:
    cfg = _config_for(config)
    obj = resolve_object(spec, cfg.source.parent if cfg.source else Path.cwd())
    note = []
    if run_id is None and with_id:
        run_id = latest_run(FSMirror(cfg, mirror, run_id="*"), obj)
        if run_id is None:
            note = ["(no run of it here yet: a new run id; --run-id picks one)"]
    fm = FSMirror(cfg, mirror, run_id=run_id)
    return note + [f"relative: {fm.mirror_relative_output(obj, with_id)}",
            f"local:    {fm.local_output(obj, with_id)}",
            f"remote:   {fm.remote_output(obj, with_id)}"]


def latest_run(fm: "FSMirror", obj) -> Optional[str]:
    """The newest run id with an artifact of ``obj`` in the local data folder, so that
    `mirror` finds what the last ETL run wrote (a new id each call would not)."""
    try:
        pattern = fm.local_output(obj, with_id=True)
    except MirrorError:
        return None
    parts = pattern.parts
    if "*" not in parts:
        return None
    i = parts.index("*")
    base = Path(*parts[:i])
    rest = Path(*parts[i + 1:]) if i + 1 < len(parts) else None
    runs = sorted((d.name for d in base.iterdir() if d.is_dir()
                   and (rest is None or (d / rest).exists())), reverse=True) \
        if base.is_dir() else []
    return runs[0] if runs else None


def scope_for_object(settings, spec: str) -> list[str]:
    """Sync scope for ``module:qualname``: its artifacts of every run, and the one
    without a run id."""
    source = settings.source or Path(settings.repo_root, CONFIG_NAME)
    cfg = load_config(str(source))
    fm = FSMirror(cfg, run_id="*")
    obj = resolve_object(spec, settings.repo_root)
    return [fm.mirror_relative(obj, with_id=True), fm.mirror_relative(obj, with_id=False)]
