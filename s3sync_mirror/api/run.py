"""The Python API (docs/interface.md#python-api): ``run``, ``smart_sync``, ``reset_confirm``.

``run`` raises ``SyncFailed`` (with ``.result``) when files failed, ``ConfigError`` /
``UsageError`` for bad input, ``StateError`` for a corrupt state file, ``RemoteError`` when
the remote cannot be used, ``MaxDeleteExceeded`` when the deletion guard stops the run;
all derive from ``S3SyncMirrorError``. Otherwise it returns a ``SyncResult``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from ..config import MIRROR, Settings, _clean_prefix, default_user, load_settings
from ..core import records as dataclasses  # dataclasses without inspect (core/records.py)
from ..core.errors import EXIT_FAILURE, SyncFailed, UsageError
from ..platforms import get_supported_platforms, registry
from ..core.model import SyncResult
from ..options import Options
from ..sync import run_sync

_OPTION_NAMES = {f.name for f in dataclasses.fields(Options)}


_OBJECT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def resolve_scope(settings: Settings, items, cwd: Path | str = ".") -> tuple:
    """Turn command-line paths into data-relative paths. An item is a data path unless it
    names a code object as ``module:qualname`` (then its artifacts); ``raw/run 12:30.csv``
    is a path."""
    return split_scope(settings, items, cwd)[0]


def split_scope(settings: Settings, items, cwd: Path | str = ".") -> tuple[tuple, tuple]:
    """(the run's scope, the data paths in it that must match a file: a code object's
    artifacts may not exist yet)."""
    scope, paths = [], []
    for item in items or ():
        item = str(item)
        if _OBJECT.match(item) and not Path(cwd, item).exists():
            from ..mirror import scope_for_object

            scope.extend(scope_for_object(settings, item))
        else:
            paths.append(_data_path(settings, item, Path(cwd)))
            scope.append(paths[-1])
    return tuple(scope), tuple(paths)


def _data_path(settings: Settings, item: str, cwd: Path) -> str:
    data = settings.data_dir.resolve()
    p = Path(item).resolve() if os.path.isabs(item) else (cwd / item).resolve()
    if p == data:
        return ""
    if data in p.parents:
        return p.relative_to(data).as_posix()
    rel = item.replace("\\", "/").strip("/")
    rel = rel[2:] if rel.startswith("./") else rel
    if os.path.isabs(item) or not rel or ".." in rel.split("/") or p.exists() and not \
            (data / rel).exists():
        raise UsageError(f"{item} is not inside the data folder {data}: give a path under "
                         f"it (e.g. {settings.data_dir.name}/raw or raw)")
    return rel


def _split(options: dict) -> tuple[Options, dict]:
    opts = {k: v for k, v in options.items() if k in _OPTION_NAMES}
    rest = {k: v for k, v in options.items() if k not in _OPTION_NAMES}
    return Options(**opts), rest


def _finish(result: SyncResult) -> SyncResult:
    if result.exit_code == EXIT_FAILURE:
        failed = [o.error for o in result.outcomes if o.error and o.status == "failed"]
        raise SyncFailed("some files failed: " + "; ".join(failed[:5]) +
                         (f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""),
                         result)
    return result


def run(path: str | os.PathLike = ".", **options) -> SyncResult:
    """Sync the repo holding ``path`` as the CLI would. Options are the CLI's, with
    underscores: ``yes``, ``dry_run``, ``conflict``, ``max_delete``, ``force``, ``jobs``,
    ``json``, ``quiet``, ``verbose``, ``status``, ``paths`` (files or folders to limit the
    run to), ``config`` (a config file) and ``user``."""
    config = options.pop("config", None)
    user = options.pop("user", None)
    paths = options.pop("paths", ())
    opts, rest = _split(options)
    if rest:
        raise UsageError(f"unknown option(s) for run(): {', '.join(sorted(rest))}")
    settings = load_settings(path, config)
    if user:
        settings = dataclasses.replace(settings, user=user)
    opts.paths, opts.must_match = split_scope(settings, paths,
                                              path if Path(path).is_dir() else ".")
    return _finish(run_sync(settings, opts))


def settings_from_keywords(platform: str = "S3", *, aws_bkt: Optional[str] = None,
                           aws_prfx: Optional[str] = None, remote_dir: Optional[str] = None,
                           datafolder: str = "Data", endpoint_url: Optional[str] = None,
                           profile: Optional[str] = None, region: Optional[str] = None,
                           user: Optional[str] = None, repo_root: str = ".") -> Settings:
    """The original tool's keyword style, validated like a config file."""
    root = Path(repo_root).resolve()
    provider = registry.by_platform(platform)
    if provider is None or not provider.syncs:
        raise UsageError(f"unknown platform {platform!r}; supported: "
                         f"{', '.join(get_supported_platforms())}")
    if provider.name == "local":
        if not remote_dir:
            raise UsageError("smart_sync(platform='Local') needs remote_dir= (the remote folder)")
        tenant, prefix = str((root / remote_dir).resolve()), ""
    else:
        if not aws_bkt:
            raise UsageError(f"smart_sync(platform={provider.platform!r}) needs aws_bkt= "
                             f"(the bucket name)")
        tenant = aws_bkt
        prefix = _clean_prefix(None, "aws_prfx", aws_prfx) if aws_prfx not in (None, MIRROR) \
            else f"{root.name}/{datafolder}"
    return Settings(source=None, repo_root=root, data_dir=root / datafolder,
                    provider=provider.name, tenant=tenant, prefix=prefix,
                    endpoint_url=endpoint_url, profile=profile, region=region,
                    user=user or default_user())


def smart_sync(platform: str = "S3", aws_bkt: Optional[str] = None,
               aws_prfx: Optional[str] = None, datafolder: str = "Data", **options) -> SyncResult:
    """Sync without a config file, in the original tool's keyword style:
    ``smart_sync(platform="S3", aws_bkt=..., aws_prfx=..., datafolder="Data")`` or
    ``smart_sync(platform="Local", remote_dir=..., datafolder="Data")``. Other keywords:
    ``endpoint_url``, ``profile``, ``region``, ``user``, ``repo_root``, and run()'s options."""
    keys = ("remote_dir", "endpoint_url", "profile", "region", "user", "repo_root")
    kw = {k: options.pop(k) for k in keys if k in options}
    paths = options.pop("paths", ())
    opts, rest = _split(options)
    if rest:
        raise UsageError(f"unknown option(s) for smart_sync(): {', '.join(sorted(rest))}")
    settings = settings_from_keywords(platform, aws_bkt=aws_bkt, aws_prfx=aws_prfx,
                                      datafolder=datafolder, **kw)
    opts.paths, opts.must_match = split_scope(settings, paths, settings.repo_root)
    return _finish(run_sync(settings, opts))


def reset_confirm(path: str | os.PathLike = ".", *, remote: bool = True, yes: bool = False,
                  config: Optional[str] = None, settings: Optional[Settings] = None,
                  prompt_io: Optional[tuple] = None, **keywords) -> bool:
    """Remove the sync state after asking: this clone's, and with ``remote`` (the original
    tool's behaviour, the default here) the remote's state file too, which the next sync
    rebuilds from the remote's own files. Returns True only when the user confirmed (or
    ``yes=True``); nothing is removed otherwise, and without a terminal it does not ask.
    Keywords in ``smart_sync``'s style (platform=..., aws_bkt=...) stand in for a config."""
    if settings is None:
        settings = settings_from_keywords(**keywords) if keywords \
            else load_settings(path, config)

    def confirm(message: str) -> bool:
        from ..ui.prompts import yes_no

        print(message)
        return yes_no("Remove the sync state?", yes=yes, prompt_io=prompt_io,
                      refused="No terminal to confirm on: nothing was removed (pass --yes to "
                              "reset).")

    from ..reset import reset_state

    return reset_state(settings, confirm, remote=remote)


__all__ = ["run", "smart_sync", "reset_confirm", "get_supported_platforms", "resolve_scope",
           "settings_from_keywords"]
