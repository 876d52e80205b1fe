"""Layers and their functionals: forward vs NumPy float64 references, gradients vs finite differences."""
import math

import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze import nn
from tests.nn.helpers import check_grad, randn64, t64

SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _erf(x):
    return np.vectorize(math.erf)(x)


def _softplus(x, beta=1.0, th=20.0):
    return np.where(beta * x > th, x, np.log1p(np.exp(beta * x)) / beta)


# name -> (blaze fn, numpy reference); inputs avoid kinks within eps of 0
ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x))),
    "selu": (F.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x))),
    "celu": (lambda x: F.celu(x, 2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(x / 2.0))),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x))),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: _softplus(x, 2.0, 3.0)),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "logsigmoid": (F.logsigmoid, lambda x: -np.log1p(np.exp(-x))),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7)),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "threshold": (lambda x: F.threshold(x, 0.1, -2.0), lambda x: np.where(x > 0.1, x, -2.0)),
    "glu": (F.glu, lambda x: x[..., :2] / (1 + np.exp(-x[..., 2:]))),
}


def _act_input():
    x = np.random.default_rng(1).uniform(-4, 4, (3, 4))
    x[np.abs(x) < 0.05] = 0.3  # keep finite differences off the kinks
    x[np.abs(x - 0.1) < 0.05] = 0.3
    x[np.abs(np.abs(x) - 3) < 0.05] = 2.0
    return x


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_and_grad(name):
    fn, ref = ACTIVATIONS[name]
    a = _act_input()
    x = t64(a, requires_grad=True)
    np.testing.assert_allclose(fn(x).detach().numpy(), ref(a), rtol=1e-10, atol=1e-12)
    check_grad(fn, [x])


def test_activation_modules_match_functional_and_repr():
    x = randn64(2, 3, requires_grad=False)
    pairs = [(nn.ReLU(), F.relu), (nn.LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3)), (nn.GELU("tanh"),
             lambda t: F.gelu(t, approximate="tanh")), (nn.Softplus(2.0, 5.0), lambda t: F.softplus(t, 2.0, 5.0)),
             (nn.Softmax(dim=0), lambda t: F.softmax(t, 0)), (nn.LogSoftmax(1), lambda t: F.log_softmax(t, 1)),
             (nn.ELU(0.5), lambda t: F.elu(t, 0.5)), (nn.Mish(), F.mish), (nn.SiLU(), F.silu), (nn.Tanh(), F.tanh),
             (nn.Sigmoid(), F.sigmoid), (nn.ReLU6(), F.relu6), (nn.Hardswish(), F.hardswish), (nn.SELU(), F.selu)]
    for m, f in pairs:
        np.testing.assert_array_equal(m(x).numpy(), f(x).numpy())
    reprs = {nn.ReLU(): "ReLU()", nn.ReLU(inplace=True): "ReLU(inplace=True)",
             nn.LeakyReLU(0.2): "LeakyReLU(negative_slope=0.2)", nn.GELU(): "GELU(approximate='none')",
             nn.Softplus(): "Softplus(beta=1.0, threshold=20.0)", nn.Softmax(dim=1): "Softmax(dim=1)",
             nn.Hardtanh(): "Hardtanh(min_val=-1.0, max_val=1.0)", nn.ELU(): "ELU(alpha=1.0)",
             nn.PReLU(): "PReLU(num_parameters=1)", nn.Tanh(): "Tanh()", nn.Dropout(): "Dropout(p=0.5, inplace=False)"}
    for m, s in reprs.items():
        assert repr(m) == s


def test_inplace_relu_writes_input():
    x = blaze.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    assert y is x and x.tolist() == [0.0, 2.0]


def test_prelu_per_channel():
    m = nn.PReLU(3).double()
    assert m.weight.tolist() == [0.25] * 3
    x = randn64(2, 3, 4, seed=3)
    a = x.detach().numpy()
    np.testing.assert_allclose(m(x).detach().numpy(), np.where(a > 0, a, 0.25 * a))
    check_grad(lambda x, w: F.prelu(x, w), [x, t64([0.1, 0.2, 0.3], True)])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(dim):
    a = np.random.default_rng(2).standard_normal((3, 4, 5)) * 3
    x = t64(a, requires_grad=True)
    e = np.exp(a - a.max(dim, keepdims=True))
    p = e / e.sum(dim, keepdims=True)
    np.testing.assert_allclose(F.softmax(x, dim).detach().numpy(), p, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(x, dim).detach().numpy(), np.log(p), rtol=1e-10)
    em = np.exp(-a + a.min(dim, keepdims=True))
    np.testing.assert_allclose(F.softmin(x, dim).detach().numpy(), em / em.sum(dim, keepdims=True), rtol=1e-12)
    for f in (F.softmax, F.log_softmax, F.softmin):
        check_grad(lambda t: f(t, dim), [x])


def test_softmax_dtype_extremes_and_double_backward():
    x = blaze.tensor([[1000.0, 0.0, -1000.0]])
    assert F.softmax(x, -1).tolist() == [[1.0, 0.0, 0.0]]
    assert F.log_softmax(x, -1).tolist()[0][:2] == [0.0, -1000.0]
    assert F.softmax(blaze.tensor([[1.0, 2.0]]), 1, dtype=blaze.float64).dtype is blaze.float64
    # the backward is differentiable (create_graph falls back to the Tensor-op formula)
    x = randn64(2, 3, seed=4)
    check_grad(lambda t: blaze.autograd.grad((F.log_softmax(t, 1)[:, 0] ** 2).sum(), t, create_graph=True)[0], [x])


def test_linear_forward_grad_and_init():
    blaze.manual_seed(0)
    m = nn.Linear(20, 7)
    assert m.weight.shape == (7, 20) and m.bias.shape == (7,)
    bound = 1 / math.sqrt(20)  # kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), +)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert repr(m) == "Linear(in_features=20, out_features=7, bias=True)"
    x, w, b = randn64(2, 3, 4, seed=1), randn64(5, 4, seed=2), randn64(5, seed=3)
    np.testing.assert_allclose(F.linear(x, w, b).detach().numpy(),
                               x.detach().numpy() @ w.detach().numpy().T + b.detach().numpy(), rtol=1e-12)
    check_grad(F.linear, [x, w, b])
    check_grad(lambda x, w: F.linear(x, w), [x, w])
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(6x4 and 3x5\)"):
        F.linear(x, randn64(5, 3))
    assert nn.Linear(3, 2, bias=False).bias is None


def test_bilinear():
    x1, x2, w, b = randn64(3, 2, seed=1), randn64(3, 4, seed=2), randn64(5, 2, 4, seed=3), randn64(5, seed=4)
    ref = np.einsum("bi,oij,bj->bo", x1.detach().numpy(), w.detach().numpy(), x2.detach().numpy()) + b.detach().numpy()
    np.testing.assert_allclose(F.bilinear(x1, x2, w, b).detach().numpy(), ref, rtol=1e-12)
    check_grad(F.bilinear, [x1, x2, w, b])
    assert nn.Bilinear(2, 4, 5)(x1.float(), x2.float()).shape == (3, 5)


def test_gradient_penalty_double_backward_linear_leaky_relu():
    """WGAN-GP style: d/dw of ||d D(x)/dx||^2 through linear + leaky_relu + linear."""
    x, w1, b1, w2 = randn64(4, 3, seed=5), randn64(6, 3, seed=6), randn64(6, seed=7), randn64(1, 6, seed=8)

    def penalty(x, w1, b1, w2):
        out = F.linear(F.leaky_relu(F.linear(x, w1, b1), 0.2), w2).sum()
        (gx,) = blaze.autograd.grad(out, x, create_graph=True)
        return ((gx * gx).sum(1).sqrt() - 1) ** 2

    check_grad(penalty, [x, w1, b1, w2])
    p = penalty(x, w1, b1, w2).mean()
    p.backward()
    assert w1.grad is not None and w2.grad is not None and np.abs(w1.grad.numpy()).sum() > 0


def _ln_ref(a, shape, w=None, b=None, eps=1e-5):
    axes = tuple(range(a.ndim - len(shape), a.ndim))
    y = (a - a.mean(axes, keepdims=True)) / np.sqrt(a.var(axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def test_layer_norm():
    x, w, b = randn64(2, 3, 4, 5, seed=1), randn64(4, 5, seed=2), randn64(4, 5, seed=3)
    ref = _ln_ref(x.detach().numpy(), (4, 5), w.detach().numpy(), b.detach().numpy())
    np.testing.assert_allclose(F.layer_norm(x, (4, 5), w, b).detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    check_grad(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), [x, w, b])
    check_grad(lambda x: F.layer_norm(x, (5,)), [x])
    m = nn.LayerNorm([4, 5], bias=False)
    assert m.bias is None and repr(m) == "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True)"
    with pytest.raises(RuntimeError, match="normalized_shape"):
        F.layer_norm(x, (3,))
    # double backward through the fused op
    check_grad(lambda x, w: blaze.autograd.grad((F.layer_norm(x, (5,), w[0]) ** 3).sum(), x,
                                                 create_graph=True)[0], [randn64(3, 5, seed=9), w])


def test_rms_norm():
    x, w = randn64(3, 6, seed=1), randn64(6, seed=2)
    a = x.detach().numpy()
    ref = a / np.sqrt((a * a).mean(-1, keepdims=True) + 1e-6) * w.detach().numpy()
    np.testing.assert_allclose(F.rms_norm(x, (6,), w, 1e-6).detach().numpy(), ref, rtol=1e-10)
    check_grad(lambda x, w: F.rms_norm(x, (6,), w, 1e-6), [x, w])
    # eps=None is finfo(dtype).eps, as PyTorch
    a32 = np.full((1, 4), 1e-4, np.float32)
    y = nn.RMSNorm(4)(blaze.tensor(a32)).detach().numpy()
    np.testing.assert_allclose(y, a32 / np.sqrt(1e-8 + np.finfo(np.float32).eps), rtol=1e-5)
    check_grad(lambda x, w: blaze.autograd.grad((F.rms_norm(x, (6,), w) ** 3).sum(), x, create_graph=True)[0],
               [x, w])


def test_group_norm():
    x, w, b = randn64(2, 6, 3, seed=1), randn64(6, seed=2), randn64(6, seed=3)
    a = x.detach().numpy().reshape(2, 3, -1)
    ref = ((a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5)).reshape(2, 6, 3)
    ref = ref * w.detach().numpy()[:, None] + b.detach().numpy()[:, None]
    np.testing.assert_allclose(F.group_norm(x, 3, w, b).detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    check_grad(lambda x, w, b: F.group_norm(x, 3, w, b), [x, w, b])
    assert repr(nn.GroupNorm(3, 6)) == "GroupNorm(3, 6, eps=1e-05, affine=True)"


def test_batch_norm_running_stats_and_eval():
    bn = nn.BatchNorm2d(3, momentum=0.2).double()
    rng = np.random.default_rng(0)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        a = rng.standard_normal((4, 3, 2, 5)) * (step + 1) + step
        y = bn(t64(a)).detach().numpy()
        mean, var = a.mean((0, 2, 3)), a.var((0, 2, 3))
        ref = (a - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
        np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
        n = a.size // 3
        rm, rv = 0.8 * rm + 0.2 * mean, 0.8 * rv + 0.2 * var * n / (n - 1)  # running var is unbiased
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 3 and bn.num_batches_tracked.dtype is blaze.int64
    bn.eval()
    a = rng.standard_normal((2, 3, 2, 2))
    np.testing.assert_allclose(bn(t64(a)).detach().numpy(), (a - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5),
                               rtol=1e-10)
    assert bn.num_batches_tracked.item() == 3  # eval does not count
    assert repr(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.2, affine=True, track_running_stats=True)"


def test_batch_norm_cumulative_momentum_grad_and_no_tracking():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [np.random.default_rng(i).standard_normal((5, 2)) for i in range(3)]
    for a in batches:
        bn(t64(a))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([a.mean(0) for a in batches], 0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([a.var(0, ddof=1) for a in batches], 0), rtol=1e-12)
    x, w, b = randn64(4, 2, 3, seed=1), randn64(2, seed=2), randn64(2, seed=3)
    check_grad(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])
    nt = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert nt.running_mean is None and "running_mean" not in nt.state_dict()
    y = nt(blaze.tensor(batches[0], dtype=blaze.float32)).detach().numpy()  # batch stats even in eval
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-6)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(2)(blaze.ones(1, 2))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(2)(blaze.ones(3, 2))


def test_instance_norm_matches_group_norm_per_channel():
    x = randn64(2, 3, 4, seed=2, requires_grad=False)
    np.testing.assert_allclose(nn.InstanceNorm1d(3).double()(x).numpy(), F.group_norm(x, 3).numpy(), rtol=1e-12)


def test_dropout_statistics_scaling_and_grad():
    blaze.manual_seed(0)
    x = blaze.ones(20000, requires_grad=True)
    y = F.dropout(x, 0.3)
    a = y.detach().numpy()
    kept = a != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-6)
    y.backward(blaze.full((20000,), 2.0))
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 2 / 0.7, 0), rtol=1e-6)
    blaze.manual_seed(0)
    assert (F.dropout(blaze.ones(20000), 0.3).numpy() == a).all()  # reproducible from the seed
    m = nn.Dropout(0.5).eval()
    z = blaze.randn(5)
    assert m(z) is z
    assert F.dropout(z, 1.0).abs().sum().item() == 0
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    # double backward: the mask application is linear, its own backward
    xx = randn64(6, seed=1)
    blaze.manual_seed(1)
    g = blaze.autograd.grad((F.dropout(xx, 0.5) ** 2).sum(), xx, create_graph=True)[0]
    g.sum().backward()
    assert xx.grad is not None


def test_dropout2d_zeroes_whole_channels():
    blaze.manual_seed(3)
    y = nn.Dropout2d(0.5)(blaze.ones(8, 16, 3, 3)).numpy()
    per_channel = y.reshape(8, 16, 9)
    assert ((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1)).all()
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    blaze.manual_seed(3)
    a = nn.AlphaDropout(0.2)(blaze.randn(20000)).numpy()
    assert abs(a.mean()) < 0.05 and abs(a.std() - 1) < 0.05  # SELU moments preserved


def test_embedding_forward_padding_grad_and_pretrained():
    blaze.manual_seed(0)
    e = nn.Embedding(6, 3, padding_idx=-1)
    assert e.padding_idx == 5 and e.weight[5].tolist() == [0.0, 0.0, 0.0]
    assert repr(e) == "Embedding(6, 3, padding_idx=5)"
    ids = blaze.tensor([[1, 5, 1], [0, 2, 5]])
    out = e(ids)
    np.testing.assert_array_equal(out.detach().numpy(), e.weight.detach().numpy()[ids.numpy()])
    g = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    out.backward(blaze.tensor(g))
    ref = np.zeros((6, 3), np.float32)
    np.add.at(ref, ids.numpy().reshape(-1), g.reshape(-1, 3))
    ref[5] = 0
    np.testing.assert_allclose(e.weight.grad.numpy(), ref, rtol=1e-6)
    w = randn64(4, 2, seed=1)
    check_grad(lambda w: F.embedding(blaze.tensor([[3, 0, 3]]), w), [w])
    (gw,) = blaze.autograd.grad(F.embedding(blaze.tensor([3, 0, 3]), w, scale_grad_by_freq=True).sum(), w)
    assert gw.tolist() == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]  # id 3 twice: each counts 1/2
    check_grad(lambda w: blaze.autograd.grad((F.embedding(blaze.tensor([1, 1, 2]), w, padding_idx=0) ** 3).sum(),
                                             w, create_graph=True)[0], [w])
    pre = nn.Embedding.from_pretrained(blaze.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert not pre.weight.requires_grad and pre(blaze.tensor([1])).tolist() == [[3.0, 4.0]]
    mn = nn.Embedding(3, 2, max_norm=1.0)
    mn(blaze.tensor([0, 2]))
    norms = np.linalg.norm(mn.weight.detach().numpy(), axis=1)
    assert norms[0] <= 1.0 + 1e-6 and norms[2] <= 1.0 + 1e-6
    with pytest.raises(IndexError, match="out of bounds"):
        e(blaze.tensor([6]))


def test_misc_functionals():
    x1, x2 = randn64(3, 4, seed=1), randn64(3, 4, seed=2)
    a, b = x1.detach().numpy(), x2.detach().numpy()
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(F.cosine_similarity(x1, x2).detach().numpy(), cos, rtol=1e-12)
    np.testing.assert_allclose(F.pairwise_distance(x1, x2).detach().numpy(), np.linalg.norm(a - b + 1e-6, axis=1))
    np.testing.assert_allclose(F.normalize(x1, dim=1).detach().numpy(), a / np.linalg.norm(a, axis=1, keepdims=True))
    check_grad(F.cosine_similarity, [x1, x2])
    check_grad(lambda t: F.normalize(t, dim=0), [x1])
    assert F.one_hot(blaze.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.one_hot(blaze.tensor([1])).shape == (1, 2)
    p = F.pad(blaze.arange(6.0).reshape(1, 2, 3), (1, 2), value=-1.0)
    assert p.tolist() == [[[-1.0, 0.0, 1.0, 2.0, -1.0, -1.0], [-1.0, 3.0, 4.0, 5.0, -1.0, -1.0]]]
    r = F.pad(blaze.arange(4.0).reshape(1, 1, 4), (2, 1), mode="reflect")
    assert r.tolist() == [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]]
    s = F.pixel_shuffle(blaze.arange(8.0).reshape(1, 8, 1, 1), 2)
    assert s.shape == (1, 2, 2, 2) and F.pixel_unshuffle(s, 2).tolist() == blaze.arange(8.0).reshape(1, 8, 1, 1).tolist()


def test_layer_norm_bias_only_and_shared_buffer_conversion():
    x, b = randn64(3, 4, seed=1), randn64(4, seed=2)
    check_grad(lambda x, b: F.layer_norm(x, (4,), None, b), [x, b])
    (gb,) = blaze.autograd.grad(F.layer_norm(x, (4,), None, b).sum(), b)
    assert gb.tolist() == [3.0] * 4
    a, c = nn.Module(), nn.Module()
    shared = blaze.zeros(2)
    a.register_buffer("s", shared)
    c.register_buffer("s", shared)
    parent = nn.Sequential(a, c).double()
    assert parent[0].s is parent[1].s and parent[0].s.dtype is blaze.float64


def test_boundary_gradients_match_pytorch():
    x = blaze.tensor([0.0, 6.0, -1.0, 1.0, -3.0, 3.0], requires_grad=True)
    (g,) = blaze.autograd.grad(F.relu6(x).sum(), x)
    assert g.tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    (g,) = blaze.autograd.grad(F.hardtanh(x).sum(), x)
    assert g.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    (g,) = blaze.autograd.grad(F.leaky_relu(x, 0.1).sum(), x)
    assert g.tolist()[0] == pytest.approx(0.1)


def test_activation_gradients_at_kinks_match_pytorch():
    # PyTorch: softplus'(x) = sigmoid(beta x) exactly (0.5 at 0, where max(x,0) + log1p(exp(-|x|))
    # gives 1); hardswish' is 0 at x <= -3 and 1 at x >= 3 (a clamp product gives -0.5 and 1.5)
    x = t64([-3.0, 0.0, 3.0, -50.0, 50.0], requires_grad=True)
    sig = 1 / (1 + np.exp(-np.array([-3.0, 0.0, 3.0, -50.0, 50.0])))
    for fn, want in ((F.softplus, sig), (F.logsigmoid, 1 - sig),
                     (F.hardswish, np.array([0.0, 0.5, 1.0, 0.0, 1.0]))):
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-15, err_msg=fn.__name__)
    x.grad = None
    F.softplus(x, beta=2.0).sum().backward()  # sigmoid(2x)
    np.testing.assert_allclose(x.grad.numpy()[1], 0.5, rtol=1e-12)
    np.testing.assert_allclose(F.hardswish(x).detach().numpy(), [0.0, 0.0, 3.0, 0.0, 50.0], atol=1e-15)


def test_cosine_similarity_zero_vector_gradient_matches_pytorch():
    # PyTorch clamps the norms at eps outside autograd: a zero row gets gradient x2 / (||x2|| eps)
    # (here [1, 2] / (sqrt(5) * 1e-8)), finite; sqrt(sum(x * x)) would give nan
    a = t64([[0.0, 0.0], [1.0, 2.0]], requires_grad=True)
    b = t64([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    F.cosine_similarity(a, b).sum().backward()
    want = np.array([1.0, 2.0]) / (math.sqrt(5) * 1e-8)
    np.testing.assert_allclose(a.grad.numpy(), [want, [0.0, 0.0]], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [[0.0, 0.0], want], rtol=1e-12)
    check_grad(lambda x, y: F.cosine_similarity(x, y, dim=-1), [randn64(3, 4, seed=1), randn64(3, 4, seed=2)])
