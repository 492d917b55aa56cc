"""The blob emulator fixture (interface: emulators.py). Being written."""
import pytest


@pytest.fixture(scope="session")
def blob_emulator():
    raise NotImplementedError("blob emulator: being written")
