"""Shared helpers for kernel tests (imported as ``tests.kernels.helpers``)."""
import os

import numpy as np

from blaze._env import interpret
from blaze.kernels.buffer import HostBuffer

try:  # bfloat16 on the host
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover
    BF16 = None

# Relative tolerances by dtype (DESIGN.md): fp32 ~1e-5 (tf32 dot ~3e-4), fp16/bf16 ~1e-2.
RTOL = {"float32": 1e-5, "float16": 1e-2, "bfloat16": 2e-2, "float64": 1e-10}
POISON = {"f": np.nan, "i": -7777, "u": 77, "b": True}


def raises_device_error(op):
    """The next synchronisation raises ``op``'s device-side error (an index was out of range)."""
    import pytest
    from blaze.devices.cuda.memory import check_device_errors
    with pytest.raises(RuntimeError, match=f"device-side assert triggered: {op}"):
        check_device_errors()


class Dev:
    """Moves arrays between NumPy and the device the kernels under test run on."""

    def __init__(self):
        # BLAZE_TEST_DEVICE_ARRAYS=1 runs the GPU path (DeviceArray buffers) on the emulated device
        self.gpu = not interpret() or os.environ.get("BLAZE_TEST_DEVICE_ARRAYS") == "1"
        if self.gpu:
            from blaze.devices.cuda import memory as cuda_memory  # the cuda device issue provides it
            self._mem = cuda_memory

    def put(self, a) -> "HostBuffer":
        a = np.asarray(a)
        if self.gpu:
            return self._mem.DeviceArray.from_host(np.require(a, requirements="C"))
        return HostBuffer(a.copy())

    def get(self, buf) -> np.ndarray:
        if isinstance(buf, HostBuffer):
            return buf.array.copy()
        return buf.to_host_contiguous()

    def poisoned(self, shape, dtype):
        """An output buffer filled with NaN (or a sentinel for ints) so unwritten elements show."""
        a = np.full(shape, POISON.get(np.dtype(dtype).kind, np.nan), dtype=dtype)  # bf16 kind is "V"
        return self.put(a)



def rel_err(out, ref) -> float:
    """‖out − ref‖ / ‖ref‖ in float64; NaN anywhere fails."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        return float("inf")
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-30))


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)
