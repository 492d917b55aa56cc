"""The remotes: one interface (base.py), the backends, and the registry that names them."""
from __future__ import annotations

from .registry import connect, supported_platforms


def get_supported_platforms() -> list[str]:
    """The platforms this machine can sync with (their client libraries are installed)."""
    return supported_platforms()


def __getattr__(name):  # connections import lazily: a cloud client only when it is used
    if name == "PLATFORMS":  # looks for the client libraries: only when asked
        return tuple(supported_platforms())
    if name in ("DataPlatformConnection", "RemoteObject"):
        from . import base

        return getattr(base, name)
    from . import registry

    for provider in registry.PROVIDERS.values():
        if provider.syncs and provider.connection.partition(":")[2] == name:
            return provider.connection_class()
    raise AttributeError(name)


__all__ = ["DataPlatformConnection", "RemoteObject", "LocalConnection", "S3Connection",
           "GCSConnection", "BlobConnection",
           "get_supported_platforms", "connect", "PLATFORMS"]
