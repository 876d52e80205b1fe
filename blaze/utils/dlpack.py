"""Zero-copy exchange through DLPack (``__dlpack__`` / ``from_dlpack``), without a C extension.

The DLPack structs are built with ``ctypes`` and wrapped in PyCapsules through
``ctypes.pythonapi``. Producer side: the capsule's ``manager_ctx`` is a key into ``_LIVE``,
which holds the exporting tensor (and the shape/strides arrays the struct points at) until
the consumer calls the deleter, so deleting the producer in Python frees nothing early (an
export dropped unconsumed is released at the next export: see ``_sweep``).
Consumer side: a capsule is renamed ``used_*`` and its deleter runs when the last blaze
tensor (or NumPy view) over the memory is garbage collected.

Versioned capsules (``dltensor_versioned``, DLPack 1.x, with the read-only flag) are made
when the consumer passes ``max_version=(1, x)``; older consumers get the legacy
``dltensor`` capsule. Strides go out as they are (views are not copied); a stride that is
not a whole number of elements raises ``BufferError``.

Devices: cpu tensors are ``kDLCPU``. cuda tensors are ``kDLCUDA`` device 0 — also on the
emulated device (``TRITON_INTERPRET=1``), whose memory is host RAM but whose tensors stand
for device tensors: code that works there must behave as on a GPU, so NumPy refuses them
("Unsupported device in DLTensor") unless asked for a copy (``dl_device=(kDLCPU, 0)``).
The emulated device imports only memory it allocated itself (a foreign ``kDLCUDA`` pointer
there may be real device memory, which the host must never dereference).
"""
from __future__ import annotations

import ctypes
import sys
import numpy as np

from .. import dtypes as _dt
from ..devices.cuda.memory import _contig_strides

kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged = 1, 2, 3, 13
_HOST_DEVICES = (kDLCPU, kDLCUDAHost, kDLCUDAManaged)
_READ_ONLY, _IS_COPIED = 1, 2
VERSION = (1, 0)  # what this module writes; it reads every 1.x (the struct layout is the same)


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]
DLManagedTensorVersioned._fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                                     ("deleter", _Deleter), ("flags", ctypes.c_uint64), ("dl_tensor", DLTensor)]

# (DLPack type code, bits) of every blaze dtype
_CODES = {"int8": (0, 8), "int16": (0, 16), "int32": (0, 32), "int64": (0, 64), "uint8": (1, 8),
          "float16": (2, 16), "float32": (2, 32), "float64": (2, 64), "bfloat16": (4, 16), "bool": (6, 8)}
_FROM_CODE = {v: _dt._by_name(k) for k, v in _CODES.items()}

_NAMES = {False: (b"dltensor", b"used_dltensor"), True: (b"dltensor_versioned", b"used_dltensor_versioned")}

# a private handle on libpython: setting argtypes on ctypes.pythonapi's shared functions would change
# them for every other user in the process
_api = ctypes.PyDLL(ctypes.pythonapi._name, handle=ctypes.pythonapi._handle)
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]

# ----------------------------------------------------------------------------- producer
# address of the managed struct -> [struct, tensor, shape, strides, capsule]; the deleter drops it
_LIVE: dict[int, list] = {}


def _release(ptr):
    # the consumer's call (any thread: ctypes takes the GIL). No lock: dict.pop is atomic under the
    # GIL, and dropping the tensor may run other deleters re-entrantly
    item = _LIVE.pop(ptr, None)
    del item


_delete = _Deleter(_release)


def _refs(holder):
    obj = holder[-1]
    return sys.getrefcount(obj)


# what _refs reads when only the holding list refers to the object: measured, not assumed, since the
# count getrefcount reports for locals differs between Python versions
_ONLY_HELD = _refs([object()])


def _sweep():
    """Release exports whose capsule was dropped unconsumed (only ``_LIVE`` still refers to it).

    The capsules get no destructor: a consumer that rejects one (NumPy on a kDLCUDA capsule)
    drops it with its exception pending, and a ctypes callback run then replaces that
    exception with a SystemError. So an unconsumed export is released here, at the next one.
    """
    for key, item in list(_LIVE.items()):
        if _refs(item) <= _ONLY_HELD and _api.PyCapsule_IsValid(item[4], _NAMES[isinstance(item[0],
                                                                                       DLManagedTensorVersioned)][0]):
            _LIVE.pop(key, None)


def _element_strides(byte_strides, itemsize):
    out = []
    for s in byte_strides:
        if s % itemsize:
            raise BufferError(f"DLPack cannot export a stride of {s} bytes: not a multiple of the item size "
                              f"{itemsize}")
        out.append(s // itemsize)
    return out


def _layout(t):
    """(data pointer, element strides, device type, read-only) of a tensor's memory as it is."""
    data = t._data
    if t._device.type == "cpu":
        return data.ctypes.data, _element_strides(data.strides, data.itemsize), kDLCPU, not data.flags.writeable
    return data.data_ptr(), list(data.strides), kDLCUDA, False


def _sync_stream(t, stream):
    """The array API's stream handshake: make ``t``'s pending work visible on the consumer's stream."""
    if t._device.type == "cpu":
        if stream is not None:
            raise ValueError(f"stream must be None for a cpu tensor, got {stream!r}")
        return
    if stream is not None and not isinstance(stream, int):
        raise TypeError(f"stream must be an int or None, got {type(stream).__name__}")
    if stream == 0:
        raise ValueError("stream 0 is ambiguous in DLPack; pass 1 for the legacy default stream")
    # blaze orders all work on the legacy default stream (1); None and 1 mean that stream, -1 means
    # "do not synchronize": only another stream needs an event
    if stream in (None, 1, -1):
        return
    from ..devices.cuda.memory import device
    dev = device()
    if dev.emulated:  # the interpreter runs every kernel to completion before returning
        return
    drv = dev.drv
    from ..devices.cuda.memory import _check
    ev = _check(drv.cuEventCreate(drv.CUevent_flags.CU_EVENT_DISABLE_TIMING))
    try:
        _check(drv.cuEventRecord(ev, dev.stream))
        _check(drv.cuStreamWaitEvent(drv.CUstream(stream), ev, 0))
    finally:
        _check(drv.cuEventDestroy(ev))


def _target(t, dl_device, copy):
    """The tensor to export: ``t`` itself, or a copy when asked (copy=True, another device)."""
    own = dlpack_device(t)
    if dl_device is not None and tuple(dl_device) != own:
        if tuple(dl_device) != (kDLCPU, 0):
            raise BufferError(f"a {t._device} tensor can be exported to its own device {own} or copied to the "
                              f"cpu (1, 0), not to {tuple(dl_device)}")
        if copy is False:
            raise BufferError(f"exporting a {t._device} tensor to the cpu needs a copy, but copy=False")
        return t.detach().cpu().clone(), True
    if copy:
        return t.detach().clone(), True
    return t, False


def to_dlpack(tensor, *, stream=None, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule viewing ``tensor``'s memory (``Tensor.__dlpack__`` with the array API's arguments).

    Args:
        stream: the consumer's CUDA stream (cuda tensors; ``None`` or 1 = legacy default stream).
        max_version: highest DLPack version the consumer reads; ``(1, x)`` gets a versioned capsule.
        dl_device: ``(device_type, id)`` to export to; ``(1, 0)`` on a cuda tensor copies to the host.
        copy: ``True`` always copies, ``False`` never does (``BufferError`` if it would have to).
    Returns:
        a PyCapsule named ``dltensor_versioned`` or ``dltensor``.
    """
    if tensor.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    _sync_stream(tensor, stream)
    versioned = max_version is not None and tuple(max_version)[0] >= 1
    t, copied = _target(tensor, dl_device, copy)
    ptr, strides, dev_type, readonly = _layout(t)
    if readonly and not versioned:
        raise BufferError("Cannot export a read-only tensor through a legacy DLPack capsule (pass max_version="
                          "(1, 0) to get the read-only flag), or clone it first")
    shape = (ctypes.c_int64 * max(t.ndim, 1))(*t.shape)
    st = (ctypes.c_int64 * max(t.ndim, 1))(*strides)
    m = DLManagedTensorVersioned() if versioned else DLManagedTensor()
    dl = m.dl_tensor
    dl.data, dl.ndim, dl.byte_offset = ptr, t.ndim, 0
    dl.device = DLDevice(dev_type, 0 if dev_type == kDLCPU else (t._device.index or 0))
    code, bits = _CODES[t.dtype.name]
    dl.dtype = DLDataType(code, bits, 1)
    dl.shape, dl.strides = shape, st
    if versioned:
        m.version = DLPackVersion(*VERSION)
        m.flags = (_READ_ONLY if readonly else 0) | (_IS_COPIED if copied else 0)
    m.deleter = _delete
    key = ctypes.addressof(m)
    m.manager_ctx = key
    _sweep()
    capsule = _api.PyCapsule_New(key, _NAMES[versioned][0], None)
    _LIVE[key] = [m, t, shape, st, capsule]
    return capsule


def dlpack_device(tensor):
    """``(device_type, device_id)`` as ``__dlpack_device__``: (1, 0) on cpu, (2, index) on cuda."""
    if tensor._device.type == "cpu":
        return (kDLCPU, 0)
    return (kDLCUDA, tensor._device.index or 0)


# ----------------------------------------------------------------------------- consumer
class _Owner:
    """Holds a consumed capsule's memory: calls the producer's deleter when collected."""

    __slots__ = ("managed", "deleter", "__array_interface__", "__weakref__")

    def __init__(self, managed, deleter):
        self.managed, self.deleter = managed, deleter

    def __del__(self):
        if self.deleter:
            self.deleter(self.managed)


class _ImportedAllocation:
    """Stands in for ``cuda_memory.Allocation`` over memory blaze did not allocate: never frees it."""

    __slots__ = ("ptr", "nbytes", "dev", "owner", "__weakref__")

    def __init__(self, ptr, nbytes, dev, owner):
        self.ptr, self.nbytes, self.dev, self.owner = ptr, nbytes, dev, owner


def _extent(shape, strides, itemsize):
    """(lowest, one-past-highest) byte offsets a strided view touches, from its first element."""
    if any(s == 0 for s in shape):
        return 0, 0
    lo = sum((n - 1) * st for n, st in zip(shape, strides) if st < 0) * itemsize
    hi = (sum((n - 1) * st for n, st in zip(shape, strides) if st > 0) + 1) * itemsize
    return lo, hi


def _host_array(ptr, shape, strides, dtype, readonly, owner):
    if np.prod(shape, dtype=np.int64) == 0:
        return np.empty(shape, dtype.np)
    np_dt = dtype.np
    owner.__array_interface__ = {"version": 3, "shape": tuple(shape), "data": (ptr, bool(readonly)),
                                 "strides": tuple(s * np_dt.itemsize for s in strides),
                                 "typestr": "<u2" if dtype is _dt.bfloat16 else np_dt.str}
    # a.base is owner: the memory stays valid while the array lives. bfloat16 comes in as uint16
    # and is viewed: the interface has no typestr for it, and a void ("|V2") view crashed NumPy 2.1.
    a = np.asarray(owner)
    return a.view(np_dt) if dtype is _dt.bfloat16 else a


def _cuda_array(ptr, shape, strides, dtype, owner):
    from ..devices.cuda.memory import DeviceArray, device
    dev = device()
    itemsize = dtype.itemsize
    if not dev.emulated:
        lo, hi = _extent(shape, strides, itemsize)
        return DeviceArray(_ImportedAllocation(ptr + lo, hi - lo, dev, owner), -lo // itemsize, shape, strides,
                           dtype.np)
    for base, buf in dev.buffers.items():
        if base <= ptr < base + buf.nbytes or (ptr == base + buf.nbytes and 0 in shape):
            break
    else:
        raise BufferError("the emulated cuda device (TRITON_INTERPRET=1) imports only memory it allocated itself; "
                          "this kDLCUDA pointer may be real device memory")
    if (ptr - base) % itemsize:
        raise BufferError(f"a cuda pointer {ptr - base} bytes into an allocation is not aligned to {itemsize} bytes")
    return DeviceArray(_ImportedAllocation(base, buf.nbytes, dev, owner), (ptr - base) // itemsize, shape, strides,
                       dtype.np)


def _consume(capsule):
    """The Tensor over a DLPack capsule's memory; the capsule is marked used."""
    from ..device import CPU, device as _device
    from .._tensor import Tensor
    versioned = bool(_api.PyCapsule_IsValid(capsule, _NAMES[True][0]))
    if not versioned and not _api.PyCapsule_IsValid(capsule, _NAMES[False][0]):
        raise BufferError("from_dlpack expects a PyCapsule named 'dltensor' or 'dltensor_versioned' that was not "
                          "consumed yet")
    ptr = _api.PyCapsule_GetPointer(capsule, _NAMES[versioned][0])
    m = (DLManagedTensorVersioned if versioned else DLManagedTensor).from_address(ptr)
    if versioned and m.version.major != 1:
        raise BufferError(f"DLPack version {m.version.major}.{m.version.minor} is not supported (blaze reads 1.x)")
    dl = m.dl_tensor
    key = (dl.dtype.code, dl.dtype.bits)
    dtype = _FROM_CODE.get(key)
    if dtype is None or dl.dtype.lanes != 1:
        raise BufferError(f"DLPack dtype (code {dl.dtype.code}, bits {dl.dtype.bits}, lanes {dl.dtype.lanes}) has "
                          "no blaze dtype")
    dev_type = dl.device.device_type
    if dev_type not in _HOST_DEVICES and dev_type != kDLCUDA:
        raise BufferError(f"Unsupported device in DLTensor: device type {dev_type}")
    shape = [dl.shape[i] for i in range(dl.ndim)]
    strides = [dl.strides[i] for i in range(dl.ndim)] if dl.strides else list(_contig_strides(shape))
    data = (dl.data or 0) + dl.byte_offset
    readonly = versioned and bool(m.flags & _READ_ONLY)
    _api.PyCapsule_SetName(capsule, _NAMES[versioned][1])  # from here on the deleter is ours to call
    owner = _Owner(ptr, m.deleter if m.deleter else None)
    if dev_type in _HOST_DEVICES:
        return Tensor._make(_host_array(data, shape, strides, dtype, readonly, owner), CPU, dtype)
    return Tensor._make(_cuda_array(data, shape, strides, dtype, owner), _device("cuda", dl.device.device_id), dtype)


def from_dlpack(ext_tensor):
    """A blaze Tensor sharing memory with ``ext_tensor`` (anything with ``__dlpack__``, or a capsule).

    As ``torch.from_dlpack``: writes on either side are seen by the other, and the producer's
    memory stays alive while the returned tensor (or a view of it) does.

    Example::

        >>> t = blaze.from_dlpack(np.arange(4.0))   # shares the NumPy array's memory
    """
    if type(ext_tensor).__name__ == "PyCapsule":
        return _consume(ext_tensor)
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack expects an object with __dlpack__ or a DLPack capsule, got "
                        f"{type(ext_tensor).__name__}")
    dev_type = ext_tensor.__dlpack_device__()[0] if hasattr(ext_tensor, "__dlpack_device__") else kDLCPU
    # blaze's cuda work is on the legacy default stream: ask the producer to order its work before it
    kwargs = {"stream": 1} if dev_type == kDLCUDA else {}
    try:
        capsule = ext_tensor.__dlpack__(max_version=VERSION, **kwargs)
    except TypeError:  # a producer older than DLPack 1.0 knows no max_version
        capsule = ext_tensor.__dlpack__(**kwargs)
    return _consume(capsule)


# ----------------------------------------------------------------------------- CUDA array interface
_CAI_TYPES = {d.np.str: d for d in _dt.ALL if d is not _dt.bfloat16}


def cuda_array_interface(tensor):
    """``__cuda_array_interface__`` (version 3) of a cuda tensor: pointer, shape, strides, stream 1."""
    if tensor._device.type != "cuda":
        raise AttributeError(f"Can't get __cuda_array_interface__ on non-CUDA tensor type: {tensor._type_name()}")
    if tensor.requires_grad:
        raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad. If gradients aren't "
                           "required, use var.detach() to get Variable that doesn't require grad.")
    if tensor.dtype is _dt.bfloat16:  # the interface's typestr has no bfloat16; DLPack carries it
        raise TypeError("dtype blaze.bfloat16 is not supported by __cuda_array_interface__; use DLPack")
    d = tensor._data
    typestr = d.dtype.str
    strides = None if d.is_contiguous() else tuple(s * d.itemsize for s in d.strides)
    return {"shape": tuple(d.shape), "typestr": typestr, "descr": [("", typestr)], "data": (d.data_ptr(), False),
            "strides": strides, "version": 3, "stream": 1}


def from_cuda_array_interface(obj):
    """A cuda Tensor sharing memory with ``obj`` (anything with ``__cuda_array_interface__``, v2 or v3)."""
    from ..device import device as _device
    from .._tensor import Tensor
    cai = obj.__cuda_array_interface__
    if cai.get("mask") is not None:
        raise TypeError("__cuda_array_interface__ with a mask is not supported")
    dtype = _CAI_TYPES.get(np.dtype(cai["typestr"]).str)
    if dtype is None:
        raise TypeError(f"__cuda_array_interface__ typestr {cai['typestr']!r} has no blaze dtype")
    shape = [int(s) for s in cai["shape"]]
    itemsize = dtype.itemsize
    if cai.get("strides") is None:
        strides = list(_contig_strides(shape))
    else:
        strides = _element_strides(cai["strides"], itemsize)
    stream = cai.get("stream")
    if stream not in (None, 1, 2) and isinstance(stream, int):
        _wait_foreign_stream(stream)
    ptr = int(cai["data"][0] or 0)
    return Tensor._make(_cuda_array(ptr, shape, strides, dtype, obj), _device("cuda"), dtype)


def _wait_foreign_stream(stream):
    """The interface's v3 rule: the consumer waits for the producer's stream before using the data."""
    if stream == 0:
        raise ValueError("__cuda_array_interface__ stream 0 is disallowed (ambiguous)")
    from ..devices.cuda.memory import _check, device
    dev = device()
    if dev.emulated:
        return
    drv = dev.drv
    ev = _check(drv.cuEventCreate(drv.CUevent_flags.CU_EVENT_DISABLE_TIMING))
    try:
        _check(drv.cuEventRecord(ev, drv.CUstream(stream)))
        _check(drv.cuStreamWaitEvent(dev.stream, ev, 0))
    finally:
        _check(drv.cuEventDestroy(ev))


__all__ = ["to_dlpack", "from_dlpack", "dlpack_device", "cuda_array_interface", "from_cuda_array_interface"]
