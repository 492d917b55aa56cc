"""The cloud emulators the tests start themselves, on free ports on 127.0.0.1, once per
session: fake-gcs-server (from the PyPI wheel in the test extras) for GCS, Azurite (installed
with npm into a cache folder) for Azure Blob. Each fixture yields an ``Emulator``:

- ``provider``: "gcs" or "blob"; ``endpoint``: what goes in the config's ``endpoint_url``;
- ``env``: the environment variables a member's process needs (the provider's standard
  credential chain pointed at the emulator; never a file the tool writes);
- ``new_tenant()``: a fresh, empty bucket or container, its name;
- ``objects(tenant, prefix)``: {key relative to ``prefix``: bytes}, ``.S3/`` included,
  read with the provider's client library, not with the tool;
- ``put(tenant, key, data)``: write straight into the remote, as a third party would;
- ``connection(tenant, prefix, **kw)``: the tool's connection to it, for contract tests.

The fixtures live in ``emu_gcs.py`` and ``emu_blob.py``; conftest imports them."""
from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen) -> None:
    """Stop an emulator process: politely, then for good."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
