"""The blob emulator fixture (interface: emulators.py): Azurite, installed with npm into a
cache folder once (``~/.cache/s3sync_mirror/azurite``, or under ``$XDG_CACHE_HOME``) and
started for the session on a free port of 127.0.0.1, with its data in a temp folder.
Azurite 3.35 runs on node 20 (later ones need node 22). Telemetry is off: the emulator
never reaches the internet."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from .emulators import stop

AZURITE = "3.35.0"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "s3sync_mirror" \
    / "azurite"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, in Azure's documentation): not a secret.
ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


def connection_string(endpoint: str, key: str = ACCOUNT_KEY) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={endpoint};")


def _installed() -> bool:
    package = CACHE / "node_modules" / "azurite" / "package.json"
    return package.is_file() and json.loads(package.read_text()).get("version") == AZURITE \
        and (CACHE / "node_modules" / ".bin" / "azurite-blob").exists()


def install() -> Path:
    """The azurite-blob script, installed with npm the first time (one installer at a
    time: the others wait on a lock and reuse it). Raises with npm's words if it fails."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / "azurite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("the blob tests need Azurite, installed with npm: install "
                                   "node.js 20 (with npm) and run the tests again")
            proc = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit",
                                   "--no-fund", f"azurite@{AZURITE}"],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode or not _installed():
                raise RuntimeError(f"`npm install azurite@{AZURITE}` into {CACHE} failed "
                                   f"(exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                                   f"{proc.stderr[-4000:]}")
    return CACHE / "node_modules" / ".bin" / "azurite-blob"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(proc, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited ({proc.returncode}):\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Azurite did not answer on port {port} in {timeout:.0f}s:\n"
                       f"{log.read_text()}")


class BlobEmulator:
    """tests/emulators.py's interface, on Azurite."""

    provider = "blob"

    def __init__(self, port: int):
        self.endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
        self.env = {"AZURE_STORAGE_CONNECTION_STRING": connection_string(self.endpoint)}

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            self.env["AZURE_STORAGE_CONNECTION_STRING"])

    def new_tenant(self) -> str:
        name = f"team-{uuid.uuid4().hex[:12]}"
        self.service().create_container(name)
        return name

    def objects(self, tenant: str, prefix: str) -> dict:
        container = self.service().get_container_client(tenant)
        base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        return {b.name[len(base):]: container.download_blob(b.name).readall()
                for b in container.list_blobs(name_starts_with=base)}

    def put(self, tenant: str, key: str, data: bytes) -> None:
        self.service().get_blob_client(tenant, key).upload_blob(data, overwrite=True)

    @contextmanager
    def environment(self, **env):
        """This emulator's credentials (or ``env``) in os.environ, as a member has them."""
        saved = {k: os.environ.get(k) for k in {**self.env, **env}}
        os.environ.update({**self.env, **env})
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def connection(self, tenant: str, prefix: str, **kw):
        """The tool's connection, its credentials taken from ``env`` (the chain is read
        when the connection is made)."""
        from s3sync_mirror.platforms.blob.connection import BlobConnection

        with self.environment():
            return BlobConnection(tenant, prefix, endpoint_url=self.endpoint, **kw)


@contextmanager
def running(data: Path, port: int = 0):
    """Azurite on ``port`` (a free one by default) of 127.0.0.1, its blobs in ``data``, for
    the body: yields a ``BlobEmulator``; stopped at the end. The benchmark uses it too."""
    script = install()
    port = port or _free_port()
    log = Path(data) / "azurite.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(script), "--blobHost", "127.0.0.1", "--blobPort",
                                 str(port), "--location", str(data), "--skipApiVersionCheck",
                                 "--loose", "--disableTelemetry", "--silent"],
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_until_up(proc, port, log)
        yield BlobEmulator(port)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def blob_emulator(tmp_path_factory):
    with running(tmp_path_factory.mktemp("azurite")) as emulator:
        yield emulator
