"""Kernel tests run through the interpreter on CPU, or on device memory when a GPU is present."""
import pytest

pytest.importorskip("triton", reason="Triton is not installed")

from blaze.devices.cuda import memory as _cuda_memory  # noqa: E402
from blaze.kernels import index as _kernels_index  # noqa: E402
from tests.kernels.helpers import Dev  # noqa: E402

# kernels run here without the cuda device, which would install its error word on load
_kernels_index.install_error_word(_cuda_memory.error_word)


@pytest.fixture(scope="session")
def dev():
    return Dev()
