"""Lazy modules (shape from the first call) and the nn leftovers of issue 13: RReLU,
FeatureAlphaDropout, InstanceNorm3d, NLLLoss2d, Container, init.eye/dirac, F.*_ activations."""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.nn.parameter import UninitializedBuffer, UninitializedParameter


def test_lazy_linear_infers_in_features_and_becomes_linear():
    m = nn.LazyLinear(4)
    assert isinstance(m.weight, UninitializedParameter) and m.has_uninitialized_params()
    with pytest.raises(RuntimeError, match="uninitialized parameter"):
        m.weight.shape
    x = blaze.randn(2, 3, 7)
    y = m(x)
    assert type(m) is nn.Linear and type(m.weight) is nn.Parameter
    assert tuple(m.weight.shape) == (4, 7) and tuple(m.bias.shape) == (4,) and m.in_features == 7
    np.testing.assert_allclose(y.detach().numpy(), x.numpy() @ m.weight.detach().numpy().T + m.bias.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    bound = 1 / np.sqrt(7)  # reset_parameters ran with the inferred fan-in
    assert float(m.bias.abs().max()) <= bound and float(m.weight.abs().max()) <= bound
    y.sum().backward()
    assert tuple(m.weight.grad.shape) == (4, 7)
    assert m._forward_pre_hooks == {}


@pytest.mark.parametrize("cls,x,wshape", [
    (lambda: nn.LazyConv2d(6, 3, groups=2), (1, 4, 5, 5), (6, 2, 3, 3)),
    (lambda: nn.LazyConv1d(5, 2), (3, 8), (5, 3, 2)),                       # unbatched (C, L)
    (lambda: nn.LazyConvTranspose2d(6, 3, groups=3), (2, 3, 4, 4), (3, 2, 3, 3)),
    (lambda: nn.LazyConvTranspose1d(2, 3), (1, 4, 6), (4, 2, 3)),
])
def test_lazy_conv_weight_shapes(cls, x, wshape):
    m = cls()
    m(blaze.randn(*x))
    assert tuple(m.weight.shape) == wshape
    assert not any(isinstance(p, UninitializedParameter) for p in m.parameters())
    assert not type(m).__name__.startswith("Lazy")


def test_lazy_conv_groups_must_divide_channels():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(blaze.randn(1, 3, 5, 5))


@pytest.mark.parametrize("name,shape", [("LazyBatchNorm1d", (4, 3)), ("LazyBatchNorm2d", (2, 3, 4, 4)),
                                        ("LazyBatchNorm3d", (2, 3, 2, 2, 2)), ("LazyInstanceNorm1d", (3, 5)),
                                        ("LazyInstanceNorm2d", (2, 3, 4, 4)), ("LazyInstanceNorm3d", (2, 3, 2, 2, 2))])
def test_lazy_norms_match_their_plain_class(name, shape):
    lazy = getattr(nn, name)()
    assert isinstance(lazy.running_mean, UninitializedBuffer)
    x = blaze.randn(*shape)
    y = lazy(x)
    plain = getattr(nn, name[4:])(3, affine=True, track_running_stats=True)
    assert type(lazy) is type(plain) and lazy.num_features == 3
    np.testing.assert_allclose(y.detach().numpy(), plain(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lazy.running_var.numpy(), plain.running_var.numpy(), rtol=1e-6)


def test_instance_norm_3d_against_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 3, 4))
    y = nn.InstanceNorm3d(3)(blaze.tensor(x)).numpy()
    m, v = x.mean((2, 3, 4), keepdims=True), x.var((2, 3, 4), keepdims=True)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-5), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="expected 4D or 5D"):
        nn.InstanceNorm3d(3)(blaze.randn(2, 3, 4))


def test_rrelu_train_and_eval():
    x = blaze.tensor(np.linspace(-3, 3, 400))
    m = nn.RReLU(0.1, 0.3)
    y = m(x).numpy()
    neg = x.numpy() < 0
    slope = y[neg] / x.numpy()[neg]
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and slope.std() > 0.01  # drawn per element
    np.testing.assert_array_equal(y[~neg], x.numpy()[~neg])
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), np.where(neg, 0.2 * x.numpy(), x.numpy()))


def test_feature_alpha_dropout_drops_whole_channels():
    blaze.manual_seed(0)
    x = blaze.ones(8, 16, 5)
    y = F.feature_alpha_dropout(x, 0.5, training=True).numpy()
    assert np.all(y == y[:, :, :1])          # one value per (sample, channel)
    assert len(np.unique(y.round(5))) == 2   # kept (scaled) or the dropped constant
    assert F.feature_alpha_dropout(x, 0.5, training=False) is x
    assert nn.FeatureAlphaDropout(0.2).eval()(x) is x


def test_inplace_functional_activations():
    x = np.linspace(-2, 2, 9)
    for fn, ref in [(lambda t: F.elu_(t), lambda v: np.where(v > 0, v, np.expm1(v))),
                    (lambda t: F.celu_(t, 0.5), lambda v: np.where(v > 0, v, 0.5 * np.expm1(v / 0.5))),
                    (lambda t: F.hardtanh_(t, -0.5, 0.5), lambda v: np.clip(v, -0.5, 0.5)),
                    (lambda t: F.threshold_(t, 0.1, 2.0), lambda v: np.where(v > 0.1, v, 2.0)),
                    (lambda t: blaze.relu_(t), lambda v: np.maximum(v, 0)),
                    (lambda t: blaze.threshold_(t, 0.0, -1.0), lambda v: np.where(v > 0, v, -1.0)),
                    (lambda t: F.rrelu_(t), lambda v: np.where(v >= 0, v, v * (1 / 8 + 1 / 3) / 2))]:
        t = blaze.tensor(x)
        assert fn(t) is t
        np.testing.assert_allclose(t.numpy(), ref(x), rtol=1e-12)
    t = blaze.tensor(x)
    blaze.selu_(t)
    np.testing.assert_allclose(t.numpy(), F.selu(blaze.tensor(x)).numpy())


def test_nllloss2d_container_init_aliases():
    assert nn.NLLLoss2d is nn.NLLLoss
    with pytest.warns(UserWarning, match="deprecated"):
        c = nn.Container(a=nn.Linear(2, 3))
    assert [n for n, _ in c.named_parameters()] == ["a.weight", "a.bias"]
    np.testing.assert_array_equal(nn.init.eye(blaze.empty(2, 3)).numpy(), np.eye(2, 3))
    w = nn.init.dirac(blaze.empty(2, 2, 3)).numpy()
    assert w[0, 0, 1] == 1 and w[1, 1, 1] == 1 and w.sum() == 2
