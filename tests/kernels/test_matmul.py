"""matmul kernels vs a float64 NumPy reference: epilogue, dtypes, batching, strides, backward, errors."""
import math

import numpy as np
import pytest

from blaze.kernels import matmul as mm
from blaze.kernels.buffer import HostBuffer
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
ACTS = [None, "relu", "gelu", "gelu_tanh", "silu", "tanh"]
_erf = np.vectorize(math.erf)

# float64 reference activations (by name, like the kernel's table)
REF_ACT = {
    None: lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
}


def ref_act_grad(name, x):
    """act'(x) by a float64 central difference: independent of the kernel's closed forms."""
    h = 1e-6
    return (REF_ACT[name](x + h) - REF_ACT[name](x - h)) / (2 * h)


def poisoned(dev, shape, dtype):
    """dev.poisoned, also for bfloat16 (helpers' POISON table keys on dtype.kind, 'V' for bf16)."""
    if np.dtype(dtype) == BF16:
        return dev.put(np.full(shape, np.nan, dtype=BF16))
    return dev.poisoned(shape, dtype)


def rnd(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def f64(a):
    return np.asarray(a, dtype=np.float64)


class _View:
    """A strided view of a device buffer (the GPU path's stand-in for a NumPy view)."""

    def __init__(self, base, shape, strides):
        self.base, self.shape, self.strides, self.dtype = base, tuple(shape), tuple(strides), base.dtype

    def data_ptr(self):
        return self.base.data_ptr()

    def new(self, shape, dtype=None):
        return self.base.new(shape, dtype)

    def numpy(self):
        stored = self.base.numpy()
        return np.lib.stride_tricks.as_strided(stored, self.shape, [s * stored.itemsize for s in self.strides]).copy()


def put_t(dev, a):
    """A buffer equal to ``a`` whose last two dims are stored transposed (strides swapped)."""
    stored = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    if not dev.gpu:
        return HostBuffer(np.swapaxes(stored, -1, -2))
    base = dev.put(stored)
    st = list(base.strides)
    st[-1], st[-2] = st[-2], st[-1]
    return _View(base, a.shape, st)


def _pow2_tile(n):
    return n >= 16 and n & (n - 1) == 0  # tl.dot needs power-of-two tiles of at least 16


def check(out, ref, dtype, tol=None):
    err = rel_err(out, ref)
    assert err < (tol or RTOL[str(np.dtype(dtype))]), f"rel err {err:.2e}"


def test_large_odd_fp32(dev):
    rng = np.random.default_rng(0)
    a, b = rnd(rng, (1823, 781), np.float32), rnd(rng, (781, 67), np.float32)
    out = mm.matmul(dev.put(a), dev.put(b), out=poisoned(dev, (1823, 67), np.float32))
    check(dev.get(out), f64(a) @ f64(b), np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ACTS)
def test_epilogue_forward_backward(dev, dtype, act):
    rng = np.random.default_rng(1)
    M, K, N = 37, 29, 23
    a, b = rnd(rng, (M, K), dtype, 0.5), rnd(rng, (K, N), dtype, 0.5)
    bias, res = rnd(rng, (N,), dtype), rnd(rng, (M, N), dtype)
    out, pre = mm.matmul(dev.put(a), dev.put(b), bias=dev.put(bias), residual=dev.put(res), activation=act,
                         save_preact=True, out=poisoned(dev, (M, N), dtype), preact_out=poisoned(dev, (M, N), dtype))
    z = f64(a) @ f64(b) + f64(bias)
    check(dev.get(pre), z, dtype)
    check(dev.get(out), REF_ACT[act](z) + f64(res), dtype)

    g = rnd(rng, (M, N), dtype)
    da, db, dbias = mm.matmul_backward(
        dev.put(g), dev.put(a), dev.put(b), preact=pre, activation=act, need_bias=True,
        out_a=poisoned(dev, (M, K), dtype), out_b=poisoned(dev, (K, N), dtype), out_bias=poisoned(dev, (N,), dtype))
    # the reference differentiates at the kernel's own (rounded) pre-activation
    dz = f64(g) * ref_act_grad(act, f64(dev.get(pre)))
    check(dev.get(da), dz @ f64(b).T, dtype)
    check(dev.get(db), f64(a).T @ dz, dtype)
    check(dev.get(dbias), dz.sum(0), dtype)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3, 17, 11), (11, 9)),          # batched a, shared b (a linear layer on (B, T, C))
    ((17, 11), (3, 11, 9)),          # shared a
    ((2, 3, 17, 11), (2, 3, 11, 9)),  # 4-D, merged into one batch dim
    ((1, 17, 11), (4, 11, 9)),       # explicit size-1 batch broadcasts
])
def test_batched_broadcast(dev, a_shape, b_shape):
    rng = np.random.default_rng(2)
    a, b = rnd(rng, a_shape, np.float32), rnd(rng, b_shape, np.float32)
    ref = f64(a) @ f64(b)
    res = rnd(rng, ref.shape[-1:], np.float32)  # residual broadcast over rows and batch
    out, pre = mm.matmul(dev.put(a), dev.put(b), residual=dev.put(res), activation="tanh", save_preact=True,
                         out=poisoned(dev, ref.shape, np.float32))
    check(dev.get(pre), ref, np.float32)
    check(dev.get(out), np.tanh(ref) + f64(res), np.float32)

    g = rnd(rng, ref.shape, np.float32)
    da, db, dbias = mm.matmul_backward(dev.put(g), dev.put(a), dev.put(b), preact=pre, activation="tanh",
                                       need_bias=True, out_a=poisoned(dev, a_shape, np.float32),
                                       out_b=poisoned(dev, b_shape, np.float32))
    dz = f64(g) * (1 - np.tanh(f64(dev.get(pre))) ** 2)
    ref_da = dz @ np.swapaxes(f64(b), -1, -2)
    ref_db = np.swapaxes(f64(a), -1, -2) @ dz
    # an operand broadcast over the batch gets its gradient summed over the batch
    ref_da = ref_da.reshape(-1, *a_shape[-2:]).sum(0).reshape(a_shape) if np.prod(a_shape[:-2]) == 1 else ref_da
    ref_db = ref_db.reshape(-1, *b_shape[-2:]).sum(0).reshape(b_shape) if np.prod(b_shape[:-2]) == 1 else ref_db
    check(dev.get(da), ref_da.reshape(a_shape), np.float32)
    check(dev.get(db), ref_db.reshape(b_shape), np.float32)
    check(dev.get(dbias), dz.reshape(-1, g.shape[-1]).sum(0), np.float32)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=str)
def test_transposed_operands_by_strides(dev, dtype):
    rng = np.random.default_rng(3)
    a, b = rnd(rng, (2, 45, 33), dtype), rnd(rng, (33, 19), dtype)
    at, bt = put_t(dev, a), put_t(dev, b)
    assert at.strides[-2] == 1 and bt.strides[-2] == 1  # genuinely transposed storage, no copy
    out = put_t(dev, np.full((2, 45, 19), np.nan, dtype))  # a transposed, poisoned output
    mm.matmul(at, bt, activation="silu", out=out)
    ref = f64(a) @ f64(b)
    check(dev.get(out), REF_ACT["silu"](ref), dtype)

    g = rnd(rng, (2, 45, 19), dtype)
    gt = put_t(dev, g)  # grad_out transposed too
    da, db, _ = mm.matmul_backward(gt, at, bt)
    check(dev.get(da), f64(g) @ f64(b).T, dtype)
    check(dev.get(db), np.einsum("zmk,zmn->kn", f64(a), f64(g)), dtype)
    da_only = mm.matmul_backward(gt, at, bt, need_b=False)
    db_only = mm.matmul_backward(gt, at, bt, need_a=False)
    assert da_only[1] is None and db_only[0] is None and da_only[2] is None
    check(dev.get(da_only[0]), f64(g) @ f64(b).T, dtype)
    check(dev.get(db_only[1]), np.einsum("zmk,zmn->kn", f64(a), f64(g)), dtype)


def test_small_tiles_grouped_order_and_tails(dev):
    """Many 16x16 tiles with GROUP_M=3 (a ragged last group) and K tails of every loop step."""
    rng = np.random.default_rng(4)
    a, b, bias = rnd(rng, (70, 41), np.float32), rnd(rng, (41, 53), np.float32), rnd(rng, (53,), np.float32)
    cfg = dict(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, GROUP_M=3, num_warps=2, num_stages=2)
    out = mm.matmul(dev.put(a), dev.put(b), bias=dev.put(bias), activation="relu", config=cfg,
                    out=poisoned(dev, (70, 53), np.float32))
    check(dev.get(out), np.maximum(f64(a) @ f64(b) + bias, 0), np.float32)


@pytest.mark.parametrize("M,K,N", [(1, 1, 1), (1, 5, 300), (300, 3, 1), (9, 0, 4)])
def test_degenerate_shapes(dev, M, K, N):
    rng = np.random.default_rng(5)
    a, b, bias = rnd(rng, (M, K), np.float32), rnd(rng, (K, N), np.float32), rnd(rng, (N,), np.float32)
    out = mm.matmul(dev.put(a), dev.put(b), bias=dev.put(bias), out=poisoned(dev, (M, N), np.float32))
    np.testing.assert_allclose(dev.get(out), f64(a) @ f64(b) + bias, rtol=1e-5, atol=1e-6)
    g = rnd(rng, (M, N), np.float32)
    da, db, dbias = mm.matmul_backward(dev.put(g), dev.put(a), dev.put(b), need_bias=True)
    np.testing.assert_allclose(dev.get(da), f64(g) @ f64(b).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dev.get(db), f64(a).T @ f64(g), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dev.get(dbias), f64(g).sum(0), rtol=1e-5, atol=1e-5)  # M=300: 2 row steps


def test_tf32_switch(dev):
    rng = np.random.default_rng(6)
    a, b = rnd(rng, (64, 200), np.float32), rnd(rng, (200, 48), np.float32)
    out = mm.matmul(dev.put(a), dev.put(b), allow_tf32=True)
    check(dev.get(out), f64(a) @ f64(b), np.float32, tol=3e-3)  # tf32: 10-bit mantissa inputs


def test_errors(dev):
    f32 = lambda *s: dev.put(np.zeros(s, np.float32))  # noqa: E731
    with pytest.raises(ValueError, match="inner dims differ.*K=5.*K=6"):
        mm.matmul(f32(3, 5), f32(6, 2))
    with pytest.raises(TypeError, match="float64 is not supported"):
        mm.matmul(dev.put(np.zeros((3, 5))), f32(5, 2))
    with pytest.raises(TypeError, match="same dtype"):
        mm.matmul(f32(3, 5), dev.put(np.zeros((5, 2), np.float16)))
    with pytest.raises(ValueError, match="at least 2 dims"):
        mm.matmul(f32(5), f32(5, 2))
    with pytest.raises(ValueError, match="do not broadcast"):
        mm.matmul(f32(2, 3, 5), f32(4, 5, 2))
    with pytest.raises(ValueError, match="cannot be merged"):  # batch (3, 4): a varies on dim 0, b on dim 1
        mm.matmul(f32(3, 1, 4, 5), f32(4, 5, 2))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        mm.matmul(f32(3, 5), f32(5, 2), activation="swish")
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        mm.matmul(f32(3, 5), f32(5, 2), bias=f32(3))
    with pytest.raises(ValueError, match="residual"):
        mm.matmul(f32(3, 5), f32(5, 2), residual=f32(3, 3))
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 2\)"):
        mm.matmul(f32(3, 5), f32(5, 2), out=f32(2, 3))
    with pytest.raises(ValueError, match="needs preact"):
        mm.matmul_backward(f32(3, 2), f32(3, 5), f32(5, 2), activation="gelu")
    with pytest.raises(ValueError, match="grad_out has shape"):
        mm.matmul_backward(f32(3, 3), f32(3, 5), f32(5, 2))


def test_registry_and_heuristic(dev, monkeypatch):
    t = tunables()["matmul"]
    keys = {"BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages"}
    assert all(set(c) == keys for c in t.configs)
    monkeypatch.setattr(mm, "interpret", lambda: False)  # the GPU branch of the heuristic
    for p in [dict(M=4096, N=4096, K=4096, dtype="float16"), dict(M=8, N=50257, K=768, dtype="bfloat16"),
              dict(M=1823, N=67, K=781, Z=1, dtype="float32"), dict(M=77, N=77, K=64, Z=48, dtype="float32")]:
        c = t.heuristic(p)
        assert set(c) == keys and all(_pow2_tile(c[k]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
    monkeypatch.undo()
    rng = np.random.default_rng(7)
    run = t.make_problem(dict(M=33, N=20, K=17, Z=2, dtype="float32"),
                         lambda shape, dt: dev.put(rnd(rng, shape, dt)))
    run(t.configs[-1])
