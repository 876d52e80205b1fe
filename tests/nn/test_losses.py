"""Losses vs NumPy float64 formulas for every reduction, and gradients vs finite differences."""
import math

import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze import nn
from tests.nn.helpers import check_grad, randn64, t64

REDUCE = {"none": lambda a: a, "mean": np.mean, "sum": np.sum}


def _log_softmax(a, axis=1):
    m = a.max(axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis, keepdims=True))


def _ce_ref(a, t, w=None, ignore=-100, eps=0.0, reduction="mean"):
    """PyTorch's CrossEntropyLoss on (N, C) logits with class indices."""
    logp = _log_softmax(a)
    c = a.shape[1]
    w = np.ones(c) if w is None else w
    valid = t != ignore
    tc = np.where(valid, t, 0)
    nll = -logp[np.arange(len(t)), tc] * w[tc]
    smooth = -(logp * w).sum(1)
    loss = np.where(valid, (1 - eps) * nll + eps / c * smooth, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / np.where(valid, w[tc], 0).sum()


CE_CASES = {
    "plain": {},
    "weights": {"weight": [0.5, 2.0, 1.0, 0.2, 3.0]},
    "ignore": {"ignore_index": 1},
    "smoothing": {"label_smoothing": 0.2},
    "all": {"weight": [0.5, 2.0, 1.0, 0.2, 3.0], "ignore_index": 2, "label_smoothing": 0.15},
}


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("case", sorted(CE_CASES))
def test_cross_entropy_hard_targets(case, reduction):
    kw = dict(CE_CASES[case])
    a = np.random.default_rng(0).standard_normal((6, 5)) * 2
    t = np.array([0, 1, 2, 4, 1, 3])
    x = t64(a, True)
    w = t64(kw.pop("weight")) if "weight" in kw else None
    out = F.cross_entropy(x, blaze.tensor(t), weight=w, reduction=reduction, **kw)
    ref = _ce_ref(a, t, None if w is None else w.numpy(), kw.get("ignore_index", -100),
                  kw.get("label_smoothing", 0.0), reduction)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    check_grad(lambda x: F.cross_entropy(x, blaze.tensor(t), weight=w, reduction=reduction, **kw), [x])
    module = nn.CrossEntropyLoss(weight=w, reduction=reduction, **kw)
    np.testing.assert_allclose(module(x, blaze.tensor(t)).detach().numpy(), ref, rtol=1e-10, atol=1e-12)


def test_cross_entropy_nd_unbatched_and_float32():
    a = np.random.default_rng(1).standard_normal((2, 4, 3, 2))  # (N, C, d1, d2)
    t = np.random.default_rng(2).integers(0, 4, (2, 3, 2))
    x = t64(a, True)
    rows = a.transpose(0, 2, 3, 1).reshape(-1, 4)
    for red in ("none", "mean", "sum"):
        ref = _ce_ref(rows, t.reshape(-1), reduction=red)
        out = F.cross_entropy(x, blaze.tensor(t), reduction=red, label_smoothing=0.0)
        np.testing.assert_allclose(out.detach().numpy(), ref.reshape(2, 3, 2) if red == "none" else ref, rtol=1e-10)
    check_grad(lambda x: F.cross_entropy(x, blaze.tensor(t), ignore_index=0, label_smoothing=0.1), [x])
    one = F.cross_entropy(t64(a[0, :, 0, 0]), blaze.tensor(t[0, 0, 0]))
    np.testing.assert_allclose(one.item(), _ce_ref(a[:1, :, 0, 0], t[:1, 0, 0]), rtol=1e-10)
    f32 = F.cross_entropy(blaze.tensor(rows.astype(np.float32)), blaze.tensor(t.reshape(-1)))
    assert f32.dtype is blaze.float32 and abs(f32.item() - _ce_ref(rows, t.reshape(-1))) < 1e-5
    # large logits stay finite (log-sum-exp)
    big = F.cross_entropy(blaze.tensor([[1000.0, -1000.0]]), blaze.tensor([1]))
    assert big.item() == pytest.approx(2000.0)


def test_cross_entropy_errors_and_all_ignored():
    x = blaze.randn(3, 4)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, blaze.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="batch_size"):
        F.cross_entropy(x, blaze.tensor([0, 1]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, blaze.tensor([0, 1, 2]), reduction="avg")
    assert np.isnan(F.cross_entropy(x, blaze.tensor([-100, -100, -100])).item())  # 0/0, as PyTorch


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_soft_targets(reduction):
    a = np.random.default_rng(3).standard_normal((4, 3, 2))
    p = np.random.default_rng(4).dirichlet(np.ones(3), (4, 2)).transpose(0, 2, 1)  # (N, C, d)
    w = np.array([1.0, 0.5, 2.0])
    x = t64(a, True)
    for eps in (0.0, 0.3):
        q = p * (1 - eps) + eps / 3
        ref = -(_log_softmax(a) * w[None, :, None] * q).sum(1)
        out = F.cross_entropy(x, t64(p), weight=t64(w), reduction=reduction, label_smoothing=eps)
        np.testing.assert_allclose(out.detach().numpy(), REDUCE[reduction](ref), rtol=1e-10)
    check_grad(lambda x, p: F.cross_entropy(x, p, reduction=reduction), [x, t64(p, True)])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_nll_loss(reduction):
    a = _log_softmax(np.random.default_rng(5).standard_normal((5, 4)))
    t = np.array([0, 3, 1, 1, 2])
    w = np.array([1.0, 2.0, 0.5, 1.5])
    x = t64(a, True)
    valid = t != 1
    per = np.where(valid, -a[np.arange(5), t] * w[t], 0.0)
    ref = {"none": per, "sum": per.sum(), "mean": per.sum() / (w[t] * valid).sum()}[reduction]
    out = nn.NLLLoss(weight=t64(w), ignore_index=1, reduction=reduction)(x, blaze.tensor(t))
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12)
    check_grad(lambda x: F.nll_loss(x, blaze.tensor(t), weight=t64(w), reduction=reduction), [x])
    # nll_loss(log_softmax) == cross_entropy
    ce = F.cross_entropy(x, blaze.tensor(t), reduction=reduction)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, 1), blaze.tensor(t), reduction=reduction).detach().numpy(),
                               ce.detach().numpy(), rtol=1e-12)


def _pointwise_cases():
    def smooth_l1(d, beta):
        ad = np.abs(d)
        return np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)

    def huber(d, delta):
        ad = np.abs(d)
        return np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    return {
        "mse": (nn.MSELoss, {}, F.mse_loss, lambda x, y: (x - y) ** 2),
        "l1": (nn.L1Loss, {}, F.l1_loss, lambda x, y: np.abs(x - y)),
        "smooth_l1": (nn.SmoothL1Loss, {"beta": 0.7}, F.smooth_l1_loss, lambda x, y: smooth_l1(x - y, 0.7)),
        "huber": (nn.HuberLoss, {"delta": 0.6}, F.huber_loss, lambda x, y: huber(x - y, 0.6)),
    }


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", ["mse", "l1", "smooth_l1", "huber"])
def test_regression_losses(name, reduction):
    cls, kw, fn, ref = _pointwise_cases()[name]
    a = np.random.default_rng(6).standard_normal((3, 4))
    b = a + np.random.default_rng(7).choice([-1.5, -0.3, 0.2, 1.1], (3, 4))  # |d| away from kinks
    x, y = t64(a, True), t64(b, True)
    out = cls(reduction=reduction, **kw)(x, y)
    np.testing.assert_allclose(out.detach().numpy(), REDUCE[reduction](ref(a, b)), rtol=1e-12)
    check_grad(lambda x, y: fn(x, y, reduction=reduction, **kw), [x, y])


def test_smooth_l1_beta_zero_is_l1_and_size_check():
    x, y = randn64(5, seed=1, requires_grad=False), randn64(5, seed=2, requires_grad=False)
    assert F.smooth_l1_loss(x, y, beta=0.0).item() == pytest.approx(F.l1_loss(x, y).item())
    with pytest.raises(ValueError, match="different to the input size"):
        F.mse_loss(x, randn64(4))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_and_bce_with_logits(reduction):
    a = np.random.default_rng(8).standard_normal((4, 3))
    y = np.random.default_rng(9).uniform(0, 1, (4, 3))
    w = np.array([0.5, 1.0, 2.0])
    pw = np.array([3.0, 1.0, 0.5])
    p = 1 / (1 + np.exp(-a))
    x, tp, tt = t64(a, True), t64(p, True), t64(y, True)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * w
    np.testing.assert_allclose(nn.BCELoss(weight=t64(w), reduction=reduction)(tp, tt).detach().numpy(),
                               REDUCE[reduction](bce), rtol=1e-10)
    check_grad(lambda p, t: F.binary_cross_entropy(p, t, weight=t64(w), reduction=reduction), [tp, tt])
    logits_ref = -(pw * y * np.log(p) + (1 - y) * np.log(1 - p)) * w
    m = nn.BCEWithLogitsLoss(weight=t64(w), reduction=reduction, pos_weight=t64(pw))
    np.testing.assert_allclose(m(x, tt).detach().numpy(), REDUCE[reduction](logits_ref), rtol=1e-10)
    check_grad(lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=t64(pw), reduction=reduction), [x, tt])
    assert sorted(m.state_dict()) == ["pos_weight", "weight"]


def test_bce_extremes():
    # log clamped at -100: p = 0 with target 1 costs exactly 100, not inf
    assert F.binary_cross_entropy(blaze.tensor([0.0, 1.0]), blaze.tensor([1.0, 0.0]), reduction="sum").item() == 200.0
    big = F.binary_cross_entropy_with_logits(blaze.tensor([200.0, -200.0]), blaze.tensor([0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(big.numpy(), [200.0, 200.0])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div(reduction):
    inp = _log_softmax(np.random.default_rng(10).standard_normal((3, 4)))
    tgt = np.exp(_log_softmax(np.random.default_rng(11).standard_normal((3, 4))))
    tgt[0, 1] = 0.0  # 0 * log 0 = 0
    per = np.where(tgt > 0, tgt * (np.log(np.where(tgt > 0, tgt, 1)) - inp), 0.0)
    red = dict(REDUCE, batchmean=lambda v: v.sum() / 3)[reduction]
    x = t64(inp, True)
    np.testing.assert_allclose(nn.KLDivLoss(reduction=reduction)(x, t64(tgt)).detach().numpy(), red(per), rtol=1e-12)
    check_grad(lambda x: F.kl_div(x, t64(tgt), reduction=reduction), [x])
    lt = np.log(np.clip(tgt, 1e-3, None))
    per_log = np.exp(lt) * (lt - inp)
    np.testing.assert_allclose(F.kl_div(x, t64(lt), reduction=reduction, log_target=True).detach().numpy(),
                               red(per_log), rtol=1e-12)


def test_other_losses_forward():
    x1, x2 = randn64(4, 3, seed=1, requires_grad=False), randn64(4, 3, seed=2, requires_grad=False)
    y = blaze.tensor([1.0, -1.0, 1.0, -1.0], dtype=blaze.float64)
    a, b = x1.numpy(), x2.numpy()
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    ref = np.where(y.numpy() > 0, 1 - cos, np.maximum(cos - 0.1, 0)).mean()
    assert nn.CosineEmbeddingLoss(0.1)(x1, x2, y).item() == pytest.approx(ref)
    s1, s2 = x1[:, 0], x2[:, 0]
    assert nn.MarginRankingLoss(0.2)(s1, s2, y).item() == pytest.approx(
        np.maximum(-y.numpy() * (a[:, 0] - b[:, 0]) + 0.2, 0).mean())
    assert nn.SoftMarginLoss()(s1, y).item() == pytest.approx(np.log1p(np.exp(-y.numpy() * a[:, 0])).mean())
    assert nn.PoissonNLLLoss()(s1, s1.abs()).item() == pytest.approx((np.exp(a[:, 0]) - np.abs(a[:, 0]) * a[:, 0]).mean())


def test_cross_entropy_double_backward():
    """create_graph through the fused op uses the Tensor-op form of its backward."""
    t = blaze.tensor([0, 2, 1, 2])
    w = t64([0.5, 2.0, 1.0])
    x = randn64(4, 3, seed=12)

    def grad_sq(x):
        (g,) = blaze.autograd.grad(F.cross_entropy(x, t, weight=w, ignore_index=1, label_smoothing=0.1), x,
                                   create_graph=True)
        return g * g

    check_grad(grad_sq, [x])


def test_bce_gradients_at_saturation_and_logit_zero_match_pytorch():
    # PyTorch's BCE backward is (x - y) / max(x (1 - x), 1e-12): finite at x = 0 and 1 (a composed
    # clamped-log chain gives 0 * inf = nan there). BCE-with-logits' gradient is sigmoid(x) - y,
    # also at x = 0 where max(-x, 0) + log1p(exp(-|x|)) gives -y - 0.5.
    p = t64([0.0, 1.0, 0.5, 1e-20], requires_grad=True)
    F.binary_cross_entropy(p, t64([0.0, 1.0, 1.0, 1.0]), reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), [0.0, 0.0, -2.0, (1e-20 - 1) / 1e-12], rtol=1e-12)
    x = t64([-800.0, 800.0, 0.0, 30.0, 0.0], requires_grad=True)
    y = np.array([1.0, 0.0, 0.5, 0.2, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t64(y), reduction="sum")
    np.testing.assert_allclose(loss.item(), 800 + 800 + math.log(2) + 0.8 * 30 + math.log1p(math.exp(-30))
                               + math.log(2), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0, 0.0, 1 / (1 + math.exp(-30)) - 0.2, 0.5], rtol=1e-12,
                               atol=1e-300)
