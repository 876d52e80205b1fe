"""Defaults of the ``derived`` group: creation, shape and reduction helpers written over the core tier.

Index maps that depend on shapes alone (flip, roll, pad modes, repeat_interleave) are built
with NumPy on the host from the shape and uploaded once; the data never leaves the device.
"""
from __future__ import annotations

import numpy as np

from ._util import acc, axes as _axes, back, drop, dtype_of, upload
from .einsum import einsum as _einsum

_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # torch name -> np.pad's


def _int64():
    from ...dtypes import int64
    return int64


class DerivedDefaults:
    # arange / linspace / eye are built from their arguments alone on the host and uploaded.
    def arange(self, start, end, step, dtype):
        a = np.arange(start, end, step, dtype=np.float64 if dtype.is_floating_point else np.int64)
        return self.from_numpy(a.astype(dtype.np, copy=False))

    def linspace(self, start, end, steps, dtype):
        return self.from_numpy(np.linspace(start, end, steps, dtype=np.float64).astype(dtype.np))

    def eye(self, n, m, dtype):
        return self.from_numpy(np.eye(n, m, dtype=dtype.np))

    def clamp(self, x, lo, hi):
        if lo is not None:
            x = self.binary("maximum", x, lo)
        if hi is not None:
            x = self.binary("minimum", x, hi)
        return x

    def expand_dims(self, x, axis):
        shape = tuple(x.shape)
        return self.reshape(x, shape[:axis] + (1,) + shape[axis:])

    def stack(self, xs, axis):
        xs = list(xs)
        axis = axis % (xs[0].ndim + 1)
        return self.cat([self.expand_dims(x, axis) for x in xs], axis)

    def logsumexp(self, x, axis, keepdim):
        a = acc(self, x)
        m = self.reduce("amax", a, axis, True)
        m = self.where(self.unary("isfinite", m), m, self.full((), 0, dtype_of(a)))  # all -inf rows stay -inf
        s = self.reduce("sum", self.unary("exp", self.binary("sub", a, m)), axis, True)
        r = back(self, self.binary("add", self.unary("log", s), m), x)
        return r if keepdim else self.reshape(r, drop(r.shape, axis))

    def index_select(self, x, axis, idx):
        return self.getitem(x, (slice(None),) * axis + (idx,))

    def var(self, x, axis, correction, keepdim):
        a = acc(self, x)
        ax = _axes(a.ndim, axis)
        n = int(np.prod([a.shape[i] for i in ax], dtype=np.int64))
        d = self.binary("sub", a, self.reduce("mean", a, ax, True))
        s = self.reduce("sum", self.binary("mul", d, d), ax, keepdim)
        return back(self, self.binary("div", s, float(n - correction)), x)  # n <= correction: inf/nan as torch

    def sum_to_dtype(self, x, axis, keepdim, dtype):
        return self.reduce("sum", self.cast(x, dtype), axis, keepdim)

    def diagonal(self, x, offset, dim1, dim2):
        """numpy.diagonal as a strided view: the two dims go, the diagonal becomes the last dim."""
        st, shape = self.strides(x), tuple(x.shape)
        d1, d2 = dim1 % x.ndim, dim2 % x.ndim
        n = max(0, min(shape[d1], shape[d2] - offset) if offset >= 0 else min(shape[d1] + offset, shape[d2]))
        start = (offset * st[d2] if offset >= 0 else -offset * st[d1]) if n else 0
        keep = [i for i in range(x.ndim) if i not in (d1, d2)]
        return self.as_strided(x, tuple(shape[i] for i in keep) + (n,),
                               tuple(st[i] for i in keep) + (st[d1] + st[d2],), start)

    def flip(self, x, axes):
        for a in _axes(x.ndim, axes):
            x = self.index_select(x, a, upload(self, np.arange(x.shape[a] - 1, -1, -1)))
        return x

    def roll(self, x, shifts, axes):
        if axes is None:  # numpy.roll without axes rolls the flattened array
            return self.reshape(self.roll(self.reshape(x, (-1,)), shifts, 0), tuple(x.shape))
        shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
        for s, a in zip(shifts, _axes(x.ndim, axes)):
            n = x.shape[a]
            s = int(s) % n if n else 0
            if s:
                head = (slice(None),) * a
                x = self.cat([self.getitem(x, head + (slice(n - s, n),)), self.getitem(x, head + (slice(0, n - s),))], a)
        return x

    def tril(self, x, k):
        keep = upload(self, np.tri(x.shape[-2], x.shape[-1], k, dtype=bool))
        return self.where(keep, x, self.full((), 0, dtype_of(x)))

    def triu(self, x, k):
        drop_ = upload(self, np.tri(x.shape[-2], x.shape[-1], k - 1, dtype=bool))
        return self.where(drop_, self.full((), 0, dtype_of(x)), x)

    def repeat(self, x, reps):
        """numpy.tile: view x as (1, s0, 1, s1, ...), expand to (r0, s0, r1, s1, ...), then merge pairs."""
        reps = tuple(int(r) for r in reps)
        d = max(len(reps), x.ndim)
        reps = (1,) * (d - len(reps)) + reps
        shape = (1,) * (d - x.ndim) + tuple(x.shape)
        pairs = tuple(v for s in shape for v in (1, s))
        big = tuple(v for r, s in zip(reps, shape) for v in (r, s))
        y = self.contiguous(self.expand(self.reshape(x, pairs), big))
        return self.reshape(y, tuple(r * s for r, s in zip(reps, shape)))

    def repeat_interleave(self, x, repeats, axis):
        if axis is None:
            x, axis = self.reshape(x, (-1,)), 0
        n = x.shape[axis]
        r = repeats if isinstance(repeats, (int, np.integer, np.ndarray)) else self.to_numpy(repeats)
        idx = np.repeat(np.arange(n), np.broadcast_to(np.asarray(r, np.int64), (n,)))
        return self.index_select(x, axis, upload(self, idx))

    def pad_mode(self, x, pad_width, mode):
        for a, (lo, hi) in enumerate(pad_width):
            if lo or hi:
                idx = np.pad(np.arange(x.shape[a]), (int(lo), int(hi)), mode=_PAD_MODES[mode])
                x = self.index_select(x, a, upload(self, idx))
        return x

    def topk(self, x, k, axis, largest, sorted_):
        vals, idx = self.sort(x, axis, largest, True)
        key = (slice(None),) * (axis % x.ndim) + (slice(0, k),)
        return self.getitem(vals, key), self.getitem(idx, key)

    def einsum(self, eq, *xs):
        return _einsum(self, eq, xs)
