"""The CPU backend: every primitive in NumPy. It is the reference for the Triton kernels.

Arrays are ``numpy.ndarray`` (bfloat16 through ``ml_dtypes``). Primitives take and return
arrays; dtypes arrive already promoted by the op layer, so nothing here decides types
except where a primitive's result type is fixed (comparisons -> bool, arg* -> int64).
"""
from __future__ import annotations

import numpy as np

from ... import _optable
from ..interface import Backend
from .attention import NumpyAttentionPrimitives
from .conv import NumpyConvPrimitives
from .nn import NumpyNNPrimitives, _add_into, _erf
from .memory import tune_malloc
from .optim import NumpyOptimPrimitives
from .parallel import matmul as _gemm
from .rnn import NumpyRNNPrimitives
from .vision import NumpyVisionPrimitives


def _upcast(fn):
    """Run ``fn`` in float32 for float16/bfloat16 inputs (NumPy's half math is slow and lossy)."""
    def wrapped(x, *rest):
        if x.dtype.itemsize == 2 and x.dtype.kind in "fV" or str(x.dtype) == "bfloat16":
            return fn(x.astype(np.float32), *rest).astype(x.dtype)
        return fn(x, *rest)
    return wrapped


# NumPy's half math is slow and rounds every step: float16/bfloat16 run in float32 unless exact
UNARY = {n: op.numpy if op.rule in ("exact", "int", "bool") else _upcast(op.numpy) for n, op in _optable.UNARY.items()}


BINARY = {n: op.numpy for n, op in _optable.BINARY.items()}
_WHERE = _optable.TERNARY["where"].numpy

REDUCE = {"sum": np.sum, "prod": np.prod, "amax": np.max, "amin": np.min, "any": np.any, "all": np.all,
          "mean": np.mean}


_ACTIVATIONS = {  # the matmul epilogue's, as blaze/kernels/matmul.py's ACTIVATIONS
    "relu": lambda y: np.maximum(y, 0),
    "gelu": lambda y: 0.5 * y * (1 + _erf(y * 0.7071067811865476)),
    "gelu_tanh": lambda y: 0.5 * y * (1 + np.tanh(0.7978845608028654 * (y + 0.044715 * y ** 3))),
    "silu": lambda y: y * (0.5 * (np.tanh(0.5 * y) + 1)),
    "tanh": np.tanh,
}


def _is_half(dt) -> bool:
    return dt.itemsize == 2 and dt.kind != "i" and dt.kind != "u"


class NumpyBackend(NumpyNNPrimitives, NumpyConvPrimitives, NumpyAttentionPrimitives, NumpyRNNPrimitives,
                   NumpyOptimPrimitives, NumpyVisionPrimitives, Backend):
    name = "cpu"

    def __init__(self):
        tune_malloc()                                             # the device starts: see memory.py

    # -- creation and transfer -------------------------------------------------------------
    def empty(self, shape, dtype):
        return np.empty(shape, dtype=dtype.np)

    def full(self, shape, value, dtype):
        return np.full(shape, value, dtype=dtype.np)

    def arange(self, start, end, step, dtype):
        return np.arange(start, end, step, dtype=np.float64 if dtype.is_floating_point else np.int64
                         ).astype(dtype.np, copy=False)

    def linspace(self, start, end, steps, dtype):
        return np.linspace(start, end, steps, dtype=np.float64).astype(dtype.np)

    def eye(self, n, m, dtype):
        return np.eye(n, m, dtype=dtype.np)

    def from_numpy(self, a):
        return a

    def to_numpy(self, a):
        return a

    def copy(self, a):
        return np.array(a, copy=True)

    def cast(self, x, dtype):
        return x.astype(dtype.np)

    # -- random ----------------------------------------------------------------------------
    def uniform(self, shape, dtype, gen, low=0.0, high=1.0):
        return gen.rng.uniform(low, high, size=shape).astype(dtype.np)

    def normal(self, shape, dtype, gen, mean=0.0, std=1.0):
        return (gen.rng.standard_normal(size=shape) * std + mean).astype(dtype.np)

    def randint(self, low, high, shape, dtype, gen):
        return gen.rng.integers(low, high, size=shape).astype(dtype.np)

    def randperm(self, n, dtype, gen):
        return gen.rng.permutation(n).astype(dtype.np)

    def bernoulli(self, p, dtype, gen):
        return (gen.rng.random(size=np.shape(p)) < p).astype(dtype.np)

    def multinomial(self, probs, num_samples, replacement, gen):
        probs = probs.astype(np.float64)
        rows = probs.reshape(-1, probs.shape[-1])
        out = np.empty((rows.shape[0], num_samples), dtype=np.int64)
        for i, p in enumerate(rows):
            p = p / p.sum()
            out[i] = gen.rng.choice(len(p), size=num_samples, replace=replacement, p=p)
        return out.reshape(probs.shape[:-1] + (num_samples,))

    # -- elementwise -----------------------------------------------------------------------
    def unary(self, op, x):
        return UNARY[op](x)

    def binary(self, op, a, b):
        return BINARY[op](a, b)

    def where(self, cond, a, b):
        return _WHERE(cond, a, b)

    def clamp(self, x, lo, hi):
        if lo is not None:
            x = np.maximum(x, lo)
        if hi is not None:
            x = np.minimum(x, hi)
        return x

    def assign(self, dst, src):
        """Write ``src`` (broadcast, cast) into ``dst`` in place; ``dst`` may be a view."""
        np.copyto(dst, src, casting="unsafe")

    # -- reductions ------------------------------------------------------------------------
    def reduce(self, op, x, axis, keepdim):
        if op in ("sum", "mean", "prod") and _is_half(x.dtype):
            return REDUCE[op](x.astype(np.float32), axis=axis, keepdims=keepdim).astype(x.dtype)
        return np.asarray(REDUCE[op](x, axis=axis, keepdims=keepdim))

    def sum_to_dtype(self, x, axis, keepdim, dtype):
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdim, dtype=dtype.np))

    def var(self, x, axis, correction, keepdim):
        xf = x.astype(np.float32) if _is_half(x.dtype) else x
        return np.asarray(np.var(xf, axis=axis, ddof=correction, keepdims=keepdim)).astype(x.dtype, copy=False)

    def argreduce(self, op, x, axis, keepdim):
        fn = np.argmax if op == "argmax" else np.argmin
        if axis is None:
            r = fn(x.reshape(-1))
            return np.asarray(r, dtype=np.int64).reshape((1,) * x.ndim if keepdim else ())
        return np.asarray(fn(x, axis=axis, keepdims=keepdim), dtype=np.int64)

    def logsumexp(self, x, axis, keepdim):
        xf = x.astype(np.float32) if _is_half(x.dtype) else x
        m = np.max(xf, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        r = np.log(np.sum(np.exp(xf - m), axis=axis, keepdims=True)) + m
        if not keepdim:
            r = np.squeeze(r, axis=axis)
        return np.asarray(r).astype(x.dtype, copy=False)

    def cumsum(self, x, axis, dtype):
        return np.cumsum(x, axis=axis, dtype=dtype.np)

    def cumprod(self, x, axis, dtype):
        return np.cumprod(x, axis=axis, dtype=dtype.np)

    # -- movement (views) --------------------------------------------------------------------
    def view(self, x, shape):
        """A view of ``x`` with ``shape``, or None when the strides do not allow one."""
        v = x.view()
        try:
            v.shape = shape
        except AttributeError:
            return None
        return v

    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def permute(self, x, dims):
        return np.transpose(x, dims)

    def expand(self, x, shape):
        return np.broadcast_to(x, shape)

    def getitem(self, x, key):
        r = x[key]
        if not isinstance(r, np.ndarray):  # all-int keys give a scalar copy; `...` keeps a 0-d view
            r = x[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
        return r

    def setitem(self, x, key, value):
        x[key] = value

    def index_put(self, x, key, value, accumulate):
        if accumulate:
            np.add.at(x, key, value)
        else:
            x[key] = value

    def contiguous(self, x):
        return np.ascontiguousarray(x)

    def is_contiguous(self, x) -> bool:
        return x.flags.c_contiguous

    def strides(self, x):
        item = x.itemsize
        return tuple(s // item for s in x.strides)

    def diagonal(self, x, offset, dim1, dim2):
        return np.diagonal(x, offset, dim1, dim2)

    def as_strided(self, x, shape, strides, offset):
        base = x
        while isinstance(base.base, np.ndarray):
            base = base.base
        item = x.itemsize
        start = x.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        flat = np.lib.stride_tricks.as_strided(base.reshape(-1) if base.flags.c_contiguous else base,
                                               shape=(base.size,), strides=(item,))
        return np.lib.stride_tricks.as_strided(flat[start // item + offset:], shape=shape,
                                               strides=tuple(s * item for s in strides))

    # -- movement (copies) -------------------------------------------------------------------
    def cat(self, xs, axis):
        return np.concatenate(xs, axis=axis)

    def stack(self, xs, axis):
        return np.stack(xs, axis=axis)

    def pad(self, x, pad_width, value):
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    def pad_mode(self, x, pad_width, mode):
        return np.pad(x, pad_width, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])

    def flip(self, x, axes):
        return np.flip(x, axes).copy()

    def roll(self, x, shifts, axes):
        return np.roll(x, shifts, axes)

    def tril(self, x, k):
        return np.tril(x, k)

    def triu(self, x, k):
        return np.triu(x, k)

    def repeat(self, x, reps):
        return np.tile(x, reps)

    def repeat_interleave(self, x, repeats, axis):
        return np.repeat(x, repeats, axis=axis)

    @staticmethod
    def _region(x, axis, idx):
        """The part of ``x`` an index of a smaller shape addresses (torch allows index.size(d) <= x.size(d))."""
        key = tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(idx.shape))
        return x[key]

    def gather(self, x, axis, idx):
        return np.take_along_axis(self._region(x, axis, idx), idx, axis=axis)

    def scatter(self, x, axis, idx, src, reduce=None):
        out = x.copy()
        if reduce == "add":
            full_idx = list(np.indices(idx.shape, sparse=True))
            full_idx[axis] = idx
            np.add.at(out, tuple(full_idx), src)
        else:
            np.put_along_axis(self._region(out, axis, idx), idx, src, axis=axis)
        return out

    def scatter_reduce(self, x, axis, idx, src, reduce, include_self):
        """``torch.scatter_reduce``: fold ``src`` into a copy of ``x`` at ``idx`` along ``axis``."""
        out = x.copy()
        key = list(np.indices(idx.shape, sparse=True))
        key[axis] = idx
        key = tuple(key)
        src = self._region(src, axis, idx) if src.shape != idx.shape else src
        if not include_self:
            info = np.finfo(x.dtype) if x.dtype.kind == "f" else np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
            ident = {"sum": 0, "mean": 0, "prod": 1, "amax": info.min if info else False,
                     "amin": info.max if info else True}[reduce]
            if x.dtype.kind == "f" and reduce in ("amax", "amin"):
                ident = -np.inf if reduce == "amax" else np.inf
            out[key] = ident
        ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
        ufunc.at(out, key, src)
        if reduce == "mean":
            count = np.zeros(x.shape, dtype=np.int64)
            np.add.at(count, key, 1)
            count += 1 if include_self else 0
            count = np.maximum(count, 1)
            out = (out // count if x.dtype.kind in "iu" else out / count).astype(x.dtype)
        return out

    def index_select(self, x, axis, idx):
        return np.take(x, idx, axis=axis)

    def nonzero(self, x):
        return np.stack(np.nonzero(x), axis=1).astype(np.int64) if x.ndim else \
            np.zeros((int(bool(x)), 0), dtype=np.int64)

    def sort(self, x, axis, descending, stable):
        if descending:
            # sort the negated key stably so equal values keep their order, as torch's stable sort
            key = -x.astype(np.float64) if x.dtype.kind in "fV" else (~x if x.dtype.kind in "iu" else ~x)
            idx = np.argsort(key, axis=axis, kind="stable")
        else:
            idx = np.argsort(x, axis=axis, kind="stable")
        return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)

    def topk(self, x, k, axis, largest, sorted_):
        vals, idx = self.sort(x, axis, descending=largest, stable=True)
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(0, k)
        return vals[tuple(sl)], idx[tuple(sl)]

    def unique(self, x, sorted_, return_inverse, return_counts):
        return np.unique(x, return_inverse=return_inverse, return_counts=return_counts)

    # -- linear algebra ----------------------------------------------------------------------
    def matmul(self, a, b, bias=None, residual=None, activation=None):
        """numpy.matmul, then the cuda kernel's epilogue act(a @ b + bias) + residual (fp32 for halves)."""
        activation = None if activation == "none" else activation
        if activation is not None and activation not in _ACTIVATIONS:
            raise ValueError(f"matmul: unknown activation {activation!r} (supported: None, {', '.join(_ACTIVATIONS)})")
        dt, half = a.dtype, _is_half(a.dtype)
        if half:
            a, b = a.astype(np.float32), b.astype(np.float32)
        if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous:
            # (..., K) @ (K, N) as ONE (rows, K) GEMM: NumPy's stacked matmul calls BLAS per matrix,
            # packing b every time ((8, 128, 512) @ (512, 512): 9.2 -> 8.3 ms, 1 thread)
            y = _gemm(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[-1],))
        else:
            y = _gemm(a, b)
        y = _add_into(y, bias)
        if activation is not None:
            y = _ACTIVATIONS[activation](y)
        y = _add_into(y, residual)
        return y.astype(dt, copy=False) if half or bias is not None or residual is not None else y

    def einsum(self, eq, *xs):
        if any(_is_half(x.dtype) for x in xs):  # NumPy < 2.4 rejects bfloat16 in einsum; half math is slow anyway
            return np.einsum(eq, *[x.astype(np.float32) for x in xs], optimize=True).astype(xs[0].dtype)
        return np.einsum(eq, *xs, optimize=True)
