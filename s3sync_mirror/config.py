"""Find, read and validate ``s3sync_mirror.yml`` (docs/interface.md#configuration), or the original tool's
``s3synchrony.json``. An invalid file is refused before anything is touched (exit 2),
with one message naming the file, the key and the fix. Credentials never live here.
"""
from __future__ import annotations

import getpass
import json
import os
import re
from .core.records import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .core.errors import ConfigError
from .platforms import registry
from .core.layout import CONFIG_NAME

LEGACY_NAME = "s3synchrony.json"
CONFIG_ENV = "S3SYNC_MIRROR_CONFIG"
MIRROR = "MIRROR"

_TOP_KEYS = {"storage", "data_dir", "user", "mirrors", "ignore", "diff", "compat"}
_STORAGE_KEYS = {"provider", "tenant", "namespace", "endpoint_url", "profile", "region"}
_MIRROR_KEYS = {"root", "prefix", "output_name", "output_format", "id_method", "compat"}
_LEGACY_KEYS = {"platform", "_name", "local_data_rel_dir", "remote_data_dir", "aws_bkt",
                "aws_prfx", "credentials"}
# S3Synchrony 0.4 picks a template module by name, which reads its own keys (its
# "default" template: aws_role_shorthand, for its credentials helper). Accepted, so one
# file serves members on either tool, and ignored: credentials come from the standard chain.
_LEGACY_TEMPLATE_KEYS = {"template", "aws_role_shorthand"}
_SECRET = re.compile(r"(secret|password|passwd|session_token|access_key|private_key|"
                     r"^token$|api_key)", re.IGNORECASE)
_CRED_HELP = ("credentials come from boto3's standard chain: the environment "
              "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), an AWS profile "
              "(storage.profile or AWS_PROFILE), SSO, or an instance role")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know about where things are."""

    source: Optional[Path]  # the config file read, None when given as keywords
    repo_root: Path
    data_dir: Path
    provider: str  # "s3" | "local"
    tenant: str  # bucket name, or the remote folder (absolute)
    prefix: str  # key prefix inside the tenant, "" for its root
    endpoint_url: Optional[str] = None
    profile: Optional[str] = None
    region: Optional[str] = None
    user: str = ""
    mirrors: dict = field(default_factory=dict)
    document: dict = field(default_factory=dict)  # the file as loaded (for FSMirror)
    ignore: tuple = ()  # the team's gitignore-style patterns (plus each clone's own file)
    diff_keys: dict = field(default_factory=dict)  # ``diff: keys:`` {pattern: (column, ...)}

    @property
    def remote_url(self) -> str:
        return registry.get(self.provider).url(self.tenant, self.prefix)

    @property
    def platform(self) -> str:
        return registry.get(self.provider).platform


def _err(source, key: str, problem: str, fix: str) -> ConfigError:
    where = f"{source}: " if source else ""
    return ConfigError(f"{where}{key}: {problem}. Fix: {fix}.")


def find_config(start: Path | str = ".", explicit: Optional[str] = None) -> Path:
    """``explicit`` (``--config``), else $S3SYNC_MIRROR_CONFIG, else the first
    s3sync_mirror.yml or s3synchrony.json from ``start`` upwards (like git)."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen:
        p = Path(chosen).expanduser()
        if not p.is_file():
            origin = "--config" if explicit else f"${CONFIG_ENV}"
            raise ConfigError(f"{origin} names {p}, which is not a file. Fix: point it at "
                              f"your {CONFIG_NAME}, or create one with "
                              f"`python -m s3sync_mirror init`.")
        return p.resolve()
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        for name in (CONFIG_NAME, LEGACY_NAME):
            if (folder / name).is_file():
                return folder / name
    raise ConfigError(f"no {CONFIG_NAME} in {here} or any folder above it. Fix: run "
                      f"`python -m s3sync_mirror init` in your repo, or pass --config PATH.")


def repo_name(repo_root: Path) -> str:
    """The repo's name for ``namespace: MIRROR``: from git's ``origin`` URL when the repo
    root is a git work tree with one (so clones in differently named folders agree), else
    the folder's name."""
    if (Path(repo_root) / ".git").exists():
        import subprocess  # here: a sync that is told its user and namespace never runs git

        try:
            out = subprocess.run(["git", "-C", str(repo_root), "config", "--get",
                                  "remote.origin.url"], capture_output=True, text=True,
                                 timeout=5)
            url = out.stdout.strip().rstrip("/")
            name = re.split(r"[/:\\]", url)[-1] if url else ""
            name = name[:-4] if name.endswith(".git") else name
            if out.returncode == 0 and name and name not in (".", ".."):
                return name
        except (OSError, subprocess.SubprocessError):
            pass
    return Path(repo_root).resolve().name


USER_ENV = "S3SYNC_MIRROR_USER"
USER_GIT_KEY = "s3sync-mirror.user"  # the clone-local setting: `git config s3sync-mirror.user`


def _git_config(key: str, where=None) -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True,
                             timeout=5, cwd=where)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def member_user(repo_root=None) -> str:
    """Who this member says they are, never the team's file: ``--user`` (which the CLI
    passes as $S3SYNC_MIRROR_USER), else $S3SYNC_MIRROR_USER, else this clone's
    ``git config s3sync-mirror.user``; "" when none is set."""
    return os.environ.get(USER_ENV, "").strip() or \
        (_git_config(USER_GIT_KEY, repo_root) if _in_work_tree(repo_root) else "")


def _in_work_tree(repo_root) -> bool:
    """Whether ``repo_root`` (None: the current folder) is inside a git work tree, where a
    clone-local setting can be: a `.git` here or in a folder above. Elsewhere git is not
    run for it (its start, and `subprocess`'s import, are ~4 ms of every sync)."""
    here = Path(repo_root if repo_root is not None else ".")
    if not here.is_dir():
        return False
    here = here.resolve()
    return any((d / ".git").exists() for d in (here, *here.parents))


def default_user(repo_root=None) -> str:
    """git's user.name, else the login name."""
    name = _git_config("user.name", repo_root if repo_root is None or
                       Path(repo_root).is_dir() else None)
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors on odd systems  # noqa: BLE001
        return "unknown"


def _find_secrets(doc: Any, trail: str = "") -> Optional[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            key = f"{trail}.{k}" if trail else str(k)
            if isinstance(k, str) and _SECRET.search(k) and k != "endpoint_url":
                return key
            found = _find_secrets(v, key)
            if found:
                return found
    return None


def _str(source, key: str, value, *, required=False, default=None) -> Optional[str]:
    if value is None:
        if required:
            raise _err(source, key, "is missing", f"add `{key}: ...`")
        return default
    if not isinstance(value, str) or (required and not value.strip()):
        raise _err(source, key, f"must be text, found {value!r}", f"write `{key}: <text>`")
    return value


def _check_keys(source, doc: dict, allowed: set, trail: str):
    for k in doc:
        if k not in allowed:
            path = f"{trail}.{k}" if trail else str(k)
            raise _err(source, path, "unknown key",
                       f"remove it, or use one of {', '.join(sorted(allowed))}")


def _clean_prefix(source, key: str, value: str) -> str:
    v = value.replace("\\", "/").strip("/")
    if any(part in ("..", ".") for part in v.split("/")) or "//" in v or "\x00" in v:
        raise _err(source, key, f"{value!r} is not a plain key prefix",
                   "use names separated by '/', without '..'")
    return v


def _data_dir(source, value: str, repo_root: Path) -> str:
    v = value.replace("\\", "/").strip()
    if not v or v.startswith("/") or re.match(r"^[A-Za-z]:", v) or ".." in v.split("/"):
        raise _err(source, "data_dir", f"{value!r} must be a folder inside the repo",
                   "give a relative path such as `Data`")
    if (repo_root / v).exists() and not (repo_root / v).is_dir():
        raise _err(source, "data_dir", f"{value!r} is a file, not a folder",
                   "name the shared folder, e.g. `data_dir: Data`")
    return v.strip("/")


def _endpoint(source, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    if not re.match(r"^https?://", value):
        raise _err(source, "storage.endpoint_url", f"{value!r} is not an http(s) URL",
                   "write e.g. `endpoint_url: http://127.0.0.1:9000`")
    if re.match(r"^https?://[^/@]*:[^/@]*@", value):
        raise _err(source, "storage.endpoint_url", "holds a user name and password",
                   f"remove them: {_CRED_HELP}")
    return value


def _provider(source, value) -> "registry.Provider":
    name = _str(source, "storage.provider", value, required=True)
    provider = registry.get(name)
    choices = " or ".join(f"`{n}`" for n in registry.sync_providers())
    if provider is None:
        raise _err(source, "storage.provider", f"unknown provider {name!r}", f"use {choices}")
    if not provider.syncs:
        raise _err(source, "storage.provider", f"{provider.name} is not yet supported as a "
                   f"sync remote", f"use {choices}")
    return provider


def _patterns(source, value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(source, "ignore", "must be a list of gitignore-style patterns",
                   'write e.g. `ignore: ["*.tmp", "scratch/"]`')
    return tuple(v for v in value if v.strip() and not v.lstrip().startswith("#"))


def settings_from_document(doc: Any, source: Optional[Path], repo_root: Path) -> Settings:
    """Validate a loaded YAML document and resolve it against ``repo_root``."""
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise _err(source, "(top level)", "must be a mapping of keys",
                   "start from `python -m s3sync_mirror init`")
    secret = _find_secrets(doc)
    if secret:
        raise _err(source, secret, "looks like a credential, and credentials never live "
                   "in this file", f"remove it; {_CRED_HELP}")
    _check_keys(source, doc, _TOP_KEYS, "")
    storage = doc.get("storage")
    if not isinstance(storage, dict):
        raise _err(source, "storage", "is missing" if storage is None else "must be a mapping",
                   "add `storage: {provider: local, tenant: ../remote}`")
    _check_keys(source, storage, _STORAGE_KEYS, "storage")
    provider = _provider(source, storage.get("provider"))
    data_rel = _data_dir(source, _str(source, "data_dir", doc.get("data_dir"), default="Data"),
                         repo_root)
    namespace = _str(source, "storage.namespace", storage.get("namespace"), default=MIRROR)
    if namespace == MIRROR:
        prefix = f"{repo_name(repo_root)}/{data_rel}"
    else:
        prefix = _clean_prefix(source, "storage.namespace", namespace)
    tenant, problem, fix = provider.check_tenant(
        _str(source, "storage.tenant", storage.get("tenant"), required=True).strip(),
        source.parent if source else repo_root)
    if problem:
        raise _err(source, "storage.tenant", problem, fix)
    mirrors = doc.get("mirrors") or {}
    if not isinstance(mirrors, dict):
        raise _err(source, "mirrors", "must be a mapping of mirror names",
                   "write `mirrors: {etl: {root: etl}}`")
    for name, spec in mirrors.items():
        if not isinstance(spec, dict):
            raise _err(source, f"mirrors.{name}", "must be a mapping",
                       "write `{root: ..., prefix: MIRROR, output_name: out, "
                       "output_format: parquet}`")
        _check_keys(source, spec, _MIRROR_KEYS, f"mirrors.{name}")
    user = member_user(repo_root) or _str(source, "user", doc.get("user")) or \
        default_user(repo_root)
    return Settings(
        source=source, repo_root=repo_root, data_dir=repo_root / data_rel,
        provider=provider.name, tenant=tenant, prefix=prefix,
        endpoint_url=_endpoint(source, _str(source, "storage.endpoint_url",
                                            storage.get("endpoint_url"))),
        profile=_str(source, "storage.profile", storage.get("profile")),
        region=_str(source, "storage.region", storage.get("region")),
        user=user, mirrors=mirrors, document=doc, ignore=_patterns(source, doc.get("ignore")),
        diff_keys=_diff_keys(source, doc.get("diff")))


def _diff_keys(source, value) -> dict:
    """``diff: {keys: {"raw/*.csv": [id]}}``: the key columns of the tables a pattern names."""
    if value is None:
        return {}
    fix = 'write `diff: {keys: {"raw/*.csv": [id]}}`'
    if not isinstance(value, dict):
        raise _err(source, "diff", "must be a mapping", fix)
    _check_keys(source, value, {"keys"}, "diff")
    keys = value.get("keys") or {}
    if not isinstance(keys, dict):
        raise _err(source, "diff.keys", "must map file patterns to key columns", fix)
    out = {}
    for pattern, cols in keys.items():
        cols = [cols] if isinstance(cols, str) else cols
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            raise _err(source, f"diff.keys.{pattern}", "must be a column name or a list of "
                       "them", fix)
        out[str(pattern)] = tuple(cols)
    return out


def _legacy_document(doc: Any, source: Path) -> dict:
    """Map the original tool's s3synchrony.json onto the YAML document shape."""
    if not isinstance(doc, dict):
        raise _err(source, "(top level)", "must be a JSON object", "see the README")
    secret = _find_secrets(doc)
    if secret:
        raise _err(source, secret, "holds a secret key, and the tool never reads "
                   "credentials from its config", f"delete it from the file; {_CRED_HELP}")
    _check_keys(source, doc, _LEGACY_KEYS | _LEGACY_TEMPLATE_KEYS, "")
    creds = doc.get("credentials") or {}
    if not isinstance(creds, dict):
        raise _err(source, "credentials", "must be an object", "write {\"endpoint_url\": ...}")
    _check_keys(source, creds, {"endpoint_url", "profile", "region"}, "credentials")
    platform = str(doc.get("platform") or "S3")
    storage: dict = {"endpoint_url": creds.get("endpoint_url"), "profile": creds.get("profile"),
                     "region": creds.get("region")}
    remote_dir = doc.get("remote_data_dir") or doc.get("aws_prfx")
    if platform.lower() == "s3":
        storage.update(provider="s3", tenant=doc.get("aws_bkt"))
        if remote_dir:
            storage["namespace"] = remote_dir
        elif doc.get("_name"):
            storage["namespace"] = f"{doc['_name']}/{doc.get('local_data_rel_dir') or 'Data'}"
    elif platform.lower() == "local":
        storage.update(provider="local", tenant=remote_dir, namespace="")
    else:
        raise _err(source, "platform", f"unknown platform {platform!r}", "use \"S3\" or \"Local\"")
    if storage.get("tenant") is None:
        missing = "aws_bkt" if storage["provider"] == "s3" else "remote_data_dir"
        raise _err(source, missing, "is missing", f"add \"{missing}\": ...")
    out = {"storage": {k: v for k, v in storage.items() if v is not None}}
    if doc.get("local_data_rel_dir"):
        out["data_dir"] = doc["local_data_rel_dir"]
    return out


def read_document(path: Path) -> Any:
    """Parse a config file (YAML, or the legacy JSON) into a document."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc}). Fix: check the file.") from None
    if path.name == LEGACY_NAME or path.suffix == ".json":
        try:
            return _legacy_document(json.loads(text), path)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}). "
                              f"Fix the syntax.") from None
    from .core.parsecache import parsed

    def load(yaml_text: str) -> Any:  # run only when no parsed copy is kept
        import yaml

        try:
            return yaml.safe_load(yaml_text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}: not valid YAML ({line}{problem}). Fix the syntax; "
                              f"`python -m s3sync_mirror init` writes a commented "
                              f"example.") from None

    return parsed(text, load)


def load_settings(start: Path | str = ".", config: Optional[str] = None) -> Settings:
    path = find_config(start, config)
    return settings_from_document(read_document(path), path, path.parent)
