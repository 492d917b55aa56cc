"""Provider name -> what it takes to use it: check the config's tenant, name the remote,
connect. The config, the API, the CLI, ``init``, FSMirror and the tests read this table.
Adding a backend is one module under ``platforms/``, one entry here, and one subclass of
the contract tests."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Callable

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Provider:
    """One row of the table. A plain class, not a dataclass: ``--help`` reads this module
    and should load no more than argparse needs."""

    __slots__ = ("name", "platform", "scheme", "tenant_help", "connection", "client", "extra",
                 "check_tenant")

    def __init__(self, name: str, platform: str, scheme: str, tenant_help: str,
                 connection: str = "", client: str = "", extra: str = "",
                 check_tenant: "Callable | None" = None):
        self.name = name  # in s3sync_mirror.yml: storage.provider
        self.platform = platform  # the API's name (get_supported_platforms, smart_sync)
        self.scheme = scheme  # the URL form of a remote path ("" for a folder)
        self.tenant_help = tenant_help  # what the tenant is, for init's template, messages
        self.connection = connection  # "package.module:Class" under platforms/, "" if paths only
        self.client = client  # the client library the connection imports
        self.extra = extra  # the pip extra that installs ``client``
        self.check_tenant = check_tenant  # (tenant, base) -> (tenant, problem, fix)

    def __repr__(self) -> str:
        return f"Provider({self.name!r})"

    @property
    def syncs(self) -> bool:
        return bool(self.connection)

    @property
    def available(self) -> bool:
        """Whether this machine can sync with it (its client library is installed)."""
        if not self.syncs:
            return False
        if not self.client:
            return True
        import importlib.util

        try:  # find_spec("google.cloud.storage") raises, not answers None, without "google"
            return importlib.util.find_spec(self.client) is not None
        except ImportError:
            return False

    def url(self, tenant: str, prefix: str) -> str:
        """The remote root for messages: ``s3://bucket/prefix`` or a folder."""
        if not self.scheme:
            return str(Path(tenant, prefix)) if prefix else tenant
        return f"{self.scheme}{tenant}/{prefix}".rstrip("/")

    def connection_class(self):
        import importlib

        module, _, name = self.connection.partition(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _name_check(noun: str, schemes: tuple, pattern, only: str, rule: str):
    """A tenant check for a bucket or container name: no URL, no path, the provider's
    naming rule; each refusal with its fix."""
    def check(tenant: str, base: Path):
        if tenant.startswith(schemes) or "/" in tenant:
            return tenant, f"{tenant!r} is not a {noun} name", only
        if not pattern.match(tenant):
            return tenant, f"{tenant!r} is not a valid {noun} name", rule
        return tenant, None, None
    return check


_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
_bucket = _name_check(
    "bucket", ("s3://", "gs://"), _BUCKET,
    "give the bucket name only, e.g. `team-bucket`; the key prefix goes in `namespace`",
    "use 3-63 lowercase letters, digits, '.' or '-'")
_container = _name_check(
    "container", ("az://",), _CONTAINER,
    "give the container name only, e.g. `team-data`; the blob prefix goes in `namespace`, "
    "the account in AZURE_STORAGE_CONNECTION_STRING or endpoint_url",
    "use 3-63 lowercase letters, digits or single '-', starting with a letter or digit")


def _folder(tenant: str, base: Path):
    return str((base / Path(tenant).expanduser()).resolve()), None, None


def _connect_s3(cls, settings, jobs: int):
    return cls(settings.tenant, settings.prefix, endpoint_url=settings.endpoint_url,
               profile=settings.profile, region=settings.region, jobs=jobs)


def _connect_cloud(cls, settings, jobs: int):
    return cls(settings.tenant, settings.prefix, endpoint_url=settings.endpoint_url, jobs=jobs)


def _connect_local(cls, settings, jobs: int):
    if not Path(settings.tenant).is_dir():
        from ..core.errors import ConfigError

        # An unmounted share must not become a folder silently created on the local disk.
        raise ConfigError(f"storage.tenant: the remote folder {settings.tenant} does not "
                          f"exist (an unmounted share?). Fix: mount or create it, or correct "
                          f"storage.tenant in {settings.source or 's3sync_mirror.yml'}.")
    root = Path(settings.tenant, *settings.prefix.split("/")) if settings.prefix \
        else Path(settings.tenant)
    return cls(root, user=settings.user)


PROVIDERS = {
    "local": Provider("local", "Local", "", "the remote folder (absolute, or relative to "
                      "this file)", "local.connection:LocalConnection", "", check_tenant=_folder),
    "s3": Provider("s3", "S3", "s3://", "the bucket name", "s3.connection:S3Connection",
                   "botocore", check_tenant=_bucket),
    "gcs": Provider("gcs", "GCS", "gs://", "the bucket name", "gcs.connection:GCSConnection",
                    "google.cloud.storage", "gcs", _bucket),
    "blob": Provider("blob", "Blob", "az://", "the container name", "blob.connection:BlobConnection",
                     "azure.storage.blob", "blob", _container),
}
_CONNECT = {"local": _connect_local, "s3": _connect_s3, "gcs": _connect_cloud,
            "blob": _connect_cloud}


def get(name: str) -> "Provider | None":
    return PROVIDERS.get(str(name).lower())


def by_platform(platform: str) -> "Provider | None":
    return next((p for p in PROVIDERS.values() if p.platform.lower() == str(platform).lower()),
                None)


def sync_providers() -> list[str]:
    return [p.name for p in PROVIDERS.values() if p.syncs]


def supported_platforms() -> list[str]:
    return [p.platform for p in PROVIDERS.values() if p.available]


def missing_client(provider: Provider) -> "str | None":
    """The message for a provider whose client library is not installed, else None."""
    if not provider.syncs or provider.available:
        return None
    return (f"provider {provider.name} needs its client library ({provider.client}), which is "
            f"not installed. Fix: pip install 's3sync_mirror[{provider.extra}]'")


def connect(settings, jobs: int = 16):
    """The connection to the remote ``settings`` describe."""
    provider = PROVIDERS[settings.provider]
    problem = missing_client(provider)
    if problem:
        from ..core.errors import ConfigError

        raise ConfigError(problem)
    return _CONNECT[provider.name](provider.connection_class(), settings, jobs)


def connect_url(url: str, *, endpoint_url: "str | None" = None, jobs: int = 8):
    """A connection to any folder or bucket prefix given as ``s3://bucket/prefix``,
    ``gs://...``, ``az://...`` or a local folder (an existing hashfs store to read)."""
    from types import SimpleNamespace

    from ..core.errors import UsageError

    text = str(url)
    provider = next((p for p in PROVIDERS.values() if p.scheme and text.startswith(p.scheme)),
                    PROVIDERS["local"])
    if provider.scheme:
        tenant, _, prefix = text[len(provider.scheme):].partition("/")
        if not tenant:
            raise UsageError(f"{url!r} names no bucket: write {provider.scheme}BUCKET/PREFIX")
    else:
        tenant, prefix = str(Path(text).expanduser().resolve()), ""
        if not Path(tenant).is_dir():
            raise UsageError(f"{url}: no such folder (give a hashfs folder, or "
                             f"s3://BUCKET/PREFIX for an S3HashFS store)")
    settings = SimpleNamespace(provider=provider.name, tenant=tenant, prefix=prefix.strip("/"),
                               endpoint_url=endpoint_url, profile=None, region=None,
                               user="", source=None)
    return connect(settings, jobs=jobs)
