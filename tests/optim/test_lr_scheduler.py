"""Learning-rate schedulers vs their published formulas, computed here independently."""
import math

import numpy as np
import pytest

import blaze
from blaze.optim import SGD, Adam
from blaze.optim import lr_scheduler as S


def _opt(lr=0.1, cls=SGD, **kw):
    return cls([blaze.zeros(2, requires_grad=True)], lr=lr, **kw)


def _lrs(sched, n):
    """The rate in force for epochs 0..n-1 (recorded before each step)."""
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        sched.optimizer.step()
        sched.step()
    return out


CASES = [
    ("StepLR", lambda o: S.StepLR(o, step_size=3, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 3)),
    ("MultiStepLR", lambda o: S.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.1),
     lambda t: 0.1 * 0.1 ** sum(m <= t for m in [2, 5, 5, 9])),
    ("ExponentialLR", lambda o: S.ExponentialLR(o, gamma=0.9), lambda t: 0.1 * 0.9 ** t),
    ("LambdaLR", lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1)), lambda t: 0.1 / (t + 1)),
    ("MultiplicativeLR", lambda o: S.MultiplicativeLR(o, lambda e: 0.95), lambda t: 0.1 * 0.95 ** t),
    ("CosineAnnealingLR", lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
     lambda t: 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2),
    ("LinearLR", lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4),
     lambda t: 0.1 * (0.25 + 0.75 * min(t, 4) / 4)),
]


@pytest.mark.parametrize("name,make,formula", CASES, ids=[c[0] for c in CASES])
def test_schedule_matches_formula(name, make, formula):
    got = _lrs(make(_opt()), 25 if name != "CosineAnnealingLR" else 10)
    want = [formula(t) for t in range(len(got))]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_cosine_beyond_t_max_continues_the_curve():
    # past T_max the recursive form keeps following the cosine (rising again), as PyTorch
    got = _lrs(S.CosineAnnealingLR(_opt(), T_max=5, eta_min=0.0), 16)
    want = [0.1 * (1 + math.cos(math.pi * t / 5)) / 2 for t in range(16)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_step_with_epoch_uses_closed_form():
    s = S.StepLR(_opt(), step_size=2, gamma=0.1)
    s.step(5)
    assert s.get_last_lr()[0] == pytest.approx(0.1 * 0.1 ** 2)


def test_chained_schedulers_compose():
    o = _opt()
    a, b = S.ExponentialLR(o, gamma=0.9), S.StepLR(o, step_size=2, gamma=0.5)
    for t in range(1, 7):
        o.step()
        a.step()
        b.step()
        assert o.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9 ** t * 0.5 ** (t // 2), rel=1e-12)


def _onecycle_ref(t, total, max_lr, pct, div, final_div, strategy, three_phase):
    init, lo = max_lr / div, max_lr / div / final_div
    an = (lambda s, e, p: e + (s - e) / 2 * (math.cos(math.pi * p) + 1)) if strategy == "cos" else \
        (lambda s, e, p: s + (e - s) * p)
    up = pct * total - 1
    if three_phase:
        down = 2 * pct * total - 2
        if t <= up:
            return an(init, max_lr, t / up), an(0.95, 0.85, t / up)
        if t <= down:
            return an(max_lr, init, (t - up) / (down - up)), an(0.85, 0.95, (t - up) / (down - up))
        return an(init, lo, (t - down) / (total - 1 - down)), 0.95
    if t <= up:
        return an(init, max_lr, t / up), an(0.95, 0.85, t / up)
    return an(max_lr, lo, (t - up) / (total - 1 - up)), an(0.85, 0.95, (t - up) / (total - 1 - up))


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("cls", [SGD, Adam])
def test_onecycle(strategy, three_phase, cls):
    o = _opt(cls=cls, **({"momentum": 0.9} if cls is SGD else {}))
    s = S.OneCycleLR(o, max_lr=1.0, total_steps=20, pct_start=0.3, anneal_strategy=strategy,
                     three_phase=three_phase, div_factor=10.0, final_div_factor=100.0)
    for t in range(20):
        lr, mom = _onecycle_ref(t, 20, 1.0, 0.3, 10.0, 100.0, strategy, three_phase)
        g = o.param_groups[0]
        assert g["lr"] == pytest.approx(lr, rel=1e-12, abs=1e-15), t
        got_m = g["betas"][0] if cls is Adam else g["momentum"]
        assert got_m == pytest.approx(mom, rel=1e-12), t
        if cls is Adam:
            assert g["betas"][1] == 0.999
        o.step()
        if t < 19:
            s.step()
    s.step()
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        s.step()


def test_onecycle_arguments():
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(_opt(), max_lr=1.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(_opt(), max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum or beta1"):
        S.OneCycleLR(blaze.optim.Adagrad([blaze.zeros(1, requires_grad=True)]), max_lr=1.0, total_steps=10)
    s = S.OneCycleLR(_opt(momentum=0.9), max_lr=0.5, epochs=2, steps_per_epoch=5)
    assert s.total_steps == 10 and s.get_last_lr()[0] == pytest.approx(0.5 / 25)


def test_sequential_warmup_then_cosine():
    o = _opt(lr=1.0)
    warm = S.LinearLR(o, start_factor=0.1, total_iters=3)
    cos = S.CosineAnnealingLR(o, T_max=6)
    s = S.SequentialLR(o, [warm, cos], milestones=[3])
    got = _lrs(s, 10)
    want = [0.1 + 0.9 * t / 3 for t in range(3)] + [(1 + math.cos(math.pi * (t - 3) / 6)) / 2 for t in range(3, 10)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        S.SequentialLR(o, [warm, cos], milestones=[3, 5])


def test_reduce_on_plateau_min_rel_with_cooldown():
    o = _opt(lr=1.0)
    s = S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.1, cooldown=1, min_lr=0.2)
    # 10 -> best; 9.5 is not 10% better -> bad epochs 1, 2, 3 -> reduce at the 3rd bad one
    metrics = [10, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 1.0]
    want = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    got = []
    for m in metrics:
        s.step(m)
        got.append(s.get_last_lr()[0])
    assert got == want
    assert s.best == 1.0


@pytest.mark.parametrize("mode,mode_t,metrics,reduced_at", [
    ("max", "abs", [1.0, 1.05, 1.2, 1.25, 1.29], 4),
    ("min", "abs", [1.0, 0.95, 0.8, 0.75, 0.71], 4),
    ("max", "rel", [1.0, 1.05, 1.2, 1.25, 1.3, 1.31], 4),
])
def test_reduce_on_plateau_modes(mode, mode_t, metrics, reduced_at):
    o = _opt(lr=1.0)
    s = S.ReduceLROnPlateau(o, mode=mode, factor=0.1, patience=1, threshold=0.1, threshold_mode=mode_t)
    lrs = []
    for m in metrics:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    assert lrs.index(pytest.approx(0.1)) == reduced_at


def test_reduce_on_plateau_arguments():
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(_opt(), factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        S.ReduceLROnPlateau(_opt(), mode="avg")
    with pytest.raises(ValueError, match="threshold mode x is unknown"):
        S.ReduceLROnPlateau(_opt(), threshold_mode="x")
    with pytest.raises(ValueError, match="expected 1 min_lrs"):
        S.ReduceLROnPlateau(_opt(), min_lr=[0.1, 0.2])


def test_linear_lr_arguments():
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        S.LinearLR(_opt(), start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor"):
        S.LinearLR(_opt(), end_factor=1.5)


@pytest.mark.parametrize("make", [lambda o: S.StepLR(o, 3, 0.5), lambda o: S.MultiStepLR(o, [2, 4]),
                                  lambda o: S.CosineAnnealingLR(o, 8), lambda o: S.LinearLR(o, total_iters=4),
                                  lambda o: S.OneCycleLR(o, 1.0, total_steps=12),
                                  lambda o: S.ReduceLROnPlateau(o, patience=0)])
def test_state_dict_resume_through_blaze_save(make, tmp_path):
    o1 = _opt(momentum=0.9)
    s1 = make(o1)
    step = (lambda s, t: s.step(1.0 / (t % 3 + 1))) if isinstance(s1, S.ReduceLROnPlateau) else \
        (lambda s, t: s.step())
    for t in range(4):
        o1.step()
        step(s1, t)
    blaze.save({"opt": o1.state_dict(), "sched": s1.state_dict()}, tmp_path / "s.ckpt")
    ck = blaze.load(tmp_path / "s.ckpt")
    o2 = _opt(momentum=0.9)
    s2 = make(o2)
    o2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sched"])
    for t in range(4, 10):
        for o, s in ((o1, s1), (o2, s2)):
            o.step()
            step(s, t)
        assert s1.get_last_lr() == s2.get_last_lr()
        assert o1.param_groups[0]["momentum"] == o2.param_groups[0]["momentum"]


def test_lambda_state_dict_skips_functions():
    s = S.LambdaLR(_opt(), lambda e: 0.5 ** e)
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None] and "optimizer" not in sd
    s.load_state_dict(sd)


def test_resume_requires_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), 3, last_epoch=5)
