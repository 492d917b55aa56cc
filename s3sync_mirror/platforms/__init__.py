"""The remotes: one interface, two backends, and the factory that picks one."""
from __future__ import annotations

from pathlib import Path

from .base import DataPlatformConnection, RemoteObject
from .local import LocalConnection

PLATFORMS = ("Local", "S3")


def get_supported_platforms() -> list[str]:
    return list(PLATFORMS)


def __getattr__(name):  # S3Connection imports lazily: boto3 only when S3 is used
    if name == "S3Connection":
        from .s3 import S3Connection

        return S3Connection
    raise AttributeError(name)


def connect(settings, jobs: int = 16) -> DataPlatformConnection:
    """The connection ``settings`` describe."""
    if settings.provider == "s3":
        from .s3 import S3Connection

        return S3Connection(settings.tenant, settings.prefix, endpoint_url=settings.endpoint_url,
                            profile=settings.profile, region=settings.region, jobs=jobs)
    root = Path(settings.tenant, *settings.prefix.split("/")) if settings.prefix \
        else Path(settings.tenant)
    return LocalConnection(root, user=settings.user)


__all__ = ["DataPlatformConnection", "RemoteObject", "LocalConnection", "S3Connection",
           "get_supported_platforms", "connect", "PLATFORMS"]
