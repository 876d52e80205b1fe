"""Issue 13's layers vs float64 NumPy loops written from PyTorch's definitions, with central-difference
gradients: 3-D conv/pool, adaptive max, LP pool, max-unpool, padding, fold/unfold, shuffles,
EmbeddingBag, grid_sample/affine_grid, gumbel_softmax."""
import itertools

import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from tests.nn.helpers import check_grad, randn64, t64

R = np.random.default_rng(3)


def npy(t):
    return t.detach().numpy()


# ---------------------------------------------------------------- NumPy references
def conv3d_ref(x, w, s, p, d):
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pi, pi) for pi in p])
    KD, KH, KW = w.shape[2:]
    o = [(xp.shape[2 + i] - d[i] * (w.shape[2 + i] - 1) - 1) // s[i] + 1 for i in range(3)]
    y = np.zeros((x.shape[0], w.shape[0], *o))
    for kd, kh, kw in itertools.product(range(KD), range(KH), range(KW)):
        win = xp[:, :, kd * d[0]::s[0], kh * d[1]::s[1], kw * d[2]::s[2]][:, :, :o[0], :o[1], :o[2]]
        y += np.einsum("ncdhw,oc->nodhw", win, w[:, :, kd, kh, kw])
    return y


def pool3d_ref(x, k, s, p, reduce, fill):
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pi, pi) for pi in p], constant_values=fill)
    o = [(x.shape[2 + i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(3)]
    y = np.zeros(x.shape[:2] + tuple(o))
    for i, j, l in itertools.product(*map(range, o)):
        y[:, :, i, j, l] = reduce(xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1],
                                  l * s[2]:l * s[2] + k[2]].reshape(x.shape[:2] + (-1,)), -1)
    return y


def adaptive_ref(x, osz, reduce):
    spans = [[(i * L // o, -(-(i + 1) * L // o)) for i in range(o)] for L, o in zip(x.shape[2:], osz)]
    y = np.zeros(x.shape[:2] + tuple(osz))
    for idx in itertools.product(*map(range, osz)):
        sl = tuple(slice(*spans[a][i]) for a, i in enumerate(idx))
        y[(slice(None), slice(None)) + idx] = reduce(x[(slice(None), slice(None)) + sl].reshape(x.shape[:2] + (-1,)), -1)
    return y


def unfold_ref(x, k, d, p, s):
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    o = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2)]
    cols = np.zeros((x.shape[0], x.shape[1], k[0], k[1], o[0], o[1]))
    for a, b in itertools.product(range(k[0]), range(k[1])):
        cols[:, :, a, b] = xp[:, :, a * d[0]::s[0], b * d[1]::s[1]][:, :, :o[0], :o[1]]
    return cols.reshape(x.shape[0], -1, o[0] * o[1])


def grid_sample_ref(x, g, ac):
    """bilinear, zeros padding, loops."""
    N, C, H, W = x.shape
    out = np.zeros((N, C) + g.shape[1:3])
    for n, i, j in itertools.product(range(N), range(g.shape[1]), range(g.shape[2])):
        gx, gy = g[n, i, j]
        ix = (gx + 1) / 2 * (W - 1) if ac else ((gx + 1) * W - 1) / 2
        iy = (gy + 1) / 2 * (H - 1) if ac else ((gy + 1) * H - 1) / 2
        x0, y0 = int(np.floor(ix)), int(np.floor(iy))
        for xx, yy in itertools.product((x0, x0 + 1), (y0, y0 + 1)):
            if 0 <= xx < W and 0 <= yy < H:
                out[n, :, i, j] += x[n, :, yy, xx] * (1 - abs(ix - xx)) * (1 - abs(iy - yy))
    return out


# ---------------------------------------------------------------- conv3d / conv_transpose3d
@pytest.mark.parametrize("s,p,d", [((1, 1, 1), (0, 0, 0), (1, 1, 1)), ((2, 1, 2), (1, 0, 1), (1, 2, 1))])
def test_conv3d_matches_numpy_and_gradients(s, p, d):
    x, w, b = randn64(2, 3, 5, 6, 5), randn64(4, 3, 2, 3, 2, seed=1), randn64(4, seed=2)
    y = F.conv3d(x, w, b, s, p, d)
    np.testing.assert_allclose(npy(y), conv3d_ref(npy(x), npy(w), s, p, d) + npy(b).reshape(1, -1, 1, 1, 1), atol=1e-10)
    xs, ws = randn64(1, 2, 3, 4, 3), randn64(2, 1, 2, 2, 2, seed=1)
    check_grad(lambda x, w: F.conv3d(x, w, None, s, p, d, groups=2), [xs, ws])


def test_conv_transpose3d_is_the_adjoint_of_conv3d():
    s, p, d = (2, 1, 2), (1, 0, 1), (1, 2, 1)
    x, w = randn64(2, 3, 5, 6, 5), randn64(3, 4, 2, 3, 2, seed=1)          # conv: 3 -> 4 channels
    y = F.conv3d(x, w.transpose(0, 1), None, s, p, d)
    u = randn64(*y.shape, seed=2)
    back = F.conv_transpose3d(u, w.transpose(0, 1), None, s, p, (1, 0, 1), 1, d)   # op: rows conv skipped
    assert tuple(back.shape) == tuple(x.shape)
    np.testing.assert_allclose(float((y * u).sum()), float((x * back).sum()), rtol=1e-10)
    check_grad(lambda u, w, b: F.conv_transpose3d(u, w, b, 2, 1, 1, 2, (2, 1, 1)),
               [randn64(1, 2, 2, 3, 2), randn64(2, 1, 3, 2, 2, seed=1), randn64(2, seed=2)])


def test_conv3d_modules_and_errors():
    m = nn.Conv3d(4, 6, 3, padding="same", padding_mode="circular")
    assert tuple(m.weight.shape) == (6, 4, 3, 3, 3) and tuple(m(blaze.randn(2, 4, 3, 4, 5)).shape) == (2, 6, 3, 4, 5)
    t = nn.ConvTranspose3d(4, 2, 3, stride=2)
    assert tuple(t(blaze.randn(1, 4, 2, 3, 2), output_size=[6, 8, 6]).shape) == (1, 2, 6, 8, 6)
    assert "Conv3d(4, 6, kernel_size=(3, 3, 3)" in repr(m)
    with pytest.raises(RuntimeError, match="Expected 4D \\(unbatched\\) or 5D \\(batched\\) input to conv3d"):
        F.conv3d(blaze.randn(2, 4, 5), m.weight)
    with pytest.raises(RuntimeError, match="expected input\\[2, 3, 4, 4, 4\\] to have 4 channels"):
        F.conv3d(blaze.randn(2, 3, 4, 4, 4), m.weight)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose3d(blaze.randn(1, 4, 2, 2, 2), t.weight, stride=1, output_padding=1)


# ---------------------------------------------------------------- 3-D, adaptive, LP pooling, unpool
def test_pool3d_match_numpy():
    x = randn64(2, 3, 5, 6, 7)
    k, s, p = (3, 2, 3), (2, 2, 1), (1, 1, 0)
    np.testing.assert_allclose(npy(F.max_pool3d(x, k, s, p)), pool3d_ref(npy(x), k, s, p, np.max, -np.inf))
    np.testing.assert_allclose(npy(F.avg_pool3d(x, k, s, p)), pool3d_ref(npy(x), k, s, p, np.mean, 0.0), atol=1e-12)
    np.testing.assert_allclose(npy(F.avg_pool3d(x, k, s, p, divisor_override=4)),
                               pool3d_ref(npy(x), k, s, p, np.sum, 0.0) / 4, atol=1e-12)
    out, idx = F.max_pool3d(x, 2, return_indices=True)
    flat = npy(x).reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, npy(idx).reshape(2, 3, -1), 2), npy(out).reshape(2, 3, -1))


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool3d(x, 2, 1, 1, dilation=(1, 2, 1), ceil_mode=True),
    lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)),
    lambda x: F.adaptive_avg_pool3d(x, (2, None, 3)),
    lambda x: F.adaptive_max_pool1d(x[0, 0], 3),
    lambda x: F.adaptive_max_pool2d(x[0, 0], (4, 2)),
    lambda x: F.lp_pool3d(x.abs() + 0.1, 2, 2),
    lambda x: F.lp_pool2d(x[0].abs() + 0.1, 3.0, (2, 3), ceil_mode=True),
    lambda x: F.lp_pool1d(x[0, 0], 2, 3, 2),
])
def test_pooling_gradients(fn):
    check_grad(fn, [randn64(1, 2, 3, 4, 5)])


def test_adaptive_pools_match_numpy():
    x = randn64(2, 3, 7, 5, 6)
    np.testing.assert_allclose(npy(F.adaptive_max_pool3d(x, (3, 4, 4))), adaptive_ref(npy(x), (3, 4, 4), np.max))
    np.testing.assert_allclose(npy(F.adaptive_avg_pool3d(x, (3, 2, 4))), adaptive_ref(npy(x), (3, 2, 4), np.mean),
                               atol=1e-12)
    x2 = npy(x)[0]
    out, idx = F.adaptive_max_pool2d(t64(x2), (3, 4), return_indices=True)
    np.testing.assert_allclose(npy(out), adaptive_ref(x2, (3, 4), np.max))
    np.testing.assert_array_equal(np.take_along_axis(x2.reshape(3, 7, -1), npy(idx).reshape(3, 7, -1), 2),
                                  npy(out).reshape(3, 7, -1))
    lp = F.lp_pool3d(x.abs(), 3, (2, 2, 3))
    np.testing.assert_allclose(npy(lp), pool3d_ref(np.abs(npy(x)) ** 3, (2, 2, 3), (2, 2, 3), (0, 0, 0), np.sum, 0)
                               ** (1 / 3), rtol=1e-10)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_places_the_maxima(nd):
    x = randn64(*(2, 3) + (4, 5, 6)[:nd])
    out, idx = getattr(F, f"max_pool{nd}d")(x, 2, return_indices=True)
    up = getattr(nn, f"MaxUnpool{nd}d")(2)(out, idx, output_size=x.shape)
    ref = np.zeros(npy(x).reshape(2, 3, -1).shape)
    np.put_along_axis(ref, npy(idx).reshape(2, 3, -1), npy(out).reshape(2, 3, -1), 2)
    np.testing.assert_array_equal(npy(up), ref.reshape(x.shape))
    check_grad(lambda o: getattr(F, f"max_unpool{nd}d")(o, idx, 2, output_size=x.shape), [out.detach().requires_grad_()])
    with pytest.raises(RuntimeError, match="Found an invalid max index"):
        getattr(F, f"max_unpool{nd}d")(out, idx + 1000, 2)


def test_pooling_modules_and_errors():
    assert tuple(nn.MaxPool3d(2)(blaze.randn(3, 4, 4, 4)).shape) == (3, 2, 2, 2)
    assert tuple(nn.AvgPool3d(2, divisor_override=2)(blaze.randn(1, 2, 4, 4, 4)).shape) == (1, 2, 2, 2, 2)
    o, i = nn.AdaptiveMaxPool2d(3, return_indices=True)(blaze.randn(1, 2, 7, 7))
    assert o.shape == i.shape and i.dtype is blaze.int64
    assert repr(nn.LPPool2d(2, 3)) == "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        F.max_pool3d(blaze.randn(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="Expected 4D or 5D input"):
        F.avg_pool3d(blaze.randn(4, 4, 4), 2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool3d(blaze.randn(1, 1, 2, 2, 2), 3)


# ---------------------------------------------------------------- padding, shuffles, distances, Softmax2d
_NP_MODE = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "edge",
            "Circular": "wrap"}


@pytest.mark.parametrize("kind,nd", list(itertools.product(_NP_MODE, (1, 2, 3))))
def test_padding_layers_match_numpy_pad(kind, nd):
    x = randn64(*(2, 3, 3, 4, 5)[:nd + 2])
    pad = (2, 1, 0, 2, 1, 2)[:2 * nd]
    m = getattr(nn, f"{kind}Pad{nd}d")(*((pad, 1.5) if kind == "Constant" else (pad,)))
    width = [(0, 0), (0, 0)] + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(nd))]
    kw = {"constant_values": 1.5} if kind == "Constant" else {}
    np.testing.assert_array_equal(npy(m(x)), np.pad(npy(x), width, _NP_MODE[kind], **kw))
    check_grad(m, [randn64(*(1, 2, 3, 3, 3)[:nd + 2])])


def test_padding_module_args():
    assert repr(nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nn.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    with pytest.raises(ValueError, match="padding must be an int or a tuple of 4 ints"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        nn.CircularPad1d(1)(blaze.randn(1, 2, 3, 4))


def test_shuffles_and_softmax2d():
    x = randn64(2, 6, 3, 4)
    np.testing.assert_array_equal(npy(nn.ChannelShuffle(3)(x)),
                                  npy(x).reshape(2, 3, 2, 3, 4).transpose(0, 2, 1, 3, 4).reshape(2, 6, 3, 4))
    np.testing.assert_array_equal(npy(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(randn64(1, 8, 2, 3, seed=4)))),
                                  npy(randn64(1, 8, 2, 3, seed=4)))
    e = np.exp(npy(x))
    np.testing.assert_allclose(npy(nn.Softmax2d()(x)), e / e.sum(1, keepdims=True), rtol=1e-12)
    check_grad(lambda x: (nn.ChannelShuffle(2)(x), nn.Softmax2d()(x), nn.PixelUnshuffle(2)(x[:, :, :2])), [randn64(1, 4, 2, 4)])
    with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups"):
        F.channel_shuffle(x, 4)
    with pytest.raises(RuntimeError, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(x, 2)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(x[0, 0])


def test_distance_modules():
    a, b = randn64(4, 5), randn64(4, 5, seed=1)
    np.testing.assert_allclose(npy(nn.PairwiseDistance(p=1.0)(a, b)), np.abs(npy(a) - npy(b) + 1e-6).sum(-1))
    na, nb = np.linalg.norm(npy(a), axis=0), np.linalg.norm(npy(b), axis=0)
    np.testing.assert_allclose(npy(nn.CosineSimilarity(dim=0)(a, b)), (npy(a) * npy(b)).sum(0) / (na * nb))
    check_grad(lambda a, b: (nn.PairwiseDistance()(a, b), nn.CosineSimilarity()(a, b)), [a, b])


# ---------------------------------------------------------------- fold / unfold
@pytest.mark.parametrize("k,d,p,s", [((2, 2), (1, 1), (0, 0), (1, 1)), ((2, 3), (1, 2), (1, 1), (2, 1))])
def test_unfold_matches_numpy_and_fold_is_its_adjoint(k, d, p, s):
    x = randn64(2, 3, 5, 6)
    cols = F.unfold(x, k, d, p, s)
    np.testing.assert_array_equal(npy(cols), unfold_ref(npy(x), k, d, p, s))
    u = randn64(*cols.shape, seed=1)
    np.testing.assert_allclose(float((cols * u).sum()), float((x * F.fold(u, (5, 6), k, d, p, s)).sum()), rtol=1e-12)
    check_grad(lambda x: nn.Unfold(k, d, p, s)(x), [randn64(1, 2, 4, 5)])
    check_grad(lambda c: nn.Fold((5, 6), k, d, p, s)(c), [randn64(*F.unfold(blaze.zeros(1, 1, 5, 6), k, d, p, s).shape)])


def test_fold_errors():
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(blaze.randn(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match="match the calculated number of sliding blocks"):
        F.fold(blaze.randn(1, 4, 5), (3, 3), 2)
    with pytest.raises(NotImplementedError, match="Only 3D or 4D input"):
        F.unfold(blaze.randn(3, 4), 2)


# ---------------------------------------------------------------- EmbeddingBag
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_numpy(mode):
    w = randn64(10, 3)
    ids, offs = [1, 2, 4, 5, 2, 2, 8, 0, 9], [0, 2, 2, 4]
    out = F.embedding_bag(blaze.tensor(ids), w, blaze.tensor(offs), mode=mode, padding_idx=2)
    red = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    bounds = list(zip(offs, offs[1:] + [len(ids)]))
    ref = [red(npy(w)[[i for i in ids[a:b] if i != 2]], 0) if [i for i in ids[a:b] if i != 2] else np.zeros(3)
           for a, b in bounds]
    np.testing.assert_allclose(npy(out), np.stack(ref), rtol=1e-12)
    check_grad(lambda w: F.embedding_bag(blaze.tensor([[1, 2, 4], [2, 2, 2], [5, 5, 0]]), w, mode=mode,
                                         padding_idx=2), [w])


def test_embedding_bag_per_sample_weights_and_module():
    w, psw = randn64(6, 2), randn64(5, seed=1)
    ids = blaze.tensor([0, 3, 3, 5, 1])
    out = F.embedding_bag(ids, w, blaze.tensor([0, 3, 5]), mode="sum", per_sample_weights=psw, include_last_offset=True)
    ref = npy(w)[[0, 3, 3, 5, 1]] * npy(psw)[:, None]
    np.testing.assert_allclose(npy(out), np.stack([ref[:3].sum(0), ref[3:].sum(0)]), rtol=1e-12)
    check_grad(lambda w, p: F.embedding_bag(ids, w, blaze.tensor([0, 3]), mode="sum", per_sample_weights=p), [w, psw])
    bag = nn.EmbeddingBag(7, 3, mode="max", padding_idx=1)
    assert repr(bag) == "EmbeddingBag(7, 3, mode='max', padding_idx=1)" and not npy(bag.weight)[1].any()
    assert not isinstance(bag, nn.Embedding)
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(ids, w, blaze.tensor([0]), mode="mean", per_sample_weights=psw)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(ids.reshape(1, 5), w, blaze.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(ids, w)


# ---------------------------------------------------------------- grid_sample / affine_grid / gumbel
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_matches_numpy(ac):
    x, g = randn64(2, 3, 4, 5), t64(np.clip(R.standard_normal((2, 3, 4, 2)), -1.2, 1.2), True)
    np.testing.assert_allclose(npy(F.grid_sample(x, g, align_corners=ac)), grid_sample_ref(npy(x), npy(g), ac),
                               atol=1e-12)


@pytest.mark.parametrize("mode,pm", list(itertools.product(["bilinear", "nearest"], ["zeros", "border", "reflection"])))
def test_grid_sample_gradients(mode, pm):
    # keep sample points off pixel boundaries, where the bilinear map has kinks
    g = t64(np.array([[[[-0.83, 0.31], [0.42, -0.57]], [[1.37, 0.13], [-1.61, 1.21]]]]), mode == "bilinear")
    fn = lambda x, *g_: F.grid_sample(x, g_[0] if g_ else g, mode=mode, padding_mode=pm, align_corners=False)  # noqa
    check_grad(fn, [randn64(1, 2, 3, 4)] + ([g] if mode == "bilinear" else []))


def test_grid_sample_5d_trilinear():
    # a linear function of the voxel coordinates is reproduced exactly by trilinear sampling
    D, H, W = 3, 4, 5
    zz, yy, xx = np.meshgrid(np.arange(D), np.arange(H), np.arange(W), indexing="ij")
    vol = t64((2 * xx - yy + 3 * zz)[None, None] * 1.0)
    pts = np.random.default_rng(5).uniform(-1, 1, (1, 2, 3, 2, 3))
    g = t64(pts)
    out = npy(F.grid_sample(vol, g, align_corners=True))[0, 0]
    x, y, z = ((pts[0, ..., i] + 1) / 2 * (n - 1) for i, n in enumerate((W, H, D)))
    np.testing.assert_allclose(out, 2 * x - y + 3 * z, atol=1e-12)
    check_grad(lambda v, g: F.grid_sample(v, g, padding_mode="border"), [randn64(1, 2, 2, 3, 3), t64(pts * 0.9, True)])
    check_grad(lambda v: F.grid_sample(v, g, mode="nearest", padding_mode="reflection"), [randn64(1, 2, 2, 3, 3)])


def test_affine_grid_identity_and_gradients():
    theta = t64(np.tile([[1.0, 0, 0], [0, 1, 0]], (2, 1, 1)), True)
    x = randn64(2, 3, 4, 5)
    np.testing.assert_allclose(npy(F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False),
                                                 align_corners=False)), npy(x), atol=1e-12)
    g = F.affine_grid(theta, (2, 3, 2, 3), align_corners=True)
    np.testing.assert_allclose(npy(g)[0, :, :, 0], [[-1, 0, 1]] * 2)
    np.testing.assert_allclose(npy(g)[0, :, :, 1], [[-1] * 3, [1] * 3])
    check_grad(lambda t: F.affine_grid(t, (2, 1, 3, 2)), [randn64(2, 2, 3)])
    check_grad(lambda t: F.affine_grid(t, (1, 1, 2, 3, 2), align_corners=True), [randn64(1, 3, 4)])
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices of shape Nx2x3"):
        F.affine_grid(randn64(2, 3, 4), (2, 1, 3, 3))
    with pytest.raises(ValueError, match="expected padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap")


def test_gumbel_softmax_samples_and_gradient():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    blaze.manual_seed(0)
    y = F.gumbel_softmax(t64(np.tile(logits, (4000, 1)), True), tau=0.5, hard=True)
    assert set(np.unique(npy(y))) == {0.0, 1.0} and (npy(y).sum(1) == 1).all()
    np.testing.assert_allclose(npy(y).mean(0), [0.1, 0.2, 0.3, 0.4], atol=0.03)   # argmax ~ softmax(logits)

    def soft(x, hard):
        blaze.manual_seed(1)    # the same Gumbel noise for every finite-difference evaluation
        return F.gumbel_softmax(x, tau=0.7, hard=hard)
    check_grad(lambda x: soft(x, False), [randn64(3, 4)])
    x = randn64(3, 4)
    gs, gh = (blaze.autograd.grad((soft(x, h) * t64(np.arange(12.0).reshape(3, 4))).sum(), [x])[0] for h in (0, 1))
    np.testing.assert_allclose(npy(gh), npy(gs))    # straight-through: the hard sample has the soft gradient
