"""Tensor methods about memory and layout (data_ptr, storage_offset, nbytes, dim_order, resize_, ...),
the remaining random fills (cauchy_, log_normal_, geometric_) and the CPU-only ``apply_``/``map_``."""
from __future__ import annotations

import numpy as np

from .conversion import _random_fill
from ._util import Tensor, make, unbroadcast


def _base_array(a):
    while isinstance(a, np.ndarray) and a.base is not None and isinstance(a.base, np.ndarray):
        a = a.base
    return a


def data_ptr(self) -> int:
    """Address of the first element (host memory on cpu, the device allocation on cuda)."""
    a = self._data
    return int(a.data_ptr()) if hasattr(a, "data_ptr") else int(a.__array_interface__["data"][0])


def storage_offset(self) -> int:
    """Elements between the start of the memory this tensor views and its first element."""
    a = self._data
    if hasattr(a, "storage_offset"):
        return int(a.storage_offset())
    base = _base_array(a)
    return (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // max(a.itemsize, 1)


def get_device(self) -> int:
    """-1 on the cpu, else the device index (as PyTorch)."""
    return -1 if self._device.type == "cpu" else (self._device.index or 0)


def dim_order(self, *, ambiguity_check=False):
    """Dims from outermost to innermost in memory (stride descending, ties by dim)."""
    st = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: (-st[d], d)))


def sum_to_size(self, *size):
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    try:
        ok = np.broadcast_shapes(shape, tuple(self.shape)) == tuple(self.shape)
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"size {{{', '.join(map(str, shape))}}} is not expandable to size "
                           f"{{{', '.join(map(str, self.shape))}}}.")
    return unbroadcast(self, shape)


def resize_(self, *sizes, memory_format=None):
    """Reshape in place to ``sizes``, keeping the leading elements (new ones are zero; PyTorch leaves
    them uninitialized)."""
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else tuple(sizes)
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    n = int(np.prod(shape))
    flat = self.detach().reshape(-1)
    if n <= flat.numel():
        new = flat[:n].clone()
    else:
        from .creation import zeros
        from .movement import cat
        new = cat([flat, zeros(n - flat.numel(), dtype=self.dtype, device=self.device)])
    self._data = new.reshape(shape)._data
    self._version[0] += 1
    return self


def resize_as_(self, other, memory_format=None):
    return resize_(self, tuple(other.shape))


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    if sigma <= 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _random_fill(self, lambda be, s, d, g: be.from_numpy(
        (median + sigma * np.tan(np.pi * (g.rng.random(size=s) - 0.5))).astype(d.np)), generator)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"log_normal_ expects a floating point tensor, but got {self.dtype}")
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _random_fill(self, lambda be, s, d, g: be.from_numpy(
        np.exp(g.rng.normal(mean, std, size=s)).astype(d.np)), generator)


def geometric_(self, p, *, generator=None):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _random_fill(self, lambda be, s, d, g: be.from_numpy(g.rng.geometric(p, size=s).astype(d.np)), generator)


def _cpu_only(self, name):
    if self._device.type != "cpu":
        raise TypeError(f"{name} is only implemented on CPU tensors")


def apply_(self, callable):
    """Call ``callable`` on every element, in place (CPU only, slow, as PyTorch)."""
    _cpu_only(self, "apply_")
    out = np.vectorize(callable, otypes=[self._data.dtype])(self._data) if self.numel() else self._data
    return self._inplace(make(np.asarray(out, dtype=self._data.dtype), self._device, self._dtype))


def map_(self, tensor, callable):
    """``self[i] = callable(self[i], tensor[i])`` with ``tensor`` broadcast (CPU only, as PyTorch)."""
    _cpu_only(self, "map_")
    other = np.broadcast_to(tensor._data, self._data.shape)
    out = np.vectorize(callable, otypes=[self._data.dtype])(self._data, other) if self.numel() else self._data
    return self._inplace(make(np.asarray(out, dtype=self._data.dtype), self._device, self._dtype))


def is_signed(self) -> bool:
    return self._dtype.name not in ("uint8", "bool")


def as_subclass(self, cls):
    """``self`` as an instance of ``cls`` (a Tensor subclass), sharing its data and staying in the graph."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass: cls must be a subclass of Tensor, but got {cls!r}")
    out = self.view(self.shape)
    out.__class__ = cls
    return out


def bind():
    for fn in (data_ptr, storage_offset, get_device, dim_order, sum_to_size, resize_, resize_as_, cauchy_,
               log_normal_, geometric_, apply_, map_, is_signed, as_subclass):
        setattr(Tensor, fn.__name__, fn)
    Tensor.const_data_ptr = data_ptr
    Tensor.itemsize = property(lambda self: self._dtype.itemsize)
    Tensor.nbytes = property(lambda self: self._dtype.itemsize * self.numel())
    # blaze has no page-locked host memory: a cpu tensor is never pinned, and pin_memory() is the tensor
    Tensor.is_pinned = lambda self, device=None: False
    Tensor.pin_memory = lambda self, device=None: self

