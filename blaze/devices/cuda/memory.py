"""Memory of the "cuda" device: ``DeviceArray`` and the allocator under it.

Two modes behind one interface:

- **real**: NVIDIA's driver API through ``cuda.bindings.driver``. One primary context per
  process, the device's default stream-ordered memory pool with the release threshold set
  to "never" (freed blocks stay in the pool, so a training step after the first allocates
  without calling into the OS: cuMemAllocAsync on a warm pool is ~1 us), allocations and
  frees ordered on the legacy default stream, the stream Triton launches on when torch is
  the current-stream provider. Every driver call goes through :func:`_check`.
- **emulated** (``TRITON_INTERPRET=1`` and no driver): the same allocations are host NumPy
  byte buffers; Triton's interpreter reads and writes them in place, so the *same*
  kernels run on a CPU-only machine (this is how CI tests the cuda device).

A ``DeviceArray`` is (allocation, offset, shape, strides, dtype): views share the
allocation (which frees itself when the last view is gone), strides and offset are in
elements, as the kernels index them.
"""
from __future__ import annotations

import contextlib
import gc
import threading

import numpy as np

from ... import _env, _flags

_ALIGN = 256  # bytes: every allocation is rounded up to this (cuMemAllocAsync aligns to 256 too)


class OutOfMemoryError(RuntimeError):
    """The device could not allocate the requested bytes (PyTorch's ``torch.cuda.OutOfMemoryError``)."""


# ----------------------------------------------------------------------------- bookkeeping
class _Stats:
    def __init__(self):
        self.allocated = 0
        self.peak = 0
        self.lock = threading.Lock()

    def add(self, n):
        with self.lock:
            a = self.allocated = self.allocated + n
            if a > self.peak:
                self.peak = a

    def sub(self, n):
        with self.lock:
            self.allocated -= n


STATS = _Stats()


# ----------------------------------------------------------------------------- real driver
def _check(result):
    """Unpack a cuda-bindings result tuple; raise RuntimeError naming the CUresult on failure."""
    from cuda.bindings import driver
    if isinstance(result, tuple):
        err, rest = result[0], result[1:]
    else:
        err, rest = result, ()
    if err != driver.CUresult.CUDA_SUCCESS:
        code, name = driver.cuGetErrorName(err)
        name = name.decode() if code == driver.CUresult.CUDA_SUCCESS else str(err)
        raise RuntimeError(f"CUDA driver error {name} ({int(err)})")
    if not rest:
        return None
    return rest[0] if len(rest) == 1 else rest


class _Driver:
    """The real allocator: primary context + default memory pool of device 0, legacy stream."""

    emulated = False

    def __init__(self):
        from cuda.bindings import driver
        self.drv = driver
        _check(driver.cuInit(0))
        self.count = _check(driver.cuDeviceGetCount())
        if self.count < 1:
            raise RuntimeError("no CUDA device found")
        self.dev = _check(driver.cuDeviceGet(0))
        self.ctx = _check(driver.cuDevicePrimaryCtxRetain(self.dev))
        _check(driver.cuCtxSetCurrent(self.ctx))
        self.pool = _check(driver.cuDeviceGetDefaultMemPool(self.dev))
        # keep freed blocks in the pool: returning them to the OS every sync costs ~100 us
        threshold = driver.cuuint64_t(0xFFFFFFFFFFFFFFFF)
        _check(driver.cuMemPoolSetAttribute(self.pool, driver.CUmemPool_attribute.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                            threshold))
        self.stream = driver.CUstream(0)  # legacy default stream: ordered with Triton's launches

    def _ensure_ctx(self):
        # Triton's launcher or another library may have pushed its own context on this thread
        cur = _check(self.drv.cuCtxGetCurrent())
        if cur is None or int(cur) != int(self.ctx):
            _check(self.drv.cuCtxSetCurrent(self.ctx))

    def alloc(self, nbytes):
        self._ensure_ctx()
        err, ptr = self.drv.cuMemAllocAsync(nbytes, self.stream)
        if err == self.drv.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
            # dead DeviceArrays may still hold blocks: collect them, let pending frees land, retry once
            gc.collect()
            self.synchronize()
            err, ptr = self.drv.cuMemAllocAsync(nbytes, self.stream)
            if err == self.drv.CUresult.CUDA_ERROR_OUT_OF_MEMORY:
                free, total = self.mem_info()
                raise OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate {nbytes} bytes; the device has {free} bytes free "
                    f"of {total} total; blaze holds {STATS.allocated} bytes in live tensors")
        _check(err)
        return int(ptr)

    def free(self, ptr):
        _check(self.drv.cuMemFreeAsync(self.drv.CUdeviceptr(ptr), self.stream))

    def upload(self, ptr, host: np.ndarray):
        # pageable source: the driver stages it before returning, no wait on the stream
        self._ensure_ctx()
        _check(self.drv.cuMemcpyHtoDAsync(self.drv.CUdeviceptr(ptr), host.ctypes.data, host.nbytes, self.stream))

    def download(self, host: np.ndarray, ptr):
        self._ensure_ctx()
        _check(self.drv.cuMemcpyDtoHAsync(host.ctypes.data, self.drv.CUdeviceptr(ptr), host.nbytes, self.stream))
        _check(self.drv.cuStreamSynchronize(self.stream))

    def synchronize(self):
        self._ensure_ctx()
        _check(self.drv.cuCtxSynchronize())

    def mem_info(self):
        self._ensure_ctx()
        free, total = _check(self.drv.cuMemGetInfo())
        return int(free), int(total)

    def trim(self):
        self.synchronize()
        _check(self.drv.cuMemPoolTrimTo(self.pool, 0))

    def device_name(self):
        name = _check(self.drv.cuDeviceGetName(256, self.dev))
        return name.split(b"\0", 1)[0].decode()

    def attribute(self, attr_name):
        attr = getattr(self.drv.CUdevice_attribute, attr_name)
        return int(_check(self.drv.cuDeviceGetAttribute(attr, self.dev)))

    def total_memory(self):
        return int(_check(self.drv.cuDeviceTotalMem(self.dev)))


# ----------------------------------------------------------------------------- emulation
class _Emulated:
    """Host byte buffers standing in for device memory (Triton interpreter mode)."""

    emulated = True
    count = 1
    # what "the device" may hold: a limit tests can lower to exercise the out-of-memory path
    capacity = 1 << 40

    # Freed blocks up to this size are kept per size and handed out again: np.empty plus reading
    # its address (ndarray.ctypes) costs ~1.8 us, a reused block ~0.2 us, on a 16-element add
    # whose whole host path is ~10 us. At most _KEEP blocks per size: <= 16 MiB held in all.
    _REUSE_MAX = 1 << 16
    _KEEP = 64

    def __init__(self):
        self.buffers: dict[int, np.ndarray] = {}
        self.cache: dict[int, list] = {}

    def alloc(self, nbytes):
        free = self.cache.get(nbytes)
        if free and STATS.allocated + nbytes <= self.capacity:
            ptr, buf = free.pop()
            self.buffers[ptr] = buf
            return ptr
        if STATS.allocated + nbytes > self.capacity:
            self.cache.clear()
            gc.collect()
            if STATS.allocated + nbytes > self.capacity:
                raise OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate {nbytes} bytes; the device has "
                    f"{self.capacity - STATS.allocated} bytes free of {self.capacity} total; blaze holds "
                    f"{STATS.allocated} bytes in live tensors (emulated device)")
        buf = np.empty(nbytes, np.uint8)
        ptr = buf.ctypes.data
        self.buffers[ptr] = buf
        return ptr

    def free(self, ptr):
        buf = self.buffers.pop(ptr, None)
        if buf is not None:
            n = buf.nbytes
            if n <= self._REUSE_MAX:
                free = self.cache.get(n)
                if free is None:
                    free = self.cache[n] = []
                if len(free) < self._KEEP:
                    free.append((ptr, buf))

    def host_bytes(self, ptr):
        return self.buffers[ptr]

    def upload(self, ptr, host):
        dst = self.buffers[ptr]
        dst[:host.nbytes] = host.reshape(-1).view(np.uint8)

    def download(self, host, ptr):
        host.reshape(-1).view(np.uint8)[:] = self.buffers[ptr][:host.nbytes]

    def synchronize(self):
        pass

    def mem_info(self):
        return self.capacity - STATS.allocated, self.capacity

    def trim(self):
        self.cache.clear()
        gc.collect()

    def device_name(self):
        return "Triton interpreter (emulated cuda)"

    def attribute(self, attr_name):
        return {"CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT": 1, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR": 0,
                "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR": 0}.get(attr_name, 0)

    def total_memory(self):
        return self.capacity


_DEVICE = [None]
_LOCK = threading.Lock()


def real_driver_available() -> bool:
    """True when cuda.bindings is installed and cuInit finds a device (no exception escapes)."""
    try:
        from cuda.bindings import driver
        err, = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return False
        err, n = driver.cuDeviceGetCount()
        return err == driver.CUresult.CUDA_SUCCESS and n > 0
    except Exception:  # noqa: BLE001 - ImportError, DynamicLibNotFoundError, driver load failures
        return False


def device():
    """The process-wide allocator (real driver, else emulation under TRITON_INTERPRET=1)."""
    d = _DEVICE[0]
    if d is not None:
        return d
    with _LOCK:
        if _DEVICE[0] is None:
            if _env.interpret():
                _DEVICE[0] = _Emulated()
            elif real_driver_available():
                _DEVICE[0] = _Driver()
            else:
                raise RuntimeError("the cuda device needs an NVIDIA GPU with its driver and the cuda-bindings "
                                   "package (pip install cuda-bindings), or TRITON_INTERPRET=1 to emulate it on "
                                   "the CPU through Triton's interpreter")
    return _DEVICE[0]


# ----------------------------------------------------------------------------- allocations
class Allocation:
    """One block of device memory; freed (returned to the pool) when garbage collected."""

    __slots__ = ("ptr", "nbytes", "dev", "__weakref__")

    def __init__(self, nbytes: int):
        nbytes = -(-int(nbytes) // _ALIGN) * _ALIGN or _ALIGN
        self.dev = dev = _DEVICE[0] or device()
        self.ptr = dev.alloc(nbytes)
        self.nbytes = nbytes
        STATS.add(nbytes)

    def __del__(self):
        try:
            self.dev.free(self.ptr)
            STATS.sub(self.nbytes)
        except Exception:  # noqa: BLE001 - interpreter shutdown: the driver may be gone already
            pass


class _Storage:
    """What Triton's interpreter asks of ``tensor.untyped_storage()``: host memory is already "cpu"."""

    __slots__ = ("alloc",)

    def __init__(self, alloc):
        self.alloc = alloc

    def data_ptr(self) -> int:
        return self.alloc.ptr

    def cpu(self):
        return self

    def copy_(self, other) -> None:  # same bytes: nothing to copy back
        pass


def _contig_strides(shape):
    st, acc = [], 1
    for s in reversed(shape):
        st.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(st))


_EMPTY: dict = {}  # (shape, dtype) as passed -> (shape, strides, np.dtype, nbytes), normalised once


def _empty_layout(shape, dtype):
    key = (shape, dtype)
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= s
    layout = (shape, _contig_strides(shape), dtype, n * dtype.itemsize)
    try:
        if len(_EMPTY) >= 4096:
            _EMPTY.clear()
        _EMPTY[key] = layout
    except TypeError:
        pass
    return layout


class DeviceArray:
    """Device memory seen as an n-d array: allocation + offset + shape + strides (elements) + dtype.

    It is the ``_data`` of a cuda Tensor and a Triton kernel argument (``data_ptr()``,
    ``dtype``, ``shape``, ``strides``, ``new(shape, dtype)``, plus the torch-like methods
    Triton's interpreter calls in emulated mode).
    """

    __slots__ = ("alloc", "offset", "shape", "strides", "dtype")

    def __init__(self, alloc: Allocation, offset: int, shape, strides, dtype):
        self.alloc = alloc
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        self.strides = tuple(int(s) for s in strides)
        self.dtype = np.dtype(dtype)

    @staticmethod
    def empty(shape, dtype) -> "DeviceArray":
        """An uninitialised contiguous array."""
        try:
            shape, strides, dtype, nbytes = _EMPTY[shape, dtype]
        except (KeyError, TypeError):  # TypeError: an unhashable shape (a list)
            shape, strides, dtype, nbytes = _empty_layout(shape, dtype)
        a = object.__new__(DeviceArray)  # the layout is already normalised: skip __init__'s conversions
        a.alloc, a.offset, a.shape, a.strides, a.dtype = Allocation(nbytes), 0, shape, strides, dtype
        return a

    # -- what the core reads ----------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> "_Numel":
        n = 1
        for s in self.shape:
            n *= s
        return _Numel(n, self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def is_contiguous(self) -> bool:
        if 0 in self.shape:  # an empty array is contiguous whatever its strides say
            return True
        exp = 1
        for s, st in zip(reversed(self.shape), reversed(self.strides)):
            if s != 1 and st != exp:
                return False
            exp *= s
        return True

    # -- the kernel buffer protocol ---------------------------------------------------------
    def data_ptr(self) -> int:
        return self.alloc.ptr + self.offset * self.dtype.itemsize

    def new(self, shape, dtype=None) -> "DeviceArray":
        """An uninitialised contiguous array on the same device."""
        return DeviceArray.empty(shape, self.dtype if dtype is None else dtype)

    def view_as(self, shape, strides, offset=None) -> "DeviceArray":
        """Another view of the same allocation (offset in elements, absolute)."""
        return DeviceArray(self.alloc, self.offset if offset is None else offset, shape, strides, self.dtype)

    def flat_storage(self) -> "DeviceArray":
        """The whole allocation as a 1-D array of this dtype (what index kernels address by offset)."""
        n = self.alloc.nbytes // self.dtype.itemsize
        return DeviceArray(self.alloc, 0, (n,), (1,), self.dtype)

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, strides={self.strides}, dtype={self.dtype}, offset={self.offset})"

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> "DeviceArray":
        """Basic indexing (ints, slices, None, Ellipsis) as a view; advanced keys go through the backend."""
        ks = key if isinstance(key, tuple) else (key,)
        if any(not (k is None or k is Ellipsis or isinstance(k, (int, slice, np.integer))) or isinstance(k, bool)
               for k in ks):
            raise TypeError("DeviceArray[...] takes basic keys only; use the backend's getitem for advanced ones")
        return basic_view(self, normalize_key(key, self.ndim))[0]

    # -- what Triton's interpreter asks of a torch tensor (emulated mode) ------------------
    def untyped_storage(self) -> _Storage:
        return _Storage(self.alloc)

    def storage_offset(self) -> int:
        return self.offset

    def stride(self):
        return self.strides

    def new_empty(self, *args, **kwargs) -> "DeviceArray":
        return DeviceArray(self.alloc, self.offset, self.shape, self.strides, self.dtype)

    def set_(self, storage, offset, size, stride) -> "DeviceArray":
        return self

    def copy_(self, other) -> None:
        pass

    # -- host transfers -----------------------------------------------------------------------
    @staticmethod
    def from_host(a: np.ndarray) -> "DeviceArray":
        if _flags.profiler is not None:
            return _flags.profiler.timed("Memcpy HtoD", "memcpy", DeviceArray._from_host, a, bytes=a.nbytes)
        return DeviceArray._from_host(a)

    @staticmethod
    def _from_host(a: np.ndarray) -> "DeviceArray":
        # np.ascontiguousarray promotes a 0-d array to shape (1,); np.require keeps ndim 0
        a = np.require(a, requirements="C")
        d = DeviceArray.empty(a.shape, a.dtype)
        if a.nbytes:
            d.alloc.dev.upload(d.alloc.ptr, a)
        return d

    def to_host_contiguous(self) -> np.ndarray:
        """Download a contiguous array (the caller makes strided ones contiguous on the device first)."""
        if _flags.profiler is not None:
            return _flags.profiler.timed("Memcpy DtoH", "memcpy", self._to_host, bytes=self.nbytes)
        return self._to_host()

    def _to_host(self) -> np.ndarray:
        assert self.is_contiguous()
        out = np.empty(self.shape, self.dtype)
        if out.nbytes:
            dev = self.alloc.dev
            if dev.emulated:
                src = dev.host_bytes(self.alloc.ptr)
                start = self.offset * self.dtype.itemsize
                out.reshape(-1).view(np.uint8)[:] = src[start:start + out.nbytes]
            else:
                dev.download(out, self.data_ptr())
        check_device_errors()
        return out


# ----------------------------------------------------------------------------- keys
# Normalization and basic (view) indexing live with the array type: DeviceArray[...] and the
# advanced indexing in devices/cuda/index.py share them (index.py sits above this module).


def _is_array(k) -> bool:
    """An index array: on the device, or still on the host (checked there before any launch)."""
    return isinstance(k, (DeviceArray, np.ndarray))


def normalize_key(key, ndim):
    """Key as a tuple with Ellipsis expanded and trailing slices added."""
    if not isinstance(key, tuple):
        key = (key,)
    consumed = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        consumed += k.ndim if _is_array(k) and k.dtype == np.bool_ else 1
    if consumed > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    out, seen = [], False
    for k in key:
        if k is Ellipsis:
            if seen:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen = True
            out.extend([slice(None)] * (ndim - consumed))
        else:
            out.append(k)
    if not seen:
        out.extend([slice(None)] * (ndim - consumed))
    return tuple(out)


def basic_view(x: DeviceArray, key):
    """Apply the basic part of a normalized key.

    Returns (view, adv): ``view`` keeps a full dim for every advanced index; ``adv`` lists
    (key position, view dim or None for an int, index array or int, dim size).
    """
    has_arrays = any(_is_array(k) for k in key)
    shape, strides, off, adv = [], [], x.offset, []
    d = 0
    for pos, k in enumerate(key):
        if k is None:
            shape.append(1)
            strides.append(0)
            continue
        n, st = x.shape[d], x.strides[d]
        if _is_array(k):
            adv.append((pos, len(shape), k, n))
            shape.append(n)
            strides.append(st)
        elif isinstance(k, slice):
            start, stop, step = k.indices(n)  # NumPy semantics: negative steps are strided views too
            length = len(range(start, stop, step))
            off += start * st if length else 0
            shape.append(length)
            strides.append(st * step)
        else:
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {n}")
            off += (i % n) * st
            if has_arrays:
                adv.append((pos, None, i, n))
        d += 1
    return x.view_as(shape, strides, off), adv


# ----------------------------------------------------------------------------- device-side errors
# Kernels that take indices can't raise: they skip the bad element (no load or store
# outside the tensor) and atomic_max the op's code into one int32 word in device memory.
# The host reads that word at the next synchronisation (a download, blaze.cuda.synchronize)
# and raises there, as CUDA reports a device-side assert at the next API call. The word is
# only read when a checking kernel ran since the last read, so a sync after other kernels
# pays nothing; a read costs one 4-byte download.
_ERR = {"word": None, "armed": False, "as": None}
_ERR_OPS: list = [None]  # code -> op name; code 0 means "no error"


@contextlib.contextmanager
def reporting_as(op: str):
    """Name device-side errors of the kernels launched inside after ``op`` (a public op built on a
    generic one: index_select on advanced indexing, nll_loss on gather)."""
    outer, _ERR["as"] = _ERR["as"], _ERR["as"] or op
    try:
        yield
    finally:
        _ERR["as"] = outer


def error_word(op: str) -> tuple:
    """(the int32 error word, ``op``'s code) for a kernel about to check ``op``'s indices."""
    op = _ERR["as"] or op
    if _ERR["word"] is None:
        w = DeviceArray.empty((1,), np.int32)
        w.alloc.dev.upload(w.alloc.ptr, np.zeros(1, np.int32))
        _ERR["word"] = w
    if op not in _ERR_OPS:
        _ERR_OPS.append(op)
    _ERR["armed"] = True
    return _ERR["word"], _ERR_OPS.index(op)


def check_device_errors() -> None:
    """Raise (and clear) the device-side error a checking kernel left since the last check."""
    if not _ERR["armed"]:
        return
    w = _ERR["word"]
    _ERR["armed"] = False
    code = np.zeros(1, np.int32)
    w.alloc.dev.download(code, w.alloc.ptr)
    if code[0]:
        w.alloc.dev.upload(w.alloc.ptr, np.zeros(1, np.int32))
        raise RuntimeError(f"CUDA error: device-side assert triggered: {_ERR_OPS[code[0]]}: index out of "
                           "bounds (kernels report it at the next synchronisation; no element outside the "
                           "tensor was read or written)")


class _Numel(int):
    """The element count (``arr.size``, what the core reads) that is also callable as ``size()``.

    Triton's interpreter calls ``arg.size()`` torch-style on kernel arguments while the core
    reads NumPy's ``arr.size`` int; one attribute has to serve both.
    """

    def __new__(cls, n, shape):
        self = int.__new__(cls, n)
        self.shape = shape
        return self

    def __call__(self):
        return self.shape
