"""``blaze.cuda``: the GPU device's state, memory statistics, seeding, events, streams and graphs.

``is_available()`` reports a real NVIDIA GPU (driver + cuda-bindings). Under
``TRITON_INTERPRET=1`` without one, the "cuda" device still works, *emulated*: memory in
host buffers, the same Triton kernels run by Triton's interpreter (``is_emulated()`` is
True). That is how CI tests the GPU code path on CPU-only machines.
"""
from __future__ import annotations

import time

from .. import _env


def _mem():
    from ..devices.cuda import memory as cuda_memory
    return cuda_memory


def is_available() -> bool:
    """True when a real NVIDIA GPU can be used (never True for the emulated device)."""
    return _mem().real_driver_available()


def is_emulated() -> bool:
    """True when the "cuda" device runs emulated (TRITON_INTERPRET=1 and no usable GPU)."""
    return _env.interpret()


def _dev():
    return _mem().device()


def is_initialized() -> bool:
    return _mem()._DEVICE[0] is not None


def init() -> None:
    """Initialise the device now (it otherwise starts on first use)."""
    _dev()


def device_count() -> int:
    """Number of usable devices: the GPUs the driver sees, 1 when emulated, else 0."""
    if _env.interpret():
        return 1
    if not is_available():
        return 0
    return _dev().count


def current_device() -> int:
    return 0


def set_device(device) -> None:
    """Only device 0 is supported (one context per process)."""
    idx = device if isinstance(device, int) else getattr(device, "index", 0) or 0
    if idx != 0:
        raise RuntimeError(f"blaze supports one cuda device (index 0), got {device}")


def synchronize(device=None) -> None:
    """Wait for every kernel and copy queued on the device; raise a device-side error a kernel reported."""
    _dev().synchronize()
    from ..devices.cuda.memory import check_device_errors
    check_device_errors()


def get_device_name(device=None) -> str:
    return _dev().device_name()


class _Properties:
    def __init__(self, name, total_memory, multi_processor_count, major, minor):
        self.name, self.total_memory = name, total_memory
        self.multi_processor_count, self.major, self.minor = multi_processor_count, major, minor

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // (1 << 20)}MB, multi_processor_count={self.multi_processor_count})")


def get_device_properties(device=None) -> _Properties:
    d = _dev()
    return _Properties(d.device_name(), d.total_memory(), d.attribute("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT"),
                       d.attribute("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR"),
                       d.attribute("CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"))


def get_device_capability(device=None) -> tuple[int, int]:
    p = get_device_properties(device)
    return p.major, p.minor


# -- RNG -----------------------------------------------------------------------------------------
def manual_seed(seed: int) -> None:
    """Seed device random ops. One generator serves CPU and cuda (its Philox stream feeds kernels)."""
    from ..random import manual_seed as _seed
    _seed(seed)


manual_seed_all = manual_seed


def seed() -> None:
    from ..random import seed as _s
    _s()


# -- memory --------------------------------------------------------------------------------------
def memory_allocated(device=None) -> int:
    """Bytes held by live cuda tensors (rounded up to the 256-byte allocation granule)."""
    return _mem().STATS.allocated


def max_memory_allocated(device=None) -> int:
    """Peak of :func:`memory_allocated` since start or the last :func:`reset_peak_memory_stats`."""
    return _mem().STATS.peak


def reset_peak_memory_stats(device=None) -> None:
    s = _mem().STATS
    s.peak = s.allocated


reset_max_memory_allocated = reset_peak_memory_stats


def memory_reserved(device=None) -> int:
    """Bytes the device reports in use (pool and other processes included), free excluded."""
    free, total = _dev().mem_info()
    return total - free


def mem_get_info(device=None) -> tuple[int, int]:
    """(free, total) bytes of the device."""
    return _dev().mem_info()


def empty_cache() -> None:
    """Return the pool's unused blocks to the driver (cuMemPoolTrimTo)."""
    import gc
    gc.collect()
    if is_initialized():
        _dev().trim()


_GRAPH_NAMES = ("CUDAGraph", "graph", "graph_pool_handle", "make_graphed_callables", "is_current_stream_capturing")


def __getattr__(name):
    if name == "OutOfMemoryError":
        return _mem().OutOfMemoryError
    if name == "amp":
        from . import amp
        return amp
    if name in _GRAPH_NAMES:  # imported on first use
        import importlib
        return getattr(importlib.import_module(".graphs", __name__), name)
    if name == "GraphedTrainStep":
        import importlib
        return importlib.import_module(".graphed", __name__).GraphedTrainStep
    from .._legacy_types import CUDA_TYPES
    if name in CUDA_TYPES:
        return CUDA_TYPES[name]
    raise AttributeError(f"module 'blaze.cuda' has no attribute {name!r}")


# -- events and streams ---------------------------------------------------------------------------
class Event:
    """A point in the device's work queue; ``elapsed_time`` measures between two of them (ms).

    Real GPU: cuEventRecord on the legacy default stream. Emulated: host timestamps (the
    interpreter runs kernels synchronously, so the host clock is the device clock).
    """

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False):
        self.enable_timing = enable_timing
        self._ev = None
        self._t = None
        d = _dev()
        if not d.emulated:
            from cuda.bindings import driver
            from ..devices.cuda.memory import _check
            flags = 0 if enable_timing else driver.CUevent_flags.CU_EVENT_DISABLE_TIMING
            self._ev = _check(driver.cuEventCreate(flags))

    def record(self, stream=None) -> None:
        d = _dev()
        if d.emulated:
            self._t = time.perf_counter()
            return
        from ..devices.cuda.memory import _check
        d._ensure_ctx()
        _check(d.drv.cuEventRecord(self._ev, d.stream))
        self._t = True

    def synchronize(self) -> None:
        if self._ev is not None and self._t is not None:
            from ..devices.cuda.memory import _check
            _check(_dev().drv.cuEventSynchronize(self._ev))

    wait = synchronize

    def query(self) -> bool:
        if self._ev is None:
            return True
        from cuda.bindings import driver
        err, = driver.cuEventQuery(self._ev)
        return err == driver.CUresult.CUDA_SUCCESS

    def elapsed_time(self, end: "Event") -> float:
        """Milliseconds from this event to ``end`` (both recorded, timing enabled)."""
        if not (self.enable_timing and end.enable_timing):
            raise RuntimeError("Both events must be created with enable_timing=True")
        if self._t is None or end._t is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time")
        if self._ev is None:
            return (end._t - self._t) * 1000.0
        from ..devices.cuda.memory import _check
        end.synchronize()
        drv = _dev().drv
        elapsed = getattr(drv, "cuEventElapsedTime", None) or drv.cuEventElapsedTime_v2  # renamed in CUDA 13
        return float(_check(elapsed(self._ev, end._ev)))

    def __del__(self):
        if self._ev is not None:
            try:
                from cuda.bindings import driver
                driver.cuEventDestroy(self._ev)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass


class Stream:
    """The device's (legacy default) stream; blaze queues all work on it."""

    def __init__(self, device=None, priority: int = 0):
        self.device = device

    def synchronize(self) -> None:
        synchronize()

    def wait_stream(self, other) -> None:  # one stream: already ordered
        pass

    def record_event(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def current_stream(device=None) -> Stream:
    return Stream(device)


def default_stream(device=None) -> Stream:
    return Stream(device)


def stream(s):
    """``with blaze.cuda.stream(s):`` — a no-op context: blaze queues everything on one stream."""
    return s if s is not None else Stream()
