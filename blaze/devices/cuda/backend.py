"""The cuda backend: every primitive of ``NumpyBackend`` on DeviceArray memory with Triton kernels.

Views are stride arithmetic on ``DeviceArray`` (no copy); everything else launches a
kernel from ``blaze.kernels``. A primitive that has no kernel downloads its inputs, runs
the NumPy backend and uploads the result: each such host round trip is counted in
:data:`FALLBACKS` (by primitive name) and listed in the README, and the tests assert that
training steps of the example models make none.
"""
from __future__ import annotations


import numpy as np

from ... import _flags, _optable
from ..._flags import FALLBACKS  # noqa: F401  (the counter's public home is here)
from ...kernels import elementwise as _ew
from ...kernels import index as _ix
from ...kernels import random as _rnd
from ...kernels import reduce as _red
from ..interface import Backend
from . import index as _ti
from .memory import DeviceArray, _contig_strides
from .nn import TritonNNPrimitives
from .optim import TritonOptimPrimitives
from .vision import TritonVisionPrimitives

"""Host round trips made by cuda primitives that have no kernel, by primitive name."""




def _np(dtype) -> np.dtype:
    return dtype.np if hasattr(dtype, "np") else np.dtype(dtype)


def _is_arr(x) -> bool:
    return isinstance(x, DeviceArray)


def _axes(axis, ndim):
    if axis is None or ndim == 0:  # a 0-d tensor takes dim 0 / -1 (as torch) and has nothing to reduce
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    return tuple(sorted(int(a) % ndim for a in axis))


def _keep_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


_REDUCE_NAMES = {"amax": "max", "amin": "min"}


class TritonBackend(TritonNNPrimitives, TritonOptimPrimitives, TritonVisionPrimitives, Backend):
    """Primitives of the "cuda" device (same names and signatures as ``NumpyBackend``)."""

    name = "cuda"

    def __init__(self):
        from . import memory as cuda_memory
        cuda_memory.device()  # fail here, with the reason, when neither a GPU nor the interpreter is there
        _ix.install_error_word(cuda_memory.error_word)  # index-checking kernels report into the memory layer
        import blaze.tuning  # noqa: F401  (installs the tuning cache's lookup into the kernel registry)
        self._masks = {}

    # -- host round trips (counted) ------------------------------------------------------------
    def _fallback(self, name, fn, *args):
        """Run the NumPy backend's ``name`` on downloaded copies of the DeviceArray arguments."""
        from ..cpu.backend import NumpyBackend
        FALLBACKS[name] += 1
        host = [self.to_numpy(a) if _is_arr(a) else
                [self.to_numpy(e) if _is_arr(e) else e for e in a] if isinstance(a, list) else a for a in args]
        r = fn(NumpyBackend(), *host)
        return tuple(self._up(x) for x in r) if isinstance(r, tuple) else self._up(r)

    def _up(self, r):
        return self.from_numpy(np.asarray(r)) if isinstance(r, (np.ndarray, np.generic)) else r

    # -- creation and transfer -------------------------------------------------------------------
    def empty(self, shape, dtype):
        return DeviceArray.empty(tuple(shape), _np(dtype))

    def full(self, shape, value, dtype):
        out = DeviceArray.empty(tuple(shape), _np(dtype))
        if out.size:
            _ew.fill(out, value.item() if isinstance(value, np.generic) else value)
        return out

    # arange / linspace are built from their arguments alone and uploaded: no device data
    # travels back, and the upload from pageable memory does not wait on the stream.
    def arange(self, start, end, step, dtype):
        from ..cpu.backend import NumpyBackend
        return self._constant(NumpyBackend().arange(start, end, step, dtype))

    def linspace(self, start, end, steps, dtype):
        return self._constant(np.linspace(start, end, steps, dtype=np.float64).astype(_np(dtype)))

    def _constant(self, a):
        _flags.constant_upload[0] = True     # a CUDA graph capture may replay this upload
        try:
            return self.from_numpy(a)
        finally:
            _flags.constant_upload[0] = False

    def eye(self, n, m, dtype):
        out = self.full((n, m), 0, dtype)
        diag = _ti.diagonal(out, 0, 0, 1)
        if diag.size:
            _ew.fill(diag, 1)
        return out

    def from_numpy(self, a):
        return DeviceArray.from_host(np.asarray(a))

    def to_numpy(self, a):
        if not a.is_contiguous():
            a = self.contiguous(a)
        return a.to_host_contiguous()

    def copy(self, a):
        out = a.new(a.shape, a.dtype)
        if out.size:
            _ew.copy(a, out)
        return out

    def cast(self, x, dtype):
        dt = _np(dtype)
        if x.size == 0:
            return DeviceArray.empty(x.shape, dt)
        return _ew.cast(x, dt)

    # -- random (Philox streams from the generator's (seed, offset)) --------------------------
    def _fill_random(self, shape, dtype, gen, fill, *args):
        dt = _np(dtype)
        kernel_dt = dt if str(dt) in _rnd.FLOATS else np.dtype(np.float32)
        out = DeviceArray.empty(tuple(shape), kernel_dt)
        if out.size:
            seed, offset = gen.philox(out.size)
            fill(out, *args, seed=seed, offset=offset)
        return out if kernel_dt == dt else self.cast(out, dt)

    def uniform(self, shape, dtype, gen, low=0.0, high=1.0):
        return self._fill_random(shape, dtype, gen, _rnd.uniform_, low, high)

    def normal(self, shape, dtype, gen, mean=0.0, std=1.0):
        return self._fill_random(shape, dtype, gen, _rnd.normal_, mean, std)

    def randint(self, low, high, shape, dtype, gen):
        dt = _np(dtype)
        kdt = dt if str(dt) in _rnd.INTS + _rnd.FLOATS else np.dtype(np.int64)
        out = DeviceArray.empty(tuple(shape), kdt)
        if out.size:
            seed, offset = gen.philox(out.size)
            _rnd.randint_(out, low, high, seed=seed, offset=offset)
        return out if kdt == dt else self.cast(out, dt)

    def randperm(self, n, dtype, gen):
        # a permutation needs a sort of random keys; drawn on the host from the same generator
        FALLBACKS["randperm"] += 1
        return self.from_numpy(gen.rng.permutation(n).astype(_np(dtype)))

    def bernoulli(self, p, dtype, gen):
        if isinstance(p, np.ndarray):
            p = self.from_numpy(p.astype(np.float32))
        if not _is_arr(p):
            out = DeviceArray.empty(np.shape(p), np.float32)
            if out.size:
                seed, offset = gen.philox(out.size)
                _rnd.bernoulli_(out, float(p), seed=seed, offset=offset)
            return self.cast(out, dtype)
        u = self.uniform(p.shape, np.float32, gen)
        return self.cast(self.binary("lt", u, p), dtype)

    def multinomial(self, probs, num_samples, replacement, gen):
        from ..cpu.backend import NumpyBackend
        return self._fallback("multinomial", lambda nb, p: NumpyBackend.multinomial(nb, p, num_samples, replacement,
                                                                                      gen), probs)

    # -- elementwise ---------------------------------------------------------------------------
    def unary(self, op, x):
        row = _optable.UNARY[op]
        if row.kernel_id is None:
            return row.compose(self, x)
        return _ew.unary(op, x)

    def binary(self, op, a, b):
        row = _optable.BINARY[op]
        if row.kernel_id is None:
            return row.compose(self, a, b)
        # the op layer promoted the operands already: the launcher's result_type agrees, once per plan
        return _ew.launch(op, (a, b))

    def where(self, cond, a, b):
        return _ew.launch("where", (cond, a, b))

    def clamp(self, x, lo, hi):
        if lo is None or hi is None:
            return x if lo is None and hi is None else \
                self.binary("minimum", x, hi) if lo is None else self.binary("maximum", x, lo)
        return _ew.launch("clamp", (x, lo, hi))

    def assign(self, dst, src):
        """Write ``src`` (broadcast, cast) into ``dst`` in place; ``dst`` may be a view."""
        if dst.size == 0:
            return
        if isinstance(src, np.ndarray) and src.ndim == 0:
            src = src.item()
        if isinstance(src, np.ndarray):
            src = self.from_numpy(src)
        if _is_arr(src):
            _ew.copy(src, dst)
        else:
            _ew.fill(dst, src.item() if isinstance(src, np.generic) else src)

    # -- reductions ----------------------------------------------------------------------------
    def _reduce(self, op, x, axis, keepdim, out_dtype, **kw):
        axes = _axes(axis, x.ndim)
        kept = tuple(s for i, s in enumerate(x.shape) if i not in axes)
        if x.size == 0:
            return None
        if not axes:  # 0-d input or dim=(): each output element is its one input element
            return self._reduce_one(op, x, np.dtype(x.dtype if out_dtype is None else out_dtype), kw)
        r = _red.reduce(op, x, axes=axes, out_dtype=None if out_dtype is None else np.dtype(out_dtype), **kw)
        return r.view_as(_keep_shape(x.shape, axes), _contig_strides(_keep_shape(x.shape, axes))) if keepdim else \
            r.view_as(kept, _contig_strides(kept))

    def _reduce_one(self, op, x, dt, kw):
        """The reduction of single-element rows, on the device: a cast (var: 0 / (1 - correction))."""
        if op in ("any", "all"):
            return self.binary("ne", x, 0)
        if op in ("var", "std"):
            # torch: one element with correction >= 1 is 0/0 = NaN (x - x keeps inf/NaN inputs NaN)
            return self.cast(self.binary("div", self.binary("sub", x, x), float(1 - kw.get("correction", 1))), dt)
        return self.cast(x, dt) if dt != x.dtype else self.copy(x)

    def reduce(self, op, x, axis, keepdim):
        kop = _REDUCE_NAMES.get(op, op)
        if op in ("any", "all"):
            dt = np.bool_
        elif op in ("sum", "prod") and x.dtype.kind in "biu":
            dt = np.int64
        else:
            dt = x.dtype
        r = self._reduce(kop, x, axis, keepdim, dt)
        return r if r is not None else self._fallback(f"reduce_{op}_empty", lambda nb, a: nb.reduce(op, a, axis, keepdim), x)

    def sum_to_dtype(self, x, axis, keepdim, dtype):
        r = self._reduce("sum", x, axis, keepdim, _np(dtype))
        return r if r is not None else self._fallback("sum_empty", lambda nb, a: nb.sum_to_dtype(a, axis, keepdim, dtype), x)

    def var(self, x, axis, correction, keepdim):
        r = self._reduce("var", x, axis, keepdim, x.dtype, correction=correction)
        return r if r is not None else self._fallback("var_empty", lambda nb, a: nb.var(a, axis, correction, keepdim), x)

    def argreduce(self, op, x, axis, keepdim):
        if x.ndim == 0:
            return self.full((), 0, np.int64)
        if axis is None:
            r = _red.reduce(op, x, axes=None)
            return r.view_as((1,) * x.ndim if keepdim else (), (1,) * x.ndim if keepdim else ())
        return self._reduce(op, x, axis, keepdim, None)

    def logsumexp(self, x, axis, keepdim):
        r = self._reduce("logsumexp", x, axis, keepdim, x.dtype)
        return r if r is not None else self._fallback("logsumexp_empty", lambda nb, a: nb.logsumexp(a, axis, keepdim), x)

    def cumsum(self, x, axis, dtype):
        return _red.cumsum(x, axis % max(x.ndim, 1), out_dtype=_np(dtype)) if x.size else self.empty(x.shape, dtype)

    def cumprod(self, x, axis, dtype):
        return _red.cumprod(x, axis % max(x.ndim, 1), out_dtype=_np(dtype)) if x.size else self.empty(x.shape, dtype)

    # -- movement (views: stride arithmetic, no copy) --------------------------------------------
    def view(self, x, shape):
        """A view of ``x`` with ``shape``, or None when the strides do not allow one."""
        return _ti.try_view(x, shape)

    def reshape(self, x, shape):
        shape = tuple(shape)
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1]))
            shape = tuple(x.size // known if s == -1 else s for s in shape)
        v = _ti.try_view(x, shape)
        return v if v is not None else _ti.try_view(self.contiguous(x), shape)

    def permute(self, x, dims):
        return x.view_as([x.shape[d] for d in dims], [x.strides[d] for d in dims])

    def expand(self, x, shape):
        shape = tuple(shape)
        lead = len(shape) - x.ndim
        strides = [0] * lead + [0 if (s == 1 and n != 1) else st
                                for s, st, n in zip(x.shape, x.strides, shape[lead:])]
        return x.view_as(shape, strides)

    def _has_advanced(self, key):
        ks = key if isinstance(key, tuple) else (key,)
        return any(_is_arr(k) or isinstance(k, (bool, np.ndarray, list)) for k in ks)

    def _device_key(self, key):
        ks = key if isinstance(key, tuple) else (key,)
        out = []
        for k in ks:
            if isinstance(k, list):
                k = np.asarray(k)
            if isinstance(k, bool):
                k = self.full((), k, np.bool_)
            if isinstance(k, np.ndarray) and k.dtype == np.uint8:
                k = k.astype(np.bool_)
            if _is_arr(k) and k.dtype == np.uint8:  # torch: a uint8 index is a mask
                k = self.cast(k, np.bool_)
            out.append(k)
        return tuple(out)

    def getitem(self, x, key):
        if not self._has_advanced(key):
            view, _ = _ti.basic_view(x, _ti.normalize_key(key, x.ndim))
            return view
        key = self._device_key(key)
        if any(_is_arr(k) and k.ndim == 0 and k.dtype == np.bool_ for k in key):
            return self._fallback("getitem_bool_scalar", lambda nb, a, *k: nb.getitem(a, tuple(k)), x, *key)
        offsets, shape = _ti.element_offsets(self, x, key)
        if offsets.size == 0:
            return DeviceArray.empty(shape, x.dtype)
        return _ix.take(x.flat_storage(), offsets)

    def setitem(self, x, key, value):
        if not self._has_advanced(key):
            view, _ = _ti.basic_view(x, _ti.normalize_key(key, x.ndim))
            self.assign(view, value)
            return
        self.index_put(x, key, value, False)

    def index_put(self, x, key, value, accumulate):
        key = self._device_key(key)
        offsets, shape = _ti.element_offsets(self, x, key, "index_put_")
        if offsets.size == 0:
            return
        flat = x.flat_storage()
        if isinstance(value, np.ndarray):
            value = self.from_numpy(value)
        if not _is_arr(value):
            value = self.full((), value, x.dtype)
        if value.dtype != x.dtype:
            value = self.cast(value, x.dtype)
        value = self.expand(value, shape)
        offsets = self.reshape(offsets, (offsets.size,))
        value = self.reshape(value, (offsets.size,))
        if not accumulate or str(x.dtype) in _ix.ATOMIC_DTYPES:
            _ix.index_put_(flat, offsets, value, accumulate=accumulate)
        elif str(x.dtype) in ("float16", "bfloat16"):
            # atomics are float32/int32: accumulate the indexed elements in float32, write back
            # duplicates must add up: accumulate into a float32 image of the allocation
            img = self.cast(flat, np.float32)
            _ix.index_put_(img, offsets, self.cast(value, np.float32), accumulate=True)
            _ix.index_put_(flat, offsets, self.cast(_ix.take(img, offsets), x.dtype), accumulate=False)
        else:
            r = self._fallback("index_put_accumulate", lambda nb, a, o, v: np.add.at(a, o, v) or a, flat, offsets, value)
            _ew.copy(r, flat)

    def contiguous(self, x):
        if x.is_contiguous():
            return x
        return self.copy(x)

    def is_contiguous(self, x) -> bool:
        return x.is_contiguous()

    def strides(self, x):
        return x.strides

    def diagonal(self, x, offset, dim1, dim2):
        return _ti.diagonal(x, offset, dim1, dim2)

    def as_strided(self, x, shape, strides, offset):
        return x.view_as(shape, strides, x.offset + offset)

    # -- movement (copies) -----------------------------------------------------------------------
    def cat(self, xs, axis):
        return _ix.cat(list(xs), dim=axis)

    def expand_dims(self, x, axis):
        return x.view_as(x.shape[:axis] + (1,) + x.shape[axis:], x.strides[:axis] + (0,) + x.strides[axis:])

    def pad(self, x, pad_width, value):
        pads = []
        for lo, hi in reversed([tuple(p) for p in pad_width]):
            pads += [int(lo), int(hi)]
        while len(pads) > 2 and pads[-1] == 0 and pads[-2] == 0:  # leading unpadded dims: the kernel takes 6 dims
            pads = pads[:-2]
        return _ix.pad(x, tuple(pads), value)

    def pad_mode(self, x, pad_width, mode):
        # reflect / replicate / circular are gathers whose indices depend on shapes alone
        for d, (lo, hi) in enumerate(pad_width):
            if lo == 0 and hi == 0:
                continue
            n = x.shape[d]
            i = np.arange(-lo, n + hi)
            if mode == "reflect":
                period = 2 * (n - 1)
                i = np.abs(np.mod(i, period) if period else i * 0)
                i = np.where(i >= n, period - i, i)
            elif mode == "replicate":
                i = np.clip(i, 0, n - 1)
            else:
                i = np.mod(i, n)
            x = _ix.index_select(x, d, self.from_numpy(i.astype(np.int64)))
        return x

    def flip(self, x, axes):
        return _ix.flip(x, tuple(a % x.ndim for a in axes)) if x.size else self.copy(x)

    def roll(self, x, shifts, axes):
        if axes is None:
            flat = self.reshape(x, (x.size,))
            return self.reshape(self.roll(flat, shifts, (0,)), x.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        return _ix.roll(x, shifts, axes) if x.size else self.copy(x)

    def _tri(self, x, k, lower):
        n, m = x.shape[-2:]
        key = (n, m, k, lower)
        mask = self._masks.get(key)
        if mask is None:  # shape-only constant, uploaded once and reused
            mask = self.from_numpy(np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool))
            self._masks[key] = mask
        return self.where(mask, x, False if x.dtype == np.bool_ else 0)

    def tril(self, x, k):
        return self._tri(x, k, True)

    def triu(self, x, k):
        return self._tri(x, k, False)

    def repeat(self, x, reps):
        reps = (1,) * (x.ndim - len(reps)) + tuple(reps)
        if len(reps) > x.ndim:
            x = x.view_as((1,) * (len(reps) - x.ndim) + x.shape, (0,) * (len(reps) - x.ndim) + x.strides)
        # (r0, s0, r1, s1, ...) with stride 0 on the r's, copied, then merged: (r0*s0, r1*s1, ...)
        shape, strides = [], []
        for r, s, st in zip(reps, x.shape, x.strides):
            shape += [r, s]
            strides += [0, st]
        big = self.copy(x.view_as(shape, strides))
        return self.reshape(big, tuple(r * s for r, s in zip(reps, x.shape)))

    def repeat_interleave(self, x, repeats, axis):
        if axis is None:
            x, axis = self.reshape(x, (x.size,)), 0
        if _is_arr(repeats) or isinstance(repeats, np.ndarray):
            reps = self.to_numpy(repeats) if _is_arr(repeats) else repeats
            if _is_arr(repeats):
                FALLBACKS["repeat_interleave"] += 1  # the output length is the sum of the repeats
            if reps.size != 1:
                idx = np.repeat(np.arange(x.shape[axis]), reps)
                return _ix.index_select(x, axis, self.from_numpy(idx.astype(np.int64)))
            repeats = int(reps.reshape(-1)[0])
        r = int(repeats)
        shape = x.shape[:axis + 1] + (r,) + x.shape[axis + 1:]
        strides = x.strides[:axis + 1] + (0,) + x.strides[axis + 1:]
        big = self.copy(x.view_as(shape, strides))
        return self.reshape(big, x.shape[:axis] + (x.shape[axis] * r,) + x.shape[axis + 1:])

    def _idx(self, idx):
        if isinstance(idx, np.ndarray):  # an index tensor still on the cpu: uploaded, as torch does for indexing
            idx = self.from_numpy(idx.astype(np.int64, copy=False))
        return idx if idx.dtype in (np.int64, np.int32) else self.cast(idx, np.int64)

    def gather(self, x, axis, idx):
        return _ix.gather(x, axis, self._idx(idx))

    def scatter_reduce(self, x, axis, idx, src, reduce, include_self):
        # prod/amax/amin/mean have no atomic kernel here: a counted host round trip
        return self._fallback("scatter_reduce", lambda nb, a, i, s: nb.scatter_reduce(a, axis, i, s, reduce,
                                                                                     include_self), x, idx, src)

    def scatter(self, x, axis, idx, src, reduce=None):
        idx = self._idx(idx)
        if src.shape != idx.shape:  # src may be larger than index: only its leading region is used
            src = src.view_as(idx.shape, src.strides)
        if reduce != "add":
            return _ix.scatter(x, axis, idx, src)
        if str(x.dtype) in _ix.ATOMIC_DTYPES:
            return _ix.scatter_add(x, axis, idx, src)
        if str(x.dtype) in ("float16", "bfloat16"):
            r = _ix.scatter_add(self.cast(x, np.float32), axis, idx, self.cast(src, np.float32))
            return self.cast(r, x.dtype)
        return self._fallback("scatter_add", lambda nb, a, i, s: nb.scatter(a, axis, i, s, "add"), x, idx, src)

    def index_select(self, x, axis, idx):
        return _ix.index_select(x, axis, self._idx(idx))

    # data-dependent output shapes or sorting: no kernel, counted host round trips
    def nonzero(self, x):
        return self._fallback("nonzero", lambda nb, a: nb.nonzero(a), x)

    def sort(self, x, axis, descending, stable):
        return self._fallback("sort", lambda nb, a: nb.sort(a, axis, descending, stable), x)

    def topk(self, x, k, axis, largest, sorted_):
        return self._fallback("topk", lambda nb, a: nb.topk(a, k, axis, largest, sorted_), x)

    def unique(self, x, sorted_, return_inverse, return_counts):
        return self._fallback("unique", lambda nb, a: nb.unique(a, sorted_, return_inverse, return_counts), x)

    def einsum(self, eq, *xs):
        if any(x.dtype.kind not in "fV" for x in xs):  # the GEMM kernel multiplies floats only
            return self._fallback("einsum", lambda nb, *a: nb.einsum(eq, *a), *xs)
        return super().einsum(eq, *xs)  # permutes, sums and GEMMs: blaze/devices/defaults/einsum.py
