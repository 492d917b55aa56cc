"""The gcs emulator fixture (interface: emulators.py). Being written."""
import pytest


@pytest.fixture(scope="session")
def gcs_emulator():
    raise NotImplementedError("gcs emulator: being written")
