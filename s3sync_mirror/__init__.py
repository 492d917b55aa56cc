"""s3sync_mirror: share a data folder through S3 or a shared folder, three-way, confirmed,
verified and in parallel. See the README and docs/.

Heavy modules (pandas, boto3, prompt_toolkit) load only when a run needs them.
"""
from __future__ import annotations

from .core.version import VERSION as __version__

_EXPORTS = {
    "run": "api.run", "smart_sync": "api.run", "reset_confirm": "api.run",
    "get_supported_platforms": "platforms", "DataPlatformConnection": "platforms",
    "S3Connection": "platforms", "LocalConnection": "platforms", "GCSConnection": "platforms",
    "BlobConnection": "platforms",
    "FSMirror": "mirror", "load_config": "mirror", "FSMirrorException": "mirror",
    "MirrorError": "mirror",
    "log": "api.history", "restore": "api.history", "read_version": "api.history", "manifest": "api.history",
    "tag": "api.history", "tags": "api.history", "pin": "api.pins", "pins": "api.pins",
    "put_artifact": "api.artifacts", "load_artifact": "api.artifacts",
    "read_artifact": "api.artifacts", "put_files": "api.artifacts", "put_output": "api.artifacts",
    "get_artifact": "api.artifacts", "artifacts": "api.artifacts",
    "import_artifacts": "api.artifacts",
    "diff": "api.diff", "diffs": "api.diff",
    "files": "api.meta", "set_meta": "api.meta", "get_meta": "api.meta",
    "import_meta": "api.meta", "import_mmmeta": "api.meta", "mark": "api.meta", "store": "api.meta", "info": "api.meta",
    "MetadataConflict": "api.meta",
    "SyncResult": "core.model", "Options": "options",
    "S3SyncMirrorError": "core.errors", "ConfigError": "core.errors", "UsageError": "core.errors",
    "StateError": "core.errors", "UnsafePathError": "core.errors", "RemoteError": "core.errors",
    "SyncFailed": "core.errors", "MaxDeleteExceeded": "core.errors", "ChecksumMismatch": "core.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 's3sync_mirror' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
