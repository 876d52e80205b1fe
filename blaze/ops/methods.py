"""Tensor-only methods with no ``torch.*`` function of their own: memory facts (``data_ptr``,
``storage_offset``, ``nbytes``), resizing, Python-callable maps, flat ``put``, ``index_copy``
and the in-place random samplers."""
from __future__ import annotations

import math

import numpy as np

from ._util import Tensor, unbroadcast
from .conversion import _random_fill


# ---------------------------------------------------------------------------- memory facts
def _host_ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def data_ptr(self) -> int:
    """The address of the first element (host or device memory), as ``Tensor.data_ptr``."""
    d = self._data
    return d.data_ptr() if hasattr(d, "data_ptr") else _host_ptr(d)


def storage_offset(self) -> int:
    """Elements between the start of the underlying allocation and this tensor's first one."""
    d = self._data
    if hasattr(d, "offset"):  # a DeviceArray: (allocation, offset, ...)
        return d.offset
    base = d
    while isinstance(base.base, np.ndarray):
        base = base.base
    return (_host_ptr(d) - _host_ptr(base)) // d.itemsize


def get_device(self) -> int:
    """-1 on the CPU, else the device index, as ``Tensor.get_device``."""
    return -1 if self.device.type == "cpu" else (self.device.index or 0)


def dim_order(self, *, ambiguity_check=False):
    """Dims from outermost to innermost by stride (ties keep dim order), as ``Tensor.dim_order``."""
    if not isinstance(ambiguity_check, (bool, list)):
        raise TypeError("ambiguity_check must be a bool or a list of memory formats")
    st = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: -st[d]))


def _h(self):
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
    return self if self.ndim == 0 else self.transpose(0, 1)


def adjoint(self):
    """The conjugate transpose of the last two dims (a transpose for real dtypes), as ``Tensor.mH``."""
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mH is only supported on matrices or batches of matrices. Got {self.ndim}-D "
                           "tensor.")
    return self.transpose(-2, -1)


# ---------------------------------------------------------------------------- resize
def _sizes(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def resize_(self, *size, memory_format=None):
    """Give ``self`` shape ``size`` keeping its first elements in row-major order; new elements are
    uninitialized (zeros here), as ``Tensor.resize_``."""
    size = _sizes(size)
    if any(not isinstance(s, int) or s < 0 for s in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(size)}")
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    self._check_inplace()
    n, have = math.prod(size), self.numel()
    flat = self.detach().reshape(-1)
    if n > have:
        from .creation import zeros
        from .movement import cat
        flat = cat([flat, zeros(n - have, dtype=self.dtype, device=self.device)])
    self._data = flat[:n].contiguous().reshape(size)._data
    self._base = None  # its own memory now, as a resized view's storage would be
    self._version[0] += 1
    return self


def resize_as_(self, other, *, memory_format=None):
    return resize_(self, tuple(other.shape))


def sum_to_size(self, *size):
    """Sum ``self`` down to ``size``, which must broadcast to ``self``'s shape."""
    size = _sizes(size)
    shape = tuple(self.shape)
    ok = len(size) <= len(shape) and all(s == d or s == 1 for s, d in zip(size[::-1], shape[::-1]))
    if not ok:
        raise RuntimeError(f"size {{{', '.join(map(str, size))}}} is not expandable to size "
                           f"{{{', '.join(map(str, shape))}}}.")
    return unbroadcast(self, size)


# ---------------------------------------------------------------------------- Python callables (CPU)
def _cpu_only(self, name):
    if self.device.type != "cpu":
        raise TypeError(f"{name} is only implemented on CPU tensors")


def apply_(self, callable):
    """Replace each element x by ``callable(x)`` (a Python number function), as ``Tensor.apply_``."""
    _cpu_only(self, "apply_")
    out = np.vectorize(callable, otypes=[self._data.dtype])(self._data) if self.numel() else self._data
    return self._inplace(Tensor._make(np.asarray(out, self._data.dtype), self._device, self._dtype))


def map_(self, tensor, callable):
    """Replace each element x by ``callable(x, y)``, y from ``tensor`` broadcast to ``self``."""
    _cpu_only(self, "map_")
    other = np.broadcast_to(tensor.numpy(), self._data.shape)
    out = np.vectorize(callable, otypes=[self._data.dtype])(self._data, other) if self.numel() else self._data
    return self._inplace(Tensor._make(np.asarray(out, self._data.dtype), self._device, self._dtype))


def as_subclass(self, cls):
    """``self``'s data and version counter seen as an instance of ``cls`` (a Tensor subclass)."""
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"as_subclass expects a subclass of Tensor, got {cls!r}")
    t = self._shallow_copy()
    t.__class__ = cls
    return t


# ---------------------------------------------------------------------------- flat put, index_copy
def put(input, index, source, accumulate=False):
    """``input`` with ``source`` written at flat (row-major) ``index``, as ``Tensor.put``."""
    if index.numel() != source.numel():
        raise RuntimeError(f"put_(): Expected source and index to have the same number of elements, but got "
                           f"source.numel() = {source.numel()}, index.numel() = {index.numel()}")
    n = input.numel()
    if index.numel():
        lo, hi = int(index.min()), int(index.max())
        bad = lo if lo < -n else hi if hi >= n else None
        if bad is not None:
            raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")
    flat = input.reshape(-1).index_put((index.reshape(-1),), source.reshape(-1).to(input.dtype), accumulate)
    return flat.reshape(input.shape)


def put_(self, index, source, accumulate=False):
    return self._inplace_apply(put, index, source, accumulate)


def index_copy(input, dim, index, source):
    """``input`` with the slices ``index`` along ``dim`` replaced by ``source``'s, as ``torch.index_copy``."""
    dim = input._wrap_dim(dim)
    if index.ndim > 1:
        raise IndexError("index_copy_(): Index should have dimension 1 or 0 (got 2)")
    idx = index.reshape(-1)
    src = source if source.ndim else source.reshape(1)
    if input.ndim and (src.ndim != input.ndim or idx.numel() != src.shape[dim] or any(
            a != b for k, (a, b) in enumerate(zip(src.shape, input.shape)) if k != dim)):
        raise RuntimeError("index_copy_(): Source/destination tensor must have same slice shapes. Destination "
                           f"slice shape: {tuple(input.shape)} at dimension {dim} and source slice shape: "
                           f"{tuple(src.shape)} at dimension {dim}.")
    r = input.clone()
    r[(slice(None),) * dim + (idx,)] = src.to(input.dtype) if input.ndim else src.reshape(())
    return r


def index_copy_(self, dim, index, source):
    return self._inplace_apply(index_copy, dim, index, source)


# ---------------------------------------------------------------------------- random samplers
def _host_draw(self, sample, generator):
    """Fill ``self`` from a NumPy sampler on the generator's stream (as ``exponential_``)."""
    return _random_fill(self, lambda be, s, d, g: be.from_numpy(np.asarray(sample(g.rng, s)).astype(d.np)),
                        generator)


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    if sigma <= 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _host_draw(self, lambda rng, s: median + sigma * rng.standard_cauchy(s), generator)


def geometric_(self, p, *, generator=None):
    """Trials to the first success, support {1, 2, ...}, as ``Tensor.geometric_``."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _host_draw(self, lambda rng, s: rng.geometric(p, s), generator)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"log_normal_ expects a floating point tensor, but got {self.dtype}")
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _host_draw(self, lambda rng, s: rng.lognormal(mean, std, s), generator)


PROPERTIES = {"H": _h, "mH": adjoint, "itemsize": lambda self: self._dtype.itemsize,
              "nbytes": lambda self: self.numel() * self._dtype.itemsize}
METHODS = {f.__name__: f for f in (data_ptr, storage_offset, get_device, dim_order, adjoint, resize_, resize_as_,
                                   sum_to_size, apply_, map_, as_subclass, put, put_, index_copy, index_copy_,
                                   cauchy_, geometric_, log_normal_)}
METHODS["const_data_ptr"] = data_ptr
