"""blaze.nn conv / pooling / resampling vs float64 NumPy loops written from PyTorch's definitions;
gradients vs central finite differences; double backward of conv2d; modules and their parameters."""
import math

import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F

RNG = np.random.default_rng(0)


def T(a, rg=True):
    return blaze.tensor(np.asarray(a, dtype=np.float64), requires_grad=rg)


def num_grad(f, arrays, i, eps=1e-6):
    """Central differences of sum(f(*arrays) * w) w.r.t. arrays[i] (w fixed random)."""
    a = arrays[i]
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        j = it.multi_index
        old = a[j]
        a[j] = old + eps
        fp = f(*arrays)
        a[j] = old - eps
        fm = f(*arrays)
        a[j] = old
        g[j] = (fp - fm) / (2 * eps)
    return g


def check_grad(fn, arrays, atol=1e-6, rtol=1e-5):
    """Compare blaze's gradients of sum(fn(*ts) * w) with finite differences, for every input."""
    out = fn(*[T(a, False) for a in arrays])
    w = RNG.standard_normal(out.shape)
    ts = [T(a) for a in arrays]
    (fn(*ts) * T(w, False)).sum().backward()

    def f(*arrs):
        return float((fn(*[T(a, False) for a in arrs]).detach().numpy() * w).sum())
    for i, a in enumerate(arrays):
        np.testing.assert_allclose(ts[i].grad.numpy(), num_grad(f, [x.copy() for x in arrays], i), atol=atol,
                                   rtol=rtol, err_msg=f"gradient of input {i}")


def ref_conv(x, w, b, s, p, d, g):
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    P = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    Q = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    y = np.zeros((N, O, P, Q))
    for o in range(O):
        gi = o // (O // g)
        for i in range(KH):
            for j in range(KW):
                patch = xp[:, gi * Cg:(gi + 1) * Cg, i * d[0]:i * d[0] + s[0] * (P - 1) + 1:s[0],
                           j * d[1]:j * d[1] + s[1] * (Q - 1) + 1:s[1]]
                y[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
        if b is not None:
            y[:, o] += b[o]
    return y


def ref_conv_transpose(x, w, b, s, p, op, g, d):
    """Scatter form straight from the definition: each input pixel spreads w over the output."""
    N, Cin, H, W = x.shape
    _, Cog, KH, KW = w.shape
    Ho = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1
    Wo = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1
    y = np.zeros((N, Cog * g, Ho + 2 * p[0] + s[0] + d[0] * KH, Wo + 2 * p[1] + s[1] + d[1] * KW))
    cin_g = Cin // g
    for c in range(Cin):
        gi = c // cin_g
        for h in range(H):
            for ww in range(W):
                for i in range(KH):
                    for j in range(KW):
                        y[:, gi * Cog:(gi + 1) * Cog, h * s[0] + i * d[0], ww * s[1] + j * d[1]] += \
                            x[:, c, h, ww][:, None] * w[c, :, i, j][None]
    y = y[:, :, p[0]:p[0] + Ho, p[1]:p[1] + Wo]
    return y + (0 if b is None else b.reshape(1, -1, 1, 1))


CONV_CASES = [  # (C, O, kernel, stride, padding, dilation, groups)
    (3, 4, (3, 3), (1, 1), (0, 0), (1, 1), 1),
    (3, 5, (3, 2), (2, 2), (1, 1), (1, 1), 1),
    (4, 6, (3, 3), (2, 1), (1, 2), (2, 2), 2),
    (4, 4, (2, 3), (1, 3), (0, 1), (1, 2), 4),
]
FAST_PATH_CASES = [  # the CPU fast paths: dx as a flipped-kernel conv, direct 1x1 and depthwise
    (4, 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),     # dx = conv(dy, flipped w), pad 1
    (6, 4, (3, 2), (1, 1), (2, 1), (2, 1), 2),     # dilation 2, groups 2: pad 2 = the kernel's reach
    (3, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1),     # O > C: col2im
    (3, 2, (2, 2), (1, 1), (2, 1), (1, 1), 1),     # pad 2 > reach 1: col2im fallback
    (4, 6, (1, 1), (1, 1), (0, 0), (1, 1), 2),     # 1x1: direct GEMM, no im2col
    (4, 4, (3, 3), (1, 1), (1, 1), (1, 1), 4),     # depthwise: window adds
    (4, 4, (3, 3), (2, 2), (1, 0), (1, 1), 4),     # depthwise strided
]


@pytest.mark.parametrize("C,O,k,s,p,d,g", CONV_CASES + FAST_PATH_CASES)
def test_conv2d_forward(C, O, k, s, p, d, g):
    x = RNG.standard_normal((2, C, 13, 11))
    w = RNG.standard_normal((O, C // g) + k)
    b = RNG.standard_normal(O)
    y = F.conv2d(T(x, False), T(w, False), T(b, False), s, p, d, g)
    np.testing.assert_allclose(y.numpy(), ref_conv(x, w, b, s, p, d, g), atol=1e-12)
    y32 = F.conv2d(blaze.tensor(x.astype(np.float32)), blaze.tensor(w.astype(np.float32)), None, s, p, d, g)
    assert y32.dtype == blaze.float32
    np.testing.assert_allclose(y32.numpy(), ref_conv(x, w, None, s, p, d, g), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("C,O,k,s,p,d,g", CONV_CASES[1:3] + FAST_PATH_CASES)
def test_conv2d_grad(C, O, k, s, p, d, g):
    x = RNG.standard_normal((2, C, 6, 5))
    w = RNG.standard_normal((O, C // g) + k)
    b = RNG.standard_normal(O)
    check_grad(lambda x, w, b: F.conv2d(x, w, b, s, p, d, g), [x, w, b])


@pytest.mark.parametrize("C,O,k,s,p,d,g", [CONV_CASES[2], FAST_PATH_CASES[0]])
def test_conv2d_im2col_in_batch_chunks(monkeypatch, C, O, k, s, p, d, g):
    """A tiny im2col budget: every sample is its own GEMM (forward and dw accumulate over chunks)."""
    from blaze.devices.cpu import conv as cpu_conv
    monkeypatch.setattr(cpu_conv, "_COLS_ELEMS", 50)
    monkeypatch.setattr(cpu_conv, "_MIN_GEMM_N", 1)
    x = RNG.standard_normal((3, C, 7, 6))
    w = RNG.standard_normal((O, C // g) + k)
    y = F.conv2d(T(x, False), T(w, False), None, s, p, d, g)
    np.testing.assert_allclose(y.numpy(), ref_conv(x, w, None, s, p, d, g), atol=1e-12)
    check_grad(lambda x, w: F.conv2d(x, w, None, s, p, d, g), [x, w])


FLAT_CASES = [  # stride 1, groups 1: the padded-width grid (cpu conv._Flat)
    (3, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1),
    (2, 3, (3, 5), (1, 1), (0, 2), (2, 1), 1),     # dilation, unequal padding
    (2, 2, (2, 4), (1, 1), (3, 1), (1, 2), 1),     # padding past the kernel's reach
    (3, 2, (1, 1), (1, 1), (0, 0), (1, 1), 1),     # 1x1: dw per sample, no copies
]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("C,O,k,s,p,d,g", FLAT_CASES)
def test_conv2d_on_the_padded_width_grid(monkeypatch, chunked, C, O, k, s, p, d, g):
    """Forward (and dx, a flipped conv) and dw through the padded-width path, forced at small sizes."""
    from blaze.devices.cpu import conv as cpu_conv
    monkeypatch.setattr(cpu_conv, "_FLAT_WASTE", 100.0)
    monkeypatch.setattr(cpu_conv, "_FLAT_DW_CHANNELS", 1)
    if chunked:
        monkeypatch.setattr(cpu_conv, "_COLS_ELEMS", 50)
        monkeypatch.setattr(cpu_conv, "_MIN_GEMM_N", 1)
    x = RNG.standard_normal((3, C, 7, 6))
    w = RNG.standard_normal((O, C) + k)
    assert cpu_conv._Flat.usable(x.shape, w.shape, s, p, d, g)
    y = F.conv2d(T(x, False), T(w, False), None, s, p, d, g)
    np.testing.assert_allclose(y.numpy(), ref_conv(x, w, None, s, p, d, g), atol=1e-12)
    check_grad(lambda x, w: F.conv2d(x, w, None, s, p, d, g), [x, w])
    y32 = F.conv2d(blaze.tensor(x.astype(np.float32)), blaze.tensor(w.astype(np.float32)), None, s, p, d, g)
    np.testing.assert_allclose(y32.numpy(), ref_conv(x, w, None, s, p, d, g), rtol=1e-4, atol=1e-4)


def test_the_padded_width_grid_is_used_only_when_it_wastes_little():
    from blaze.devices.cpu.conv import _Flat
    assert _Flat.usable((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1)       # 58 / 56 columns
    assert not _Flat.usable((8, 64, 14, 14), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1)   # 16 / 14
    assert not _Flat.usable((8, 64, 56, 56), (64, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1)   # strided
    assert not _Flat.usable((8, 64, 56, 56), (64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 2)   # grouped


def test_conv2d_padding_same_valid_and_unbatched():
    x = RNG.standard_normal((1, 2, 7, 6))
    w = RNG.standard_normal((3, 2, 4, 3))         # even kernel: 'same' pads 1 before, 2 after
    y = F.conv2d(T(x, False), T(w, False), padding="same", dilation=(1, 2))
    assert tuple(y.shape) == (1, 3, 7, 6)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 2)))
    np.testing.assert_allclose(y.numpy(), ref_conv(xp, w, None, (1, 1), (0, 0), (1, 2), 1), atol=1e-12)
    assert tuple(F.conv2d(T(x, False), T(w, False), padding="valid").shape) == (1, 3, 4, 4)
    yu = F.conv2d(T(x[0], False), T(w, False), padding=1)
    np.testing.assert_allclose(yu.numpy(), ref_conv(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0], atol=1e-12)
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(T(x, False), T(w, False), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="channels"):
        F.conv2d(T(x, False), T(RNG.standard_normal((3, 3, 3, 3)), False))
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(blaze.tensor(x.astype(np.float32)), T(w, False))


def test_conv1d_matches_conv2d_reference():
    x = RNG.standard_normal((2, 4, 9))
    w = RNG.standard_normal((6, 2, 3))
    b = RNG.standard_normal(6)
    y = F.conv1d(T(x, False), T(w, False), T(b, False), stride=2, padding=1, dilation=2, groups=2)
    ref = ref_conv(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (1, 2), 2)[:, :, 0]
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    check_grad(lambda x, w: F.conv1d(x, w, None, 1, "same", 1, 2), [x[:1], w])


@pytest.mark.parametrize("s,p,op,g,d", [((2, 2), (1, 1), (1, 0), 1, (1, 1)), ((1, 2), (0, 1), (0, 1), 2, (2, 1))])
def test_conv_transpose2d(s, p, op, g, d):
    x = RNG.standard_normal((2, 4, 5, 4))
    w = RNG.standard_normal((4, 3, 3, 2))
    b = RNG.standard_normal(3 * g)
    y = F.conv_transpose2d(T(x, False), T(w, False), T(b, False), s, p, op, g, d)
    np.testing.assert_allclose(y.numpy(), ref_conv_transpose(x, w, b, s, p, op, g, d), atol=1e-12)
    check_grad(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d), [x[:1, :, :3, :3], w, b])


def test_conv2d_double_backward():
    """d/d(x, w) of ||d(sum(conv(x, w) * v))/dx||^2 (a WGAN-GP-style penalty) vs finite differences."""
    x = RNG.standard_normal((1, 2, 5, 4))
    w = RNG.standard_normal((3, 2, 3, 2))
    v = RNG.standard_normal((1, 3, 3, 4))
    geo = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2))

    def penalty(xa, wa, create):
        xt, wt = T(xa), T(wa)
        y = F.conv2d(xt, wt, **geo)
        gx, gw = blaze.autograd.grad((y * T(v, False)).sum(), (xt, wt), create_graph=create)
        return xt, wt, (gx * gx).sum() + (gw * gw * gw).sum()

    xt, wt, pen = penalty(x, w, True)
    pen.backward()

    def f(xa, wa):
        return float(penalty(xa, wa, False)[2].detach().numpy())
    np.testing.assert_allclose(xt.grad.numpy(), num_grad(f, [x.copy(), w.copy()], 0), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(wt.grad.numpy(), num_grad(f, [x.copy(), w.copy()], 1), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------- pooling
def pool_out(size, k, s, p, d, ceil):
    o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    return o - 1 if ceil and (o - 1) * s >= size + p else o


def ref_max_pool(x, k, s, p, d, ceil):
    N, C, H, W = x.shape
    OH, OW = pool_out(H, k[0], s[0], p[0], d[0], ceil), pool_out(W, k[1], s[1], p[1], d[1], ceil)
    out, idx = np.full((N, C, OH, OW), -np.inf), np.zeros((N, C, OH, OW), np.int64)
    for oh in range(OH):
        for ow in range(OW):
            for i in range(k[0]):
                for j in range(k[1]):
                    h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                    if 0 <= h < H and 0 <= w < W:
                        take = x[:, :, h, w] > out[:, :, oh, ow]
                        out[:, :, oh, ow] = np.where(take, x[:, :, h, w], out[:, :, oh, ow])
                        idx[:, :, oh, ow] = np.where(take, h * W + w, idx[:, :, oh, ow])
    return out, idx


def ref_avg_pool(x, k, s, p, ceil, cip, div_override=None):
    N, C, H, W = x.shape
    OH, OW = pool_out(H, k[0], s[0], p[0], 1, ceil), pool_out(W, k[1], s[1], p[1], 1, ceil)
    out = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            hs, ws = oh * s[0] - p[0], ow * s[1] - p[1]
            he, we = min(hs + k[0], H + p[0]), min(ws + k[1], W + p[1])
            area = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            div = div_override or (area if cip else (he - hs) * (we - ws))
            out[:, :, oh, ow] = x[:, :, hs:he, ws:we].sum((2, 3)) / div
    return out


@pytest.mark.parametrize("k,s,p,d,ceil", [((2, 2), None, (0, 0), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
                                          ((3, 2), (2, 1), (1, 0), (2, 2), False), ((2, 3), (2, 2), (0, 1), (1, 1), True)])
def test_max_pool2d(k, s, p, d, ceil):
    x = RNG.standard_normal((2, 3, 13, 11))
    out, idx = F.max_pool2d(T(x, False), k, s, p, d, ceil, return_indices=True)
    r, ri = ref_max_pool(x, k, s or k, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), r)
    np.testing.assert_array_equal(idx.numpy(), ri)
    assert idx.dtype == blaze.int64
    check_grad(lambda x: F.max_pool2d(x, k, s, p, d, ceil), [x[:1, :2, :7, :6]])


def test_max_pool_double_backward_and_1d():
    x = T(RNG.standard_normal((1, 2, 6, 6)))
    y = F.max_pool2d(x, 3, 2, 1)
    (gx,) = blaze.autograd.grad(y.pow(2).sum(), (x,), create_graph=True)
    (gx * gx).sum().backward()
    # gx = S(2 G x) with G = gather at the argmax and S = G^T (scatter-add), so
    # d/dx ||gx||^2 = 8 G^T G G^T G x = 8 S(G(S(y)))
    _, idx = ref_max_pool(x.detach().numpy(), (3, 3), (2, 2), (1, 1), (1, 1), False)
    idx = idx.reshape(2, -1)

    def scatter(v):
        return np.stack([np.bincount(idx[c], v[c], 36) for c in range(2)])

    def gather(a):
        return np.take_along_axis(a, idx, axis=1)
    ref = 8 * scatter(gather(scatter(y.detach().numpy().reshape(2, -1))))
    np.testing.assert_allclose(x.grad.numpy().reshape(2, -1), ref, atol=1e-12)
    xn = np.arange(16.0).reshape(1, 1, 4, 4)
    xn[0, 0, 0, 0] = np.nan                                # NaN wins its window (PyTorch's rule)
    out, idx = F.max_pool2d(T(xn, False), 2, return_indices=True)
    assert np.isnan(out.numpy()[0, 0, 0, 0]) and idx.numpy()[0, 0, 0, 0] == 0
    np.testing.assert_array_equal(out.numpy()[0, 0].ravel()[1:], [7, 13, 15])
    x1 = RNG.standard_normal((2, 3, 10))
    out, idx = F.max_pool1d(T(x1, False), 3, 2, 1, return_indices=True)
    r, ri = ref_max_pool(x1[:, :, None], (1, 3), (1, 2), (0, 1), (1, 1), False)
    np.testing.assert_array_equal(out.numpy(), r[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), ri[:, :, 0])


@pytest.mark.parametrize("k,s,p,ceil,cip,div", [((2, 2), None, (0, 0), False, True, None),
                                                ((3, 3), (2, 2), (1, 1), True, False, None),
                                                ((3, 2), (2, 1), (1, 1), True, True, None),
                                                ((2, 3), (1, 2), (1, 0), False, True, 5)])
def test_avg_pool2d(k, s, p, ceil, cip, div):
    x = RNG.standard_normal((2, 3, 13, 11))
    y = F.avg_pool2d(T(x, False), k, s, p, ceil, cip, div)
    np.testing.assert_allclose(y.numpy(), ref_avg_pool(x, k, s or k, p, ceil, cip, div), atol=1e-12)
    check_grad(lambda x: F.avg_pool2d(x, k, s, p, ceil, cip, div), [x[:1, :1, :7, :6]])


def test_avg_pool1d_and_adaptive():
    x1 = RNG.standard_normal((2, 3, 10))
    y = F.avg_pool1d(T(x1, False), 3, 2, 1, count_include_pad=False)
    np.testing.assert_allclose(y.numpy(), ref_avg_pool(x1[:, :, None], (1, 3), (1, 2), (0, 1), False, False)[:, :, 0])
    x = RNG.standard_normal((2, 3, 13, 11))
    y = F.adaptive_avg_pool2d(T(x, False), (4, 5))
    ref = np.zeros((2, 3, 4, 5))
    for i in range(4):
        for j in range(5):
            h0, h1 = (i * 13) // 4, -(-(i + 1) * 13 // 4)
            w0, w1 = (j * 11) // 5, -(-(j + 1) * 11 // 5)
            ref[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean((2, 3))
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    assert tuple(F.adaptive_avg_pool2d(T(x, False), (None, 2)).shape) == (2, 3, 13, 2)
    check_grad(lambda x: F.adaptive_avg_pool2d(x, 3), [x[:1, :1, :7, :5]])


# ---------------------------------------------------------------------------- interpolate
def ref_interp(x, OH, OW, mode, ac, sf=None):
    N, C, H, W = x.shape

    def src(o, n, s):
        dst = np.arange(o, dtype=np.float64)
        if mode == "nearest":
            return np.minimum(np.floor(dst * (1 / s if s else n / o)).astype(int), n - 1)
        if ac:
            return dst * ((n - 1) / (o - 1) if o > 1 else 0)
        return np.maximum((dst + 0.5) * (1 / s if s else n / o) - 0.5, 0)
    sh, sw = src(OH, H, sf and sf[0]), src(OW, W, sf and sf[1])
    if mode == "nearest":
        return x[:, :, sh[:, None], sw[None, :]]
    out = np.zeros((N, C, OH, OW))
    for i, hs in enumerate(sh):
        h0 = min(int(hs), H - 1)
        h1, lh = min(h0 + 1, H - 1), hs - h0
        for j, ws in enumerate(sw):
            w0 = min(int(ws), W - 1)
            w1, lw = min(w0 + 1, W - 1), ws - w0
            out[:, :, i, j] = ((1 - lh) * (1 - lw) * x[:, :, h0, w0] + (1 - lh) * lw * x[:, :, h0, w1]
                               + lh * (1 - lw) * x[:, :, h1, w0] + lh * lw * x[:, :, h1, w1])
    return out


@pytest.mark.parametrize("mode,ac,size,sf", [("nearest", None, (7, 5), None), ("nearest", None, None, 2.5),
                                             ("bilinear", False, (9, 4), None), ("bilinear", True, (9, 4), None),
                                             ("bilinear", False, None, (1.7, 0.6))])
def test_interpolate(mode, ac, size, sf):
    x = RNG.standard_normal((2, 3, 5, 6))
    y = F.interpolate(T(x, False), size=size, scale_factor=sf, mode=mode, align_corners=ac)
    OH, OW = size if size else (int(5 * (sf if isinstance(sf, float) else sf[0])),
                                int(6 * (sf if isinstance(sf, float) else sf[1])))
    sfs = None if sf is None else ((sf, sf) if isinstance(sf, float) else sf)
    np.testing.assert_allclose(y.numpy(), ref_interp(x, OH, OW, mode, ac, sfs), atol=1e-12)
    check_grad(lambda x: F.interpolate(x, size=size, scale_factor=sf, mode=mode, align_corners=ac), [x[:1, :1]])


# ---------------------------------------------------------------------------- modules
def test_conv_modules_parameters_and_forward():
    blaze.manual_seed(0)
    m = nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert tuple(m.weight.shape) == (8, 3, 3, 3) and tuple(m.bias.shape) == (8,)
    bound = 1 / math.sqrt(27)          # kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert m.weight.abs().max().item() <= bound and m.bias.abs().max().item() <= bound
    assert m.weight.abs().max().item() > 0.8 * bound
    x = blaze.randn(2, 3, 13, 11)
    np.testing.assert_allclose(m(x).detach().numpy(), F.conv2d(x, m.weight, m.bias, 2, 1).detach().numpy())
    assert "Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))" == repr(m)
    r = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect", bias=False)
    xr = blaze.randn(1, 2, 5, 5)
    ref = F.conv2d(F.pad(xr, (1, 1, 1, 1), mode="reflect"), r.weight)
    np.testing.assert_allclose(r(xr).detach().numpy(), ref.detach().numpy(), atol=1e-6)
    assert list(r.state_dict()) == ["weight"]
    c1 = nn.Conv1d(4, 6, 3, padding="same", groups=2)
    assert tuple(c1.weight.shape) == (6, 2, 3) and tuple(c1(blaze.randn(2, 4, 9)).shape) == (2, 6, 9)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert tuple(t.weight.shape) == (4, 3, 3, 3)
    assert tuple(t(blaze.randn(2, 4, 5, 6)).shape) == (2, 6, 10, 12)
    assert tuple(t(blaze.randn(2, 4, 5, 6), output_size=(9, 11)).shape) == (2, 6, 9, 11)


def test_pool_and_upsample_modules():
    x = blaze.randn(2, 3, 13, 11)
    assert tuple(nn.MaxPool2d(2)(x).shape) == (2, 3, 6, 5)
    out, idx = nn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)(x)
    assert tuple(out.shape) == tuple(idx.shape) == (2, 3, 7, 6)
    assert tuple(nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x).shape) == (2, 3, 7, 6)
    assert tuple(nn.AdaptiveAvgPool2d((1, 1))(x).shape) == (2, 3, 1, 1)
    assert tuple(nn.AdaptiveAvgPool2d(None if False else 4)(x).shape) == (2, 3, 4, 4)
    assert tuple(nn.MaxPool1d(2)(blaze.randn(2, 3, 9)).shape) == (2, 3, 4)
    assert tuple(nn.AvgPool1d(2)(blaze.randn(2, 3, 9)).shape) == (2, 3, 4)
    assert tuple(nn.Upsample(scale_factor=2)(x).shape) == (2, 3, 26, 22)
    up = nn.Upsample(size=(4, 4), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(up(x).numpy(), F.interpolate(x, (4, 4), mode="bilinear", align_corners=True).numpy())
    assert tuple(nn.UpsamplingNearest2d(scale_factor=2)(x).shape) == (2, 3, 26, 22)
    assert "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)" == repr(nn.MaxPool2d(2))


def test_small_cnn_trains():
    """Conv -> ReLU -> MaxPool -> Linear learns a separable toy task (loss falls by half)."""
    blaze.manual_seed(0)
    x = blaze.randn(32, 1, 8, 8)
    y = (x[:, 0, :4].sum((1, 2)) > x[:, 0, 4:].sum((1, 2))).long()
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))
    opt = blaze.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_interpolate_1d_linear_and_nearest():
    x = RNG.standard_normal((2, 3, 6))
    y = F.interpolate(T(x, False), scale_factor=1.5, mode="linear")
    np.testing.assert_allclose(y.numpy(), ref_interp(x[:, :, None], 1, 9, "bilinear", False, (1.0, 1.5))[:, :, 0],
                               atol=1e-12)
    y = F.interpolate(T(x, False), size=4, mode="nearest")
    np.testing.assert_allclose(y.numpy(), ref_interp(x[:, :, None], 1, 4, "nearest", None)[:, :, 0], atol=1e-12)
