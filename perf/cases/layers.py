"""Layer cases at realistic CPU sizes (issue 20): causal attention, 3x3 conv and LSTM, forward + backward.

Each times one training-shaped step through blaze's public API against PyTorch (when
importable) with the same shapes and a random upstream gradient. The NumPy reference is a
plain forward only where one is cheap to write (attention), else none: these rows exist to
be read against PyTorch. ``perf/bench_cpu_layers.py`` prints them as the issue's table with
peak memory per case.
"""
from __future__ import annotations

import numpy as np

from perf.cases import Case
from perf.cases.ops import _attention_np, _b, _fmt, _fwd_bwd, _rand, _t


def sdpa_causal(p, env):
    """Causal scaled_dot_product_attention (B, H, T, D), forward + backward of q, k, v."""
    B, H, S, D = p["b"], p["h"], p["s"], p["d"]
    q, k, v, do = (_rand(B, H, S, D) for _ in range(4))
    import blaze.nn.functional as F
    ins = [_b(env, a, "float32", True) for a in (q, k, v)]
    fn = _fwd_bwd(lambda a, b_, c: F.scaled_dot_product_attention(a, b_, c, is_causal=True), ins,
                  _b(env, do, "float32"))
    torch = None
    if env.torch is not None:
        sdpa = env.torch.nn.functional.scaled_dot_product_attention
        tins = [_t(env, a, "float32", True) for a in (q, k, v)]
        torch = _fwd_bwd(lambda a, b_, c: sdpa(a, b_, c, is_causal=True), tins, _t(env, do, "float32"))
    # 2 forward + 5 backward GEMMs of 2*S*S*D each; causal needs half of them
    return dict(shape=_fmt(B, H, S, D), dtype="float32", blaze=fn, torch=torch,
                numpy=lambda: _attention_np(q, k, v, do, True), flops=2.0 * B * H * S * S * D * 7 * 0.5,
                bound="flops", note="forward + backward")


def conv_train(p, env):
    """3x3 stride-1 pad-1 conv2d without bias (a ResNet body layer): forward + dx + dw."""
    N, C, HW = p["n"], p["c"], p["hw"]
    x, w, g = _rand(N, C, HW, HW), _rand(C, C, 3, 3) * 0.05, _rand(N, C, HW, HW)
    import blaze.nn.functional as F
    ins = [_b(env, x, "float32", True), _b(env, w, "float32", True)]
    fn = _fwd_bwd(lambda a, ww: F.conv2d(a, ww, padding=1), ins, _b(env, g, "float32"))
    torch = None
    if env.torch is not None:
        tc = env.torch.nn.functional.conv2d
        tins = [_t(env, x, "float32", True), _t(env, w, "float32", True)]
        torch = _fwd_bwd(lambda a, ww: tc(a, ww, padding=1), tins, _t(env, g, "float32"))
    return dict(shape=f"{_fmt(N, C, HW, HW)} k3", dtype="float32", blaze=fn, torch=torch,
                flops=3 * 2.0 * N * C * C * 9 * HW * HW, bound="flops", note="forward + backward")


def _lstm_weights(I, H):
    rng = np.random.default_rng(1)
    bound = 1.0 / np.sqrt(H)
    shapes = ((4 * H, I), (4 * H, H), (4 * H,), (4 * H,))
    return [rng.uniform(-bound, bound, s).astype(np.float32) for s in shapes]


def lstm_train(p, env):
    """One-layer nn.LSTM (input = hidden = H) over (T, B, H), forward + backward of x and weights."""
    T, B, H = p["t"], p["b"], p["h"]
    x, g = _rand(T, B, H), _rand(T, B, H)
    ws = _lstm_weights(H, H)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    import blaze
    m = blaze.nn.LSTM(H, H)
    with blaze.no_grad():
        for n, a in zip(names, ws):
            getattr(m, n).copy_(blaze.from_numpy(a))
    fn = _fwd_bwd(lambda a: m(a)[0], [_b(env, x, "float32", True)], _b(env, g, "float32"))
    torch = None
    if env.torch is not None:
        tm = env.torch.nn.LSTM(H, H)
        with env.torch.no_grad():
            for n, a in zip(names, ws):
                getattr(tm, n).copy_(env.torch.from_numpy(a))
        torch = _fwd_bwd(lambda a: tm(a)[0], [_t(env, x, "float32", True)], _t(env, g, "float32"))
    # per step: input and hidden GEMMs (B, H) x (H, 4H), forward + 2x backward
    return dict(shape=f"T{T} B{B} H{H}", dtype="float32", blaze=fn, torch=torch,
                flops=3 * 2 * 2.0 * T * B * H * 4 * H, bound="flops", note="forward + backward")


CASES = [
    Case("sdpa_causal", sdpa_causal, {"cpu": [dict(b=2, h=4, s=s, d=64) for s in (256, 512, 1024, 2048)]},
         [dict(b=2, h=4, s=256, d=64)], devices=("cpu",)),
    Case("conv_train", conv_train, {"cpu": [dict(n=8, c=c, hw=hw) for c, hw in ((64, 56), (128, 28), (256, 14))]},
         [dict(n=8, c=128, hw=28)], devices=("cpu",)),
    Case("lstm_train", lstm_train, {"cpu": [dict(t=t, b=32, h=512) for t in (32, 128)]},
         [dict(t=32, b=32, h=512)], devices=("cpu",)),
]
