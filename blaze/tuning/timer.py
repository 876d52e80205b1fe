"""Timing kernel launches: CUDA events on a GPU, a CPU clock under the interpreter.

On a GPU (``blaze.cuda.is_available()``), each repeat writes a 256 MiB scratch buffer
first, so no operand is still in L2 (50 MiB on an H100, 60 MiB on an H200) and every
config pays the same cold-cache reads; the kernel is bracketed by two ``blaze.cuda.Event``s
recorded on blaze's stream, and the median of the repeats is reported. Not
``triton.testing.do_bench``: it needs torch.

Without a GPU the kernels run in Triton's interpreter and :class:`CpuTimer` times them with
``time.perf_counter``. Those numbers rank configs by interpreter cost, not GPU speed, and
every report that shows them says so.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

L2_FLUSH_BYTES = 256 << 20
CPU_TIMING_NOTE = ("NOTE: no GPU: kernels ran in Triton's CPU interpreter and were timed with a CPU clock. "
                   "These are NOT GPU timings; tune on the GPU you will run on.")


def gpu_available() -> bool:
    """True when blaze's cuda device has a real GPU (False while it is absent or emulated)."""
    from blaze import _env
    if _env.interpret():
        return False
    try:
        import blaze.cuda
        return bool(blaze.cuda.is_available())
    except Exception:  # the device layer is missing or has no driver: no GPU timing
        return False


def np_dtype(name: str) -> np.dtype:
    """NumPy dtype for a kernel dtype name; ``bfloat16`` comes from ml_dtypes."""
    if str(name) == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(str(name))


def random_array(shape, dtype_name: str, rng: np.random.Generator) -> np.ndarray:
    """Inputs the tuner launches on: N(0, 0.5) floats, ints in [0, 16) (valid small indices)."""
    dt = np_dtype(dtype_name)
    if dt.kind in "iu":
        return rng.integers(0, 16, size=shape).astype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    return (rng.standard_normal(shape, dtype=np.float32) * 0.5).astype(dt)


class CpuTimer:
    """Wall-clock timer for the interpreter: ``measure(fn)`` -> median milliseconds."""

    kind = "cpu-clock (interpreter)"
    is_gpu = False
    note = CPU_TIMING_NOTE

    def __init__(self, warmup: int = 1, repeats: int = 3, seed: int = 0):
        self.warmup, self.repeats = warmup, repeats
        self._rng = np.random.default_rng(seed)

    def new_buffer(self, shape, dtype_name: str):
        """A random-filled host buffer of ``shape`` (the ``new_buffer`` of ``Tunable.make_problem``)."""
        from blaze.kernels.buffer import HostBuffer
        return HostBuffer(random_array(tuple(shape), dtype_name, self._rng))

    def samples(self, fn) -> list[float]:
        for _ in range(self.warmup):
            fn()
        out = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
        return out

    def measure(self, fn) -> float:
        """Median time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
        return statistics.median(self.samples(fn))


class CudaEventTimer(CpuTimer):
    """CUDA-event timer on blaze's device layer, with an L2 flush before every repeat."""

    kind = "cuda-events"
    is_gpu = True
    note = ""

    def __init__(self, warmup: int = 3, repeats: int = 20, seed: int = 0, flush_bytes: int = L2_FLUSH_BYTES):
        super().__init__(warmup, repeats, seed)
        self.flush_bytes = flush_bytes
        self._flush = None

    def new_buffer(self, shape, dtype_name: str):
        return to_device(random_array(tuple(shape), dtype_name, self._rng))

    def _flush_l2(self) -> None:
        from blaze.kernels.random import uniform_
        if self._flush is None:
            self._flush = to_device(np.zeros(self.flush_bytes // 4, np.float32))
        uniform_(self._flush)  # writes all 256 MiB: evicts every operand line from L2

    def samples(self, fn) -> list[float]:
        import blaze.cuda
        for _ in range(self.warmup):  # the first call also compiles: failures surface here
            fn()
        pairs = []
        for _ in range(self.repeats):
            self._flush_l2()
            start, end = blaze.cuda.Event(enable_timing=True), blaze.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            pairs.append((start, end))
        blaze.cuda.synchronize()
        return [s.elapsed_time(e) for s, e in pairs]


def to_device(array: np.ndarray):
    """Copy a host array to blaze's cuda device and return the raw device buffer (DeviceArray)."""
    from blaze.devices.cuda.memory import DeviceArray
    return DeviceArray.from_host(np.ascontiguousarray(array))


def default_timer(warmup: int | None = None, repeats: int | None = None):
    """CUDA events on a real GPU, else the CPU clock (interpreter); counts default per timer."""
    cls = CudaEventTimer if gpu_available() else CpuTimer
    t = cls()
    if warmup is not None:
        t.warmup = warmup
    if repeats is not None:
        t.repeats = repeats
    return t
