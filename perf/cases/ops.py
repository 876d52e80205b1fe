"""Op cases: blaze's public API against NumPy (CPU) and PyTorch (when installed), same shapes.

CPU sizes stay small (the NumPy backend is the reference path, not the fast one); cuda sizes
are the ones the kernels issue's targets name (matmul 4096^3 bf16, attention seq 1k-8k...).
"""
from __future__ import annotations

import math

import numpy as np

from perf.cases import Case

_rng = np.random.default_rng(0)
F32 = 4  # bytes per float32 element


def _rand(*shape) -> np.ndarray:
    return _rng.standard_normal(shape, dtype=np.float32)


def _itemsize(dtype: str) -> int:
    return 2 if dtype in ("bfloat16", "float16") else 4


def _b(env, a, dtype, grad=False):
    """blaze tensor in ``dtype`` on the run's device."""
    import blaze
    t = env.b(a)
    if dtype != "float32":
        t = t.to(getattr(blaze, dtype))
    return t.requires_grad_(True) if grad else t


def _t(env, a, dtype, grad=False):
    if env.torch is None:
        return None
    t = env.t(a).to(getattr(env.torch, dtype))
    return t.requires_grad_(True) if grad else t


def _fwd_bwd(fn, inputs, grad):
    """One forward + backward step; grads reset each step so none accumulate."""
    def step():
        for x in inputs:
            x.grad = None
        y = fn(*inputs)
        y.backward() if grad is None else y.backward(grad)  # None: a scalar loss
    return step


def _fmt(*dims) -> str:
    return "x".join(str(d) for d in dims)


# -- matmul and the fused linear epilogue ------------------------------------------------------
def matmul(p, env):
    M = N = K = p["n"]
    dt = p.get("dtype", "float32")
    a, b = _rand(M, K), _rand(K, N)
    import blaze
    A, B = _b(env, a, dt), _b(env, b, dt)
    ta, tb = _t(env, a, dt), _t(env, b, dt)
    return dict(shape=_fmt(M, N, K), dtype=dt, blaze=lambda: blaze.matmul(A, B), numpy=lambda: a @ b,
                torch=(lambda: env.torch.matmul(ta, tb)) if ta is not None else None,
                flops=2.0 * M * N * K, bytes=(M * K + K * N + M * N) * _itemsize(dt), bound="flops")


def _gelu_tanh_np(y):
    return 0.5 * y * (1.0 + np.tanh(0.7978845608 * (y + 0.044715 * y ** 3)))


def linear_gelu(p, env):
    """gelu(x @ w.T + b): fused in one GEMM epilogue on cuda; PyTorch runs the unfused pair."""
    M, K, N = p["m"], p["k"], p["n"]
    dt = p.get("dtype", "float32")
    x, w, bias = _rand(M, K), _rand(N, K), _rand(N)
    import blaze.nn.functional as F
    X, W, Bi = _b(env, x, dt), _b(env, w, dt), _b(env, bias, dt)
    torch = None
    if env.torch is not None:
        tf = env.torch.nn.functional
        tx, tw, tb = _t(env, x, dt), _t(env, w, dt), _t(env, bias, dt)
        torch = lambda: tf.gelu(tf.linear(tx, tw, tb), approximate="tanh")  # noqa: E731
    return dict(shape=_fmt(M, N, K), dtype=dt, blaze=lambda: F.gelu(F.linear(X, W, Bi), approximate="tanh"),
                numpy=lambda: _gelu_tanh_np(x @ w.T + bias), torch=torch, flops=2.0 * M * N * K,
                bytes=(M * K + N * K + M * N) * _itemsize(dt), bound="flops")


# -- conv ----------------------------------------------------------------------------------------
def _conv_np(x, w, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    KH, KW = w.shape[2:]
    cols = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))  # (N, C, H, W, KH, KW)
    return np.einsum("nchwij,ocij->nohw", cols, w, optimize=True)


def conv2d(p, env):
    """3x3, stride 1, padding 1 forward (ResNet body shape)."""
    N, C, H, O = p["n"], p["c"], p["hw"], p["o"]
    dt = p.get("dtype", "float32")
    x, w = _rand(N, C, H, H), _rand(O, C, 3, 3)
    import blaze.nn.functional as F
    X, W = _b(env, x, dt), _b(env, w, dt)
    tx, tw = _t(env, x, dt), _t(env, w, dt)
    torch = (lambda: env.torch.nn.functional.conv2d(tx, tw, padding=1)) if tx is not None else None
    return dict(shape=f"{_fmt(N, C, H, H)} k3 o{O}", dtype=dt, blaze=lambda: F.conv2d(X, W, padding=1),
                numpy=lambda: _conv_np(x, w, 1), torch=torch, flops=2.0 * N * O * H * H * C * 9,
                bytes=(x.size + w.size + N * O * H * H) * _itemsize(dt), bound="flops")


# -- row-wise fused ops: forward + backward ------------------------------------------------------
def _softmax_np(x, g):
    y = np.exp(x - x.max(-1, keepdims=True))
    y /= y.sum(-1, keepdims=True)
    return y * (g - (g * y).sum(-1, keepdims=True))


def softmax(p, env):
    M, N = p["m"], p["n"]
    dt = p.get("dtype", "float32")
    x, g = _rand(M, N), _rand(M, N)
    import blaze.nn.functional as F
    X, G = _b(env, x, dt, grad=True), _b(env, g, dt)
    torch = None
    if env.torch is not None:
        tx, tg = _t(env, x, dt, grad=True), _t(env, g, dt)
        torch = _fwd_bwd(lambda a: env.torch.softmax(a, -1), [tx], tg)
    # read x, write y; backward reads y and dy, writes dx: 5 passes over M*N
    return dict(shape=_fmt(M, N), dtype=dt, blaze=_fwd_bwd(lambda a: F.softmax(a, dim=-1), [X], G),
                numpy=lambda: _softmax_np(x, g), torch=torch, bytes=5.0 * M * N * _itemsize(dt), bound="bytes",
                note="forward + backward")


def _layernorm_np(x, w, b, g, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xh = (x - mu) * rstd
    y = xh * w + b
    gx = g * w
    dx = rstd * (gx - gx.mean(-1, keepdims=True) - xh * (gx * xh).mean(-1, keepdims=True))
    return y, dx, (g * xh).sum(0), g.sum(0)


def layernorm(p, env):
    M, N = p["m"], p["n"]
    dt = p.get("dtype", "float32")
    x, w, bias, g = _rand(M, N), _rand(N), _rand(N), _rand(M, N)
    import blaze.nn.functional as F
    X, W, Bi, G = _b(env, x, dt, True), _b(env, w, dt, True), _b(env, bias, dt, True), _b(env, g, dt)
    torch = None
    if env.torch is not None:
        tl = env.torch.nn.functional.layer_norm
        ins = [_t(env, x, dt, True), _t(env, w, dt, True), _t(env, bias, dt, True)]
        torch = _fwd_bwd(lambda a, ww, bb: tl(a, (N,), ww, bb), ins, _t(env, g, dt))
    return dict(shape=_fmt(M, N), dtype=dt,
                blaze=_fwd_bwd(lambda a, ww, bb: F.layer_norm(a, (N,), ww, bb), [X, W, Bi], G),
                numpy=lambda: _layernorm_np(x, w, bias, g), torch=torch, bytes=5.0 * M * N * _itemsize(dt),
                bound="bytes", note="forward + backward")


def _attention_np(q, k, v, do, causal):
    scale = 1.0 / math.sqrt(q.shape[-1])
    s = q @ k.swapaxes(-1, -2) * scale                        # (B, H, S, S)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    pr = np.exp(s - s.max(-1, keepdims=True))
    pr /= pr.sum(-1, keepdims=True)
    o = pr @ v
    dv = pr.swapaxes(-1, -2) @ do
    dp = do @ v.swapaxes(-1, -2)
    ds = pr * (dp - (dp * pr).sum(-1, keepdims=True))
    return o, ds @ k * scale, ds.swapaxes(-1, -2) @ q * scale, dv


def attention(p, env):
    B, H, S, D, causal = p["b"], p["h"], p["s"], p["d"], p.get("causal", True)
    dt = p.get("dtype", "float32")
    q, k, v, do = (_rand(B, H, S, D) for _ in range(4))
    import blaze.nn.functional as F
    Q, K, V, DO = _b(env, q, dt, True), _b(env, k, dt, True), _b(env, v, dt, True), _b(env, do, dt)
    torch = None
    if env.torch is not None:
        sdpa = env.torch.nn.functional.scaled_dot_product_attention
        ins = [_t(env, a, dt, True) for a in (q, k, v)]
        torch = _fwd_bwd(lambda a, b_, c: sdpa(a, b_, c, is_causal=causal), ins, _t(env, do, dt))
    # forward 2 GEMMs of 2*S*S*D each, backward 5: 3.5x forward; causal does half the tiles
    flops = 4.0 * B * H * S * S * D * 3.5 * (0.5 if causal else 1.0)
    return dict(shape=f"{_fmt(B, H, S, D)}{' causal' if causal else ''}", dtype=dt,
                blaze=_fwd_bwd(lambda a, b_, c: F.scaled_dot_product_attention(a, b_, c, is_causal=causal),
                               [Q, K, V], DO),
                numpy=lambda: _attention_np(q, k, v, do, causal), torch=torch, flops=flops,
                bytes=8.0 * B * H * S * D * _itemsize(dt), bound="flops", note="forward + backward")


def _cross_entropy_np(x, t):
    m = x.max(-1, keepdims=True)
    e = np.exp(x - m)
    lse = np.log(e.sum(-1, keepdims=True)) + m
    loss = (lse[:, 0] - x[np.arange(len(t)), t]).mean()
    grad = e / e.sum(-1, keepdims=True)
    grad[np.arange(len(t)), t] -= 1.0
    return loss, grad / len(t)


def cross_entropy(p, env):
    M, V = p["m"], p["v"]
    dt = p.get("dtype", "float32")
    x, t = _rand(M, V), _rng.integers(0, V, M)
    import blaze
    import blaze.nn.functional as F
    X, T = _b(env, x, dt, True), env.b(t)
    torch = None
    if env.torch is not None:
        tx, tt = _t(env, x, dt, True), env.t(t)
        torch = _fwd_bwd(lambda a: env.torch.nn.functional.cross_entropy(a.float(), tt), [tx], None)
    blaze_fn = _fwd_bwd(lambda a: F.cross_entropy(a if dt == "float32" else a.to(blaze.float32), T), [X], None)
    # read logits twice (forward, backward), write dlogits once
    return dict(shape=_fmt(M, V), dtype=dt, blaze=blaze_fn, numpy=lambda: _cross_entropy_np(x, t), torch=torch,
                bytes=3.0 * M * V * _itemsize(dt), samples=M, bound="bytes", note="forward + backward")


# -- memory-bound primitives --------------------------------------------------------------------
def elementwise(p, env):
    n, dt = p["n"], p.get("dtype", "float32")
    a, b = _rand(n), _rand(n)
    A, B = _b(env, a, dt), _b(env, b, dt)
    ta, tb = _t(env, a, dt), _t(env, b, dt)
    return dict(shape=_fmt(n), dtype=dt, blaze=lambda: A * B + A, numpy=lambda: a * b + a,
                torch=(lambda: ta * tb + ta) if ta is not None else None, bytes=6.0 * n * _itemsize(dt),
                bound="bytes", note="x*y+x (two ops)")


def reduce_sum(p, env):
    M, N, dt = p["m"], p["n"], p.get("dtype", "float32")
    x = _rand(M, N)
    X, tx = _b(env, x, dt), _t(env, x, dt)
    return dict(shape=_fmt(M, N), dtype=dt, blaze=lambda: X.sum(dim=-1), numpy=lambda: x.sum(-1),
                torch=(lambda: tx.sum(-1)) if tx is not None else None, bytes=float(M * N * _itemsize(dt)),
                bound="bytes")


def embedding(p, env):
    V, D, n, dt = p["v"], p["d"], p["n"], p.get("dtype", "float32")
    w, ids = _rand(V, D), _rng.integers(0, V, n)
    import blaze.nn.functional as F
    W, I = _b(env, w, dt), env.b(ids)
    torch = None
    if env.torch is not None:
        tw, ti = _t(env, w, dt), env.t(ids)
        torch = lambda: env.torch.nn.functional.embedding(ti, tw)  # noqa: E731
    return dict(shape=f"{_fmt(V, D)} ids {n}", dtype=dt, blaze=lambda: F.embedding(I, W), numpy=lambda: w[ids],
                torch=torch, bytes=2.0 * n * D * _itemsize(dt), bound="bytes")


def max_pool(p, env):
    N, C, H, dt = p["n"], p["c"], p["hw"], p.get("dtype", "float32")
    x = _rand(N, C, H, H)
    import blaze.nn.functional as F
    X, tx = _b(env, x, dt), _t(env, x, dt)
    torch = (lambda: env.torch.nn.functional.max_pool2d(tx, 2)) if tx is not None else None
    return dict(shape=_fmt(N, C, H, H) + " k2", dtype=dt, blaze=lambda: F.max_pool2d(X, 2),
                numpy=lambda: x.reshape(N, C, H // 2, 2, H // 2, 2).max(axis=(3, 5)), torch=torch,
                bytes=1.25 * x.size * _itemsize(dt), bound="bytes")


def _sizes(cpu, cuda):
    return {"cpu": cpu, "cuda": cuda}


BF = "bfloat16"
CASES = [
    Case("matmul", matmul, _sizes([dict(n=n) for n in (64, 128, 256, 512)],
                                  [dict(n=n, dtype=BF) for n in (1024, 2048, 4096)]), [dict(n=128)]),
    Case("linear_gelu", linear_gelu, _sizes([dict(m=m, k=256, n=256) for m in (64, 256, 1024)],
                                            [dict(m=m, k=768, n=3072, dtype=BF) for m in (2048, 8192)]),
         [dict(m=64, k=128, n=128)]),
    Case("conv2d", conv2d, _sizes([dict(n=2, c=16, hw=16, o=16), dict(n=4, c=32, hw=28, o=32)],
                                  [dict(n=32, c=c, hw=hw, o=c, dtype=BF) for c, hw in ((64, 56), (128, 28), (256, 14))]),
         [dict(n=2, c=8, hw=16, o=8)]),
    Case("softmax", softmax, _sizes([dict(m=256, n=n) for n in (128, 1024, 4096)],
                                    [dict(m=4096, n=n) for n in (1024, 8192, 32768)]), [dict(m=64, n=256)]),
    Case("layernorm", layernorm, _sizes([dict(m=256, n=n) for n in (128, 768, 2048)],
                                        [dict(m=8192, n=n) for n in (768, 4096)]), [dict(m=64, n=256)]),
    Case("attention", attention, _sizes([dict(b=1, h=4, s=s, d=64) for s in (64, 256)],
                                        [dict(b=4, h=16, s=s, d=d, causal=c, dtype=BF)
                                         for d in (64, 128) for s in (1024, 4096) for c in (True, False)]),
         [dict(b=1, h=2, s=64, d=32)]),
    Case("cross_entropy", cross_entropy, _sizes([dict(m=m, v=v) for m, v in ((256, 1000), (64, 50257))],
                                                [dict(m=8192, v=50257, dtype=BF)]), [dict(m=64, v=1000)]),
    Case("elementwise", elementwise, _sizes([dict(n=n) for n in (1 << 12, 1 << 16, 1 << 20)],
                                            [dict(n=1 << 24)]), [dict(n=1 << 14)]),
    Case("reduce_sum", reduce_sum, _sizes([dict(m=1024, n=n) for n in (64, 1024)], [dict(m=8192, n=8192)]),
         [dict(m=256, n=256)]),
    Case("embedding", embedding, _sizes([dict(v=50257, d=256, n=n) for n in (512, 4096)],
                                        [dict(v=50257, d=768, n=8192)]), [dict(v=1000, d=64, n=256)]),
    Case("max_pool", max_pool, _sizes([dict(n=8, c=16, hw=32)], [dict(n=64, c=64, hw=56)]),
         [dict(n=2, c=8, hw=16)]),
]
