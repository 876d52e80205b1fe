"""dtype casts and device moves (differentiable), plus the in-place fills and copies."""
from __future__ import annotations

from .. import dtypes as _dt
from ..autograd.function import Function
from ..device import device as _device_cls, to_device
from ..random import default_generator
from ._util import Tensor, make


class Cast(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x._dtype
        return make(x._device.backend.cast(x._data, dtype), x._device, dtype)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.src) if ctx.src.is_floating_point else None), None


class ToDevice(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, dev):
        ctx.src = x._device
        host = x._device.backend.to_numpy(x._data)
        return make(dev.backend.from_numpy(host), dev, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.src), None


def _parse_to(args, kwargs):
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif isinstance(a, _dt.dtype) or a in (float, int, bool):
            dtype = a
        elif isinstance(a, (str, _device_cls, int)):
            dev = a
        elif isinstance(a, bool):
            pass
        elif a is not None:
            raise TypeError(f"to() received an invalid argument {a!r}")
    return (to_device(dev) if dev is not None else None), (_dt.to_dtype(dtype) if dtype is not None else None), copy


def to(self, *args, **kwargs):
    """Move and/or cast: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``."""
    dev, dtype, copy = _parse_to(args, dict(kwargs))
    out = self
    if dev is not None and dev != self._device:
        out = ToDevice.apply(out, dev)
    if dtype is not None and dtype is not out._dtype:
        out = Cast.apply(out, dtype)
    if copy and out is self:
        out = self.clone()
    return out


def cpu(self):
    return to(self, "cpu")


def cuda(self, device=None, non_blocking=False):
    return to(self, "cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))


def _cast_method(dtype):
    def m(self, memory_format=None):
        return to(self, dtype)
    return m


float_ = _cast_method(_dt.float32)
double = _cast_method(_dt.float64)
half = _cast_method(_dt.float16)
bfloat16 = _cast_method(_dt.bfloat16)
long = _cast_method(_dt.int64)
int_ = _cast_method(_dt.int32)
short = _cast_method(_dt.int16)
char = _cast_method(_dt.int8)
byte = _cast_method(_dt.uint8)
bool_ = _cast_method(_dt.bool_)


def type_as(self, other):
    return to(self, other.dtype)


# ---------------------------------------------------------------------------- in-place writes
def copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast, cast, moved) into ``self`` in place; differentiable w.r.t. ``src``."""
    self._check_inplace()
    if not isinstance(src, Tensor):
        return fill_(self, src)
    if src._device is not self._device:
        src = to(src, self._device)
    value = src if src._dtype is self._dtype else Cast.apply(src, self._dtype)
    if tuple(value.shape) != tuple(self.shape):
        value = value.expand(self.shape)
    return self._inplace(value)


def fill_(self, value):
    self._check_inplace()
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                               "dimensions.")
        if value.requires_grad:
            return copy_(self, value.expand(self.shape))
        value = value.item()
    return self._inplace(value)


def zero_(self):
    return fill_(self, 0)


def _random_fill(self, draw, generator):
    self._check_inplace()
    gen = generator or default_generator
    drawn = draw(self._device.backend, tuple(self.shape), self._dtype, gen)
    return self._inplace(Tensor._make(drawn, self._device, self._dtype))


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    return _random_fill(self, lambda be, s, d, g: be.uniform(s, d, g, a, b), generator)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    return _random_fill(self, lambda be, s, d, g: be.normal(s, d, g, mean, std), generator)


def random_(self, from_=0, to=None, *, generator=None):
    hi = to if to is not None else (2 ** 24 if self._dtype.is_floating_point else 2 ** 31 - 1)
    return _random_fill(self, lambda be, s, d, g: be.randint(from_, hi, s, d, g), generator)


def bernoulli_(self, p=0.5, *, generator=None):
    import numpy as np
    return _random_fill(self, lambda be, s, d, g: be.bernoulli(np.full(s, p), d, g), generator)


def exponential_(self, lambd=1.0, *, generator=None):
    return _random_fill(self, lambda be, s, d, g: be.from_numpy(g.rng.exponential(1.0 / lambd, size=s).astype(d.np)),
                        generator)
