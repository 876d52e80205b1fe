"""Embedding: forward gathers rows of a (V, D) table, backward scatter-adds grad rows.

Forward reads n_ids ids + n_ids*D table elements and writes n_ids*D. Backward reads the same
amount and does n_ids*D float32 atomic adds into a zeroed (V, D) buffer, so duplicate ids
accumulate correctly; rows whose id equals ``padding_idx`` get no gradient.

Ids (int64 or int32, any shape up to 5 dims, any strides) are not read by the launcher (that
needs a host sync): callers check their range on the CPU side. The kernels are guarded: an id
outside [0, V) reads zeros in the forward and is skipped in the backward.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze.kernels.buffer import check_buffer
from blaze.kernels.index import _unravel, coalesce, error_word, flag_error, numel
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")
INDEX_DTYPES = ("int64", "int32")


@triton.jit(do_not_specialize=["code"])
def _embedding_fwd_kernel(ids_ptr, w_ptr, out_ptr, err_ptr, code, n_ids, D, V, I1, I2, I3, I4, I5,
                          is0, is1, is2, is3, is4, is5, os0, os1, os2, os3, os4, os5,
                          w_s0, w_s1, o_sd,
                          BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    # read BLOCK_R ids + BLOCK_R*BLOCK_D table elements, write BLOCK_R*BLOCK_D
    r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    c = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    rm = r < n_ids
    cm = c < D
    i0, i1, i2, i3, i4, i5 = _unravel(r, I1, I2, I3, I4, I5)
    ids = tl.load(ids_ptr + i0 * is0 + i1 * is1 + i2 * is2 + i3 * is3 + i4 * is4 + i5 * is5,
                  mask=rm, other=0).to(tl.int64)
    ok = rm & (ids >= 0) & (ids < V)
    flag_error(err_ptr, code, rm & ~ok)
    w = tl.load(w_ptr + ids[:, None] * w_s0 + c[None, :] * w_s1, mask=ok[:, None] & cm[None, :], other=0)
    o = i0 * os0 + i1 * os1 + i2 * os2 + i3 * os3 + i4 * os4 + i5 * os5
    tl.store(out_ptr + o[:, None] + c[None, :] * o_sd, w, mask=rm[:, None] & cm[None, :])


@triton.jit
def _embedding_bwd_kernel(ids_ptr, dy_ptr, dw_ptr, n_ids, D, V, padding_idx, I1, I2, I3, I4, I5,
                          is0, is1, is2, is3, is4, is5, gs0, gs1, gs2, gs3, gs4, gs5,
                          g_sd, dw_s0, dw_s1,
                          BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    # read BLOCK_R ids + BLOCK_R*BLOCK_D grads, BLOCK_R*BLOCK_D fp32 atomic adds
    r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    c = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    rm = r < n_ids
    cm = c < D
    i0, i1, i2, i3, i4, i5 = _unravel(r, I1, I2, I3, I4, I5)
    ids = tl.load(ids_ptr + i0 * is0 + i1 * is1 + i2 * is2 + i3 * is3 + i4 * is4 + i5 * is5,
                  mask=rm, other=0).to(tl.int64)
    ok = rm & (ids >= 0) & (ids < V) & (ids != padding_idx)
    g = i0 * gs0 + i1 * gs1 + i2 * gs2 + i3 * gs3 + i4 * gs4 + i5 * gs5
    m = ok[:, None] & cm[None, :]
    dy = tl.load(dy_ptr + g[:, None] + c[None, :] * g_sd, mask=m, other=0).to(tl.float32)
    tl.atomic_add(dw_ptr + ids[:, None] * dw_s0 + c[None, :] * dw_s1, dy, mask=m, sem="relaxed")


@triton.jit
def _zero2d_kernel(ptr, R, C, s0, s1, BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr):
    # write R*C zeros
    r = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    c = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    m = (r[:, None] < R) & (c[None, :] < C)
    tl.store(ptr + r[:, None] * s0 + c[None, :] * s1, tl.zeros((BLOCK_R, BLOCK_D), tl.float32), mask=m)


def embedding_heuristic(problem: dict) -> dict:
    block_d = min(triton.next_power_of_2(max(problem["D"], 1)), 256)
    # ~4096 elements per program: enough bytes in flight, few programs for short id lists
    block_r = max(1, min(4096 // block_d, triton.next_power_of_2(max(problem["n_ids"], 1))))
    return dict(BLOCK_R=block_r, BLOCK_D=block_d, num_warps=4 if block_r * block_d >= 1024 else 1)


def _ids_layout(ids, lead_strides):
    """Iteration sizes and (ids, out-or-grad) strides over the id dims, merged and padded."""
    sizes, (js, ls) = coalesce(list(ids.shape), list(ids.strides), list(lead_strides))
    return sizes, js, ls


def _config(weight_or_grad, n_ids, D, V, config):
    cfg = config or config_for("embedding", dict(V=V, D=D, n_ids=n_ids, dtype=str(weight_or_grad.dtype)))
    return launch_options(cfg)


def embedding(weight, ids, out=None, config=None):
    """out[..., :] = weight[ids[...], :].

    Args:
        weight: (V, D) float32/float16/bfloat16, any strides.
        ids: int64/int32 of any shape.
    Returns:
        out of shape ids.shape + (D,), weight's dtype.
    """
    check_buffer("weight", weight, ndim=2, dtypes=FLOATS)
    check_buffer("ids", ids, dtypes=INDEX_DTYPES)
    V, D = weight.shape
    shape = tuple(ids.shape) + (D,)
    if out is not None:
        check_buffer("out", out, dtypes=(str(weight.dtype),))
        if tuple(out.shape) != shape:
            raise ValueError(f"out: expected shape {shape}, got {tuple(out.shape)}")
    else:
        out = weight.new(shape, weight.dtype)
    n = numel(ids.shape)
    if n == 0 or D == 0:
        return out
    sizes, js, os_ = _ids_layout(ids, out.strides[:-1])
    meta, opts = _config(weight, n, D, V, config)
    grid = (triton.cdiv(n, meta["BLOCK_R"]), triton.cdiv(D, meta["BLOCK_D"]))
    err, code = error_word("embedding", out)
    _embedding_fwd_kernel[grid](ids, weight, out, err, code, n, D, V, *sizes[1:], *js, *os_,
                                weight.strides[0], weight.strides[1], out.strides[-1], **meta, **opts)
    return out


def embedding_backward(grad, ids, num_embeddings, padding_idx=None, out=None, accumulate=False, config=None):
    """dW[v, :] = sum of grad[..., :] over positions whose id is v (float32, atomic).

    Args:
        grad: ids.shape + (D,), float32/float16/bfloat16, any strides.
        ids: the forward's ids.
        num_embeddings: V.
        padding_idx: rows with this id (in [-V, V)) get zero gradient; None for none.
        out: a float32 (V, D) buffer; zeroed first unless ``accumulate=True`` (then grads
            are added to what it holds, e.g. to accumulate over micro-batches).
    Returns:
        dW, float32 of shape (V, D).
    """
    check_buffer("grad", grad, dtypes=FLOATS)
    check_buffer("ids", ids, dtypes=INDEX_DTYPES)
    V = int(num_embeddings)
    if len(grad.shape) != len(ids.shape) + 1 or tuple(grad.shape[:-1]) != tuple(ids.shape):
        raise ValueError(f"embedding_backward: grad shape {tuple(grad.shape)} should be ids.shape "
                         f"{tuple(ids.shape)} + (D,)")
    D = grad.shape[-1]
    if padding_idx is not None and not -V <= padding_idx < V:
        raise ValueError(f"padding_idx {padding_idx} is out of range for {V} embeddings")
    pad = -1 if padding_idx is None else padding_idx % V
    if out is not None:
        check_buffer("out", out, ndim=2, dtypes=("float32",))
        if tuple(out.shape) != (V, D):
            raise ValueError(f"out: expected shape {(V, D)}, got {tuple(out.shape)}")
    else:
        out, accumulate = grad.new((V, D), "float32"), False
    meta, opts = _config(grad, numel(ids.shape), D, V, config)
    if not accumulate and V * D:
        _zero2d_kernel[(triton.cdiv(V, meta["BLOCK_R"]), triton.cdiv(D, meta["BLOCK_D"]))](
            out, V, D, out.strides[0], out.strides[1], **meta, **opts)
    n = numel(ids.shape)
    if n == 0 or D == 0:
        return out
    sizes, js, gs = _ids_layout(ids, grad.strides[:-1])
    grid = (triton.cdiv(n, meta["BLOCK_R"]), triton.cdiv(D, meta["BLOCK_D"]))
    _embedding_bwd_kernel[grid](ids, grad, out, n, D, V, pad, *sizes[1:], *js, *gs,
                                grad.strides[-1], out.strides[0], out.strides[1], **meta, **opts)
    return out


def _make_embedding_problem(problem, new_buffer):
    w = new_buffer((problem["V"], problem["D"]), problem.get("dtype", "float32"))
    ids = new_buffer((problem["n_ids"],), "int64")
    from blaze.kernels.random import randint_  # ids in [0, V): random bits would all be guarded out
    randint_(ids, 0, problem["V"], seed=0)
    return lambda config: embedding(w, ids, config=config)


EMBEDDING = register(Tunable(
    name="embedding",
    configs=[dict(BLOCK_R=r, BLOCK_D=d, num_warps=w)
             for r in (1, 4, 16, 32) for d in (64, 128, 256, 512) for w in (1, 4, 8) if r * d <= 8192],
    heuristic=embedding_heuristic,
    make_problem=_make_embedding_problem,
    doc="embedding row gather (forward) and float32 atomic scatter-add (backward)",
    problem_keys=("V", "D", "n_ids", "dtype"),
))
