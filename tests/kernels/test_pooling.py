"""blaze.kernels.pooling vs float64 NumPy loops written from PyTorch's definitions: max pool
(indices, ties, NaN, dilation, ceil_mode, overlapping windows), avg pool (count_include_pad,
divisor_override), adaptive avg pool; forward and backward, 3 channels, 13x11 images."""
import numpy as np
import pytest

from blaze.kernels import pooling as P
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err
from tests.kernels.test_index import poison, strided

RNG = np.random.default_rng(0)
SHAPE = (2, 3, 13, 11)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_max(x, k, s, p, d, ceil):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(pair, (k, s, p, d))
    N, C, H, W = x.shape
    OH, OW = P.out_size(H, kh, sh, ph, dh, ceil), P.out_size(W, kw, sw, pw, dw, ceil)
    out, idx = np.empty((N, C, OH, OW)), np.empty((N, C, OH, OW), np.int64)
    for oh in range(OH):
        for ow in range(OW):
            best, arg = np.full((N, C), -np.inf), np.full((N, C), -1)
            for i in range(kh):
                for j in range(kw):
                    h, w = oh * sh - ph + i * dh, ow * sw - pw + j * dw
                    if 0 <= h < H and 0 <= w < W:
                        v = x[:, :, h, w].astype(np.float64)
                        take = (v > best) | np.isnan(v) | (arg < 0)
                        best, arg = np.where(take, v, best), np.where(take, h * W + w, arg)
            out[:, :, oh, ow], idx[:, :, oh, ow] = best, arg
    return out, idx


def ref_max_backward(dy, idx, shape):
    dx = np.zeros(shape).reshape(shape[0] * shape[1], -1)
    for r, (i, g) in enumerate(zip(idx.reshape(len(dx), -1), dy.reshape(len(dx), -1).astype(np.float64))):
        np.add.at(dx[r], i, g)
    return dx.reshape(shape)


def ref_avg(x, k, s, p, ceil, cip, div_override, dy=None):
    """Forward (dy None) or backward (scatter dy / divisor over each window) of avg_pool2d."""
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(s), pair(p)
    N, C, H, W = x.shape if dy is None else x
    OH, OW = P.out_size(H, kh, sh, ph, 1, ceil), P.out_size(W, kw, sw, pw, 1, ceil)
    out = np.zeros((N, C, OH, OW)) if dy is None else np.zeros((N, C, H, W))
    for oh in range(OH):
        for ow in range(OW):
            hs, ws = oh * sh - ph, ow * sw - pw
            he, we = min(hs + kh, H + ph), min(ws + kw, W + pw)
            area = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            div = div_override or (area if cip else (he - hs) * (we - ws))
            if dy is None:
                out[:, :, oh, ow] = x[:, :, hs:he, ws:we].astype(np.float64).sum((2, 3)) / div
            else:
                out[:, :, hs:he, ws:we] += dy[:, :, oh, ow, None, None].astype(np.float64) / div
    return out


def ref_adaptive(x_shape, OH, OW, x=None, dy=None):
    N, C, H, W = x_shape
    out = np.zeros((N, C, OH, OW)) if dy is None else np.zeros(x_shape)
    for oh in range(OH):
        hs, he = oh * H // OH, -(-(oh + 1) * H // OH)
        for ow in range(OW):
            ws, we = ow * W // OW, -(-(ow + 1) * W // OW)
            area = (he - hs) * (we - ws)
            if dy is None:
                out[:, :, oh, ow] = x[:, :, hs:he, ws:we].astype(np.float64).sum((2, 3)) / area
            else:
                out[:, :, hs:he, ws:we] += dy[:, :, oh, ow, None, None].astype(np.float64) / area
    return out


MAX_CASES = [
    dict(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False),
    dict(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), ceil_mode=True),  # overlapping
]


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16])
@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool(dev, case, dtype):
    x = (np.round(RNG.standard_normal(SHAPE) * 2) / 2).astype(dtype)   # many ties: first max wins
    ref, ref_idx = ref_max(x, case["kernel_size"], case["stride"], case["padding"], case["dilation"], case["ceil_mode"])
    out, idx = P.max_pool2d(dev.put(x), **case, out=poison(dev, ref.shape, x.dtype), indices=poison(dev, ref.shape, np.int64))
    np.testing.assert_array_equal(dev.get(out).astype(np.float64), ref)
    np.testing.assert_array_equal(dev.get(idx), ref_idx)
    dy = RNG.standard_normal(ref.shape).astype(dtype)
    dx = P.max_pool2d_backward(dev.put(dy), idx, SHAPE, **case, out=poison(dev, SHAPE, x.dtype))
    assert rel_err(dev.get(dx), ref_max_backward(dy, ref_idx, SHAPE)) < RTOL[str(np.dtype(dtype))]


def test_max_pool_nan_and_strided(dev):
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    x[0, 1, 4, 4] = np.nan
    xt = strided(dev, np.ascontiguousarray(x.transpose(0, 2, 3, 1)), lambda a: a.transpose(0, 3, 1, 2))  # NHWC
    out, idx = P.max_pool2d(xt, 3, 2, 1)
    ref, ref_idx = ref_max(x, 3, 2, 1, 1, False)
    np.testing.assert_array_equal(dev.get(out), ref.astype(np.float32))
    np.testing.assert_array_equal(dev.get(idx), ref_idx)
    assert np.isnan(dev.get(out)[0, 1, 2, 2]) and dev.get(idx)[0, 1, 2, 2] == 4 * 11 + 4


AVG_CASES = [
    dict(kernel_size=2, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True, divisor_override=None),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=None),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), ceil_mode=False, count_include_pad=False,
         divisor_override=5),
]


@pytest.mark.parametrize("case", AVG_CASES)
def test_avg_pool(dev, case):
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    s = case["stride"] if case["stride"] is not None else case["kernel_size"]
    args = (case["kernel_size"], s, case["padding"], case["ceil_mode"], case["count_include_pad"], case["divisor_override"])
    ref = ref_avg(x, *args)
    out = P.avg_pool2d(dev.put(x), **case, out=poison(dev, ref.shape, np.float32))
    assert rel_err(dev.get(out), ref) < RTOL["float32"]
    dy = RNG.standard_normal(ref.shape).astype(np.float32)
    dx = P.avg_pool2d_backward(dev.put(dy), SHAPE, **case, out=poison(dev, SHAPE, np.float32))
    assert rel_err(dev.get(dx), ref_avg(SHAPE, *args, dy=dy)) < RTOL["float32"]


@pytest.mark.parametrize("dtype", ["float16", BF16])
def test_avg_pool_half(dev, dtype):
    x = RNG.standard_normal(SHAPE).astype(dtype)
    out = P.avg_pool2d(dev.put(x), 3, 2, 1)
    assert rel_err(dev.get(out), ref_avg(x, 3, 2, 1, False, True, None)) < RTOL[str(np.dtype(dtype))]


@pytest.mark.parametrize("osize", [(1, 1), (5, 3), (13, 4), (20, 17)])   # pooling and upsampling
def test_adaptive_avg_pool(dev, osize):
    x = RNG.standard_normal(SHAPE).astype(np.float32)
    out = P.adaptive_avg_pool2d(dev.put(x), osize, out=poison(dev, SHAPE[:2] + osize, np.float32))
    assert rel_err(dev.get(out), ref_adaptive(SHAPE, *osize, x=x)) < RTOL["float32"]
    dy = RNG.standard_normal(SHAPE[:2] + osize).astype(np.float32)
    dx = P.adaptive_avg_pool2d_backward(dev.put(dy), SHAPE, out=poison(dev, SHAPE, np.float32))
    assert rel_err(dev.get(dx), ref_adaptive(SHAPE, *osize, dy=dy)) < RTOL["float32"]


def test_adaptive_half(dev):
    x = RNG.standard_normal(SHAPE).astype(BF16)
    assert rel_err(dev.get(P.adaptive_avg_pool2d(dev.put(x), 4)), ref_adaptive(SHAPE, 4, 4, x=x)) < RTOL["bfloat16"]


def test_make_problem_and_errors(dev):
    t = tunables()["pooling"]
    t.make_problem(dict(numel=100, dtype="float32"), lambda shape, dt: dev.put(np.zeros(shape, dt)))(t.configs[0])
    x = dev.put(np.zeros(SHAPE, np.float32))
    with pytest.raises(ValueError, match="expected 4 dimensions"):
        P.max_pool2d(dev.put(np.zeros((3, 13, 11), np.float32)), 2)
    with pytest.raises(ValueError, match="at most half"):
        P.max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="too small"):
        P.avg_pool2d(x, 14)
    with pytest.raises(TypeError, match="dtype int64 is not supported"):
        P.avg_pool2d(dev.put(np.zeros(SHAPE, np.int64)), 2)
    with pytest.raises(ValueError, match="forward's output shape"):
        P.avg_pool2d_backward(dev.put(np.zeros((2, 3, 5, 5), np.float32)), SHAPE, 2)
    with pytest.raises(ValueError, match="indices: expected shape"):
        P.max_pool2d_backward(dev.put(np.zeros((2, 3, 6, 5), np.float32)), dev.put(np.zeros((2, 3, 6, 6), np.int64)),
                              SHAPE, 2)
    with pytest.raises(ValueError, match="divisor must be not zero"):
        P.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ValueError, match="out: expected shape"):
        P.adaptive_avg_pool2d(x, 3, out=dev.put(np.zeros((2, 3, 3, 4), np.float32)))
