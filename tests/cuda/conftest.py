"""Device fixture for the cuda tests: runs on a real GPU when there is one, else emulated.

tests/conftest.py has already set TRITON_INTERPRET=1 on machines without a GPU, so the
"cuda" device is the emulated one there (host buffers, the same Triton kernels through
the interpreter).
"""
import pytest

import blaze


@pytest.fixture
def device():
    return blaze.device("cuda")


@pytest.fixture
def fallbacks():
    """The backend's host round-trip counter, cleared for the test."""
    from blaze.devices.cuda import backend as triton_backend
    triton_backend.FALLBACKS.clear()
    return triton_backend.FALLBACKS
