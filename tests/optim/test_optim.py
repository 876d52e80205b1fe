"""Optimizers vs PyTorch's published update rules, computed here in float64 NumPy."""
import itertools
import math

import numpy as np
import pytest

import blaze
from blaze.optim import SGD, Adagrad, Adam, AdamW, RMSprop

STEPS = 5


def _problem(seed=0, dtype=blaze.float64):
    """Two parameters and a fixed sequence of gradients (so the reference needs no autograd)."""
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [[rng.standard_normal(a.shape) for a in p0] for _ in range(STEPS)]
    params = [blaze.tensor(a, dtype=dtype).requires_grad_() for a in p0]
    return p0, grads, params


def _run(opt_cls, kw, dtype=blaze.float64, steps=STEPS):
    p0, grads, params = _problem(dtype=dtype)
    opt = opt_cls(params, **kw)
    for k in range(steps):
        for p, g in zip(params, grads[k]):
            p.grad = blaze.tensor(g, dtype=dtype)
        opt.step()
    return p0, grads, [p.detach().numpy().astype(np.float64) for p in params], opt


# -- references: the algorithm boxes of PyTorch's docs, one parameter at a time -------------------
def ref_sgd(p, gs, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    b = None
    for t, g in enumerate(gs, 1):
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def ref_adam(p, gs, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
             decoupled=False):
    m = v = vmax = np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v) if amsgrad else v
        # PyTorch's form: eps is added to sqrt(v_hat), i.e. after the bias correction of v
        p = p - lr / (1 - betas[0] ** t) * m / (np.sqrt(vmax) / math.sqrt(1 - betas[1] ** t) + eps)
    return p


def ref_rmsprop(p, gs, lr, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False):
    v = np.zeros_like(p)
    gavg = np.zeros_like(p)
    b = np.zeros_like(p)
    for g in gs:
        g = -g if maximize else g
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        vt = v
        if centered:
            gavg = alpha * gavg + (1 - alpha) * g
            vt = v - gavg ** 2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(vt) + eps)
    return p


def ref_adagrad(p, gs, lr, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False):
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(gs, 1):
        g = -g if maximize else g
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def _grid(**options):
    keys = list(options)
    return [dict(zip(keys, vals)) for vals in itertools.product(*options.values())]


CASES = (
    [(SGD, kw, ref_sgd) for kw in _grid(lr=[0.1], momentum=[0, 0.9], dampening=[0, 0.3], weight_decay=[0, 0.1],
                                        nesterov=[False, True], maximize=[False, True])
     if not (kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0))]
    + [(Adam, kw, ref_adam) for kw in _grid(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0, 0.1],
                                            amsgrad=[False, True], maximize=[False, True])]
    + [(AdamW, kw, lambda p, gs, **k: ref_adam(p, gs, decoupled=True, **k))
       for kw in _grid(lr=[0.01], weight_decay=[0.01, 0.3], amsgrad=[False, True], maximize=[False, True])]
    + [(RMSprop, kw, ref_rmsprop) for kw in _grid(lr=[0.01], alpha=[0.99, 0.7], weight_decay=[0, 0.1],
                                                 momentum=[0, 0.9], centered=[False, True], maximize=[False, True])]
    + [(Adagrad, kw, ref_adagrad) for kw in _grid(lr=[0.1], lr_decay=[0, 0.5], weight_decay=[0, 0.1],
                                                 initial_accumulator_value=[0, 0.2], maximize=[False, True])]
)


@pytest.mark.parametrize("opt_cls,kw,ref", CASES,
                         ids=[f"{c.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for c, kw, _ in CASES])
def test_update_rule_matches_formula(opt_cls, kw, ref):
    p0, grads, got, _ = _run(opt_cls, kw)
    for i, p in enumerate(p0):
        want = ref(p, [g[i] for g in grads], **kw)
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-14)


def test_adamw_default_weight_decay_differs_from_adam():
    assert AdamW([blaze.zeros(1, requires_grad=True)]).defaults["weight_decay"] == 1e-2
    assert Adam([blaze.zeros(1, requires_grad=True)]).defaults["weight_decay"] == 0


@pytest.mark.parametrize("dtype,rtol", [(blaze.float32, 1e-5), (blaze.dtypes.bfloat16, 2e-2), (blaze.float16, 2e-3)])
@pytest.mark.parametrize("opt_cls,kw,ref", [(SGD, dict(lr=0.1, momentum=0.9), ref_sgd),
                                            (Adam, dict(lr=0.01, amsgrad=True), ref_adam),
                                            (RMSprop, dict(lr=0.01, centered=True), ref_rmsprop),
                                            (Adagrad, dict(lr=0.1), ref_adagrad)])
def test_low_precision_params_keep_their_dtype(opt_cls, kw, ref, dtype, rtol):
    """float16/bfloat16 parameters keep their dtype; their state is float32 (what the fused kernels take)."""
    p0, grads, got, opt = _run(opt_cls, kw, dtype=dtype)
    for p in opt.param_groups[0]["params"]:
        assert p.dtype == dtype
    for name, v in opt.state[opt.param_groups[0]["params"][0]].items():
        assert v.dtype == blaze.float32, name
    # the reference starts from the rounded initial values and gradients
    for i, p in enumerate(p0):
        rp = blaze.tensor(p, dtype=dtype).to(blaze.float64).numpy()
        rg = [blaze.tensor(g[i], dtype=dtype).to(blaze.float64).numpy() for g in grads]
        np.testing.assert_allclose(got[i], ref(rp, rg, **kw), rtol=rtol, atol=rtol)


def test_step_skips_params_without_grad_and_bumps_version():
    a = blaze.ones(3, requires_grad=True)
    b = blaze.ones(3, requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = blaze.ones(3)
    v0 = a._version_counter
    opt.step()
    assert a._version_counter > v0
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(3))
    assert b not in opt.state and float(opt.state[a]["step"]) == 1.0


def test_step_is_a_real_training_step_and_closure_returns_loss():
    blaze.manual_seed(0)
    w = blaze.randn(4, requires_grad=True)
    opt = SGD([w], lr=0.1, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    first = float(opt.step(closure))
    for _ in range(30):
        last = float(opt.step(closure))
    assert last < 0.05 * first
    assert not w.grad.requires_grad


def test_zero_grad():
    w = blaze.ones(3, requires_grad=True)
    opt = SGD([w], lr=0.1)
    (w * 2).sum().backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g
    np.testing.assert_array_equal(g.numpy(), np.zeros(3))
    opt.zero_grad()
    assert w.grad is None


def test_param_groups_defaults_and_per_group_options():
    a, b = blaze.ones(2, requires_grad=True), blaze.ones(2, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g0["momentum"] == 0 and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    assert g1["params"] == [b] or g1["params"][0] is b
    a.grad, b.grad = blaze.ones(2), blaze.ones(2)
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), 0.9)
    np.testing.assert_allclose(b.detach().numpy(), 0.5)
    c = blaze.ones(1, requires_grad=True)
    opt.add_param_group({"params": [c], "lr": 0.01})
    assert opt.param_groups[2]["dampening"] == 0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 3


@pytest.mark.parametrize("make,msg", [
    (lambda p: SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda p: Adam(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: AdamW(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda p: RMSprop(p, alpha=-0.1), "Invalid alpha value: -0.1"),
    (lambda p: RMSprop(p, momentum=-1), "Invalid momentum value: -1"),
    (lambda p: Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda p: Adagrad(p, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda p: Adagrad(p, eps=-1), "Invalid epsilon value: -1"),
    (lambda p: SGD([{"params": p, "lr": -2}], lr=0.1), "Invalid learning rate: -2"),
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD(p + p, lr=0.1), "duplicate parameters"),
    (lambda p: SGD([p[0] * 2], lr=0.1), "non-leaf"),
])
def test_invalid_arguments_fail_early(make, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        make([blaze.ones(2, requires_grad=True)])


def test_type_errors():
    with pytest.raises(TypeError, match="iterable of Tensors"):
        SGD(blaze.ones(2, requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        SGD([np.ones(2)], lr=0.1)


# -- state dicts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("opt_cls,kw", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.01, amsgrad=True)),
                                        (AdamW, dict(lr=0.01)), (RMSprop, dict(momentum=0.5, centered=True)),
                                        (Adagrad, dict(lr_decay=0.1))])
def test_state_dict_round_trip_continues_identically(opt_cls, kw):
    _, grads, _, opt = _run(opt_cls, kw, steps=3)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sd["param_groups"][0]["params"] == [0, 1] and set(sd["state"]) == {0, 1}
    params = opt.param_groups[0]["params"]
    clones = [p.detach().clone().requires_grad_() for p in params]
    opt2 = opt_cls(clones, lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"])
    assert opt2.param_groups[0]["params"][0] is clones[0]
    for o, ps in ((opt, params), (opt2, clones)):
        for k in (3, 4):
            for p, g in zip(ps, grads[k]):
                p.grad = blaze.tensor(g, dtype=blaze.float64)
            o.step()
    for a, b in zip(params, clones):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # loaded state is a copy: stepping opt2 did not touch opt's buffers
    s1, s2 = opt.state[params[0]], opt2.state[clones[0]]
    for k in s1:
        assert s1[k] is not s2[k]


def test_load_state_dict_mismatch_leaves_optimizer_unchanged():
    a, b = blaze.ones(2, requires_grad=True), blaze.ones(3, requires_grad=True)
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = blaze.ones(2), blaze.ones(3)
    opt.step()
    before = opt.state_dict()
    other = SGD([a], lr=0.5)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(other.state_dict())
    two = SGD([{"params": [a]}, {"params": [b]}], lr=0.5)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two.state_dict())
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"] and opt.param_groups[0]["lr"] == 0.1
    assert after["state"][0]["momentum_buffer"] is before["state"][0]["momentum_buffer"]


def test_load_state_dict_casts_state_to_param_dtype():
    a = blaze.ones(2, dtype=blaze.float64, requires_grad=True)
    opt = Adam([a])
    a.grad = blaze.ones(2, dtype=blaze.float64)
    opt.step()
    b = blaze.ones(2, dtype=blaze.float32, requires_grad=True)
    opt2 = Adam([b])
    opt2.load_state_dict(opt.state_dict())
    st = opt2.state[b]
    assert st["exp_avg"].dtype == blaze.float32 and st["step"].dtype == blaze.float32
    assert float(st["step"]) == 1.0


def test_repr_lists_groups():
    r = repr(SGD([blaze.ones(1, requires_grad=True)], lr=0.1))
    assert r.startswith("SGD (") and "lr: 0.1" in r


# -- the multi-tensor seam: a backend's *_foreach primitive gets the whole group in one call --------
@pytest.mark.parametrize("opt_cls,kw,name", [
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), "sgd"),
    (SGD, dict(lr=0.1), "sgd"),
    (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1), "adam"),
    (AdamW, dict(lr=0.01, maximize=True), "adam"),
    (RMSprop, dict(centered=True, momentum=0.5), "rmsprop"),
    (Adagrad, dict(lr_decay=0.01), "adagrad")])
def test_multi_tensor_kernels_match_numpy_path(opt_cls, kw, name, monkeypatch):
    """Route the cpu device's foreach primitive through blaze/kernels/optim.py's multi-tensor
    kernels (Triton interpreter on host buffers, one launch for every parameter), as the cuda
    device does, and compare with the NumPy primitives (the reference)."""
    from blaze.devices.cpu.backend import NumpyBackend
    from blaze.kernels import optim as kopt
    from blaze.kernels.buffer import HostBuffer
    calls = []

    def wrap(o):
        return [HostBuffer(a.reshape(-1)) for a in o] if isinstance(o, list) else o

    def multi(self, *args, **kwargs):
        calls.append(len(args[0]))
        n = {"sgd": 3, "adam": 5, "rmsprop": 3, "adagrad": 4}[name]       # the rest are keywords of *_multi
        named = {"adam": ("max_exp_avg_sqs",), "rmsprop": ("grad_avgs", "momentum_buffers")}.get(name, ())
        kwargs.update({k: wrap(v) for k, v in zip(named, args[n:])})
        return getattr(kopt, name + "_multi")(*map(wrap, args[:n]), **kwargs)
    _, _, want, _ = _run(opt_cls, kw, dtype=blaze.float32)
    monkeypatch.setattr(NumpyBackend, name + "_foreach", multi)
    _, _, got, opt = _run(opt_cls, kw, dtype=blaze.float32)
    assert len(got) > 1 and calls and all(n == len(got) for n in calls)   # every parameter in one call a step
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("opt_cls,kw", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.01, amsgrad=True)),
                                        (RMSprop, dict(centered=True)), (Adagrad, dict())])
def test_cuda_device_params_match_cpu(opt_cls, kw):
    """On the cuda device (emulated by the Triton interpreter in CI) parameters and state stay there."""
    _, grads, want, _ = _run(opt_cls, kw, dtype=blaze.float32)
    p0, grads, _ = _problem()
    params = [blaze.tensor(a, dtype=blaze.float32, device="cuda").requires_grad_() for a in p0]
    opt = opt_cls(params, **kw)
    for k in range(STEPS):
        for p, g in zip(params, grads[k]):
            p.grad = blaze.tensor(g, dtype=blaze.float32, device="cuda")
        opt.step()
    for p, w in zip(params, want):
        assert p.device.type == "cuda"
        np.testing.assert_allclose(p.detach().cpu().numpy(), w, rtol=1e-6, atol=1e-7)
    assert all(v.device.type == "cuda" for k, v in opt.state[params[0]].items() if k != "step")


@pytest.mark.parametrize("opt_cls,kw", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, dict(lr=0.01, amsgrad=True)),
                                        (RMSprop, dict(centered=True, momentum=0.5)), (Adagrad, dict())])
def test_float64_cuda_params_take_one_counted_host_step_each(opt_cls, kw):
    """The kernels have no float64 path: the cpu primitive runs on host copies, and says so."""
    from blaze import _flags
    _, grads, want, _ = _run(opt_cls, kw, dtype=blaze.float64)
    p0, grads, _ = _problem()
    params = [blaze.tensor(a, dtype=blaze.float64, device="cuda").requires_grad_() for a in p0]
    opt = opt_cls(params, **kw)
    _flags.FALLBACKS.clear()
    for k in range(STEPS):
        for p, g in zip(params, grads[k]):
            p.grad = blaze.tensor(g, dtype=blaze.float64, device="cuda")
        opt.step()
    assert _flags.FALLBACKS["optimizer_host_update"] == STEPS * len(params)
    for p, w in zip(params, want):
        assert p.device.type == "cuda" and p.dtype == blaze.float64
        np.testing.assert_allclose(p.detach().cpu().numpy(), w, rtol=1e-12, atol=1e-12)
