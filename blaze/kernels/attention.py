"""Fused scaled-dot-product attention (FlashAttention-2 style): forward and backward.

``out = softmax(q @ k^T * scale + attn_mask) @ v`` without ever materialising the
(S_q, S_k) score matrix in memory: each program keeps one query block in registers and
streams key/value blocks through an online softmax (running max ``m`` and sum ``l``).
Written after Triton's ``06-fused-attention`` tutorial, but with plain pointer arithmetic
(no TMA / tensor descriptors, no warp specialisation) so the same code runs on
triton>=3.4 GPUs and under ``TRITON_INTERPRET=1``.

Conventions (all documented behaviour, tested in tests/kernels/test_attention.py):

* Shapes: q (B, H, S_q, D), k (B, H, S_k, D), v (B, H, S_k, Dv); any strides (all four per
  tensor are passed to the kernel, no hidden copies). out (B, H, S_q, Dv) in q's dtype.
* dtypes: float32, float16, bfloat16 (q, k, v alike); every accumulation is fp32. fp32
  dots use ``input_precision="ieee"`` (not tf32) so fp32 results match to ~1e-5.
* Head dims 1..256 (D and Dv independently). A non-power-of-two head dim (e.g. 80) is
  padded to the next power of two (at least 16, the smallest ``tl.dot`` tile) with masked
  loads, so it costs the padded size in registers but reads only the real elements.
* ``causal=True`` follows PyTorch's ``is_causal``: the TOP-LEFT aligned mask
  ``tril(ones(S_q, S_k))``, i.e. query i sees keys 0..i, also when S_q != S_k.
* ``attn_mask``: broadcastable to (B, H, S_q, S_k) (dims of size 1 get stride 0); a float
  mask is added to the scaled scores, a bool mask keeps its True entries (PyTorch's rule).
  ``key_padding_mask``: bool (B, S_k), True = ignore that key (PyTorch's
  ``key_padding_mask``). Both combine with ``causal``. Masks get no gradient.
* A row whose keys are all masked produces out = 0 (not NaN, unlike PyTorch's math path),
  lse = -inf, and zero gradients (its output does not depend on any input).
* lse: float32 (B, H, S_q), natural-log ``logsumexp`` of the scaled, masked scores; the
  backward recomputes ``p = exp(s - lse)`` from it instead of storing p.
"""
from __future__ import annotations

import math

import numpy as np
import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register

LOG2E = 1.4426950408889634  # exp(x) == exp2(x * LOG2E); exp2 is the fast hardware op
_LOG2E = tl.constexpr(LOG2E)  # kernels may only read constexpr globals (compile error otherwise)
_FLOATS = ("float32", "float16", "bfloat16")
_F32 = np.dtype("float32")  # lse and delta are always fp32
MAX_HEAD_DIM = 256  # a 256-wide fp32 q tile of 64 rows is 64 KiB of registers/smem already


# ----------------------------------------------------------------------------- kernels
@triton.jit
def _dot(a, b, UPCAST: tl.constexpr):
    # Triton's interpreter (3.9) keeps bfloat16 as uint16 bits and np.matmul's those
    # integers, so bf16 dots come out as garbage; under the interpreter bf16 operands are
    # widened to fp32 first, which is exact (8-bit mantissas) and matches the GPU's bf16
    # MMA with fp32 accumulation. On a GPU UPCAST is False and the tensor cores see bf16.
    if UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, input_precision="ieee")


@triton.jit
def _mask_scores(s, valid, mask_ptrs, in_bounds, HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr):
    # s: scaled scores in log2 units; an additive mask is in natural-log units (x LOG2E),
    # a bool mask keeps True entries (PyTorch's attn_mask). Invalid entries become -inf.
    if HAS_MASK:
        am = tl.load(mask_ptrs, mask=in_bounds, other=0)
        if MASK_BOOL:
            valid = valid & (am.to(tl.int32) != 0)
        else:
            s = s + am.to(tl.float32) * _LOG2E
    return tl.where(valid, s, float("-inf"))


@triton.jit
def _attn_fwd_kernel(
    Q, K, V, O, LSE, MASK, KPM,
    H, S_Q, S_K, HEAD_DIM, HEAD_DIM_V,
    sqb, sqh, sqm, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, svd,
    sob, soh, som, sod,
    slb, slh, slm,
    smb, smh, smm, smn,
    spb, spn,
    qk_scale,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr, HAS_KPM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    UPCAST: tl.constexpr,
):
    # One program per (query block, batch*head). Memory traffic per program: read
    # BLOCK_M*D of q once, S_k*(D+Dv) of k/v (halved on average when causal), write
    # BLOCK_M*Dv of out and BLOCK_M of lse. The (S_q, S_k) scores never leave registers.
    pid_m = tl.program_id(0)
    # (H, B) on grid axes 1, 2: each axis holds 65535 programs, B*H alone might not fit.
    h = tl.program_id(1).to(tl.int64)  # int64: B*H*S*D can pass 2**31 elements
    b = tl.program_id(2).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < S_Q

    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqm + offs_d[None, :] * sqd,
                mask=row_ok[:, None] & (offs_d[None, :] < HEAD_DIM), other=0.0)
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running row max (log2 units)
    l_i = tl.zeros([BLOCK_M], tl.float32)                # running sum of exp2(s - m)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)

    if CAUSAL:  # top-left mask: row i sees keys <= i, so keys past the block's last row are skipped
        hi = tl.minimum(S_K, (pid_m + 1) * BLOCK_M)
    else:
        hi = S_K
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        col_ok = offs_n < S_K
        kT = tl.load(k_base + offs_n[None, :] * skn + offs_d[:, None] * skd,
                     mask=col_ok[None, :] & (offs_d[:, None] < HEAD_DIM), other=0.0)  # (BLOCK_D, BLOCK_N)
        s = _dot(q, kT, UPCAST) * qk_scale  # (BLOCK_M, BLOCK_N), log2 units
        valid = row_ok[:, None] & col_ok[None, :]
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= offs_m[:, None])
        if HAS_KPM:
            pad = tl.load(KPM + b * spb + offs_n * spn, mask=col_ok, other=1).to(tl.int32)
            valid = valid & (pad[None, :] == 0)
        s = _mask_scores(s, valid, MASK + b * smb + h * smh + offs_m[:, None] * smm + offs_n[None, :] * smn,
                         row_ok[:, None] & col_ok[None, :], HAS_MASK, MASK_BOOL)

        m_new = tl.maximum(m_i, tl.max(s, 1))
        # A row with no valid key yet has m_new = -inf; subtracting 0 instead keeps
        # exp2(-inf - (-inf)) = NaN out of p and alpha (both become exp2(-inf) = 0).
        m_base = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp2(s - m_base[:, None])
        alpha = tl.exp2(m_i - m_base)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + offs_n[:, None] * svn + offs_dv[None, :] * svd,
                    mask=col_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V), other=0.0)  # (BLOCK_N, BLOCK_DV)
        acc = acc * alpha[:, None] + _dot(p.to(v.dtype), v, UPCAST)
        m_i = m_new

    # Any valid key contributes exp2(0) = 1 at the row max, so l_i == 0 means "fully masked".
    empty = l_i == 0.0
    l_safe = tl.where(empty, 1.0, l_i)
    out = acc / l_safe[:, None]  # acc is 0 on empty rows -> out 0, not 0/0
    lse = tl.where(empty, float("-inf"), (m_i + tl.log2(l_safe)) / _LOG2E)
    tl.store(O + b * sob + h * soh + offs_m[:, None] * som + offs_dv[None, :] * sod,
             out.to(O.dtype.element_ty), mask=row_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V))
    tl.store(LSE + b * slb + h * slh + offs_m * slm, lse, mask=row_ok)


@triton.jit
def _attn_bwd_preprocess_kernel(
    O, DO, DELTA,
    H, S_Q, HEAD_DIM_V,
    sob, soh, som, sod,
    sdb, sdh, sdm, sdd,
    BLOCK_M: tl.constexpr, BLOCK_DV: tl.constexpr,
):
    # delta_i = sum_d dO_id * O_id = sum_j P_ij dP_ij, the softmax-backward row term.
    # Read 2 * BLOCK_M * Dv elements, write BLOCK_M fp32 (delta is contiguous (B, H, S_q)).
    pid_m = tl.program_id(0)
    h = tl.program_id(1).to(tl.int64)
    b = tl.program_id(2).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_dv = tl.arange(0, BLOCK_DV)
    ok = (offs_m[:, None] < S_Q) & (offs_dv[None, :] < HEAD_DIM_V)
    o = tl.load(O + b * sob + h * soh + offs_m[:, None] * som + offs_dv[None, :] * sod, mask=ok, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdm + offs_dv[None, :] * sdd, mask=ok, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(DELTA + (b * H + h) * S_Q + offs_m, delta, mask=offs_m < S_Q)


@triton.jit
def _attn_bwd_dkdv_kernel(
    Q, K, V, DO, LSE, DELTA, MASK, KPM, DK, DV,
    H, S_Q, S_K, HEAD_DIM, HEAD_DIM_V,
    sqb, sqh, sqm, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, svd,
    sdb, sdh, sdm, sdd,
    slb, slh, slm,
    smb, smh, smm, smn,
    spb, spn,
    sdkb, sdkh, sdkn, sdkd,
    sdvb, sdvh, sdvn, sdvd,
    scale, qk_scale,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr, HAS_KPM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    UPCAST: tl.constexpr,
):
    # One program per (key block, batch*head): it owns dK, dV of BLOCK_N keys, so no atomics.
    # Reads k/v once and q, dO, lse, delta of every query block (S_q*(D+Dv+2) elements);
    # everything is computed transposed, (keys, queries), to avoid transposing p and ds.
    pid_n = tl.program_id(0)
    h = tl.program_id(1).to(tl.int64)
    b = tl.program_id(2).to(tl.int64)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    col_ok = offs_n < S_K

    k = tl.load(K + b * skb + h * skh + offs_n[:, None] * skn + offs_d[None, :] * skd,
                mask=col_ok[:, None] & (offs_d[None, :] < HEAD_DIM), other=0.0)    # (BLOCK_N, BLOCK_D)
    v = tl.load(V + b * svb + h * svh + offs_n[:, None] * svn + offs_dv[None, :] * svd,
                mask=col_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V), other=0.0)  # (BLOCK_N, BLOCK_DV)
    key_ok = col_ok
    if HAS_KPM:
        pad = tl.load(KPM + b * spb + offs_n * spn, mask=col_ok, other=1).to(tl.int32)
        key_ok = key_ok & (pad == 0)
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv = tl.zeros([BLOCK_N, BLOCK_DV], tl.float32)
    q_base = Q + b * sqb + h * sqh
    do_base = DO + b * sdb + h * sdh

    if CAUSAL:  # key j is seen only by queries i >= j: earlier query blocks contribute 0
        lo = pid_n * BLOCK_N
    else:
        lo = 0
    for start_m in range(lo, S_Q, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < S_Q
        qT = tl.load(q_base + offs_m[None, :] * sqm + offs_d[:, None] * sqd,
                     mask=row_ok[None, :] & (offs_d[:, None] < HEAD_DIM), other=0.0)  # (BLOCK_D, BLOCK_M)
        sT = _dot(k, qT, UPCAST) * qk_scale  # (BLOCK_N, BLOCK_M)
        valid = key_ok[:, None] & row_ok[None, :]
        if CAUSAL:
            valid = valid & (offs_n[:, None] <= offs_m[None, :])
        sT = _mask_scores(sT, valid, MASK + b * smb + h * smh + offs_m[None, :] * smm + offs_n[:, None] * smn,
                          col_ok[:, None] & row_ok[None, :], HAS_MASK, MASK_BOOL)
        lse = tl.load(LSE + b * slb + h * slh + offs_m * slm, mask=row_ok, other=float("inf")) * _LOG2E
        # Fully masked rows stored lse = -inf; +inf makes their p = exp2(-inf - inf) = 0, not NaN.
        lse = tl.where(lse == float("-inf"), float("inf"), lse)
        pT = tl.exp2(sT - lse[None, :])
        do = tl.load(do_base + offs_m[:, None] * sdm + offs_dv[None, :] * sdd,
                     mask=row_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V), other=0.0)  # (BLOCK_M, BLOCK_DV)
        dv += _dot(pT.to(do.dtype), do, UPCAST)
        dpT = _dot(v, tl.trans(do), UPCAST)  # (BLOCK_N, BLOCK_M)
        delta = tl.load(DELTA + (b * H + h) * S_Q + offs_m, mask=row_ok, other=0.0)
        dsT = pT * (dpT - delta[None, :])
        dk += _dot(dsT.to(qT.dtype), tl.trans(qT), UPCAST)
    dk = dk * scale  # d(q k^T * scale)/dk carries the scale once
    tl.store(DK + b * sdkb + h * sdkh + offs_n[:, None] * sdkn + offs_d[None, :] * sdkd,
             dk.to(DK.dtype.element_ty), mask=col_ok[:, None] & (offs_d[None, :] < HEAD_DIM))
    tl.store(DV + b * sdvb + h * sdvh + offs_n[:, None] * sdvn + offs_dv[None, :] * sdvd,
             dv.to(DV.dtype.element_ty), mask=col_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V))


@triton.jit
def _attn_bwd_dq_kernel(
    Q, K, V, DO, LSE, DELTA, MASK, KPM, DQ,
    H, S_Q, S_K, HEAD_DIM, HEAD_DIM_V,
    sqb, sqh, sqm, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, svd,
    sdb, sdh, sdm, sdd,
    slb, slh, slm,
    smb, smh, smm, smn,
    spb, spn,
    sdqb, sdqh, sdqm, sdqd,
    scale, qk_scale,
    CAUSAL: tl.constexpr, HAS_MASK: tl.constexpr, MASK_BOOL: tl.constexpr, HAS_KPM: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
    UPCAST: tl.constexpr,
):
    # One program per (query block, batch*head) owns dQ of BLOCK_M rows: a second pass over
    # k/v (S_k*(D+Dv) reads) instead of fp32 atomics, which makes dQ deterministic.
    pid_m = tl.program_id(0)
    h = tl.program_id(1).to(tl.int64)
    b = tl.program_id(2).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < S_Q

    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqm + offs_d[None, :] * sqd,
                mask=row_ok[:, None] & (offs_d[None, :] < HEAD_DIM), other=0.0)      # (BLOCK_M, BLOCK_D)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdm + offs_dv[None, :] * sdd,
                 mask=row_ok[:, None] & (offs_dv[None, :] < HEAD_DIM_V), other=0.0)  # (BLOCK_M, BLOCK_DV)
    lse = tl.load(LSE + b * slb + h * slh + offs_m * slm, mask=row_ok, other=float("inf")) * _LOG2E
    lse = tl.where(lse == float("-inf"), float("inf"), lse)  # fully masked row -> p = 0
    delta = tl.load(DELTA + (b * H + h) * S_Q + offs_m, mask=row_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    k_base = K + b * skb + h * skh
    v_base = V + b * svb + h * svh

    if CAUSAL:
        hi = tl.minimum(S_K, (pid_m + 1) * BLOCK_M)
    else:
        hi = S_K
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        col_ok = offs_n < S_K
        kT = tl.load(k_base + offs_n[None, :] * skn + offs_d[:, None] * skd,
                     mask=col_ok[None, :] & (offs_d[:, None] < HEAD_DIM), other=0.0)     # (BLOCK_D, BLOCK_N)
        vT = tl.load(v_base + offs_n[None, :] * svn + offs_dv[:, None] * svd,
                     mask=col_ok[None, :] & (offs_dv[:, None] < HEAD_DIM_V), other=0.0)  # (BLOCK_DV, BLOCK_N)
        s = _dot(q, kT, UPCAST) * qk_scale
        valid = row_ok[:, None] & col_ok[None, :]
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= offs_m[:, None])
        if HAS_KPM:
            pad = tl.load(KPM + b * spb + offs_n * spn, mask=col_ok, other=1).to(tl.int32)
            valid = valid & (pad[None, :] == 0)
        s = _mask_scores(s, valid, MASK + b * smb + h * smh + offs_m[:, None] * smm + offs_n[None, :] * smn,
                         row_ok[:, None] & col_ok[None, :], HAS_MASK, MASK_BOOL)
        p = tl.exp2(s - lse[:, None])
        dp = _dot(do, vT, UPCAST)
        ds = p * (dp - delta[:, None])
        dq += _dot(ds.to(kT.dtype), tl.trans(kT), UPCAST)
    dq = dq * scale
    tl.store(DQ + b * sdqb + h * sdqh + offs_m[:, None] * sdqm + offs_d[None, :] * sdqd,
             dq.to(DQ.dtype.element_ty), mask=row_ok[:, None] & (offs_d[None, :] < HEAD_DIM))


# ---------------------------------------------------------------------------- launchers
def _mask_bool(attn_mask) -> bool:
    return attn_mask is not None and str(attn_mask.dtype) == "bool"


def _upcast(dtype) -> bool:
    return interpret() and str(dtype) == "bfloat16"  # see _dot


def _padded_dim(d: int) -> int:
    return max(16, triton.next_power_of_2(d))  # tl.dot needs every tile side >= 16


def _check_qkv(q, k, v):
    """Validate q, k, v; return (B, H, S_q, S_k, D, Dv)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_buffer(name, t, ndim=4, dtypes=_FLOATS)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"attention: q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    B, H, S_q, D = q.shape
    if tuple(k.shape[:2]) != (B, H) or tuple(v.shape[:3]) != tuple(k.shape[:3]) or k.shape[3] != D:
        raise ValueError(f"attention: expected q (B, H, S_q, D), k (B, H, S_k, D), v (B, H, S_k, Dv); "
                         f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    S_k, Dv = k.shape[2], v.shape[3]
    for name, d in (("head dim D", D), ("value head dim Dv", Dv)):
        if not 1 <= d <= MAX_HEAD_DIM:
            raise ValueError(f"attention: unsupported {name}={d} (supported: 1..{MAX_HEAD_DIM}; "
                             f"non-powers of two are padded)")
    return B, H, S_q, S_k, D, Dv


def _mask_args(attn_mask, key_padding_mask, q, B, H, S_q, S_k):
    """(mask buffer, 4 mask strides, kpm buffer, 2 kpm strides) with stride 0 on broadcast dims."""
    full = (B, H, S_q, S_k)
    m_strides = (0, 0, 0, 0)
    if attn_mask is not None:
        check_buffer("attn_mask", attn_mask, dtypes=_FLOATS + ("bool",))
        nd = len(attn_mask.shape)
        shape = (1,) * (4 - nd) + tuple(attn_mask.shape)  # left-pad like NumPy broadcasting
        if nd > 4 or any(s not in (1, f) for s, f in zip(shape, full)):
            raise ValueError(f"attention: attn_mask of shape {tuple(attn_mask.shape)} does not "
                             f"broadcast to (B, H, S_q, S_k) = {full}")
        strides = (0,) * (4 - nd) + tuple(attn_mask.strides)
        m_strides = tuple(0 if s == 1 and f != 1 else st for s, f, st in zip(shape, full, strides))
    p_strides = (0, 0)
    if key_padding_mask is not None:
        check_buffer("key_padding_mask", key_padding_mask, ndim=2, dtypes=("bool",))
        if tuple(key_padding_mask.shape) != (B, S_k):
            raise ValueError(f"attention: key_padding_mask must have shape (B, S_k) = {(B, S_k)}, "
                             f"got {tuple(key_padding_mask.shape)}")
        p_strides = tuple(key_padding_mask.strides)
    # Absent masks are never read (HAS_MASK / HAS_KPM are False): q stands in as the pointer.
    mask = q if attn_mask is None else attn_mask
    kpm = q if key_padding_mask is None else key_padding_mask
    return mask, m_strides, kpm, p_strides


def _check_out(name, buf, shape, dtype):
    if buf is None:
        return
    check_buffer(name, buf)
    if tuple(buf.shape) != tuple(shape) or str(buf.dtype) != str(dtype):
        raise ValueError(f"attention: {name} must be {tuple(shape)} {dtype}, "
                         f"got {tuple(buf.shape)} {buf.dtype}")


def _check_config(config):
    missing = {"BLOCK_M", "BLOCK_N"} - set(config)
    if missing:
        raise ValueError(f"attention: config lacks {sorted(missing)}: {config}")
    for key in ("BLOCK_M", "BLOCK_N"):
        b = config[key]
        if b < 16 or b & (b - 1):
            raise ValueError(f"attention: config {key}={b} must be a power of two >= 16")


def _problem(B, H, S_q, S_k, D, dtype, causal):
    return dict(B=B, H=H, S_q=S_q, S_k=S_k, D=D, dtype=str(dtype), causal=bool(causal))


def attention(q, k, v, causal=False, scale=None, attn_mask=None, key_padding_mask=None,
              out=None, config=None, lse_out=None):
    """Fused attention forward: ``softmax(q k^T * scale + attn_mask) v``.

    Args:
        q, k, v: buffers (B, H, S_q, D), (B, H, S_k, D), (B, H, S_k, Dv); any strides.
        causal: PyTorch's ``is_causal`` (top-left aligned ``tril(ones(S_q, S_k))``).
        scale: softmax scale, default ``1/sqrt(D)``.
        attn_mask: broadcastable to (B, H, S_q, S_k); float: added to the scores;
            bool: True = attend (as PyTorch's ``attn_mask``).
        key_padding_mask: bool (B, S_k), True = ignore that key.
        out, lse_out: optional preallocated outputs ((B, H, S_q, Dv) q.dtype; (B, H, S_q) fp32).
        config: dict with BLOCK_M, BLOCK_N (num_warps, num_stages) overriding the heuristic.

    Returns:
        (out, lse): out (B, H, S_q, Dv) in q's dtype; lse fp32 (B, H, S_q), natural log,
        -inf on fully masked rows (whose out is 0).
    """
    B, H, S_q, S_k, D, Dv = _check_qkv(q, k, v)
    mask, ms, kpm, ps = _mask_args(attn_mask, key_padding_mask, q, B, H, S_q, S_k)
    _check_out("out", out, (B, H, S_q, Dv), q.dtype)
    _check_out("lse_out", lse_out, (B, H, S_q), _F32)
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    out = q.new((B, H, S_q, Dv), q.dtype) if out is None else out
    lse = q.new((B, H, S_q), _F32) if lse_out is None else lse_out
    config = config_for("attention", _problem(B, H, S_q, S_k, D, q.dtype, causal)) if config is None else config
    _check_config(config)
    if B * H * S_q == 0:
        return out, lse
    meta, opts = launch_options(config)
    grid = (triton.cdiv(S_q, meta["BLOCK_M"]), H, B)
    _attn_fwd_kernel[grid](
        q, k, v, out, lse, mask, kpm,
        H, S_q, S_k, D, Dv,
        *q.strides, *k.strides, *v.strides, *out.strides, *lse.strides, *ms, *ps,
        scale * LOG2E,
        CAUSAL=bool(causal), HAS_MASK=attn_mask is not None,
        MASK_BOOL=_mask_bool(attn_mask), HAS_KPM=key_padding_mask is not None,
        UPCAST=_upcast(q.dtype), BLOCK_D=_padded_dim(D), BLOCK_DV=_padded_dim(Dv), **meta, **opts)
    return out, lse


def attention_backward(do, q, k, v, out, lse, causal=False, scale=None, attn_mask=None,
                       key_padding_mask=None, dq=None, dk=None, dv=None, config=None):
    """Gradients of :func:`attention` w.r.t. q, k, v (the masks get no gradient).

    Args:
        do: upstream gradient, shape and dtype of ``out``.
        q, k, v, out, lse: the forward's inputs and outputs.
        causal, scale, attn_mask, key_padding_mask: exactly as given to the forward.
        dq, dk, dv: optional preallocated outputs (shape and dtype of q, k, v).
        config: dict with BLOCK_M, BLOCK_N (num_warps, num_stages): the dK/dV kernel's query
            and key tiles; the dQ kernel uses them swapped (BLOCK_N query rows).

    Returns:
        (dq, dk, dv). Three launches: delta = rowsum(dO * O); dK/dV per key block; dQ per
        query block (no atomics, deterministic).
    """
    B, H, S_q, S_k, D, Dv = _check_qkv(q, k, v)
    mask, ms, kpm, ps = _mask_args(attn_mask, key_padding_mask, q, B, H, S_q, S_k)
    check_buffer("do", do, ndim=4, dtypes=_FLOATS)
    check_buffer("out", out, ndim=4, dtypes=_FLOATS)
    check_buffer("lse", lse, ndim=3, dtypes=("float32",))
    for name, t, shape in (("do", do, (B, H, S_q, Dv)), ("out", out, (B, H, S_q, Dv)), ("lse", lse, (B, H, S_q))):
        if tuple(t.shape) != shape:
            raise ValueError(f"attention_backward: {name} must have shape {shape}, got {tuple(t.shape)}")
    if do.dtype != q.dtype:  # dO meets v and p (q's dtype) in the same tl.dot
        raise TypeError(f"attention_backward: do dtype {do.dtype} must match q, k, v ({q.dtype})")
    for name, buf, ref in (("dq", dq, q), ("dk", dk, k), ("dv", dv, v)):
        _check_out(name, buf, ref.shape, ref.dtype)
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    dq = q.new(q.shape, q.dtype) if dq is None else dq
    dk = k.new(k.shape, k.dtype) if dk is None else dk
    dv = v.new(v.shape, v.dtype) if dv is None else dv
    if config is None:
        config = config_for("attention_backward", _problem(B, H, S_q, S_k, D, q.dtype, causal))
    _check_config(config)
    meta, opts = launch_options(config)
    BM, BN = meta["BLOCK_M"], meta["BLOCK_N"]
    BD, BDV = _padded_dim(D), _padded_dim(Dv)
    flags = dict(CAUSAL=bool(causal), HAS_MASK=attn_mask is not None,
        MASK_BOOL=_mask_bool(attn_mask), HAS_KPM=key_padding_mask is not None,
                 UPCAST=_upcast(q.dtype))

    delta = q.new((B, H, S_q), _F32)  # contiguous: the kernels index it as (b * H + h) * S_q + m
    if B * H * S_q > 0:
        _attn_bwd_preprocess_kernel[(triton.cdiv(S_q, BM), H, B)](
            out, do, delta, H, S_q, Dv, *out.strides, *do.strides, BLOCK_M=BM, BLOCK_DV=BDV)
    shared = (H, S_q, S_k, D, Dv, *q.strides, *k.strides, *v.strides, *do.strides, *lse.strides, *ms, *ps)
    if B * H * S_k > 0:
        _attn_bwd_dkdv_kernel[(triton.cdiv(S_k, BN), H, B)](
            q, k, v, do, lse, delta, mask, kpm, dk, dv, *shared, *dk.strides, *dv.strides,
            scale, scale * LOG2E, **flags, BLOCK_D=BD, BLOCK_DV=BDV, **meta, **opts)
    if B * H * S_q > 0:
        # dQ swaps the tiles: its BLOCK_N-row query tile is the dK/dV pass's key tile (64), so
        # q @ k^T has the 64 rows Hopper's warpgroup MMA needs (a 32-row tile fell back to
        # mma.sync), and it streams keys BLOCK_M at a time.
        _attn_bwd_dq_kernel[(triton.cdiv(S_q, BN), H, B)](
            q, k, v, do, lse, delta, mask, kpm, dq, *shared, *dq.strides,
            scale, scale * LOG2E, **flags, BLOCK_D=BD, BLOCK_DV=BDV, BLOCK_M=BN, BLOCK_N=BM, **opts)
    return dq, dk, dv


# --------------------------------------------------------------------- configs, registry
# Forward space after the tutorial's (BLOCK_M 64/128 x BLOCK_N 32/64/128, 4/8 warps, 2-4 stages).
ATTENTION_CONFIGS = [
    dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=w, num_stages=s)
    for bm in (64, 128) for bn in (32, 64, 128) for w in (4, 8) for s in (2, 3, 4)
]
ATTENTION_BWD_CONFIGS = [
    dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=w, num_stages=s)
    for bm in (16, 32, 64) for bn in (32, 64, 128) for w in (4, 8) for s in (1, 2, 3)
]


# perf/sass_report.py --configs (sm_90a, Triton 3.9, B4 H16 S1024 causal, bf16): configs that
# spill registers or need more than 227 KiB of shared memory, by 16-bit head dim. Keyed by
# (padded D): fp32 and D > 128 were not audited and keep the whole space.
def _attn(bm, bn, w, s):
    return dict(BLOCK_M=bm, BLOCK_N=bn, num_warps=w, num_stages=s)


_FWD_SPILLS = {
    64: [_attn(128, 128, 4, s) for s in (2, 3, 4)],
    128: [_attn(128, 128, 4, s) for s in (2, 3, 4)] + [_attn(128, 64, 4, s) for s in (2, 3, 4)]
    + [_attn(128, 128, 8, 4), _attn(64, 128, 4, 4), _attn(64, 128, 8, 4)],  # 227 KiB of smem
}
_BWD_SPILLS = {  # the dK/dV program holds k, v, dk, dv: 128 keys on 4 warps spill at any head dim
    64: [_attn(64, 128, 4, s) for s in (1, 2, 3)],
    128: [_attn(bm, 128, 4, s) for bm in (16, 32, 64) for s in (1, 2, 3)]
    + [_attn(64, 32, 4, s) for s in (1, 2, 3)] + [_attn(16, 32, 4, 3)],
}


def _spills(table):
    def spills(p: dict) -> list:
        return [] if p["dtype"] == "float32" else table.get(_padded_dim(p["D"]), [])
    return spills


def _fit_seq(block: int, seq: int) -> int:
    return max(16, min(block, triton.next_power_of_2(max(seq, 1))))  # no 128-row tile for 20 rows


def attention_heuristic(p: dict) -> dict:
    """Forward default: wide tiles for the interpreter (fewer programs); on a GPU the
    tutorial's 128x64 tile, shrunk when the fp32 or 256-wide head would overflow shared memory
    (128x128 fp32 q tile = 64 KiB, plus 64x128 fp32 k and v per stage = 64 KiB each)."""
    if interpret():
        return dict(BLOCK_M=_fit_seq(64, p["S_q"]), BLOCK_N=_fit_seq(64, p["S_k"]), num_warps=4, num_stages=1)
    d = _padded_dim(p["D"])
    wide = 4 if p["dtype"] == "float32" else 2  # bytes per element
    if d * wide <= 128:       # fp16 D<=64, fp32 D<=32
        bm, bn, w, s = 128, 64, 4, 3
    elif d * wide <= 256:     # fp16 D=128, fp32 D=64
        bm, bn, w, s = 128, 64, 8, 2
    elif d * wide <= 512:     # fp16 D=256, fp32 D=128
        bm, bn, w, s = 64, 32, 4, 2
    else:                     # fp32 D=256: 64 KiB k+v per stage, so one stage and 32 rows
        bm, bn, w, s = 32, 32, 4, 1
    return dict(BLOCK_M=_fit_seq(bm, p["S_q"]), BLOCK_N=_fit_seq(bn, p["S_k"]), num_warps=w, num_stages=s)


def attention_backward_heuristic(p: dict) -> dict:
    """Backward default: the dK/dV program holds k, v, dk, dv (4 x BLOCK_N x D) in registers,
    so the key tile is 64 and the streamed query tile 32 (the tutorial's 32/128 split, halved
    to fit one config for both kernels; dQ runs them swapped, 64 query rows x 32 keys); 16x32
    once the head passes 64 fp32 / 128 fp16."""
    if interpret():
        return dict(BLOCK_M=_fit_seq(64, p["S_q"]), BLOCK_N=_fit_seq(64, p["S_k"]), num_warps=4, num_stages=1)
    d = _padded_dim(p["D"])
    wide = 4 if p["dtype"] == "float32" else 2
    if d * wide <= 256:
        bm, bn, w, s = 32, 64, 4 if d <= 64 else 8, 2
    else:
        bm, bn, w, s = 16, 32, 8, 1
    return dict(BLOCK_M=_fit_seq(bm, p["S_q"]), BLOCK_N=_fit_seq(bn, p["S_k"]), num_warps=w, num_stages=s)


def _qkv_problem(problem, new_buffer):
    B, H, S_q, S_k, D = (problem[key] for key in ("B", "H", "S_q", "S_k", "D"))
    dt = problem["dtype"]
    return new_buffer((B, H, S_q, D), dt), new_buffer((B, H, S_k, D), dt), new_buffer((B, H, S_k, D), dt)


def make_attention_problem(problem: dict, new_buffer):
    """run(config) times one forward of ``problem`` (B, H, S_q, S_k, D, dtype, causal)."""
    q, k, v = _qkv_problem(problem, new_buffer)
    out, lse = q.new(q.shape, q.dtype), q.new(q.shape[:3], _F32)

    def run(config):
        attention(q, k, v, causal=problem.get("causal", False), out=out, lse_out=lse, config=config)
    return run


def make_attention_backward_problem(problem: dict, new_buffer):
    """run(config) times one backward (three launches) of ``problem``."""
    q, k, v = _qkv_problem(problem, new_buffer)
    causal = problem.get("causal", False)
    out, lse = attention(q, k, v, causal=causal)
    do = new_buffer(tuple(out.shape), problem["dtype"])
    dq, dk, dv = q.new(q.shape, q.dtype), k.new(k.shape, k.dtype), v.new(v.shape, v.dtype)

    def run(config):
        attention_backward(do, q, k, v, out, lse, causal=causal, dq=dq, dk=dk, dv=dv, config=config)
    return run


_KEYS = ("B", "H", "S_q", "S_k", "D", "dtype", "causal")
register(Tunable(name="attention", configs=ATTENTION_CONFIGS, heuristic=attention_heuristic,
                 make_problem=make_attention_problem, problem_keys=_KEYS, spills=_spills(_FWD_SPILLS),
                 doc="fused attention forward (flash, causal, masks)"))
register(Tunable(name="attention_backward", configs=ATTENTION_BWD_CONFIGS,
                 heuristic=attention_backward_heuristic, make_problem=make_attention_backward_problem,
                 problem_keys=_KEYS, spills=_spills(_BWD_SPILLS), doc="fused attention backward (dK/dV + dQ kernels)"))
