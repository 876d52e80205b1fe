"""Multi-tensor launches: one kernel walks a table of tensors (PyTorch's ``multi_tensor_apply``).

A training step's optimizer, ``zero_grad`` and gradient clipping touch every parameter; one
launch per tensor costs ~13 us of Triton's Python launch path each (plus blaze's own host
time), so a 12-layer GPT-2 (148 parameter tensors) spent ~150 launches on AdamW alone. Here
one launch covers a list of tensors: the host writes one int64 table

    [ K*T data pointers (column k, tensor t) | T sizes | P tensor ids | P block starts ]

and program ``pid`` updates elements ``start[pid] .. start[pid] + BLOCK`` of tensor
``id[pid]``, its pointers cast from the table (``tl.pointer_type``). The table depends only on
the pointers, sizes and BLOCK, so it is written once and cached: the same parameters give the
same table every step. It lives in pinned host memory mapped into the device (a few KB read
over PCIe per launch), so building one needs no host-to-device copy, which a CUDA graph
capture would refuse (gradients captured into a graph's pool have new pointers). Packing the parameters into one arena
instead would need the allocator to place them together, which ``Module.to`` does not do.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import triton
import triton.language as tl

from blaze.kernels.buffer import HostBuffer
from blaze.kernels.index import numel

# numpy dtype name -> the Triton element type a table pointer is cast to
TL_DTYPES = {"float32": tl.float32, "float16": tl.float16, "bfloat16": tl.bfloat16}

_TABLES: OrderedDict = OrderedDict()
_MAX_TABLES = 256          # a few per optimizer and model; old layouts are dropped first
_UPLOAD = [None]


def install_uploader(upload) -> None:
    """Use ``upload(int64 numpy array) -> buffer the device can read`` for tables of device buffers
    (the cuda device installs pinned, device-mapped host memory; kernels import no device layer)."""
    _UPLOAD[0] = upload


@triton.jit
def locate(tab, T, P, BLOCK: tl.constexpr, K: tl.constexpr):
    """(tensor id, element offsets, mask) of this program's block."""
    pid = tl.program_id(0).to(tl.int64)
    t = tl.load(tab + K * T + T + pid)
    start = tl.load(tab + K * T + T + P + pid)
    n = tl.load(tab + K * T + t)
    offs = start + tl.arange(0, BLOCK)
    return t, offs, offs < n


@triton.jit
def column(tab, k, T, t, DT: tl.constexpr):
    """Pointer to tensor ``t`` of column ``k``, as a ``DT`` pointer."""
    return tl.load(tab + k * T + t).to(tl.pointer_type(DT))


def table(columns, block: int):
    """(device table, T, P) for ``columns`` (K lists of T contiguous buffers, all sized like column 0).

    Empty tensors get no program. The table is cached by (pointers, sizes, BLOCK).
    """
    sizes = tuple(numel(b.shape) for b in columns[0])
    key = (block, sizes) + tuple(tuple(b.data_ptr() for b in col) for col in columns)
    hit = _TABLES.get(key)
    if hit is not None:
        _TABLES.move_to_end(key)
        return hit
    blocks = [triton.cdiv(n, block) for n in sizes]
    ids = np.repeat(np.arange(len(sizes), dtype=np.int64), blocks)
    starts = np.concatenate([np.arange(b, dtype=np.int64) * block for b in blocks]) if blocks else ids
    host = np.concatenate([np.array(key[2:], dtype=np.uint64).view(np.int64).reshape(-1),
                           np.array(sizes, dtype=np.int64), ids, starts])
    first = columns[0][0]
    dev = HostBuffer(host) if isinstance(first, HostBuffer) or _UPLOAD[0] is None else _UPLOAD[0](host)
    entry = _TABLES[key] = (dev, len(sizes), len(ids))
    if len(_TABLES) > _MAX_TABLES:
        _TABLES.popitem(last=False)
    return entry


def tl_dtype(buf):
    name = str(buf.dtype)
    if name not in TL_DTYPES:
        raise TypeError(f"multi-tensor kernels take float32/float16/bfloat16 buffers, got {name}")
    return TL_DTYPES[name]


def contiguous(buf) -> bool:
    want = 1
    for size, stride in reversed(list(zip(buf.shape, buf.strides))):
        if size != 1 and stride != want:
            return False
        want *= size
    return True


def check_group(name, bufs, dtypes=None):
    """All buffers contiguous and of one dtype (from ``dtypes`` when given)."""
    want = str(bufs[0].dtype) if bufs else None
    for b in bufs:
        if str(b.dtype) != want:
            raise ValueError(f"{name}: one dtype per multi-tensor launch, got {want} and {b.dtype}")
        if not contiguous(b):
            raise ValueError(f"{name}: multi-tensor kernels take contiguous buffers, got shape "
                             f"{tuple(b.shape)} strides {tuple(b.strides)}")
    if dtypes is not None and want is not None and want not in dtypes:
        raise TypeError(f"{name}: dtype {want} not supported (expected one of {', '.join(dtypes)})")


# ---------------------------------------------------------------------------- zero, norm, scale

@triton.jit
def _zero_kernel(tab, T, P, DT: tl.constexpr, BLOCK: tl.constexpr):
    # write N elements
    t, offs, mask = locate(tab, T, P, BLOCK, 1)
    x_ptr = column(tab, 0, T, t, DT)
    tl.store(x_ptr + offs, tl.zeros([BLOCK], dtype=DT), mask=mask)


@triton.jit
def _norm_partial_kernel(tab, T, P, part_ptr, norm_type, DT: tl.constexpr, KIND: tl.constexpr,
                         BLOCK: tl.constexpr):
    # read N elements, write P partials (max |x| for KIND 0, sum |x|^2 for 2, sum |x|^p for 1)
    t, offs, mask = locate(tab, T, P, BLOCK, 1)
    x = tl.abs(tl.load(column(tab, 0, T, t, DT) + offs, mask=mask, other=0).to(tl.float32))
    if KIND == 0:
        r = tl.max(x, axis=0)
    elif KIND == 2:
        r = tl.sum(x * x, axis=0)
    else:
        r = tl.sum(tl.where(x > 0, tl.exp2(norm_type * tl.log2(tl.where(x > 0, x, 1.0))), 0.0), axis=0)
    tl.store(part_ptr + tl.program_id(0), r)


@triton.jit
def _norm_finish_kernel(part_ptr, P, out_ptr, coef_ptr, norm_type, max_norm, KIND: tl.constexpr,
                        BLOCK: tl.constexpr):
    # one program: read P partials; write the total norm and the clip coefficient
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for s in range(0, P, BLOCK):
        offs = s + tl.arange(0, BLOCK)
        x = tl.load(part_ptr + offs, mask=offs < P, other=0.0)
        acc = tl.maximum(acc, x) if KIND == 0 else acc + x
    if KIND == 0:
        total = tl.max(acc, axis=0)
    elif KIND == 2:
        total = tl.sqrt(tl.sum(acc, axis=0))
    else:
        total = tl.exp2(tl.log2(tl.sum(acc, axis=0)) / norm_type)
    tl.store(out_ptr, total)
    tl.store(coef_ptr, tl.minimum(max_norm / (total + 1e-6), 1.0))   # torch: clamp(max_norm/(norm+1e-6), max=1)


@triton.jit
def _scale_kernel(tab, T, P, coef_ptr, DT: tl.constexpr, BLOCK: tl.constexpr):
    # read N elements + 1 coefficient, write N elements
    t, offs, mask = locate(tab, T, P, BLOCK, 1)
    x_ptr = column(tab, 0, T, t, DT)
    c = tl.load(coef_ptr)
    tl.store(x_ptr + offs, (tl.load(x_ptr + offs, mask=mask).to(tl.float32) * c).to(DT), mask=mask)


_FINISH_BLOCK = 1024


def _block(bufs):
    from blaze.kernels.registry import config_for, launch_options
    n = sum(numel(b.shape) for b in bufs)
    return launch_options(config_for("optim", dict(numel=max(n, 1), dtype=str(bufs[0].dtype))))


def zero_(bufs) -> None:
    """Fill every buffer of ``bufs`` (contiguous, one float dtype) with zeros: one launch."""
    check_group("zero_", bufs)
    if not bufs or not sum(numel(b.shape) for b in bufs):
        return
    meta, opts = _block(bufs)
    tab, T, P = table([bufs], meta["BLOCK"])
    _zero_kernel[(P,)](tab, T, P, DT=tl_dtype(bufs[0]), **meta, **opts)


def clip_norm_(bufs, max_norm: float, norm_type: float, total, coef, partials) -> None:
    """The joint ``norm_type``-norm of ``bufs`` into ``total[0]``, the clip coefficient
    min(1, max_norm / (total + 1e-6)) into ``coef[0]``, and every buffer scaled by it: three
    launches whatever the number of buffers, no host sync.

    Args:
        bufs: contiguous float buffers of one dtype.
        total, coef: float32 buffers of one element; partials: float32 with at least
            :func:`partials_needed` elements.
    """
    check_group("clip_norm_", bufs)
    meta, opts = _block(bufs)
    tab, T, P = table([bufs], meta["BLOCK"])
    kind = 0 if norm_type == float("inf") else (2 if norm_type == 2.0 else 1)
    dt = tl_dtype(bufs[0])
    if P:  # all buffers empty: the finish kernel reads no partials and gives norm 0
        _norm_partial_kernel[(P,)](tab, T, P, partials, float(norm_type), DT=dt, KIND=kind, **meta, **opts)
    _norm_finish_kernel[(1,)](partials, P, total, coef, float(norm_type), float(max_norm), KIND=kind,
                              BLOCK=_FINISH_BLOCK)
    if P:
        _scale_kernel[(P,)](tab, T, P, coef, DT=dt, **meta, **opts)


def partials_needed(bufs) -> int:
    meta, _ = _block(bufs)
    return max(1, sum(triton.cdiv(numel(b.shape), meta["BLOCK"]) for b in bufs))
