"""s3sync_mirror: share a data folder through S3 or a shared folder, three-way, confirmed,
verified and in parallel. See the README and docs/.

Heavy modules (pandas, boto3, questionary) load only when a run needs them.
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "run": "api", "smart_sync": "api", "reset_confirm": "api",
    "get_supported_platforms": "platforms", "DataPlatformConnection": "platforms",
    "S3Connection": "platforms", "LocalConnection": "platforms", "GCSConnection": "platforms",
    "BlobConnection": "platforms",
    "FSMirror": "mirror", "load_config": "mirror",
    "log": "histapi", "restore": "histapi", "read_version": "histapi", "manifest": "histapi",
    "tag": "histapi", "tags": "histapi",
    "files": "metaapi", "set_meta": "metaapi", "get_meta": "metaapi",
    "import_meta": "metaapi", "mark": "metaapi", "store": "metaapi", "info": "metaapi",
    "MetadataConflict": "metaapi",
    "SyncResult": "model", "Options": "options",
    "S3SyncMirrorError": "errors", "ConfigError": "errors", "UsageError": "errors",
    "StateError": "errors", "UnsafePathError": "errors", "RemoteError": "errors",
    "SyncFailed": "errors", "MaxDeleteExceeded": "errors", "ChecksumMismatch": "errors",
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
