"""nn.init statistics and nn.utils (gradient clipping, parameter vectors, spectral norm)."""
import math

import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.nn import init


def _w(*shape):
    return blaze.empty(*shape)


def test_calculate_gain_and_fans():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("selu") == 0.75 and init.calculate_gain("conv2d") == 1.0
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    assert init._calculate_fan_in_and_fan_out(_w(16, 3, 5, 5)) == (75, 400)
    assert init._calculate_fan_in_and_fan_out(_w(7, 20)) == (20, 7)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(_w(5))


def test_uniform_bounds_and_normal_std():
    blaze.manual_seed(0)
    # kaiming_uniform: bound = gain * sqrt(3 / fan_in); relu gain sqrt(2), fan_in 400
    w = init.kaiming_uniform_(_w(300, 400), nonlinearity="relu").numpy()
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    w = init.kaiming_normal_(_w(300, 400), mode="fan_out", nonlinearity="relu").numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02) and abs(w.mean()) < 1e-3
    w = init.xavier_uniform_(_w(200, 300), gain=2.0).numpy()
    a = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w).max() <= a and np.abs(w).max() > 0.99 * a
    w = init.xavier_normal_(_w(200, 300)).numpy()
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    w = init.uniform_(_w(10000), -2, 3).numpy()
    assert w.min() >= -2 and w.max() < 3 and w.mean() == pytest.approx(0.5, abs=0.05)
    w = init.normal_(_w(10000), 1.0, 0.5).numpy()
    assert w.mean() == pytest.approx(1.0, abs=0.02) and w.std() == pytest.approx(0.5, rel=0.03)


def test_trunc_normal_constant_eye_dirac():
    blaze.manual_seed(1)
    w = init.trunc_normal_(_w(20000), mean=0.5, std=1.0, a=-1.0, b=1.5).numpy()
    assert w.min() >= -1.0 and w.max() <= 1.5
    # mean of N(0.5, 1) truncated to [-1.5, 1] std units: 0.5 + (phi(-1.5) - phi(1)) / (Phi(1) - Phi(-1.5))
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    expected = 0.5 + (phi(-1.5) - phi(1.0)) / (Phi(1.0) - Phi(-1.5))
    assert w.mean() == pytest.approx(expected, abs=0.02)
    assert init.constant_(_w(2, 2), 3.5).tolist() == [[3.5, 3.5], [3.5, 3.5]]
    assert init.zeros_(_w(2)).tolist() == [0.0, 0.0] and init.ones_(_w(1)).tolist() == [1.0]
    assert init.eye_(_w(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]
    d = init.dirac_(_w(2, 3, 3, 3)).numpy()
    assert d[0, 0, 1, 1] == 1 and d[1, 1, 1, 1] == 1 and d.sum() == 2


def test_orthogonal():
    blaze.manual_seed(2)
    for shape in [(6, 6), (4, 9), (9, 4), (5, 2, 3)]:
        w = init.orthogonal_(_w(*shape), gain=2.0).numpy().reshape(shape[0], -1).astype(np.float64)
        rows, cols = w.shape
        gram = w @ w.T if rows <= cols else w.T @ w
        np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)


def test_init_is_reproducible_and_leaves_grad_flags():
    p = nn.Parameter(blaze.empty(3, 4))
    blaze.manual_seed(7)
    a = init.kaiming_uniform_(p, a=math.sqrt(5)).detach().numpy().copy()
    blaze.manual_seed(7)
    b = init.kaiming_uniform_(p, a=math.sqrt(5)).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None


def _params_with_grads(grads):
    ps = []
    for g in grads:
        p = nn.Parameter(blaze.zeros(*np.shape(g)))
        p.grad = blaze.tensor(np.asarray(g, np.float32))
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type):
    grads = [np.array([[3.0, -4.0], [1.0, 2.0]]), np.array([-6.0, 0.5, 2.0])]
    ps = _params_with_grads(grads)
    flat = np.concatenate([g.ravel() for g in grads])
    total = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    got = nn.utils.clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    assert got.item() == pytest.approx(total, rel=1e-5)
    coef = 2.0 / (total + 1e-6)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-5)
    # under the limit nothing changes
    ps = _params_with_grads(grads)
    nn.utils.clip_grad_norm_(ps, max_norm=100.0, norm_type=norm_type)
    np.testing.assert_allclose(ps[0].grad.numpy(), grads[0])


def test_clip_grad_nonfinite_and_value():
    ps = _params_with_grads([np.array([1.0, np.inf])])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    ps = _params_with_grads([np.array([1.0, -5.0, 0.2])])
    nn.utils.clip_grad_value_(ps, 0.5)
    np.testing.assert_allclose(ps[0].grad.numpy(), [0.5, -0.5, 0.2])
    assert nn.utils.clip_grad_norm_([nn.Parameter(blaze.ones(2))], 1.0).item() == 0.0  # no grads


def test_parameters_vector_round_trip():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (3 * 2 + 2 + 2 + 1,)
    nn.utils.vector_to_parameters(blaze.arange(11.0), m.parameters())
    assert m[0].weight.tolist() == [[0, 1, 2], [3, 4, 5]] and m[1].bias.tolist() == [10.0]
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(m.parameters()).detach().numpy(), np.arange(11.0))
    with pytest.raises(RuntimeError, match="11"):
        nn.utils.vector_to_parameters(blaze.zeros(5), m.parameters())


def test_spectral_norm():
    blaze.manual_seed(3)
    m = nn.utils.spectral_norm(nn.Linear(8, 5))
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert m.weight_u.shape == (5,) and m.weight_v.shape == (8,)
    x = blaze.randn(4, 8)
    for _ in range(20):  # power iteration converges across forwards
        y = m(x)
    sigma = np.linalg.svd(m.weight.detach().numpy().astype(np.float64), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, rel=1e-4)
    y.sum().backward()
    assert m.weight_orig.grad is not None and m.weight_orig.grad.shape == (5, 8)
    u = m.weight_u.numpy().copy()
    m.eval()
    m(x)
    np.testing.assert_array_equal(m.weight_u.numpy(), u)  # eval: no power iteration
    nn.utils.remove_spectral_norm(m)
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight"]
    assert np.linalg.svd(m.weight.detach().numpy(), compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)
