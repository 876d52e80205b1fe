"""Tensor creation: tensor, from_numpy, zeros/ones/full/empty, arange/linspace/eye, random draws, *_like."""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes as _dt
from ..device import CPU, to_device
from ..random import default_generator
from ._util import Tensor, make


def _finish(t: Tensor, device, requires_grad: bool) -> Tensor:
    dev = to_device(device)
    if dev is not CPU:
        t = t.to(dev)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(data) -> _dt.dtype:
    """PyTorch's rule for Python data: bools -> bool, ints -> int64, any float -> default dtype."""
    a = np.asarray(data)
    if a.dtype == np.bool_:
        return _dt.bool_
    if a.dtype.kind in "iu":
        return _dt.int64 if a.dtype.kind == "i" or a.dtype.itemsize < 8 else _dt.int64
    if a.dtype.kind == "f":
        return _dt.get_default_dtype()
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def _flatten_tensors(data):
    """Lists may hold tensors (e.g. 0-dim results): turn them into plain numbers/arrays."""
    if isinstance(data, Tensor):
        return data.detach().cpu()._data
    if isinstance(data, (list, tuple)):
        return [_flatten_tensors(d) for d in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, tensors)."""
    if isinstance(data, Tensor):
        t = data.detach().clone()
        if dtype is not None:
            t = t.to(dtype)
        return _finish(t, device if device is not None else data.device, requires_grad)
    if isinstance(data, np.ndarray):
        d = _dt.to_dtype(dtype) if dtype is not None else _dt.from_numpy_dtype(data.dtype)
        arr = np.array(data, dtype=d.np, copy=True)
    else:
        data = _flatten_tensors(data)
        try:
            d = _dt.to_dtype(dtype) if dtype is not None else _infer_dtype(data)
            arr = np.array(data, dtype=d.np if d is not _dt.bfloat16 else np.float64)
        except ValueError as e:
            raise ValueError(f"expected sequence of equal-length lists to build a tensor: {e}") from None
        if d is _dt.bfloat16:
            arr = arr.astype(d.np)
    return _finish(make(arr, CPU, d), device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor):
        t = data if dtype is None else data.to(dtype)
        return t if device is None else t.to(device)
    if isinstance(data, np.ndarray) and dtype is None and device in (None, "cpu", CPU):
        return from_numpy(data)
    if hasattr(data, "__cuda_array_interface__"):  # shares the memory, as torch.as_tensor does
        from ..utils.dlpack import from_cuda_array_interface
        return as_tensor(from_cuda_array_interface(data), dtype, device)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``ndarray`` (changes to one show in the other)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return make(ndarray, CPU, _dt.from_numpy_dtype(ndarray.dtype))


def _type_name(v) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _int_arg(v, fn: str, name: str, pos: int) -> int:
    """``v`` as an int (ints, NumPy integers, integer 0-dim tensors), else PyTorch's TypeError."""
    if not isinstance(v, bool):
        try:
            return operator.index(v)
        except TypeError:
            pass
    raise TypeError(f"{fn}(): argument '{name}' (position {pos}) must be int, not {_type_name(v)}")


def _size(size, fn: str = "empty"):
    single = len(size) == 1 and not isinstance(size[0], (tuple, list))
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    out = []
    for pos, s in enumerate(size, 1):
        try:
            out.append(_int_arg(s, fn, "size", 1))
        except TypeError:
            if single:  # ones(2.5): PyTorch names the argument, not a position inside it
                raise TypeError(f"{fn}(): argument 'size' (position 1) must be tuple of ints, not "
                                f"{_type_name(s)}") from None
            raise TypeError(f"{fn}(): argument 'size' failed to unpack the object at pos {pos} with error "
                            f"\"type must be tuple of ints,but got {_type_name(s)}\"") from None
    for s in out:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {out}")
    return tuple(out)


def _dtype_or_default(dtype):
    return _dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()


def _filled(size, value, dtype, device, requires_grad):
    dev = to_device(device)
    d = _dtype_or_default(dtype)
    return _finish(make(dev.backend.full(size, value, d), dev, d), dev, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _filled(_size(size, "zeros"), 0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_size(size, "ones"), 1, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None, pin_memory=False) -> Tensor:
    dev = to_device(device)
    d = _dtype_or_default(dtype)
    return _finish(make(dev.backend.empty(_size(size, "empty"), d), dev, d), dev, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = _dt._scalar_dtype(fill_value) if not isinstance(fill_value, Tensor) else fill_value.dtype
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _filled(_size((size,) if isinstance(size, int) else (tuple(size),), "full"), fill_value, dtype, device,
                   requires_grad)


def _like(fn, input, dtype, device, requires_grad, *args):
    return fn(tuple(input.shape), *args, dtype=dtype or input.dtype, device=device or input.device,
              requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(zeros, input, dtype, device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(ones, input, dtype, device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _like(empty, input, dtype, device, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    return full(tuple(input.shape), fill_value, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {start:g} -> {end:g}")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        dtype = _dt.int64 if all(isinstance(v, int) for v in vals) else _dt.get_default_dtype()
    d = _dt.to_dtype(dtype)
    dev = to_device(device)
    return _finish(make(dev.backend.arange(start, end, step, d), dev, d), dev, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    d = _dtype_or_default(dtype)
    dev = to_device(device)
    return _finish(make(dev.backend.linspace(start, end, steps, d), dev, d), dev, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return (base ** linspace(start, end, steps, dtype=_dt.float64)).to(_dtype_or_default(dtype)).to(
        to_device(device)).requires_grad_(requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    n = _int_arg(n, "eye", "n", 1)
    m = n if m is None else _int_arg(m, "eye", "m", 2)
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    d = _dtype_or_default(dtype)
    dev = to_device(device)
    return _finish(make(dev.backend.eye(n, m, d), dev, d), dev, requires_grad)


# ---------------------------------------------------------------------------- random
def _random(fn, draw, size, dtype, device, requires_grad, generator):
    dev = to_device(device)
    d = _dtype_or_default(dtype)
    gen = generator or default_generator
    return _finish(make(draw(dev.backend, _size(size, fn), d, gen), dev, d), dev, requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform on [0, 1), drawn from ``generator`` (the default one, seeded by ``manual_seed``)."""
    return _random("rand", lambda be, s, d, g: be.uniform(s, d, g), size, dtype, device, requires_grad, generator)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal draws."""
    return _random("randn", lambda be, s, d, g: be.normal(s, d, g), size, dtype, device, requires_grad, generator)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.int64
    dev = to_device(device)
    gen = generator or default_generator
    return _finish(make(dev.backend.randint(low, high, _size((size,) if isinstance(size, int) else (size,)), d, gen),
                        dev, d), dev, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    n = _int_arg(n, "randperm", "n", 1)
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.int64
    dev = to_device(device)
    return _finish(make(dev.backend.randperm(n, d, generator or default_generator), dev, d), dev,
                   requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    return rand(tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad, generator=generator)


def randn_like(input, *, dtype=None, device=None, requires_grad=False, generator=None):
    return randn(tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad, generator=generator)


def randint_like(input, low, high=None, *, dtype=None, device=None):
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device)


def normal(mean, std, size=None, *, generator=None, dtype=None, device=None):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        return randn_like(ref, generator=generator) * std + mean
    return randn(size, generator=generator, dtype=dtype, device=device) * std + mean


def bernoulli(input, p=None, *, generator=None):
    probs = input if p is None else full_like(input, p)
    gen = generator or default_generator
    be = input._device.backend
    return make(be.bernoulli(probs.detach()._data, input.dtype, gen), input._device, input.dtype)


def poisson(input, generator=None):
    gen = generator or default_generator
    return make(gen.rng.poisson(input.detach().cpu().numpy()).astype(input.dtype.np)).to(input.device)
