"""Issue 13's losses vs float64 NumPy written from PyTorch's definitions (CTC by brute force over every
alignment), with central-difference gradients."""
import itertools
import math

import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from tests.nn.helpers import check_grad, randn64, t64


def npy(t):
    return t.detach().numpy()


def ctc_brute(lp, target, blank):
    """-log sum over every length-T path that collapses (merge repeats, drop blanks) to ``target``."""
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        out = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if out == list(target):
            total += math.exp(sum(lp[t, c] for t, c in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


def _log_softmax(x, axis):
    return x - np.log(np.exp(x).sum(axis, keepdims=True))


def test_ctc_matches_brute_force_enumeration():
    T, N, C = 5, 4, 3
    lp = _log_softmax(np.random.default_rng(0).standard_normal((T, N, C)), 2)
    targets = np.array([[1, 2], [1, 1], [2, 0], [1, 2]])
    il, tl = np.array([5, 5, 4, 3]), np.array([2, 2, 1, 0])
    nll = F.ctc_loss(t64(lp), blaze.tensor(targets), blaze.tensor(il), blaze.tensor(tl), reduction="none")
    ref = [ctc_brute(lp[:il[n], n], targets[n, :tl[n]], 0) for n in range(N)]
    np.testing.assert_allclose(npy(nll), ref, rtol=1e-10)
    mean = F.ctc_loss(t64(lp), blaze.tensor(targets), tuple(il), tuple(tl))
    np.testing.assert_allclose(float(mean), np.mean(np.array(ref) / np.maximum(tl, 1)), rtol=1e-10)
    # the same targets concatenated (1-D), and blank = 2
    flat = np.concatenate([targets[n, :tl[n]] for n in range(N)])
    flat_b2 = np.where(flat == 2, 0, flat)
    nll2 = F.ctc_loss(t64(lp), blaze.tensor(flat_b2), tuple(il), tuple(tl), blank=2, reduction="none")
    cut = np.cumsum(tl)[:-1]
    np.testing.assert_allclose(npy(nll2), [ctc_brute(lp[:il[n], n], r, 2) for n, r in enumerate(np.split(flat_b2, cut))],
                               rtol=1e-10)


def test_ctc_gradient_and_infinity():
    lp = randn64(6, 3, 4)
    tg, il, tl = blaze.tensor([[1, 2, 2], [3, 0, 0], [1, 1, 3]]), [6, 5, 6], [3, 1, 2]
    check_grad(lambda x: F.ctc_loss(x, tg, il, tl, reduction="none"), [lp])      # raw log-probabilities
    check_grad(lambda x: F.ctc_loss(x.log_softmax(2), tg, il, [3, 0, 3], reduction="sum"), [lp])
    # three repeated labels need 5 frames: 3 frames are impossible
    bad = (blaze.tensor([[1, 1, 1]]), [3], [3])
    x = randn64(3, 1, 4)
    assert math.isinf(float(F.ctc_loss(x.log_softmax(2), *bad)))
    z = F.ctc_loss(x.log_softmax(2), *bad, zero_infinity=True)
    z.backward()
    assert float(z) == 0.0 and not npy(x.grad).any()
    m = nn.CTCLoss(blank=3, reduction="sum")
    assert float(m(x.log_softmax(2), blaze.tensor([[1]]), [3], [1])) > 0
    with pytest.raises(RuntimeError, match="Expected input_lengths to have value at most 3"):
        F.ctc_loss(x, blaze.tensor([[1]]), [4], [1])
    y = F.ctc_loss(x.log_softmax(2), blaze.tensor([[1]]), [3], [1])
    with pytest.raises(RuntimeError, match="double backward"):
        blaze.autograd.grad(y, [x], create_graph=True)
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        F.ctc_loss(x, blaze.tensor([[1]]), [3], [1], blank=4)


def test_triplet_losses():
    a, p, n = randn64(5, 4), randn64(5, 4, seed=1), randn64(5, 4, seed=2)
    d = lambda u, v: np.linalg.norm(npy(u) - npy(v) + 1e-6, axis=-1)  # noqa: E731
    ref = np.maximum(1.5 + d(a, p) - np.minimum(d(a, n), d(p, n)), 0)
    np.testing.assert_allclose(npy(nn.TripletMarginLoss(1.5, swap=True, reduction="none")(a, p, n)), ref, rtol=1e-12)
    check_grad(lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0, p=1), [a, p, n])
    cos = lambda u, v: 1 - F.cosine_similarity(u, v)  # noqa: E731
    m = nn.TripletMarginWithDistanceLoss(distance_function=cos, margin=0.5, reduction="sum")
    ca = lambda u, v: 1 - (npy(u) * npy(v)).sum(1) / np.linalg.norm(npy(u), axis=1) / np.linalg.norm(npy(v), axis=1)  # noqa
    np.testing.assert_allclose(float(m(a, p, n)), np.maximum(0.5 + ca(a, p) - ca(a, n), 0).sum(), rtol=1e-12)
    check_grad(lambda a, p, n: m(a, p, n), [a, p, n])
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginLoss(margin=0)


def test_hinge_and_multilabel_soft_margin():
    x, y = randn64(3, 4), blaze.tensor(np.sign(np.random.default_rng(1).standard_normal((3, 4))))
    ref = np.where(npy(y) == 1, npy(x), np.maximum(0, 0.7 - npy(x)))
    np.testing.assert_allclose(npy(F.hinge_embedding_loss(x, y, 0.7, reduction="none")), ref)
    check_grad(lambda x: F.hinge_embedding_loss(x, y, 0.7), [x])
    t = (y > 0).double()
    w = t64([1.0, 2, 0.5, 3])
    sig = 1 / (1 + np.exp(-npy(x)))
    ref = -(npy(w) * (npy(t) * np.log(sig) + (1 - npy(t)) * np.log(1 - sig))).mean(1)
    np.testing.assert_allclose(npy(nn.MultiLabelSoftMarginLoss(w, reduction="none")(x, t)), ref, rtol=1e-12)
    check_grad(lambda x: F.multilabel_soft_margin_loss(x, t, w), [x])


def test_multilabel_margin_matches_loops():
    x = randn64(3, 5)
    tg = np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [4, 4, -1, 0, 0]])
    ref = []
    for n in range(3):
        ys = list(itertools.takewhile(lambda v: v != -1, tg[n]))
        ref.append(sum(max(0, 1 - (npy(x)[n, j] - npy(x)[n, i])) for j in ys for i in range(5) if i not in ys) / 5)
    np.testing.assert_allclose(npy(F.multilabel_margin_loss(x, blaze.tensor(tg), reduction="none")), ref, rtol=1e-12)
    check_grad(lambda x: nn.MultiLabelMarginLoss()(x * 0.3, blaze.tensor(tg)), [x])
    with pytest.raises(RuntimeError, match="target values must lie in"):
        F.multilabel_margin_loss(x, blaze.tensor(tg + 3))


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_matches_loops(p):
    x, tg, w = randn64(4, 5), np.array([0, 4, 2, 2]), np.array([1.0, 2, 0.5, 1, 3])
    ref = [sum(w[tg[n]] * max(0, 0.8 - npy(x)[n, tg[n]] + npy(x)[n, i]) ** p for i in range(5) if i != tg[n]) / 5
           for n in range(4)]
    m = nn.MultiMarginLoss(p=p, margin=0.8, weight=t64(w), reduction="none")
    np.testing.assert_allclose(npy(m(x, blaze.tensor(tg))), ref, rtol=1e-12)
    check_grad(lambda x: m(x * 0.4, blaze.tensor(tg)), [x])
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.multi_margin_loss(x, blaze.tensor([0, 5, 1, 1]))


def test_gaussian_nll():
    x, y, v = randn64(3, 4), randn64(3, 4, seed=1), t64(np.abs(np.random.default_rng(2).standard_normal((3, 4))) + 0.1,
                                                         True)
    ref = 0.5 * (np.log(npy(v)) + (npy(x) - npy(y)) ** 2 / npy(v)) + 0.5 * math.log(2 * math.pi)
    np.testing.assert_allclose(npy(F.gaussian_nll_loss(x, y, v, full=True, reduction="none")), ref, rtol=1e-12)
    check_grad(lambda x, y, v: nn.GaussianNLLLoss()(x, y, v), [x, y, v])
    check_grad(lambda x, v: F.gaussian_nll_loss(x, y, v, reduction="sum"), [x, randn64(3, seed=4).abs().detach()
                                                                            .requires_grad_()])
    # eps clamps the value, not the gradient (PyTorch clamps under no_grad)
    tiny = t64([[1e-9]], True)
    F.gaussian_nll_loss(t64([[0.0]]), t64([[0.0]]), tiny, eps=1e-3).backward()
    np.testing.assert_allclose(npy(tiny.grad), [[0.5 / 1e-3]])
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, y, randn64(4, 3))
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(x, y, -v)
