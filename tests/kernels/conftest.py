"""Kernel tests run through the interpreter on CPU, or on device memory when a GPU is present."""
import pytest

pytest.importorskip("triton", reason="Triton is not installed")

from tests.kernels.helpers import Dev  # noqa: E402


@pytest.fixture(scope="session")
def dev():
    return Dev()
