"""Indexing and movement copies: gather/scatter, index_select, take (x[idx]), index_put,
index_add, cat, pad, flip, roll.

Every op here is one strided element loop over an iteration space of up to 6 dims
(after merging dims that are contiguous in every tensor). Each element moves once:
read 1 element (+1 index), write 1 element. One kernel, four modes:

    COPY         dst[d(i)]              = src[s(i)]
    GATHER       dst[d(i)]              = src[s(i) + idx[j(i)] * g_stride]
    SCATTER      dst[d(i) + idx*g_stride] = src[s(i)]
    SCATTER_ADD  dst[d(i) + idx*g_stride] += alpha * src[s(i)]      (atomic: duplicates add up)

Indices: int64 or int32. Negative indices in [-size, 0) wrap like Python's. Launchers do NOT
read index contents (that would need a host sync). The kernels are guarded instead: an
index outside [-size, size) never touches memory — gathers write 0 for that element,
scatters skip it — and raises the op's code in the device error word
(installed by the memory layer: ``install_error_word``), which the host turns into a RuntimeError at the next
synchronisation, as CUDA's device-side asserts.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import HostBuffer, check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register

MAX_DIMS = 6
COPY, GATHER, SCATTER, SCATTER_ADD = 0, 1, 2, 3
INDEX_DTYPES = ("int64", "int32")
# atomic add exists for these on every GPU Triton supports (bf16 needs sm90): accumulate
# into a float32 buffer and cast when the tensor is half precision.
ATOMIC_DTYPES = ("float32", "int32")


@triton.jit
def _unravel(lin, D1, D2, D3, D4, D5):
    # sizes equal to 1 are specialised to constants by Triton, so padded dims cost nothing
    i5 = lin % D5
    lin = lin // D5
    i4 = lin % D4
    lin = lin // D4
    i3 = lin % D3
    lin = lin // D3
    i2 = lin % D2
    lin = lin // D2
    i1 = lin % D1
    i0 = lin // D1
    return i0, i1, i2, i3, i4, i5


@triton.jit
def flag_error(err_ptr, code, bad):
    # masked: on the happy path no lane touches the word
    z = tl.zeros(bad.shape, tl.int32)
    tl.atomic_max(err_ptr + z, z + code, mask=bad, sem="relaxed")


@triton.jit(do_not_specialize=["code"])  # one binary whichever op it reports for
def _move_kernel(src_ptr, dst_ptr, idx_ptr, err_ptr, code,
                 N, D1, D2, D3, D4, D5,
                 ss0, ss1, ss2, ss3, ss4, ss5,
                 ds0, ds1, ds2, ds3, ds4, ds5,
                 is0, is1, is2, is3, is4, is5,
                 src_off, dst_off, g_stride, g_size, alpha,
                 MODE: tl.constexpr, HAS_ALPHA: tl.constexpr, BLOCK: tl.constexpr):
    # read N elements (+N indices), write N elements
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < N
    i0, i1, i2, i3, i4, i5 = _unravel(lin, D1, D2, D3, D4, D5)
    s = src_off + i0 * ss0 + i1 * ss1 + i2 * ss2 + i3 * ss3 + i4 * ss4 + i5 * ss5
    d = dst_off + i0 * ds0 + i1 * ds1 + i2 * ds2 + i3 * ds3 + i4 * ds4 + i5 * ds5
    if MODE == 0:
        tl.store(dst_ptr + d, tl.load(src_ptr + s, mask=m), mask=m)
    else:
        j = i0 * is0 + i1 * is1 + i2 * is2 + i3 * is3 + i4 * is4 + i5 * is5
        idx = tl.load(idx_ptr + j, mask=m, other=0).to(tl.int64)
        idx = tl.where(idx < 0, idx + g_size, idx)
        ok = m & (idx >= 0) & (idx < g_size)   # out-of-range: no memory touched
        flag_error(err_ptr, code, m & ~ok)
        if MODE == 1:
            v = tl.load(src_ptr + s + idx * g_stride, mask=ok, other=0)
            tl.store(dst_ptr + d, v, mask=m)
        elif MODE == 2:
            tl.store(dst_ptr + d + idx * g_stride, tl.load(src_ptr + s, mask=ok), mask=ok)
        else:
            v = tl.load(src_ptr + s, mask=ok, other=0)
            if HAS_ALPHA:
                v = v * alpha
            tl.atomic_add(dst_ptr + d + idx * g_stride, v.to(dst_ptr.dtype.element_ty), mask=ok, sem="relaxed")


@triton.jit(do_not_specialize=["code"])
def _check_kernel(idx_ptr, out_ptr, bad_ptr, err_ptr, code, N, size, BLOCK: tl.constexpr):
    # read N indices, write N int64 + N bools
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < N
    i = tl.load(idx_ptr + lin, mask=m, other=0).to(tl.int64)
    i = tl.where(i < 0, i + size, i)
    bad = (i < 0) | (i >= size)
    flag_error(err_ptr, code, m & bad)
    tl.store(out_ptr + lin, tl.where(bad, 0, i), mask=m)
    tl.store(bad_ptr + lin, bad, mask=m)


@triton.jit
def _pad_kernel(x_ptr, out_ptr, N, D1, D2, D3, D4, D5,
                X0, X1, X2, X3, X4, X5, L0, L1, L2, L3, L4, L5,
                xs0, xs1, xs2, xs3, xs4, xs5, os0, os1, os2, os3, os4, os5,
                value, BLOCK: tl.constexpr):
    # read <= N elements, write N elements (N = output numel)
    lin = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = lin < N
    i0, i1, i2, i3, i4, i5 = _unravel(lin, D1, D2, D3, D4, D5)
    j0, j1, j2, j3, j4, j5 = i0 - L0, i1 - L1, i2 - L2, i3 - L3, i4 - L4, i5 - L5
    inside = ((j0 >= 0) & (j0 < X0) & (j1 >= 0) & (j1 < X1) & (j2 >= 0) & (j2 < X2)
              & (j3 >= 0) & (j3 < X3) & (j4 >= 0) & (j4 < X4) & (j5 >= 0) & (j5 < X5))
    s = j0 * xs0 + j1 * xs1 + j2 * xs2 + j3 * xs3 + j4 * xs4 + j5 * xs5
    v = tl.load(x_ptr + s, mask=m & inside, other=0)
    # Cast `value` first: Triton 3.6's interpreter leaves a float argument a Python scalar, and
    # where(bf16, scalar) then needs builder.get_bf16, which its interpreter lacks (3.9 has it).
    v = tl.where(inside, v, tl.cast(value, v.dtype))
    d = i0 * os0 + i1 * os1 + i2 * os2 + i3 * os3 + i4 * os4 + i5 * os5
    tl.store(out_ptr + d, v.to(out_ptr.dtype.element_ty), mask=m)


# ---------------------------------------------------------------------------------------
# helpers shared by the launchers (and by random.py for strided element loops)
# ---------------------------------------------------------------------------------------
def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def coalesce(sizes, *strides):
    """Drop size-1 dims and merge neighbours that are contiguous in every tensor.

    Returns (sizes, [strides per tensor]) padded at the front to MAX_DIMS dims; raises if
    more than MAX_DIMS dims remain.
    """
    dims = []
    for k, size in enumerate(sizes):
        if size == 1:
            continue
        st = [s[k] for s in strides]
        if dims and all(p == q * size for p, q in zip(dims[-1][1], st)):
            dims[-1] = (dims[-1][0] * size, st)  # outer dim steps exactly over the inner one
        else:
            dims.append((size, st))
    if len(dims) > MAX_DIMS:
        raise ValueError(f"at most {MAX_DIMS} non-mergeable dims are supported, got shape {tuple(sizes)}")
    pad = MAX_DIMS - len(dims)
    out_sizes = [1] * pad + [d[0] for d in dims]
    out_strides = [[0] * pad + [d[1][t] for d in dims] for t in range(len(strides))]
    return out_sizes, out_strides


def pad_dims(seq, fill):
    seq = list(seq)
    if len(seq) > MAX_DIMS:
        raise ValueError(f"at most {MAX_DIMS} dims are supported, got {len(seq)}")
    return [fill] * (MAX_DIMS - len(seq)) + seq


def _wrap_dim(dim: int, ndim: int, name: str = "dim") -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name} {dim} is out of range for a tensor of {ndim} dims")
    return dim % max(ndim, 1)


def _check_out(out, shape, dtype, name="out"):
    if out is None:
        return
    check_buffer(name, out)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    if str(out.dtype) != str(dtype):
        raise TypeError(f"{name}: expected dtype {dtype}, got {out.dtype}")


def _same_memory(a, b) -> bool:
    return a.data_ptr() == b.data_ptr() and tuple(a.strides) == tuple(b.strides) and tuple(a.shape) == tuple(b.shape)


def move_heuristic(problem: dict) -> dict:
    n = problem["numel"]
    block = 1024 if n >= 1024 else max(16, triton.next_power_of_2(n))
    return dict(BLOCK=block, num_warps=4 if block >= 512 else 1)


# The device error word belongs to the memory layer (blaze/devices/cuda/memory.py), which sits
# above the kernels: the cuda device installs its allocator here when it loads (as tuning
# installs its config lookup into the registry), so no kernel imports the device layer.
_ERROR_WORD = [None]


def install_error_word(source) -> None:
    """Use ``source(op) -> (int32 word, op's code)`` for the kernels that check indices."""
    _ERROR_WORD[0] = source


def error_word(op, like):
    """(device error word, op's code) for a kernel that checks ``op``'s indices on buffer ``like``."""
    source = _ERROR_WORD[0]
    if source is None or (not interpret() and isinstance(like, HostBuffer)):
        # no memory layer loaded, or host buffers off the interpreter (only ever compiled:
        # tests/kernels/compile_util): a scratch word nobody reads
        return like.new((1,), "int32"), 0
    return source(op)


def _launch(mode, sizes, src, src_strides, dst, dst_strides, idx=None, idx_strides=None,
            src_off=0, dst_off=0, g_stride=0, g_size=1, alpha=1.0, config=None, op="index"):
    n = numel(sizes)
    if n == 0:
        return
    idx_strides = idx_strides if idx is not None else [0] * len(sizes)
    d, (ss, ds, js) = coalesce(sizes, src_strides, dst_strides, idx_strides)
    cfg = config or config_for("index_move", dict(numel=n, dtype=str(dst.dtype)))
    meta, opts = launch_options(cfg)
    has_alpha = mode == SCATTER_ADD and alpha != 1
    err, code = error_word(op, dst) if mode != COPY else (src, 0)
    _move_kernel[(triton.cdiv(n, meta["BLOCK"]),)](
        src, dst, idx if idx is not None else src, err, code, n, *d[1:], *ss, *ds, *js,
        src_off, dst_off, g_stride, g_size, alpha, MODE=mode, HAS_ALPHA=has_alpha, **meta, **opts)


def copy_(dst, src, config=None):
    """dst[...] = src[...] for two buffers of one shape and dtype, any strides. Returns dst."""
    check_buffer("src", src)
    check_buffer("dst", dst)
    if tuple(dst.shape) != tuple(src.shape):
        raise ValueError(f"copy_: shapes differ: dst {tuple(dst.shape)} vs src {tuple(src.shape)}")
    if str(dst.dtype) != str(src.dtype):
        raise TypeError(f"copy_: dtypes differ: dst {dst.dtype} vs src {src.dtype}")
    if not _same_memory(dst, src):
        _launch(COPY, list(src.shape), src, list(src.strides), dst, list(dst.strides), config=config)
    return dst


def _check_index(index, name="index"):
    check_buffer(name, index, dtypes=INDEX_DTYPES)


def check_indices(index, size, op, config=None):
    """(index wrapped into [0, size) with bad entries 0 as int64, bad as bool) for a contiguous index.

    An entry outside [-size, size) raises ``op``'s device-side error at the next synchronisation.
    """
    _check_index(index)
    want, acc = [], 1
    for s in reversed(index.shape):
        want.insert(0, acc)
        acc *= s
    if any(n > 1 and s != w for n, s, w in zip(index.shape, index.strides, want)):
        raise ValueError(f"check_indices: index must be contiguous, got strides {tuple(index.strides)}")
    out, bad = index.new(index.shape, "int64"), index.new(index.shape, "bool")
    n = numel(index.shape)
    if n:
        cfg = config or config_for("index_move", dict(numel=n, dtype="int64"))
        meta, opts = launch_options(cfg)
        err, code = error_word(op, index)
        _check_kernel[(triton.cdiv(n, meta["BLOCK"]),)](index, out, bad, err, code, n, size, **meta, **opts)
    return out, bad


# ---------------------------------------------------------------------------------------
# gather / scatter (torch semantics: index has the rank of x)
# ---------------------------------------------------------------------------------------
def gather(x, dim, index, out=None, config=None):
    """out[i][j][k] = x[i][index[i][j][k]][k] (for dim=1), like ``torch.gather``.

    Shape: index has x's rank and ``index.size(d) <= x.size(d)`` for d != dim; out has
    index's shape and x's dtype. Out-of-range indices give 0 (see module docstring).
    """
    check_buffer("x", x)
    _check_index(index)
    dim = _wrap_dim(dim, len(x.shape))
    if len(index.shape) != len(x.shape):
        raise ValueError(f"gather: index must have x's rank: x {tuple(x.shape)}, index {tuple(index.shape)}")
    for d, (a, b) in enumerate(zip(index.shape, x.shape)):
        if d != dim and a > b:
            raise ValueError(f"gather: index {tuple(index.shape)} is larger than x {tuple(x.shape)} in dim {d}")
    _check_out(out, index.shape, x.dtype)
    out = out if out is not None else x.new(index.shape, x.dtype)
    xs = list(x.strides)
    g_stride, xs[dim] = xs[dim], 0
    _launch(GATHER, list(index.shape), x, xs, out, list(out.strides), index, list(index.strides),
            g_stride=g_stride, g_size=x.shape[dim], config=config, op="gather")
    return out


def _scatter(mode, x, dim, index, src, out, alpha, config):
    check_buffer("x", x)
    check_buffer("src", src)
    _check_index(index)
    dim = _wrap_dim(dim, len(x.shape))
    if not len(index.shape) == len(x.shape) == len(src.shape):
        raise ValueError(f"scatter: x {tuple(x.shape)}, index {tuple(index.shape)} and src "
                         f"{tuple(src.shape)} must have the same rank")
    for d in range(len(x.shape)):
        if index.shape[d] > src.shape[d] or (d != dim and index.shape[d] > x.shape[d]):
            raise ValueError(f"scatter: index {tuple(index.shape)} is larger than src {tuple(src.shape)} "
                             f"or x {tuple(x.shape)} in dim {d}")
    if str(src.dtype) != str(x.dtype):
        raise TypeError(f"scatter: src dtype {src.dtype} differs from x dtype {x.dtype}")
    if mode == SCATTER_ADD and str(x.dtype) not in ATOMIC_DTYPES:
        raise TypeError(f"scatter_add: dtype {x.dtype} has no atomic add here (supported: {', '.join(ATOMIC_DTYPES)})")
    _check_out(out, x.shape, x.dtype)
    out = copy_(out if out is not None else x.new(x.shape, x.dtype), x)
    os_ = list(out.strides)
    g_stride, os_[dim] = os_[dim], 0
    _launch(mode, list(index.shape), src, list(src.strides), out, os_, index, list(index.strides),
            g_stride=g_stride, g_size=x.shape[dim], alpha=alpha, config=config,
            op="scatter_add" if mode == SCATTER_ADD else "scatter")
    return out


def scatter(x, dim, index, src, out=None, config=None):
    """out = x.clone(); out[i][index[i][j][k]][k] = src[i][j][k] (dim=1), like ``torch.scatter``.

    With duplicate indices one of the writes wins (unspecified which, as in PyTorch).
    Pass ``out=x`` to scatter in place. Out-of-range indices are skipped.
    """
    return _scatter(SCATTER, x, dim, index, src, out, 1.0, config)


def scatter_add(x, dim, index, src, out=None, config=None):
    """Like :func:`scatter` but adds (atomically, so duplicates accumulate). float32/int32."""
    return _scatter(SCATTER_ADD, x, dim, index, src, out, 1.0, config)


# ---------------------------------------------------------------------------------------
# index_select / take / index_put / index_add (a 1-D or N-D index over one dim)
# ---------------------------------------------------------------------------------------
def index_select(x, dim, index, out=None, config=None):
    """x.index_select(dim, index): index is 1-D; out.shape = x.shape with dim -> len(index)."""
    check_buffer("x", x)
    check_buffer("index", index, ndim=1, dtypes=INDEX_DTYPES)
    if len(x.shape) == 0:
        raise ValueError("index_select: x must have at least one dim")
    dim = _wrap_dim(dim, len(x.shape))
    shape = list(x.shape)
    shape[dim] = index.shape[0]
    _check_out(out, shape, x.dtype)
    out = out if out is not None else x.new(shape, x.dtype)
    xs = list(x.strides)
    g_stride, xs[dim] = xs[dim], 0
    js = [0] * len(xs)
    js[dim] = index.strides[0]  # the index only varies along dim
    _launch(GATHER, shape, x, xs, out, list(out.strides), index, js, g_stride=g_stride, g_size=x.shape[dim], config=config,
            op="index_select")
    return out


def take(x, index, out=None, config=None, op="index"):
    """x[index] for an integer index tensor of any shape over dim 0 (advanced indexing).

    Shape: out.shape = index.shape + x.shape[1:]. Out-of-range indices give 0.
    """
    check_buffer("x", x)
    _check_index(index)
    if len(x.shape) == 0:
        raise ValueError("take: x must have at least one dim to index")
    shape = tuple(index.shape) + tuple(x.shape[1:])
    _check_out(out, shape, x.dtype)
    out = out if out is not None else x.new(shape, x.dtype)
    k = len(index.shape)
    xs = [0] * k + list(x.strides[1:])       # (index dims, rest of x)
    js = list(index.strides) + [0] * (len(x.shape) - 1)
    _launch(GATHER, list(shape), x, xs, out, list(out.strides), index, js,
            g_stride=x.strides[0], g_size=x.shape[0], config=config, op=op)
    return out


def index_put_(x, index, values, accumulate=False, config=None, op="index_put_"):
    """x[index] = values (or += with accumulate=True), in place over dim 0; returns x.

    Shape: values has shape index.shape + x.shape[1:] (broadcast values by passing stride-0
    buffers). accumulate=True is atomic, so duplicate indices sum (float32/int32 x); without
    it one duplicate wins. Out-of-range indices are skipped.
    """
    check_buffer("x", x)
    check_buffer("values", values)
    _check_index(index)
    if len(x.shape) == 0:
        raise ValueError("index_put_: x must have at least one dim to index")
    shape = tuple(index.shape) + tuple(x.shape[1:])
    if tuple(values.shape) != shape:
        raise ValueError(f"index_put_: values shape {tuple(values.shape)} should be index.shape + x.shape[1:] = {shape}")
    if str(values.dtype) != str(x.dtype):
        raise TypeError(f"index_put_: values dtype {values.dtype} differs from x dtype {x.dtype}")
    if accumulate and str(x.dtype) not in ATOMIC_DTYPES:
        raise TypeError(f"index_put_(accumulate=True): dtype {x.dtype} has no atomic add here "
                        f"(supported: {', '.join(ATOMIC_DTYPES)})")
    k = len(index.shape)
    ds = [0] * k + list(x.strides[1:])
    js = list(index.strides) + [0] * (len(x.shape) - 1)
    _launch(SCATTER_ADD if accumulate else SCATTER, list(shape), values, list(values.strides), x, ds, index, js,
            g_stride=x.strides[0], g_size=x.shape[0], config=config, op=op)
    return x


def index_add(x, dim, index, src, alpha=1, out=None, config=None):
    """out = x.clone(); out.index_add_(dim, index, src, alpha) — atomic, duplicates sum.

    Shape: index is 1-D; src is x's shape with dim -> len(index). Pass ``out=x`` for in place.
    """
    check_buffer("x", x)
    check_buffer("src", src)
    check_buffer("index", index, ndim=1, dtypes=INDEX_DTYPES)
    dim = _wrap_dim(dim, len(x.shape))
    want = list(x.shape)
    want[dim] = index.shape[0]
    if tuple(src.shape) != tuple(want):
        raise ValueError(f"index_add: src shape {tuple(src.shape)} should be {tuple(want)}")
    if str(src.dtype) != str(x.dtype):
        raise TypeError(f"index_add: src dtype {src.dtype} differs from x dtype {x.dtype}")
    if str(x.dtype) not in ATOMIC_DTYPES:
        raise TypeError(f"index_add: dtype {x.dtype} has no atomic add here (supported: {', '.join(ATOMIC_DTYPES)})")
    _check_out(out, x.shape, x.dtype)
    out = copy_(out if out is not None else x.new(x.shape, x.dtype), x)
    ds = list(out.strides)
    g_stride, ds[dim] = ds[dim], 0
    js = [0] * len(want)
    js[dim] = index.strides[0]
    _launch(SCATTER_ADD, want, src, list(src.strides), out, ds, index, js,
            g_stride=g_stride, g_size=x.shape[dim], alpha=alpha, config=config, op="index_add")
    return out


# ---------------------------------------------------------------------------------------
# cat / pad / flip / roll
# ---------------------------------------------------------------------------------------
def cat(inputs, dim=0, out=None, config=None):
    """Concatenate buffers of one dtype along ``dim`` (each input any strides)."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("cat: expected a non-empty list of buffers")
    for i, b in enumerate(inputs):
        check_buffer(f"inputs[{i}]", b)
    first = inputs[0]
    dim = _wrap_dim(dim, len(first.shape))
    for i, b in enumerate(inputs):
        same = len(b.shape) == len(first.shape) and all(
            a == c for d, (a, c) in enumerate(zip(b.shape, first.shape)) if d != dim)
        if not same:
            raise ValueError(f"cat: inputs[{i}] shape {tuple(b.shape)} does not match inputs[0] "
                             f"shape {tuple(first.shape)} outside dim {dim}")
        if str(b.dtype) != str(first.dtype):
            raise TypeError(f"cat: inputs[{i}] dtype {b.dtype} differs from inputs[0] dtype {first.dtype}")
    shape = list(first.shape)
    shape[dim] = sum(b.shape[dim] for b in inputs)
    _check_out(out, shape, first.dtype)
    out = out if out is not None else first.new(shape, first.dtype)
    start = 0
    for b in inputs:
        _launch(COPY, list(b.shape), b, list(b.strides), out, list(out.strides),
                dst_off=start * out.strides[dim], config=config)
        start += b.shape[dim]
    return out


def pad(x, pads, value=0, out=None, config=None):
    """Constant pad, ``torch.nn.functional.pad`` order: (left_last, right_last, left_prev, ...).

    Negative pads crop. Up to 6 dims.
    """
    check_buffer("x", x)
    pads = [int(p) for p in pads]
    nd = len(x.shape)
    if len(pads) % 2 or len(pads) // 2 > nd:
        raise ValueError(f"pad: {len(pads)} pad values do not fit a tensor of {nd} dims (need an even count <= {2 * nd})")
    left, right = [0] * nd, [0] * nd
    for k in range(len(pads) // 2):
        left[nd - 1 - k], right[nd - 1 - k] = pads[2 * k], pads[2 * k + 1]
    shape = [s + a + b for s, a, b in zip(x.shape, left, right)]
    if any(s < 0 for s in shape):
        raise ValueError(f"pad: pads {tuple(pads)} give a negative size {tuple(shape)} for input {tuple(x.shape)}")
    _check_out(out, shape, x.dtype)
    out = out if out is not None else x.new(shape, x.dtype)
    n = numel(shape)
    if n == 0:
        return out
    value = float(value) if x.dtype.kind == "f" or str(x.dtype) == "bfloat16" else int(value)
    cfg = config or config_for("index_move", dict(numel=n, dtype=str(x.dtype)))
    meta, opts = launch_options(cfg)
    _pad_kernel[(triton.cdiv(n, meta["BLOCK"]),)](
        x, out, n, *pad_dims(shape, 1)[1:], *pad_dims(x.shape, 1), *pad_dims(left, 0),
        *pad_dims(x.strides, 0), *pad_dims(out.strides, 0), value, **meta, **opts)
    return out


def flip(x, dims, out=None, config=None):
    """Reverse the order of elements along ``dims`` (a strided copy with negative strides)."""
    check_buffer("x", x)
    nd = len(x.shape)
    dims = sorted({_wrap_dim(d, nd) for d in dims})
    _check_out(out, x.shape, x.dtype)
    out = out if out is not None else x.new(x.shape, x.dtype)
    xs = list(x.strides)
    off = 0
    for d in dims:
        off += (x.shape[d] - 1) * xs[d] if x.shape[d] else 0
        xs[d] = -xs[d]
    _launch(COPY, list(x.shape), x, xs, out, list(out.strides), src_off=off, config=config)
    return out


def roll(x, shifts, dims, out=None, config=None):
    """``torch.roll`` with explicit dims: 2**len(dims) strided block copies."""
    check_buffer("x", x)
    nd = len(x.shape)
    shifts = [int(s) for s in ((shifts,) if isinstance(shifts, int) else shifts)]
    dims = [_wrap_dim(d, nd) for d in ((dims,) if isinstance(dims, int) else dims)]
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    _check_out(out, x.shape, x.dtype)
    out = out if out is not None else x.new(x.shape, x.dtype)
    # per dim: list of (src_start, dst_start, length) pieces; a repeated dim composes shifts
    shift_of = [0] * nd
    for s, d in zip(shifts, dims):
        shift_of[d] += s
    pieces = []
    for d in range(nd):
        n = x.shape[d]
        s = shift_of[d] % n if n else 0
        pieces.append([(0, s, n - s), (n - s, 0, s)] if s else [(0, 0, n)])
    combos = [[]]
    for p in pieces:
        combos = [c + [q] for c in combos for q in p if q[2] > 0]
    for c in combos:
        sizes = [q[2] for q in c]
        src_off = sum(q[0] * st for q, st in zip(c, x.strides))
        dst_off = sum(q[1] * st for q, st in zip(c, out.strides))
        _launch(COPY, sizes, x, list(x.strides), out, list(out.strides), src_off=src_off, dst_off=dst_off, config=config)
    return out


# ---------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------
def _make_move_problem(problem, new_buffer):
    x = new_buffer((problem["numel"],), problem.get("dtype", "float32"))
    out = new_buffer((problem["numel"],), problem.get("dtype", "float32"))
    return lambda config: copy_(out, x, config=config)


INDEX_MOVE = register(Tunable(
    name="index_move",
    configs=[dict(BLOCK=b, num_warps=w) for b in (256, 512, 1024, 2048, 4096) for w in (2, 4, 8)],
    heuristic=move_heuristic,
    make_problem=_make_move_problem,
    doc="strided element moves: gather/scatter/index_select/take/index_put/cat/pad/flip/roll",
    problem_keys=("numel", "dtype"),
))
