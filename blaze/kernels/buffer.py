"""Raw buffers that Triton launchers accept, and the host buffer used by the interpreter.

Triton's interpreter (``TRITON_INTERPRET=1``) expects torch-like tensor arguments: it asks
for ``untyped_storage()``, copies it "to the host" with ``.cpu()``, rebuilds a view with
``new_empty(0).set_(storage, offset, size, stride)`` and copies results back with
``copy_``. Our memory already lives on the host, so every one of those steps is the
identity on the same bytes: the kernel reads and writes the NumPy array in place.
"""
from __future__ import annotations

import numpy as np


class _HostStorage:
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def data_ptr(self) -> int:
        return self.array.ctypes.data

    def cpu(self) -> "_HostStorage":
        return self

    def copy_(self, other) -> None:  # same bytes: nothing to copy back
        pass


class HostBuffer:
    """A NumPy array (any strides, views included) presented to Triton as a device buffer.

    Args:
        array: the array; the kernel reads and writes its memory in place.

    ``shape`` and ``strides`` are in elements, as Triton kernels index them.
    """

    __slots__ = ("array", "_root", "_ptr")

    def __init__(self, array: np.ndarray, _root: np.ndarray | None = None, _ptr: int | None = None):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"HostBuffer wraps a numpy.ndarray, got {type(array).__name__}")
        self.array = array
        root = array
        while isinstance(root.base, np.ndarray):
            root = root.base
        self._root = root if _root is None else _root
        self._ptr = _ptr

    # -- the buffer protocol the launchers use ------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def strides(self) -> tuple:
        item = self.array.itemsize
        return tuple(s // item for s in self.array.strides)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def data_ptr(self) -> int:
        return self.array.ctypes.data if self._ptr is None else self._ptr

    def new(self, shape, dtype=None) -> "HostBuffer":
        """An uninitialised contiguous buffer on the same device."""
        return HostBuffer(np.empty(tuple(shape), dtype=self.array.dtype if dtype is None else dtype))

    def numpy(self) -> np.ndarray:
        return self.array

    def __repr__(self) -> str:
        return f"HostBuffer(shape={self.shape}, strides={self.strides}, dtype={self.dtype})"

    # -- what Triton's interpreter asks of a torch tensor ------------------------------
    def untyped_storage(self) -> _HostStorage:
        return _HostStorage(self._root)

    def storage_offset(self) -> int:
        return (self.data_ptr() - self._root.ctypes.data) // self.array.itemsize

    def size(self) -> tuple:
        return self.array.shape

    def stride(self) -> tuple:
        return self.strides

    def new_empty(self, *args, **kwargs) -> "HostBuffer":
        return HostBuffer(self.array, self._root, self._ptr)

    def set_(self, storage: _HostStorage, offset: int, size, stride) -> "HostBuffer":
        return HostBuffer(self.array, self._root, storage.data_ptr() + offset * self.array.itemsize)

    def copy_(self, other) -> None:
        pass


def host(array) -> HostBuffer:
    """Wrap a NumPy array (or anything ``np.asarray`` takes) as a :class:`HostBuffer`."""
    return HostBuffer(np.asarray(array))


def check_buffer(name: str, buf, ndim: int | None = None, dtypes=None) -> None:
    """Raise a clear error if ``buf`` is not a usable kernel buffer.

    Args:
        name: the argument's name, used in the message.
        ndim: required number of dimensions, if any.
        dtypes: allowed NumPy dtype names (e.g. ``("float32", "float16", "bfloat16")``).
    """
    if not hasattr(buf, "data_ptr") or not hasattr(buf, "shape"):
        raise TypeError(f"{name}: expected a device buffer (data_ptr(), shape, strides, dtype), "
                        f"got {type(buf).__name__}")
    if ndim is not None and len(buf.shape) != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {tuple(buf.shape)}")
    if dtypes is not None and str(buf.dtype) not in dtypes:
        raise TypeError(f"{name}: dtype {buf.dtype} is not supported (supported: {', '.join(dtypes)})")
