"""Statistics and counting: nan-aware reductions, quantiles, mode, running max/min, logcumsumexp,
histograms, bincount, unique, cov/corrcoef, and the finite-difference family (diff, gradient,
trapezoid).

Values are gathers or compositions over Tensor ops, so gradients flow; index and counting
work (argmax runs, histograms, unique) is NumPy on the host (``_host``; counted on cuda).
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as np

from .. import dtypes as _dt
from ..autograd.function import Function
from ._host import f64, host, host_arrays, upload
from ._util import Tensor
from . import creation as C
from . import movement as M
from .reduction import values_indices

histogram_result = namedtuple("histogram", ["hist", "bin_edges"])
histogramdd_result = namedtuple("histogramdd", ["hist", "bin_edges"])


def _float_only(fn, x):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{fn}(): expected input to be a floating point tensor, but got {x.dtype}")


# ------------------------------------------------------------------------- nan-aware reductions
def _nan_zeroed(x):
    return x.masked_fill(x.isnan(), 0) if x.dtype.is_floating_point else x


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    return _nan_zeroed(input).sum(dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {input.dtype}")
    count = (~input.isnan()).sum(dim, keepdim).to(dtype or input.dtype)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def _last(input, dim):
    """``input`` with ``dim`` moved last (flattened first when ``dim`` is None)."""
    if dim is None:
        return input.reshape(-1), None
    d = input._wrap_dim(dim) if input.ndim else 0
    return (input.movedim(d, -1) if input.ndim else input.reshape(1)), d


def _restore(v, d, keepdim, ndim):
    """Undo ``_last`` for a reduced (..., k) result whose k stays a leading dim when k > 1."""
    if d is None:
        return v.reshape((1,) * ndim + tuple(v.shape[1:])) if keepdim else v
    return v.unsqueeze(d) if keepdim and ndim else v


def nanmedian(input, dim=None, keepdim=False):
    """Lower median of the non-NaN values (NaN when a row has none); ``dim`` given: (values, indices)."""
    x, d = _last(input, dim)
    if x.shape[-1] == 0:
        raise IndexError(f"nanmedian(): Expected reduction dim {d} to have non-zero size.")
    vals, idx = x.sort(-1)                                       # NaN sort last
    k = ((~x.isnan()).sum(-1, keepdim=True) - 1).clamp(min=0).div(2, rounding_mode="floor")
    v, i = vals.gather(-1, k).squeeze(-1), idx.gather(-1, k).squeeze(-1)
    if dim is None:
        return v
    return values_indices(_restore(v, d, keepdim, input.ndim), _restore(i, d, keepdim, input.ndim))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(fn, input, q, dim, keepdim, interpolation, ignore_nan):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{fn}() input tensor must be either float or double dtype")
    if input.numel() == 0:
        raise RuntimeError(f"{fn}() input tensor must be non-empty")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{fn}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                           f"Got {interpolation}")
    scalar_q = not isinstance(q, Tensor) or q.ndim == 0
    if isinstance(q, Tensor) and q.dtype is not input.dtype:
        raise RuntimeError(f"{fn}() q tensor must be same dtype as the input tensor")
    qt = q if isinstance(q, Tensor) else C.tensor(q, dtype=input.dtype, device=input.device)
    if qt.ndim > 1:
        raise RuntimeError(f"{fn}() q must be a scalar or 1D tensor")
    qt = qt.reshape(-1)
    if bool(((qt < 0) | (qt > 1)).any()):
        raise RuntimeError(f"{fn}() q values must be in the range [0, 1]")
    x, d = _last(input, dim)
    vals = x.sort(-1).values                                     # (..., n), NaN last
    nan = x.isnan()
    n = x.shape[-1]
    valid = (~nan).sum(-1, keepdim=True).to(x.dtype) if ignore_nan else C.full((1,), n, dtype=x.dtype,
                                                                                 device=x.device)
    pos = (qt * (valid - 1)).clamp(min=0).detach()               # (..., Q)
    pos = pos.expand(*vals.shape[:-1], qt.shape[0])
    # a row quantile calls NaN (any NaN; nanquantile: all NaN) reads its last sorted value, a NaN,
    # so the result is that element and its gradient goes there, as PyTorch's
    bad = nan.all(-1, keepdim=True) if ignore_nan else nan.any(-1, keepdim=True)
    pos = pos.masked_fill(bad, n - 1)
    lo, hi = pos.floor(), pos.ceil()
    if interpolation == "nearest":
        lo = hi = pos.round()
    v_lo, v_hi = vals.gather(-1, lo.long()), vals.gather(-1, hi.long())
    if interpolation == "linear":
        out = v_lo + (v_hi - v_lo) * (pos - lo)
    elif interpolation == "midpoint":
        out = (v_lo + v_hi) * 0.5
    else:
        out = v_hi if interpolation == "higher" else v_lo
    out = out.movedim(-1, 0)                                     # (Q, ...)
    if keepdim:
        out = out.reshape((qt.shape[0],) + (1,) * input.ndim) if d is None else out.unsqueeze(d + 1)
    return out[0] if scalar_q else out


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# ------------------------------------------------------------------------- mode, cummax, cummin
def _mode_np(a):
    """Most frequent value of each row of (rows, n) (the smallest among ties) and its last index."""
    idx = np.zeros(a.shape[0], dtype=np.int64)
    for r, row in enumerate(a):
        values, counts = np.unique(row, return_counts=True)
        best = values[np.argmax(counts)]
        idx[r] = np.nonzero(row == best)[0][-1] if not np.isnan(best) else np.nonzero(np.isnan(row))[0][-1]
    return idx


def mode(input, dim=-1, keepdim=False):
    x, d = _last(input, dim)
    if x.shape[-1] == 0:
        raise IndexError(f"mode(): Expected reduction dim {d} to have non-zero size.")
    rows = x.reshape(-1, x.shape[-1])
    i = host("mode", _mode_np, rows.detach()).reshape(*x.shape[:-1], 1)
    v = x.gather(-1, i)
    if not keepdim or not input.ndim:
        v, i = v.squeeze(-1), i.squeeze(-1)
    else:
        v, i = v.movedim(-1, d), i.movedim(-1, d)
    return values_indices(v, i)


def _cum_arg_np(a, take_max):
    """Index of the running max (min) along the last axis; ties and NaN take the later index."""
    idx = np.zeros(a.shape, dtype=np.int64)
    if a.shape[-1] == 0:
        return idx
    cur = a[..., 0].copy()
    for j in builtins.range(1, a.shape[-1]):
        x = a[..., j]
        take = (x >= cur if take_max else x <= cur) | np.isnan(x)
        take &= ~np.isnan(cur) | np.isnan(x)
        cur = np.where(take, x, cur)
        idx[..., j] = np.where(take, j, idx[..., j - 1])
    return idx


def _cum_ext(name, input, dim, take_max):
    x, d = _last(input, dim)
    i = host(name, lambda a: _cum_arg_np(a, take_max), x.detach())
    v = x.gather(-1, i)
    if input.ndim:
        v, i = v.movedim(-1, d), i.movedim(-1, d)
    else:
        v, i = v.reshape(()), i.reshape(())
    return values_indices(v, i)


def cummax(input, dim):
    return _cum_ext("cummax", input, dim, True)


def cummin(input, dim):
    return _cum_ext("cummin", input, dim, False)


class LogCumSumExp(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        y = host("logcumsumexp", lambda a: np.logaddexp.accumulate(f64(a), axis=axis), x, dtype=x.dtype)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        # d y_i / d x_j = exp(x_j - y_i) (i >= j): a reversed logcumsumexp of log|g| - y per sign of g,
        # so no exp() of a large value is ever formed (as PyTorch's logcumsumexp_backward)
        x, y = ctx.saved_tensors
        ax = ctx.axis
        with np.errstate(divide="ignore"):
            def part(gp):
                r = logcumsumexp(M.flip(gp.log() - y, ax), ax)
                return (M.flip(r, ax) + x).exp()
            return part(g.clamp(min=0)) - part((-g).clamp(min=0)), None


def logcumsumexp(input, dim):
    if not input.dtype.is_floating_point:
        input = input.to(_dt.get_default_dtype())
    if input.ndim == 0:
        return input.clone()
    return LogCumSumExp.apply(input, input._wrap_dim(dim))


# ------------------------------------------------------------------------- histograms, counting
def histc(input, bins=100, min=0, max=0):  # noqa: A002 - PyTorch's argument names
    _float_only("torch.histc", input)
    if bins <= 0:
        raise RuntimeError(f"torch.histc(): bins must be > 0, but got {bins} for dimension 0")

    def run(a):
        a = f64(a).reshape(-1)
        lo, hi = float(min), float(max)
        if lo == hi and a.size:
            lo, hi = float(a.min()), float(a.max())
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        if lo > hi:
            raise RuntimeError(f"torch.histc(): max must be larger than min, but got min {min} max {max}")
        return np.histogram(a, bins=bins, range=(lo, hi))[0]
    return host("histc", run, input.detach(), dtype=input.dtype).to(input.dtype)


def _bins_arg(bins):
    return host_arrays("histogram", bins)[0] if isinstance(bins, Tensor) else bins


def histogram(input, bins, *, range=None, weight=None, density=False):  # noqa: A002
    _float_only("torch.histogram", input)

    def run(a, w):
        b = _bins_arg(bins)
        h, e = np.histogram(f64(a).reshape(-1), bins=b, range=range, density=density,
                            weights=None if w is None else f64(w).reshape(-1))
        return h, e
    h, e = host("histogram", run, input.detach(), weight.detach() if weight is not None else None, dtype=input.dtype)
    return histogram_result(h.to(input.dtype), e.to(input.dtype))


def histogramdd(input, bins=10, *, range=None, weight=None, density=False):  # noqa: A002
    _float_only("torch.histogramdd", input)
    a, w = host_arrays("histogramdd", input.detach(), weight.detach() if weight is not None else None)
    a = f64(a)
    a = a.reshape(-1, a.shape[-1])
    b = [_bins_arg(x) for x in bins] if isinstance(bins, (list, tuple)) else bins
    rng = None if range is None else [(range[2 * i], range[2 * i + 1]) for i in builtins.range(a.shape[1])]
    h, edges = np.histogramdd(a, bins=b, range=rng, density=density,
                              weights=None if w is None else f64(w).reshape(-1))
    return histogramdd_result(upload(h, input.device, input.dtype), [upload(e, input.device, input.dtype)
                                                                       for e in edges])


def bincount(input, weights=None, minlength=0):
    if input.ndim != 1 or input.dtype.is_floating_point or input.dtype is _dt.bool_:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    a, w = host_arrays("bincount", input, weights)
    if a.size and a.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if w is not None and w.shape != a.shape:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    r = np.bincount(a.astype(np.int64), weights=None if w is None else f64(w), minlength=minlength)
    dtype = _dt.int64 if weights is None else (weights.dtype if weights.dtype in (_dt.float32, _dt.float64)
                                               else _dt.float64)
    return upload(r, input.device, dtype)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    def run(a):
        r = np.unique(a, return_inverse=True, return_counts=True, axis=dim)
        return r[0], r[1].reshape(a.shape if dim is None else a.shape[dim]), r[2]
    vals, inv, counts = host("unique", run, input.detach())
    out = (vals,) + ((inv,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return out[0] if len(out) == 1 else out


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    def run(a):
        ax = 0 if dim is None else dim % a.ndim
        x = a.reshape(-1) if dim is None else a
        n = x.shape[ax]
        moved = np.moveaxis(x, ax, 0).reshape(n, -1)
        if n:
            change = np.concatenate([[True], np.any(moved[1:] != moved[:-1], axis=1)])
        else:
            change = np.zeros(0, dtype=bool)
        starts = np.nonzero(change)[0]
        inv = np.cumsum(change) - 1
        counts = np.diff(np.append(starts, n))
        vals = np.take(x, starts, axis=ax)
        return vals, inv.reshape(a.shape) if dim is None else inv, counts
    vals, inv, counts = host("unique_consecutive", run, input.detach())
    out = (vals,) + ((inv,) if return_inverse else ()) + ((counts,) if return_counts else ())
    return out[0] if len(out) == 1 else out


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    ref = elements if isinstance(elements, Tensor) else test_elements
    e = elements if isinstance(elements, Tensor) else C.tensor(elements, device=ref.device)
    t = test_elements if isinstance(test_elements, Tensor) else C.tensor(test_elements, device=ref.device)
    return host("isin", lambda a, b: np.isin(a, b, invert=invert), e.detach(), t.detach())


# ------------------------------------------------------------------------- cov, corrcoef
def cov(input, *, correction=1, fweights=None, aweights=None):
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input          # (vars, obs)
    if not x.dtype.is_floating_point:
        x = x.to(_dt.get_default_dtype())
    n = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dtype.is_floating_point:
            raise RuntimeError(f"cov(): expected fweights to have integral dtype but got fweights with "
                               f"{fweights.dtype} dtype")
        w = fweights.to(x.dtype)
    if aweights is not None:
        if not aweights.dtype.is_floating_point:
            raise RuntimeError(f"cov(): expected aweights to have floating point dtype but got aweights with "
                               f"{aweights.dtype} dtype")
        w = aweights if w is None else w * aweights
    if w is None:
        avg = x.mean(1, keepdim=True)
        norm = float(n - correction)
        xw = x - avg
    else:
        wsum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / wsum
        norm = wsum - correction * ((w * aweights).sum() / wsum if aweights is not None else 1)
        xw = (x - avg) * w
    if not isinstance(norm, Tensor):
        norm = builtins.max(norm, 0.0)
    else:
        norm = norm.clamp(min=0)
    c = (xw @ (x - avg).mT) / norm
    return c.reshape(()) if c.shape == (1, 1) else c  # one variable: a 0-d result, as PyTorch


def corrcoef(input):
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal().sqrt()
    return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)


# ------------------------------------------------------------------------- finite differences
def diff(input, n=1, dim=-1, prepend=None, append=None):
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = input._wrap_dim(dim)
    parts = [p if p.ndim else p.expand(*input.shape[:d], 1, *input.shape[d + 1:])
             for p in (prepend, input, append) if p is not None]
    x = M.cat(parts, d) if len(parts) > 1 else input
    for _ in builtins.range(n):
        m = x.shape[d]
        hi, lo = x.narrow(d, 1, builtins.max(m - 1, 0)), x.narrow(d, 0, builtins.max(m - 1, 0))
        x = hi.logical_xor(lo) if x.dtype is _dt.bool_ else hi - lo
    return x


def _grad_coeffs(h, edge_order):
    """numpy.gradient's second-order stencils over coordinates with steps ``h``: per point (a, b, c)
    weights of (f[i-1], f[i], f[i+1]) inside, and the one-sided stencils at both ends."""
    h1, h2 = h[:-1], h[1:]
    inner = (-h2 / (h1 * (h1 + h2)), (h2 - h1) / (h1 * h2), h1 / (h2 * (h1 + h2)))
    if edge_order == 1:
        first, last = (-1 / h[0], 1 / h[0], 0.0), (0.0, -1 / h[-1], 1 / h[-1])
    else:
        a, b = h[0], h[1]
        first = (-(2 * a + b) / (a * (a + b)), (a + b) / (a * b), -a / (b * (a + b)))
        a, b = h[-2], h[-1]
        last = (b / (a * (a + b)), -(a + b) / (a * b), (a + 2 * b) / (b * (a + b)))
    return inner, first, last


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Central differences inside, one-sided (order ``edge_order``) at the ends, per dim: a tuple."""
    if edge_order not in (1, 2):
        raise RuntimeError(f"torch.gradient only supports edge_order=1 and edge_order=2.")
    dims = list(builtins.range(input.ndim)) if dim is None else \
        [input._wrap_dim(d) for d in (dim if isinstance(dim, (list, tuple)) else (dim,))]
    sp = list(spacing) if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    if len(sp) == 1 and len(dims) > 1:
        sp = sp * len(dims)
    if len(sp) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length {len(sp)} "
                           f"and a dim argument of length {len(dims)}.")
    out = []
    for d, s in zip(dims, sp):
        n = input.shape[d]
        if n < edge_order + 1:
            raise RuntimeError(f"torch.gradient expected each dimension size to be at least edge_order+1")
        coords = f64(host_arrays("gradient", s)[0]) if isinstance(s, Tensor) else np.arange(n) * float(s)
        inner, first, last = _grad_coeffs(np.diff(coords), edge_order)
        shape = [1] * input.ndim
        shape[d] = n - 2

        f = input if input.dtype.is_floating_point else input.to(_dt.get_default_dtype())

        def w(v):
            return C.tensor(np.asarray(v, np.float64).reshape(shape), dtype=f.dtype, device=f.device)
        mid = w(inner[0]) * f.narrow(d, 0, n - 2) + w(inner[1]) * f.narrow(d, 1, n - 2) + \
            w(inner[2]) * f.narrow(d, 2, n - 2)
        ends = []
        for (a, b, c), start in ((first, 0), (last, n - 3 if edge_order == 2 else n - 2)):
            k = 3 if edge_order == 2 else 2
            piece = [f.narrow(d, start + j, 1) for j in builtins.range(k)]
            coef = (a, b, c) if edge_order == 2 else ((a, b) if start == 0 else (b, c))
            ends.append(builtins.sum((float(cf) * p for cf, p in zip(coef, piece)), f.narrow(d, 0, 1) * 0))
        out.append(M.cat([ends[0], mid, ends[1]], d) if n > 2 else M.cat(ends, d))
    return tuple(out)


def _trap_terms(y, x, dx, dim):
    d = y._wrap_dim(dim)
    n = y.shape[d]
    avg = (y.narrow(d, 1, builtins.max(n - 1, 0)) + y.narrow(d, 0, builtins.max(n - 1, 0))) * 0.5
    if x is None:
        return avg * (1 if dx is None else dx), d
    if x.ndim == 1:
        shape = [1] * y.ndim
        shape[d] = x.shape[0] - 1
        return avg * diff(x).reshape(shape), d
    return avg * diff(x, dim=d), d


def trapezoid(y, x=None, *, dx=None, dim=-1):
    terms, d = _trap_terms(y, x if isinstance(x, Tensor) else None, x if x is not None and not isinstance(
        x, Tensor) else dx, dim)
    return terms.sum(d)


def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    terms, d = _trap_terms(y, x if isinstance(x, Tensor) else None, x if x is not None and not isinstance(
        x, Tensor) else dx, dim)
    return terms.cumsum(d)


# ------------------------------------------------------------------------- segment_reduce
_SEGMENT = {"sum": ("sum", 0.0), "mean": ("mean", float("nan")), "max": ("amax", float("-inf")),
            "min": ("amin", float("inf")), "prod": ("prod", 1.0)}


def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False, initial=None):
    """Reduce consecutive segments of ``data`` along ``axis`` (lengths, or offsets into it);
    an empty segment gives ``initial`` (else the reduction's identity; NaN for mean)."""
    if reduce not in _SEGMENT:
        raise RuntimeError(f"reduce argument must be either sum, max, min, mean or prod, got {reduce}")
    if indices is not None:
        raise RuntimeError("segment_reduce(): indices based reduction is not supported yet.")
    if (lengths is None) == (offsets is None):
        raise RuntimeError("segment_reduce(): Either lengths or offsets must be defined")
    ax = data._wrap_dim(axis)
    if lengths is not None:
        if lengths.ndim != 1:
            raise RuntimeError("segment_reduce(): Expected 1-D lengths (a batch of them is not supported)")
        sizes = [int(v) for v in host_arrays("segment_reduce", lengths)[0]]
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist() if sizes else []
    else:
        offs = [int(v) for v in host_arrays("segment_reduce", offsets)[0]]
        starts, sizes = offs[:-1], [b - a for a, b in zip(offs[:-1], offs[1:])]
    if not unsafe and (builtins.min(sizes, default=0) < 0 or (lengths is not None and builtins.sum(sizes) !=
                                                               data.shape[ax])):
        raise RuntimeError("segment_reduce(): Expected all rows of lengths along axis to sum to data.size(axis), "
                           "and all lengths to be non-negative")
    op, identity = _SEGMENT[reduce]
    fill = identity if initial is None else initial
    shape = list(data.shape)
    shape[ax] = 1
    out = []
    for start, size in zip(starts, sizes):
        if size == 0:
            out.append(C.full(shape, fill, dtype=data.dtype, device=data.device))
            continue
        seg = data.narrow(ax, start, size)
        r = getattr(seg, op)(ax, keepdim=True)
        if initial is not None and reduce != "mean":
            r = {"sum": r + initial, "prod": r * initial, "amax": r.clamp(min=initial),
                 "amin": r.clamp(max=initial)}[op]
        out.append(r)
    return M.cat(out, ax)


__all__ = ["segment_reduce", "nansum", "nanmean", "nanmedian", "quantile", "nanquantile", "mode", "cummax", "cummin",
           "logcumsumexp", "histc", "histogram", "histogramdd", "bincount", "unique", "unique_consecutive", "isin",
           "cov", "corrcoef", "diff", "gradient", "trapezoid", "trapz", "cumulative_trapezoid"]
