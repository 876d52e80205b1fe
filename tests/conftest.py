"""Test-wide set-up: Triton kernels run through the interpreter unless a GPU is present.

TRITON_INTERPRET must be set before Triton is imported, so it is decided here, once.
"""
import os
import shutil
import sys

# One BLAS thread per test process: pytest -n 2 already fills both cores, and OpenBLAS's
# spin-waiting threads on an oversubscribed machine made small GEMMs 50x slower (measured).
# Must happen before NumPy loads its BLAS.
if "numpy" not in sys.modules:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _gpu_present() -> bool:
    return shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidia0")


if "TRITON_INTERPRET" not in os.environ and not _gpu_present():
    os.environ["TRITON_INTERPRET"] = "1"


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_pending_device_error():
    """A test that leaves a device-side error unread fails itself, not whichever test syncs next."""
    yield
    mem = sys.modules.get("blaze.devices.cuda.memory")
    if mem is not None:
        try:
            mem.check_device_errors()
        except RuntimeError as e:
            pytest.fail(f"the test left a device-side error unread: {e}")
