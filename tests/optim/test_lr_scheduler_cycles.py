"""ConstantLR, PolynomialLR, CyclicLR, CosineAnnealingWarmRestarts and ChainedScheduler vs their
published formulas (closed forms written here, not taken from the implementation)."""
import math

import numpy as np
import pytest

import blaze
from blaze.optim import SGD, Adam
from blaze.optim import lr_scheduler as S


def _opt(lr=0.1, cls=SGD, **kw):
    return cls([blaze.zeros(2, requires_grad=True)], lr=lr, **kw)


def _run(sched, n, key="lr"):
    """The value of group 0's ``key`` in force for iterations 0..n-1."""
    out = []
    for _ in range(n):
        g = sched.optimizer.param_groups[0]
        out.append(g["betas"][0] if key == "beta1" else g[key])
        sched.optimizer.step()
        sched.step()
    return out


def triangular(t, base, top, half, mode="triangular", gamma=1.0):
    """Smith (2017), Section 3.1: cycle = floor(1 + t / (2 half)), x = |t / half - 2 cycle + 1|."""
    cycle = math.floor(1 + t / (2 * half))
    x = abs(t / half - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma ** t}[mode]
    return base + (top - base) * max(0.0, 1 - x) * scale


def sgdr(t, base, eta_min, T_0, T_mult):
    """Loshchilov & Hutter (2017), eq. 5: find the current period T_i and the position T_cur in it."""
    T_i, T_cur = T_0, t
    while T_cur >= T_i:
        T_cur -= T_i
        T_i *= T_mult
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


CASES = [
    ("ConstantLR", lambda o: S.ConstantLR(o, factor=0.5, total_iters=4), lambda t: 0.1 * (0.5 if t < 4 else 1.0)),
    ("ConstantLR-default", lambda o: S.ConstantLR(o), lambda t: 0.1 * (1 / 3 if t < 5 else 1.0)),
    ("PolynomialLR", lambda o: S.PolynomialLR(o, total_iters=8, power=2.0),
     lambda t: 0.1 * (1 - min(t, 8) / 8) ** 2),
    ("PolynomialLR-linear", lambda o: S.PolynomialLR(o, total_iters=10), lambda t: 0.1 * (1 - min(t, 10) / 10)),
    ("CyclicLR-triangular", lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=4),
     lambda t: triangular(t, 0.01, 0.1, 4)),
    ("CyclicLR-triangular2", lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
     lambda t: triangular(t, 0.01, 0.1, 3, "triangular2")),
    ("CyclicLR-exp_range", lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=5, mode="exp_range", gamma=0.95),
     lambda t: triangular(t, 0.01, 0.1, 5, "exp_range", 0.95)),
    ("CosineAnnealingWarmRestarts", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, eta_min=0.01),
     lambda t: sgdr(t, 0.1, 0.01, 5, 1)),
    ("CosineAnnealingWarmRestarts-Tmult", lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
     lambda t: sgdr(t, 0.1, 0.0, 2, 3)),
    ("ChainedScheduler", lambda o: S.ChainedScheduler([S.ConstantLR(o, factor=0.25, total_iters=3),
                                                       S.ExponentialLR(o, gamma=0.9)]),
     lambda t: 0.1 * 0.9 ** t * (0.25 if t < 3 else 1.0)),
]


@pytest.mark.parametrize("name,make,formula", CASES, ids=[c[0] for c in CASES])
def test_schedule_matches_formula(name, make, formula):
    got = _run(make(_opt()), 40)
    np.testing.assert_allclose(got, [formula(t) for t in range(40)], rtol=1e-12, atol=1e-15)


def test_cyclic_unequal_halves_and_per_group_bounds():
    a, b = blaze.zeros(1, requires_grad=True), blaze.zeros(1, requires_grad=True)
    o = SGD([{"params": [a]}, {"params": [b]}], lr=1.0, momentum=0.9)
    s = S.CyclicLR(o, [0.0, 1.0], [1.0, 3.0], step_size_up=2, step_size_down=6, cycle_momentum=False)
    lrs = []
    for _ in range(10):
        lrs.append([g["lr"] for g in o.param_groups])
        s.step()
    up = [0, 0.5, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0, 0.5]  # 2 steps up, 6 down, period 8
    np.testing.assert_allclose(lrs, [[u, 1 + 2 * u] for u in up], rtol=1e-12, atol=1e-15)
    assert o.param_groups[0]["momentum"] == 0.9  # untouched without cycle_momentum


@pytest.mark.parametrize("cls,key", [(SGD, "momentum"), (Adam, "beta1")])
def test_cyclic_momentum_moves_inversely(cls, key):
    o = _opt(cls=cls, **({"momentum": 0.9} if cls is SGD else {}))
    s = S.CyclicLR(o, 0.01, 0.1, step_size_up=4, base_momentum=0.8, max_momentum=0.9)
    got = _run(s, 17, key)
    want = [0.9 - (0.9 - 0.8) * (triangular(t, 0.01, 0.1, 4) - 0.01) / 0.09 for t in range(17)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    if cls is Adam:
        assert o.param_groups[0]["betas"][1] == 0.999


def test_cyclic_custom_scale_fn_and_arguments():
    s = S.CyclicLR(_opt(), 0.0, 1.0, step_size_up=2, scale_fn=lambda x: 1 / (x + 1), scale_mode="iterations",
                   cycle_momentum=False)
    got = _run(s, 6)
    np.testing.assert_allclose(got, [triangular(t, 0, 1, 2) / (t + 1) for t in range(6)], rtol=1e-12)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        S.CyclicLR(_opt(), 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.CyclicLR(blaze.optim.Adagrad([blaze.zeros(1, requires_grad=True)]), 0.01, 0.1)


def test_warm_restarts_fractional_epochs():
    """step(epoch + batch / batches) anneals inside an epoch (SGDR's T_cur is fractional)."""
    o = _opt()
    s = S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.001)
    for e in np.arange(0, 14, 0.25):
        s.step(float(e))
        assert s.get_last_lr()[0] == pytest.approx(sgdr(float(e), 0.1, 0.001, 2, 2), rel=1e-12, abs=1e-15)
        assert s.last_epoch == math.floor(e)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        s.step(-1)


@pytest.mark.parametrize("kw,msg", [(dict(T_0=0), "Expected positive integer T_0, but got 0"),
                                    (dict(T_0=2.5), "Expected positive integer T_0, but got 2.5"),
                                    (dict(T_0=2, T_mult=0), "Expected integer T_mult >= 1, but got 0"),
                                    (dict(T_0=2, eta_min="0"), "Expected float or int eta_min")])
def test_warm_restarts_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        S.CosineAnnealingWarmRestarts(_opt(), **kw)


def test_step_with_epoch_closed_forms():
    c = S.ConstantLR(_opt(), factor=0.5, total_iters=3)
    c.step(2)
    assert c.get_last_lr() == [0.05]
    c.step(7)
    assert c.get_last_lr() == [pytest.approx(0.1)]
    p = S.PolynomialLR(_opt(), total_iters=10, power=0.5)
    p.step(4)
    assert p.get_last_lr()[0] == pytest.approx(0.1 * 0.6 ** 0.5, rel=1e-12)
    p.step(30)
    assert p.get_last_lr() == [0.0]


def test_constant_lr_factor_checked():
    with pytest.raises(ValueError, match="Constant multiplicative factor expected to be between 0 and 1."):
        S.ConstantLR(_opt(), factor=1.5)


def test_chained_arguments():
    o, other = _opt(), _opt()
    with pytest.raises(ValueError, match="expects at least one scheduler"):
        S.ChainedScheduler([])
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        S.ChainedScheduler([S.ExponentialLR(o, 0.9), S.ExponentialLR(other, 0.9)])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        S.ChainedScheduler([S.ReduceLROnPlateau(o)])


class _Halving:
    def __init__(self):
        self.base = 0.5

    def __call__(self, x):
        return self.base ** x


@pytest.mark.parametrize("make", [
    lambda o: S.ConstantLR(o, 0.5, 6), lambda o: S.PolynomialLR(o, 12, 2.0),
    lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
    lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=_Halving()),
    lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2),
    lambda o: S.ChainedScheduler([S.ConstantLR(o, 0.5, 5), S.ExponentialLR(o, 0.9)])])
def test_state_dict_resume_through_blaze_save(make, tmp_path):
    o1 = _opt(momentum=0.9)
    s1 = make(o1)
    for _ in range(4):
        o1.step()
        s1.step()
    blaze.save({"opt": o1.state_dict(), "sched": s1.state_dict()}, tmp_path / "s.ckpt")
    ck = blaze.load(tmp_path / "s.ckpt")
    o2 = _opt(momentum=0.9)
    s2 = make(o2)
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    for _ in range(8):
        for o, s in ((o1, s1), (o2, s2)):
            o.step()
            s.step()
        assert s1.get_last_lr() == s2.get_last_lr()
        assert o1.param_groups[0]["momentum"] == o2.param_groups[0]["momentum"]


def test_all_sixteen_pytorch_schedulers_exist():
    names = ["LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
             "SequentialLR", "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR",
             "CosineAnnealingWarmRestarts", "OneCycleLR", "PolynomialLR", "LRScheduler"]
    assert all(issubclass(getattr(S, n), S.LRScheduler) for n in names)
