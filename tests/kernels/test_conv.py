"""conv2d / conv_transpose2d kernels vs a float64 NumPy reference: geometry, dtypes, backward, strides, errors."""
import numpy as np
import pytest

from blaze.kernels import conv as cv
from blaze.kernels.buffer import HostBuffer
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]


# ---- float64 NumPy reference ----------------------------------------------------------
def _taps(H, W, P, Q, kh, kw, s, d):
    """Slices of the padded input that tap (kh, kw) reads for every output position."""
    return (slice(kh * d[0], kh * d[0] + s[0] * (P - 1) + 1, s[0]),
            slice(kw * d[1], kw * d[1] + s[1] * (Q - 1) + 1, s[1]))


def ref_conv(x, w, b, s, p, d, g):
    """y[n, o, i, j] = sum_{c, kh, kw} xpad[n, c, i*s + kh*d, j*s + kw*d] * w[o, c, kh, kw] + b[o]."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    Og = O // g
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    P = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1
    Q = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    y = np.zeros((N, O, P, Q))
    for gi in range(g):
        cs, os_ = slice(gi * Cg, (gi + 1) * Cg), slice(gi * Og, (gi + 1) * Og)
        for kh in range(KH):
            for kw in range(KW):
                hs, ws = _taps(H, W, P, Q, kh, kw, s, d)
                y[:, os_] += np.einsum("ncij,oc->noij", xp[:, cs, hs, ws], w[os_, :, kh, kw])
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]


def ref_conv_grads(x_shape, x, w, dy, s, p, d, g):
    """(dx, dw, db) of ref_conv: the same taps, scattered back (dx) or contracted with x (dw)."""
    w, dy = np.asarray(w, np.float64), np.asarray(dy, np.float64)
    N, C, H, W = x_shape
    O, Cg, KH, KW = w.shape
    Og = O // g
    P, Q = dy.shape[2:]
    dxp = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]))
    xp = None if x is None else np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    dw = np.zeros(w.shape)
    for gi in range(g):
        cs, os_ = slice(gi * Cg, (gi + 1) * Cg), slice(gi * Og, (gi + 1) * Og)
        for kh in range(KH):
            for kw in range(KW):
                hs, ws = _taps(H, W, P, Q, kh, kw, s, d)
                dxp[:, cs, hs, ws] += np.einsum("noij,oc->ncij", dy[:, os_], w[os_, :, kh, kw])
                if xp is not None:
                    dw[os_, :, kh, kw] = np.einsum("noij,ncij->oc", dy[:, os_], xp[:, cs, hs, ws])
    dx = dxp[:, :, p[0]:p[0] + H, p[1]:p[1] + W]
    return dx, dw, dy.sum((0, 2, 3))


def ref_conv_transpose(x, w, b, s, p, op, g, d):
    """conv_transpose2d = the input gradient of a conv whose input is the (bigger) output."""
    N, Cin, H, W = x.shape
    _, Cout_g, KH, KW = w.shape
    Ho = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1
    Wo = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1
    y = ref_conv_grads((N, Cout_g * g, Ho, Wo), None, w, x, s, p, d, g)[0]
    return y if b is None else y + np.asarray(b, np.float64)[None, :, None, None]


# ---- helpers --------------------------------------------------------------------------
def poisoned(dev, shape, dtype):
    """dev.poisoned, also for bfloat16 (helpers' POISON table keys on dtype.kind, 'V' for bf16)."""
    if np.dtype(dtype) == BF16:
        return dev.put(np.full(shape, np.nan, dtype=BF16))
    return dev.poisoned(shape, dtype)


def rnd(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


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


def put_nhwc(dev, a):
    """An NCHW buffer equal to ``a`` whose memory is NHWC (channels last): strides only."""
    stored = np.ascontiguousarray(a.transpose(0, 2, 3, 1))  # (N, H, W, C)
    if not dev.gpu:
        return HostBuffer(stored.transpose(0, 3, 1, 2))
    base = dev.put(stored)
    sn, sh, sw, sc = base.strides
    return _View(base, a.shape, (sn, sc, sh, sw))


def _pow2_tile(n):
    return n >= 16 and n & (n - 1) == 0  # tl.dot needs power-of-two tiles of at least 16


def check(out, ref, dtype):
    err = rel_err(out, ref)
    assert err < RTOL[str(np.dtype(dtype))], f"rel err {err:.2e}"


# (x shape, weight shape, stride, padding, dilation, groups)
GEOMETRIES = [
    ((2, 3, 13, 11), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),   # 3 channels, 'same' 3x3
    ((2, 4, 13, 11), (6, 2, 3, 3), (2, 2), (1, 1), (2, 2), 2),   # stride 2, padding 1, dilation 2, groups 2
    ((1, 3, 9, 10), (4, 3, 3, 2), (2, 1), (0, 1), (1, 3), 1),    # non-square kernel and per-axis options
    ((2, 4, 7, 6), (8, 1, 3, 3), (1, 2), (2, 0), (1, 1), 4),     # depthwise (groups = channels), multiplier 2
    ((3, 5, 6, 5), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1),     # 1x1 conv: a plain GEMM
]
IDS = ["3ch-same", "s2p1d2g2", "nonsquare", "depthwise", "1x1"]


@pytest.mark.parametrize("xs,ws,s,p,d,g", GEOMETRIES, ids=IDS)
def test_conv_forward_backward_fp32(dev, xs, ws, s, p, d, g):
    rng = np.random.default_rng(0)
    x, w, b = rnd(rng, xs, np.float32), rnd(rng, ws, np.float32), rnd(rng, ws[:1], np.float32)
    ref = ref_conv(x, w, b, s, p, d, g)
    args = dict(stride=s, padding=p, dilation=d, groups=g)
    y = cv.conv2d(dev.put(x), dev.put(w), dev.put(b), out=poisoned(dev, ref.shape, np.float32), **args)
    check(dev.get(y), ref, np.float32)

    dy = rnd(rng, ref.shape, np.float32)
    rdx, rdw, rdb = ref_conv_grads(xs, x, w, dy, s, p, d, g)
    dx = cv.conv2d_backward_input(dev.put(dy), dev.put(w), xs, out=poisoned(dev, xs, np.float32), **args)
    dw = cv.conv2d_backward_weight(dev.put(dy), dev.put(x), ws, out=poisoned(dev, ws, np.float32), **args)
    db = cv.conv2d_backward_bias(dev.put(dy), out=poisoned(dev, ws[:1], np.float32))
    check(dev.get(dx), rdx, np.float32)
    check(dev.get(dw), rdw, np.float32)
    check(dev.get(db), rdb, np.float32)


@pytest.mark.parametrize("dtype", DTYPES[1:], ids=str)
@pytest.mark.parametrize("geo", [0, 1], ids=IDS[:2])
def test_conv_16bit(dev, dtype, geo):
    xs, ws, s, p, d, g = GEOMETRIES[geo]
    args = dict(stride=s, padding=p, dilation=d, groups=g)
    rng = np.random.default_rng(1)
    x, w, b = rnd(rng, xs, dtype), rnd(rng, ws, dtype), rnd(rng, ws[:1], dtype)
    ref = ref_conv(x, w, b, s, p, d, g)
    y = cv.conv2d(dev.put(x), dev.put(w), dev.put(b), out=poisoned(dev, ref.shape, dtype), **args)
    check(dev.get(y), ref, dtype)
    dy = rnd(rng, ref.shape, dtype)
    rdx, rdw, rdb = ref_conv_grads(xs, x, w, dy, s, p, d, g)
    check(dev.get(cv.conv2d_backward_input(dev.put(dy), dev.put(w), xs, **args)), rdx, dtype)
    check(dev.get(cv.conv2d_backward_weight(dev.put(dy), dev.put(x), ws, **args)), rdw, dtype)
    check(dev.get(cv.conv2d_backward_bias(dev.put(dy))), rdb, dtype)


def test_conv_many_tiles(dev):
    """Several M tiles, a ragged GROUP_M group and channel tails under small explicit tiles."""
    rng = np.random.default_rng(2)
    x, w = rnd(rng, (2, 6, 15, 17), np.float32), rnd(rng, (20, 6, 3, 3), np.float32)
    cfg = dict(BLOCK_M=32, BLOCK_N=16, BLOCK_K=16, GROUP_M=3, num_warps=2, num_stages=2)
    args = dict(stride=1, padding=1, dilation=1, groups=1)
    ref = ref_conv(x, w, None, (1, 1), (1, 1), (1, 1), 1)
    y = cv.conv2d(dev.put(x), dev.put(w), config=cfg, out=poisoned(dev, ref.shape, np.float32), **args)
    check(dev.get(y), ref, np.float32)
    dy = rnd(rng, ref.shape, np.float32)
    rdx, rdw, _ = ref_conv_grads(x.shape, x, w, dy, (1, 1), (1, 1), (1, 1), 1)
    check(dev.get(cv.conv2d_backward_input(dev.put(dy), dev.put(w), x.shape, config=cfg, **args)), rdx, np.float32)
    check(dev.get(cv.conv2d_backward_weight(dev.put(dy), dev.put(x), w.shape, config=cfg, **args)), rdw, np.float32)
    db = cv.conv2d_backward_bias(dev.put(dy), config=dict(BLOCK_L=64, BLOCK_O=8))  # 8 steps over N*P*Q, 3 O tiles
    check(dev.get(db), dy.astype(np.float64).sum((0, 2, 3)), np.float32)


def test_conv_cnn_layer_size(dev):
    """A Fashion-MNIST CNN's second layer: 16 -> 32 channels, 3x3 'same' on 14x14, batch 8."""
    rng = np.random.default_rng(6)
    x, w, b = rnd(rng, (8, 16, 14, 14), np.float32), rnd(rng, (32, 16, 3, 3), np.float32), rnd(rng, (32,), np.float32)
    args = dict(stride=1, padding=1, dilation=1, groups=1)
    ref = ref_conv(x, w, b, (1, 1), (1, 1), (1, 1), 1)
    check(dev.get(cv.conv2d(dev.put(x), dev.put(w), dev.put(b), **args)), ref, np.float32)
    dy = rnd(rng, ref.shape, np.float32)
    rdx, rdw, _ = ref_conv_grads(x.shape, x, w, dy, (1, 1), (1, 1), (1, 1), 1)
    check(dev.get(cv.conv2d_backward_input(dev.put(dy), dev.put(w), x.shape, **args)), rdx, np.float32)
    check(dev.get(cv.conv2d_backward_weight(dev.put(dy), dev.put(x), w.shape, **args)), rdw, np.float32)


def test_conv_channels_last_strides(dev):
    """NHWC memory for x, w and dy is read through strides (no copies)."""
    rng = np.random.default_rng(3)
    xs, ws, s, p, d, g = GEOMETRIES[1]
    args = dict(stride=s, padding=p, dilation=d, groups=g)
    x, w = rnd(rng, xs, np.float32), rnd(rng, ws, np.float32)
    xb, wb = put_nhwc(dev, x), put_nhwc(dev, w)
    assert xb.strides[1] == 1
    ref = ref_conv(x, w, None, s, p, d, g)
    check(dev.get(cv.conv2d(xb, wb, **args)), ref, np.float32)
    dy = rnd(rng, ref.shape, np.float32)
    dyb = put_nhwc(dev, dy)
    rdx, rdw, rdb = ref_conv_grads(xs, x, w, dy, s, p, d, g)
    check(dev.get(cv.conv2d_backward_input(dyb, wb, xs, **args)), rdx, np.float32)
    check(dev.get(cv.conv2d_backward_weight(dyb, xb, ws, **args)), rdw, np.float32)
    check(dev.get(cv.conv2d_backward_bias(dyb)), rdb, np.float32)


@pytest.mark.parametrize("dtype", [np.dtype(np.float32), BF16], ids=str)
@pytest.mark.parametrize("s,p,op,g,d", [((2, 2), (1, 1), (1, 1), 2, (1, 1)), ((2, 3), (0, 1), (1, 0), 1, (2, 1))])
def test_conv_transpose(dev, dtype, s, p, op, g, d):
    rng = np.random.default_rng(4)
    x, w, b = rnd(rng, (2, 4, 5, 7), dtype), rnd(rng, (4, 3, 3, 3), dtype), rnd(rng, (3 * g,), dtype)
    args = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    ref = ref_conv_transpose(x, w, b, s, p, op, g, d)
    y = cv.conv_transpose2d(dev.put(x), dev.put(w), dev.put(b), out=poisoned(dev, ref.shape, dtype), **args)
    check(dev.get(y), ref, dtype)

    # backward: conv_transpose2d(x, w) is linear in x and w, with grads through the conv relations
    dy = rnd(rng, ref.shape, dtype)
    dx, dw, db = cv.conv_transpose2d_backward(dev.put(dy), dev.put(x), dev.put(w), need_bias=True, **args)
    geo = (s, p, d, g)
    check(dev.get(dx), ref_conv(dy, w, None, *geo), dtype)        # d<dy, ct(x)>/dx = conv(dy, w)
    check(dev.get(dw), ref_conv_grads(dy.shape, dy, w, x, *geo)[1], dtype)
    check(dev.get(db), np.asarray(dy, np.float64).sum((0, 2, 3)), dtype)


def test_conv_errors(dev):
    f32 = lambda *s: dev.put(np.zeros(s, np.float32))  # noqa: E731
    x = f32(1, 4, 8, 8)
    with pytest.raises(ValueError, match="groups=3 must divide in_channels=4"):
        cv.conv2d(x, f32(6, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match="expects 6 input channels"):
        cv.conv2d(x, f32(6, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        cv.conv2d(x, f32(6, 4, 3, 3), groups=0)
    with pytest.raises(TypeError, match="float64 is not supported"):
        cv.conv2d(dev.put(np.zeros((1, 4, 8, 8))), f32(6, 4, 3, 3))
    with pytest.raises(TypeError, match="weight dtype float16 differs from float32"):
        cv.conv2d(x, dev.put(np.zeros((6, 4, 3, 3), np.float16)))
    with pytest.raises(ValueError, match="expected 4 dimensions"):
        cv.conv2d(f32(4, 8, 8), f32(6, 4, 3, 3))
    with pytest.raises(ValueError, match="smaller than the dilated 3x3 kernel"):
        cv.conv2d(x, f32(6, 4, 3, 3), dilation=4)
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints >= 1"):
        cv.conv2d(x, f32(6, 4, 3, 3), stride=0)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        cv.conv2d(x, f32(6, 4, 3, 3), bias=f32(4))
    with pytest.raises(ValueError, match=r"out must have shape \(1, 6, 6, 6\)"):
        cv.conv2d(x, f32(6, 4, 3, 3), out=f32(1, 6, 8, 8))
    with pytest.raises(ValueError, match="grad_out .* should be 6x6"):
        cv.conv2d_backward_input(f32(1, 6, 8, 8), f32(6, 4, 3, 3), (1, 4, 8, 8))
    with pytest.raises(ValueError, match="grad_out .* should be"):
        cv.conv2d_backward_weight(f32(1, 5, 6, 6), x, (6, 4, 3, 3))
    with pytest.raises(ValueError, match="output_padding .* must be smaller than stride"):
        cv.conv_transpose2d(x, f32(4, 2, 3, 3), stride=2, output_padding=2)


def test_conv_registry_and_heuristic(dev, monkeypatch):
    t = tunables()["conv2d"]
    keys = {"BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "num_warps", "num_stages"}
    assert all(set(c) == keys for c in t.configs)
    base = dict(batch=8, C=64, H=56, W=56, O=128, KH=3, KW=3, SH=1, SW=1, PH=1, PW=1, DH=1, DW=1, groups=1)
    assert cv.conv_gemm_dims(dict(base, which="forward")) == (8 * 56 * 56, 128, 64 * 9)
    assert cv.conv_gemm_dims(dict(base, which="input")) == (8 * 56 * 56, 64, 128 * 9)
    assert cv.conv_gemm_dims(dict(base, which="weight")) == (128, 64, 8 * 56 * 56)
    monkeypatch.setattr(cv, "interpret", lambda: False)  # the GPU branch of the heuristic
    for which in ("forward", "input", "weight"):
        for dt in ("float32", "bfloat16"):
            c = t.heuristic(dict(base, which=which, dtype=dt))
            assert set(c) == keys and all(_pow2_tile(c[k]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
    monkeypatch.undo()
    rng = np.random.default_rng(5)
    small = dict(base, batch=1, C=4, H=7, W=6, O=6, groups=2, dtype="float32")
    for which in ("forward", "input", "weight"):
        t.make_problem(dict(small, which=which), lambda shape, dt: dev.put(rnd(rng, shape, dt)))(t.configs[-1])
