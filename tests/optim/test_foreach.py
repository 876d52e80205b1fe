"""Multi-tensor optimizer steps: one launch per (device, dtype) group on cuda, whatever the number of
parameters; ``foreach=False`` keeps one per parameter; zero_grad and clip_grad_norm_(foreach=True)."""
import contextlib
import math

import numpy as np
import pytest

import blaze
import blaze.nn as nn
from blaze.optim import SGD, Adagrad, Adam, AdamW, RMSprop


@contextlib.contextmanager
def count_launches():
    """Count every Triton kernel launch (``kernel[grid](...)``) made inside the block."""
    from blaze.kernels.optim import _sgd_kernel
    cls = type(_sgd_kernel)                 # InterpretedFunction under TRITON_INTERPRET=1, else JITFunction
    names = []
    real = cls.__getitem__

    def getitem(self, grid):
        names.append(self.fn.__name__)
        return real(self, grid)
    cls.__getitem__ = getitem
    try:
        yield names
    finally:
        cls.__getitem__ = real


def _model(n_layers=15, dtype=blaze.float32):
    blaze.manual_seed(0)
    layers = [nn.Linear(6, 6) for _ in range(n_layers)]   # 2 parameters each
    return nn.Sequential(*layers).to(device="cuda", dtype=dtype)


def _grads(model, seed=1):
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.grad = blaze.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32), device="cuda").to(p.dtype)


OPTS = [(SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
        (Adam, dict(lr=1e-2, amsgrad=True)), (AdamW, dict(lr=1e-2)),
        (RMSprop, dict(lr=1e-2, centered=True, momentum=0.5)), (Adagrad, dict(lr=0.1))]


@pytest.mark.parametrize("opt_cls,kw", OPTS)
def test_a_30_parameter_step_is_one_launch(opt_cls, kw):
    model = _model()
    assert len(list(model.parameters())) == 30
    opt = opt_cls(model.parameters(), **kw)
    for step in range(2):                      # the first step creates the state, the second reuses it
        _grads(model, step)
        with count_launches() as names:
            opt.step()
        kernel = "_" + ("adam" if opt_cls is AdamW else opt_cls.__name__.lower()) + "_kernel"
        zeros = ["_zero_kernel"] if step == 0 and opt_cls in (Adam, AdamW, RMSprop) else []   # all new state at once
        assert names == zeros + [kernel]


@pytest.mark.parametrize("opt_cls,kw", OPTS)
def test_foreach_false_matches_foreach_and_launches_per_parameter(opt_cls, kw):
    models = [_model(4), _model(4)]
    opts = [opt_cls(models[0].parameters(), foreach=False, **kw), opt_cls(models[1].parameters(), **kw)]
    for step in range(3):
        for m in models:
            _grads(m, step)
        with count_launches() as names:
            opts[0].step()
        if step:                                # step 0 also zeroes the new state (one launch)
            assert len(names) == 8
        opts[1].step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=1e-6, atol=1e-7)


def test_one_launch_per_dtype_group_and_half_params_keep_float32_state():
    a, b = _model(3), _model(2, dtype=blaze.float16)
    opt = Adam(list(a.parameters()) + list(b.parameters()), lr=1e-2)
    _grads(a)
    _grads(b)
    with count_launches() as names:
        opt.step()
    assert names == ["_zero_kernel", "_adam_kernel", "_adam_kernel"]   # the new state is all float32: one zeroing
    assert all(s["exp_avg"].dtype == blaze.float32 and s["exp_avg_sq"].dtype == blaze.float32
               for s in opt.state.values())


def test_cpu_foreach_matches_single_tensor_path():
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(n).astype(np.float32) for n in (3, 5, 7)]
    ps = [[blaze.tensor(a, requires_grad=True) for a in init] for _ in range(2)]
    opts = [AdamW(ps[0], lr=1e-2, foreach=False), AdamW(ps[1], lr=1e-2, fused=True)]
    for _ in range(3):
        gs = [rng.standard_normal(n).astype(np.float32) for n in (3, 5, 7)]
        for group, opt in zip(ps, opts):
            for p, g in zip(group, gs):
                p.grad = blaze.tensor(g)
            opt.step()
    for a, b in zip(*ps):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_foreach_and_fused_together_are_refused():
    p = [blaze.ones(2, requires_grad=True)]
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
        SGD(p, lr=0.1, foreach=True, fused=True)


def test_zero_grad_launches():
    model = _model()
    opt = SGD(model.parameters(), lr=0.1)
    _grads(model)
    with count_launches() as names:
        opt.zero_grad(set_to_none=False)
    assert len(names) == 1
    assert all(not p.grad.cpu().numpy().any() for p in model.parameters())
    with count_launches() as names:
        opt.zero_grad()
    assert names == [] and all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_clip_grad_norm_foreach(norm_type, device):
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal(n).astype(np.float32) for n in (5, 1500, 7)]
    ps = [blaze.zeros(len(g), device=device, requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = blaze.tensor(g, device=device)
    flat = np.concatenate(gs).astype(np.float64)
    want = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    with count_launches() as names:
        total = nn.utils.clip_grad_norm_(ps, 0.5, norm_type, foreach=True)
    assert len(names) == (3 if device == "cuda" else 0)
    np.testing.assert_allclose(float(total), want, rtol=1e-5)
    coef = min(1.0, 0.5 / (want + 1e-6))
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.cpu().numpy(), g * coef, rtol=1e-5, atol=1e-7)
