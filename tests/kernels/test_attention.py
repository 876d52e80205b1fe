"""Fused attention kernels vs a float64 NumPy reference (forward, lse and analytic gradients)."""
import math

import numpy as np
import pytest

from blaze.kernels import registry
from blaze.kernels.attention import (MAX_HEAD_DIM, attention, attention_backward,
                                     attention_heuristic, attention_backward_heuristic)
from blaze.kernels.buffer import HostBuffer
from tests.kernels.helpers import BF16, RTOL, rel_err

DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": BF16}
def poisoned(dev, shape, dtype):
    # dev.poisoned keys its poison on dtype.kind, and bfloat16's kind is 'V' (ml_dtypes),
    # so NaN-filled buffers are built here for every float dtype.
    return dev.put(np.full(shape, np.nan, dtype=dtype))


SMALL = dict(BLOCK_M=32, BLOCK_N=16, num_warps=4, num_stages=1)  # several blocks + tails at S=77


# ------------------------------------------------------------------------- reference
def ref_attention(q, k, v, do, causal=False, scale=None, mask=None, kpm=None):
    """float64 softmax(q k^T * scale + mask) v, its lse and analytic dq, dk, dv.

    Fully masked rows: out 0, lse -inf, zero gradients (the kernels' documented behaviour).
    """
    q, k, v, do = (np.asarray(a, np.float64) for a in (q, k, v, do))
    S_q, S_k = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.swapaxes(-1, -2) * scale                             # (B, H, S_q, S_k)
    if mask is not None:
        s = s + np.asarray(mask, np.float64)
    allowed = np.ones(s.shape, bool)
    if causal:  # PyTorch's is_causal: top-left aligned tril(ones(S_q, S_k))
        allowed &= np.tril(np.ones((S_q, S_k), bool))
    if kpm is not None:
        allowed &= ~kpm[:, None, None, :]
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)
    e = np.exp(s - m)
    l = e.sum(-1, keepdims=True)
    p = e / np.where(l == 0, 1.0, l)
    out = p @ v
    lse = np.where(l == 0, -np.inf, m + np.log(np.where(l == 0, 1.0, l)))[..., 0]
    dv = p.swapaxes(-1, -2) @ do
    dp = do @ v.swapaxes(-1, -2)
    ds = p * (dp - (p * dp).sum(-1, keepdims=True))
    return out, lse, ds @ k * scale, ds.swapaxes(-1, -2) @ q * scale, dv


def make_inputs(rng, B, H, S_q, S_k, D, dtype, Dv=None):
    dt = DTYPES[dtype]
    Dv = D if Dv is None else Dv
    shapes = [(B, H, S_q, D), (B, H, S_k, D), (B, H, S_k, Dv), (B, H, S_q, Dv)]
    return [rng.standard_normal(s).astype(dt) for s in shapes]


def run_both(dev, q, k, v, do, config=SMALL, bwd_config=None, **kw):
    """Forward + backward through the kernels into NaN-poisoned outputs; NumPy results."""
    B, H, S_q, _ = q.shape
    Dv = v.shape[-1]
    qb, kb, vb, dob = (dev.put(a) for a in (q, k, v, do))
    out = poisoned(dev, (B, H, S_q, Dv), q.dtype)
    lse = poisoned(dev, (B, H, S_q), np.float32)
    o, l = attention(qb, kb, vb, out=out, lse_out=lse, config=config, **kw)
    assert o is out and l is lse
    grads = [poisoned(dev, a.shape, a.dtype) for a in (q, k, v)]
    dq, dk, dv = attention_backward(dob, qb, kb, vb, o, l, dq=grads[0], dk=grads[1], dv=grads[2],
                                    config=bwd_config or config, **kw)
    return [dev.get(b) for b in (o, l, dq, dk, dv)]


def check(got, ref, dtype, tol_scale=1.0):
    """Compare out, lse, dq, dk, dv; lse compared where finite, -inf exactly where expected."""
    tol = RTOL[dtype] * tol_scale
    names = ("out", "lse", "dq", "dk", "dv")
    for name, g, r in zip(names, got, ref):
        g = np.asarray(g, np.float64)
        if name == "lse":
            assert np.array_equal(np.isneginf(g), np.isneginf(r)), "lse: -inf rows differ"
            fin = np.isfinite(r)
            assert rel_err(g[fin], r[fin]) < tol, f"lse: rel err {rel_err(g[fin], r[fin])}"
            continue
        assert rel_err(g, r) < tol, f"{name}: rel err {rel_err(g, r)} >= {tol}"


def _tol(dtype):
    # fp32: dots in ieee fp32 over S_k<=77 terms stay ~1e-6; fp16/bf16 round p and ds to the
    # input dtype before the second dot (as FlashAttention does), so grads get 3x the fwd tol.
    return 5.0 if dtype == "float32" else 3.0


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("causal", [False, True])
def test_seq77_matches_reference(dev, dtype, causal):
    rng = np.random.default_rng(0)
    q, k, v, do = make_inputs(rng, 2, 2, 77, 77, 64, dtype)
    got = run_both(dev, q, k, v, do, causal=causal)
    check(got, ref_attention(q, k, v, do, causal=causal), dtype, _tol(dtype))


@pytest.mark.parametrize("S_q,S_k", [(77, 40), (20, 77)])
@pytest.mark.parametrize("causal", [False, True])
def test_unequal_lengths_top_left_causal(dev, S_q, S_k, causal):
    # S_q > S_k: rows past S_k see every key; S_q < S_k: keys past S_q get zero dk, dv.
    rng = np.random.default_rng(1)
    q, k, v, do = make_inputs(rng, 1, 2, S_q, S_k, 16, "float32")
    got = run_both(dev, q, k, v, do, causal=causal, bwd_config=dict(BLOCK_M=16, BLOCK_N=32))
    ref = ref_attention(q, k, v, do, causal=causal)
    check(got, ref, "float32", 5.0)
    if causal and S_k > S_q:
        assert np.all(got[3][:, :, S_q:] == 0) and np.all(got[4][:, :, S_q:] == 0)


@pytest.mark.parametrize("D,Dv,dtype", [(16, 16, "float16"), (128, 128, "float32"), (128, 128, "bfloat16"),
                                        (80, 80, "float32"), (32, 16, "float32"), (3, 5, "float32")])
def test_head_dims_padded_and_unequal(dev, D, Dv, dtype):
    # 80 -> 128, 3 -> 16, 5 -> 16 padded tiles with masked loads; Dv may differ from D.
    rng = np.random.default_rng(2)
    q, k, v, do = make_inputs(rng, 1, 1, 33, 45, D, dtype, Dv=Dv)
    got = run_both(dev, q, k, v, do, config=dict(BLOCK_M=64, BLOCK_N=32))
    check(got, ref_attention(q, k, v, do), dtype, _tol(dtype))


def test_custom_scale_and_default_config(dev):
    rng = np.random.default_rng(3)
    q, k, v, do = make_inputs(rng, 2, 1, 50, 61, 32, "float32")
    got = run_both(dev, q, k, v, do, config=None, causal=True, scale=0.3)
    check(got, ref_attention(q, k, v, do, causal=True, scale=0.3), "float32", 5.0)


@pytest.mark.parametrize("mask_shape", [(77, 40), (2, 1, 77, 40), (1, 2, 1, 40), (2, 2, 77, 40)])
def test_additive_mask_broadcasts(dev, mask_shape):
    rng = np.random.default_rng(4)
    q, k, v, do = make_inputs(rng, 2, 2, 77, 40, 16, "float32")
    mask = rng.standard_normal(mask_shape).astype(np.float32) * 2
    got = run_both(dev, q, k, v, do, attn_mask=dev.put(mask), causal=True)
    check(got, ref_attention(q, k, v, do, causal=True, mask=mask), "float32", 5.0)


def test_half_mask_on_bf16_inputs_with_key_padding(dev):
    rng = np.random.default_rng(5)
    q, k, v, do = make_inputs(rng, 2, 1, 40, 77, 64, "bfloat16")
    mask = rng.standard_normal((40, 77)).astype(np.float16)
    kpm = rng.random((2, 77)) < 0.3
    got = run_both(dev, q, k, v, do, attn_mask=dev.put(mask), key_padding_mask=dev.put(kpm))
    check(got, ref_attention(q, k, v, do, mask=mask, kpm=kpm), "bfloat16", 3.0)
    assert np.all(got[3][0, :, kpm[0]] == 0)  # ignored keys get no gradient


def test_bool_mask_keeps_true_entries(dev):
    rng = np.random.default_rng(10)
    q, k, v, do = make_inputs(rng, 1, 2, 45, 77, 32, "float16")
    keep = rng.random((1, 2, 45, 77)) < 0.7
    additive = np.where(keep, 0.0, -np.inf)
    got = run_both(dev, q, k, v, do, attn_mask=dev.put(keep), causal=True)
    check(got, ref_attention(q, k, v, do, causal=True, mask=additive), "float16", 3.0)


def test_fully_masked_rows_give_zero_not_nan(dev):
    # batch 1: every key padded; batch 0, row 5: an all -inf additive mask row; with causal.
    rng = np.random.default_rng(6)
    q, k, v, do = make_inputs(rng, 2, 2, 30, 20, 16, "float32")
    kpm = np.zeros((2, 20), bool)
    kpm[1] = True
    kpm[0, :3] = True  # with causal, rows 0..2 of batch 0 lose their only keys too
    mask = np.zeros((2, 1, 30, 20), np.float32)
    mask[0, 0, 5] = -np.inf
    got = run_both(dev, q, k, v, do, attn_mask=dev.put(mask), key_padding_mask=dev.put(kpm), causal=True)
    ref = ref_attention(q, k, v, do, causal=True, mask=mask, kpm=kpm)
    assert np.isneginf(ref[1]).sum() == 2 * 30 + 2 * 4  # the reference really has empty rows
    check(got, ref, "float32", 5.0)
    out, lse, dq = got[:3]
    assert np.all(out[1] == 0) and np.all(out[0, :, [0, 1, 2, 5]] == 0)
    assert np.all(np.isneginf(lse[1])) and np.all(dq[1] == 0) and np.all(got[3][1] == 0)


def test_non_contiguous_inputs_and_outputs(dev):
    # q, do and out as (B, S, H, D) arrays transposed to (B, H, S, D); k a slice of a wider
    # array; v with a reversed-stride copy; dq written into a transposed view.
    rng = np.random.default_rng(7)
    B, H, S, D = 2, 2, 37, 32
    q_bshd = rng.standard_normal((B, S, H, D)).astype(np.float32)
    k_wide = rng.standard_normal((B, H, S, 2 * D)).astype(np.float32)
    v = rng.standard_normal((B, H, S, D)).astype(np.float32)
    do_bshd = rng.standard_normal((B, S, H, D)).astype(np.float32)
    q, k, do = q_bshd.transpose(0, 2, 1, 3), k_wide[..., 1::2], do_bshd.transpose(0, 2, 1, 3)
    ref = ref_attention(q, k, v, do, causal=True)

    qb, kb, dob = (_view(dev, dev.put(a), a_view) for a, a_view in
                   ((q_bshd, q), (k_wide, k), (do_bshd, do)))
    vb = dev.put(v)
    out_base = poisoned(dev, (B, S, H, D), np.float32)
    out = _view(dev, out_base, q)
    dq_base = poisoned(dev, (B, S, H, D), np.float32)
    o, lse = attention(qb, kb, vb, causal=True, out=out, config=SMALL)
    dq, dk, dv = attention_backward(dob, qb, kb, vb, o, lse, causal=True, dq=_view(dev, dq_base, q), config=SMALL)
    got = [dev.get(out_base).transpose(0, 2, 1, 3), dev.get(lse),
           dev.get(dq_base).transpose(0, 2, 1, 3), dev.get(dk), dev.get(dv)]
    check(got, ref, "float32", 5.0)


class _StridedView:
    """A strided window on a device buffer (for GPU runs, where there is no NumPy view)."""

    def __init__(self, base, offset, shape, strides):
        self.base, self.offset, self.shape, self.strides = base, offset, shape, strides
        self.dtype = base.dtype

    def data_ptr(self):
        return self.base.data_ptr() + self.offset * self.dtype.itemsize

    def new(self, shape, dtype=None):
        return self.base.new(shape, dtype)


def _view(dev, base, like):
    """``like`` is a NumPy view of a contiguous array shaped like ``base``: the same view of the buffer."""
    offset = (like.__array_interface__["data"][0] - like.base.__array_interface__["data"][0]) // like.itemsize
    strides = tuple(s // like.itemsize for s in like.strides)
    if isinstance(base, HostBuffer):
        flat = base.array.reshape(-1)  # (numel,) view of the same memory
        return HostBuffer(np.lib.stride_tricks.as_strided(flat[offset:], like.shape, like.strides))
    return _StridedView(base, offset, like.shape, strides)


def test_errors_name_the_problem(dev):
    rng = np.random.default_rng(8)
    q, k, v, do = make_inputs(rng, 1, 1, 8, 8, 16, "float32")
    qb, kb, vb = dev.put(q), dev.put(k), dev.put(v)
    with pytest.raises(TypeError, match="dtype float64 is not supported"):
        attention(dev.put(q.astype(np.float64)), kb, vb)
    with pytest.raises(TypeError, match="share a dtype"):
        attention(qb, dev.put(k.astype(np.float16)), vb)
    with pytest.raises(ValueError, match=f"unsupported head dim D=300 .*1..{MAX_HEAD_DIM}"):
        big = np.zeros((1, 1, 8, 300), np.float32)
        attention(dev.put(big), dev.put(big), dev.put(big))
    with pytest.raises(ValueError, match="got q \\(1, 1, 8, 16\\), k \\(1, 2, 8, 16\\)"):
        attention(qb, dev.put(np.zeros((1, 2, 8, 16), np.float32)), vb)
    with pytest.raises(ValueError, match="expected 4 dimensions"):
        attention(dev.put(q[0]), kb, vb)
    with pytest.raises(ValueError, match="attn_mask of shape \\(3, 8\\) does not broadcast"):
        attention(qb, kb, vb, attn_mask=dev.put(np.zeros((3, 8), np.float32)))
    with pytest.raises(TypeError, match="attn_mask: dtype int32"):
        attention(qb, kb, vb, attn_mask=dev.put(np.zeros((8, 8), np.int32)))
    with pytest.raises(ValueError, match="key_padding_mask must have shape \\(B, S_k\\) = \\(1, 8\\)"):
        attention(qb, kb, vb, key_padding_mask=dev.put(np.zeros((1, 7), bool)))
    with pytest.raises(TypeError, match="key_padding_mask: dtype float32"):
        attention(qb, kb, vb, key_padding_mask=dev.put(np.zeros((1, 8), np.float32)))
    with pytest.raises(ValueError, match="out must be \\(1, 1, 8, 16\\) float32"):
        attention(qb, kb, vb, out=poisoned(dev, (1, 1, 8, 15), np.float32))
    with pytest.raises(ValueError, match="BLOCK_N=24 must be a power of two"):
        attention(qb, kb, vb, config=dict(BLOCK_M=16, BLOCK_N=24))
    o, lse = attention(qb, kb, vb)
    with pytest.raises(ValueError, match="attention_backward: lse must have shape \\(1, 1, 8\\)"):
        attention_backward(dev.put(do), qb, kb, vb, o, dev.put(np.zeros((1, 1, 7), np.float32)))
    with pytest.raises(TypeError, match="do dtype float16 must match q, k, v \\(float32\\)"):
        attention_backward(dev.put(do.astype(np.float16)), qb, kb, vb, o, lse)
    with pytest.raises(ValueError, match="dk must be \\(1, 1, 8, 16\\) float32"):
        attention_backward(dev.put(do), qb, kb, vb, o, lse, dk=poisoned(dev, (1, 1, 8, 16), np.float16))


def test_registry_heuristics_and_problem(dev):
    problem = dict(B=1, H=1, S_q=20, S_k=20, D=80, dtype="float16", causal=True)
    for name, heur in (("attention", attention_heuristic), ("attention_backward", attention_backward_heuristic)):
        t = registry.tunables()[name]
        cfg = registry.config_for(name, problem)
        assert cfg == heur(problem) and {"BLOCK_M", "BLOCK_N", "num_warps", "num_stages"} <= set(cfg)
        assert all(set(c) == {"BLOCK_M", "BLOCK_N", "num_warps", "num_stages"} for c in t.configs)
        rng = np.random.default_rng(9)
        run = t.make_problem(problem, lambda shape, dt: dev.put(rng.standard_normal(shape).astype(DTYPES[dt])))
        run(dict(BLOCK_M=16, BLOCK_N=16, num_warps=4, num_stages=1))


_COMPILE_FOR_SM90 = r"""
import os, sys
os.environ.pop("TRITON_INTERPRET", None)
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import blaze.kernels.attention as A

pointers = dict(LSE="*fp32", DELTA="*fp32", KPM="*i1", MASK="*fp16",
                **{n: "*bf16" for n in ("Q", "K", "V", "O", "DO", "DQ", "DK", "DV")})
const = dict(CAUSAL=True, HAS_MASK=True, MASK_BOOL=False, HAS_KPM=True, UPCAST=False,
             BLOCK_M=64, BLOCK_N=32, BLOCK_D=128, BLOCK_DV=128)
for fn in (A._attn_fwd_kernel, A._attn_bwd_preprocess_kernel, A._attn_bwd_dkdv_kernel, A._attn_bwd_dq_kernel):
    names = fn.arg_names
    sig = {n: "constexpr" if n in const else pointers.get(n) or ("fp32" if "scale" in n else "i32")
           for n in names}
    cx = {(names.index(n),): v for n, v in const.items() if n in names}
    triton.compile(ASTSource(fn, sig, cx), target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4, num_stages=2))
print("compiled")
"""


def test_kernels_compile_for_a_real_gpu():
    # The interpreter accepts things the GPU compiler rejects (non-constexpr globals, loop-carried
    # type changes); compiling for sm_90 needs no GPU, only Triton's bundled NVIDIA backend.
    import os
    import subprocess
    import sys

    pytest.importorskip("triton.backends.nvidia", reason="Triton built without the NVIDIA backend")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", _COMPILE_FOR_SM90], env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "compiled" in res.stdout, res.stderr[-3000:]
