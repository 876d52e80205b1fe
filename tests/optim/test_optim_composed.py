"""Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and Adafactor vs their published update rules (the
papers' algorithms, with PyTorch's documented eps placement), computed here in float64 NumPy."""
import itertools
import math

import numpy as np
import pytest

import blaze
from blaze.optim import ASGD, Adadelta, Adafactor, Adamax, NAdam, RAdam, Rprop

STEPS = 6
SHAPES = [(3, 4), (5,), (2, 3, 2)]  # a matrix, a vector and a stack of matrices (Adafactor's three cases)


@pytest.fixture
def float64_default():
    """PyTorch keeps scalar state (ASGD's eta and mu, NAdam's mu_product) in the default dtype;
    float64 here, so the reference can be compared to 1e-12."""
    old = blaze.get_default_dtype()
    blaze.set_default_dtype(blaze.float64)
    yield
    blaze.set_default_dtype(old)


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    return p0, grads


def _run(opt_cls, kw, dtype=blaze.float64, device="cpu", steps=STEPS, n_params=len(SHAPES)):
    p0, grads = _problem()
    p0, grads = p0[:n_params], [g[:n_params] for g in grads]
    params = [blaze.tensor(a, dtype=dtype, device=device).requires_grad_() for a in p0]
    opt = opt_cls(params, **kw)
    for k in range(steps):
        for p, g in zip(params, grads[k]):
            p.grad = blaze.tensor(g, dtype=dtype, device=device)
        opt.step()
    return p0, grads, [p.detach().cpu().to(blaze.float64).numpy() for p in params], opt


def _grad(p, g, maximize, weight_decay):
    g = -g if maximize else g
    return g + weight_decay * p


def _decay(p, g, lr, weight_decay, decoupled, maximize):
    """AdamW-style p *= 1 - lr * wd when decoupled, else the L2 term on the gradient."""
    g = -g if maximize else g
    if decoupled:
        return p * (1 - lr * weight_decay), g
    return p, g + weight_decay * p


# -- references ----------------------------------------------------------------------------------
def ref_adadelta(p, gs, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False):
    """Zeiler (2012), Algorithm 1, with a learning rate on the update."""
    eg2 = np.zeros_like(p)
    edx2 = np.zeros_like(p)
    for g in gs:
        g = _grad(p, g, maximize, weight_decay)
        eg2 = rho * eg2 + (1 - rho) * g ** 2
        dx = -np.sqrt(edx2 + eps) / np.sqrt(eg2 + eps) * g
        edx2 = rho * edx2 + (1 - rho) * dx ** 2
        p = p + lr * dx
    return p


def ref_adamax(p, gs, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    """Kingma & Ba (2014), Algorithm 2 (eps inside the max, as PyTorch documents)."""
    m = np.zeros_like(p)
    u = np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        g = _grad(p, g, maximize, weight_decay)
        m = betas[0] * m + (1 - betas[0]) * g
        u = np.maximum(betas[1] * u, np.abs(g) + eps)
        p = p - lr / (1 - betas[0] ** t) * m / u
    return p


def ref_nadam(p, gs, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
              decoupled_weight_decay=False, maximize=False):
    """Dozat (2016) with the momentum schedule mu_t = beta1 (1 - 0.5 * 0.96 ** (t psi))."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    prod = 1.0
    for t, g in enumerate(gs, 1):
        p, g = _decay(p, g, lr, weight_decay, decoupled_weight_decay, maximize)
        mu = betas[0] * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = betas[0] * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        prod *= mu
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        denom = np.sqrt(v / (1 - betas[1] ** t)) + eps
        p = p - lr * (1 - mu) / (1 - prod) * g / denom - lr * mu_next / (1 - prod * mu_next) * m / denom
    return p


def ref_radam(p, gs, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
              maximize=False):
    """Liu et al. (2019), Algorithm 2."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    rho_inf = 2 / (1 - betas[1]) - 1
    for t, g in enumerate(gs, 1):
        p, g = _decay(p, g, lr, weight_decay, decoupled_weight_decay, maximize)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        rho_t = rho_inf - 2 * t * betas[1] ** t / (1 - betas[1] ** t)
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            ell = math.sqrt(1 - betas[1] ** t) / (np.sqrt(v) + eps)
            p = p - lr * m_hat * r * ell
        else:
            p = p - lr * m_hat
    return p


def ref_asgd(p, gs, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, maximize=False):
    """Polyak & Juditsky averaging with Bottou's step size eta_t = lr / (1 + lambd lr t) ** alpha.
    Returns the parameter and its running average."""
    eta, mu, ax = lr, 1.0, np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        g = _grad(p, g, maximize, weight_decay)
        p = p * (1 - lambd * eta) - eta * g
        ax = p.copy() if mu == 1 else ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
    return p, ax


def ref_rprop(p, gs, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    """Riedmiller & Braun (1993), the iRprop- variant (no step back; a sign change zeroes the gradient)."""
    step = np.full_like(p, lr)
    prev = np.zeros_like(p)
    for g in gs:
        g = -g if maximize else g.copy()
        s = g * prev
        step = np.where(s > 0, np.minimum(step * etas[1], step_sizes[1]),
                        np.where(s < 0, np.maximum(step * etas[0], step_sizes[0]), step))
        g = np.where(s < 0, 0.0, g)
        p = p - np.sign(g) * step
        prev = g
    return p


def ref_adafactor(p, gs, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False):
    """Shazeer & Stern (2018), Algorithms 4/5 without momentum, in PyTorch's documented form:
    relative step rho_t = min(lr, 1/sqrt(t)), beta2_t = 1 - t ** beta2_decay, update clipping d."""
    eps1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    factored = p.ndim > 1
    r = np.zeros(p.shape[:-1] + (1,)) if factored else None
    c = np.zeros(p.shape[:-2] + (1, p.shape[-1])) if factored else None
    v = np.zeros_like(p)
    rms = lambda x: np.sqrt(np.mean(x * x))  # noqa: E731
    for t, g in enumerate(gs, 1):
        g = -g if maximize else g
        w = t ** beta2_decay
        alpha = max(eps[1], rms(p)) * min(lr, 1 / math.sqrt(t))
        p = p * (1 - lr * weight_decay)
        if factored:
            r = (1 - w) * r + w * np.mean(g * g, axis=-1, keepdims=True)
            c = (1 - w) * c + w * np.mean(g * g, axis=-2, keepdims=True)
            vhat = r * c / np.maximum(np.mean(r, axis=-2, keepdims=True), eps1)
        else:
            v = (1 - w) * v + w * g * g
            vhat = v
        u = g / np.sqrt(np.maximum(vhat, eps1 * eps1))
        p = p - alpha * u / max(1.0, rms(u) / d)
    return p


def _grid(**options):
    keys = list(options)
    return [dict(zip(keys, vals)) for vals in itertools.product(*options.values())]


CASES = (
    [(Adadelta, kw, ref_adadelta) for kw in _grid(lr=[1.0, 0.3], rho=[0.9, 0.5], weight_decay=[0, 0.1],
                                                 maximize=[False, True])]
    + [(Adamax, kw, ref_adamax) for kw in _grid(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.8)], eps=[1e-8, 0.1],
                                               weight_decay=[0, 0.1], maximize=[False, True])]
    + [(NAdam, kw, ref_nadam) for kw in _grid(lr=[0.01], weight_decay=[0, 0.1], decoupled_weight_decay=[False, True],
                                             momentum_decay=[4e-3, 0.1], maximize=[False, True])]
    # betas[1] = 0.5 makes rho_t > 5 from step 4 on, so both branches of the rectification run
    + [(RAdam, kw, ref_radam) for kw in _grid(lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.5)], weight_decay=[0, 0.1],
                                             decoupled_weight_decay=[False, True], maximize=[False, True])]
    + [(ASGD, kw, lambda p, gs, **k: ref_asgd(p, gs, **k)[0])
       for kw in _grid(lr=[0.05], lambd=[1e-4, 0.3], alpha=[0.75, 0.5], t0=[1e6, 2], weight_decay=[0, 0.1],
                       maximize=[False, True])]
    + [(Rprop, kw, ref_rprop) for kw in _grid(lr=[0.05], etas=[(0.5, 1.2), (0.3, 2.0)],
                                             step_sizes=[(1e-6, 50), (0.02, 0.08)], maximize=[False, True])]
    + [(Adafactor, kw, ref_adafactor) for kw in _grid(lr=[0.01, 0.5], beta2_decay=[-0.8, -0.3],
                                                     eps=[(None, 1e-3), (1e-3, 0.5)], d=[1.0, 0.5 + 1.0],
                                                     weight_decay=[0, 0.1], maximize=[False, True])]
)


@pytest.mark.parametrize("opt_cls,kw,ref", CASES,
                         ids=[f"{c.__name__}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for c, kw, _ in CASES])
def test_update_rule_matches_formula(opt_cls, kw, ref, float64_default):
    p0, grads, got, _ = _run(opt_cls, kw)
    for i, p in enumerate(p0):
        np.testing.assert_allclose(got[i], ref(p, [g[i] for g in grads], **kw), rtol=1e-11, atol=1e-13)


def test_asgd_average_matches_formula(float64_default):
    kw = dict(lr=0.05, lambd=0.01, t0=2)
    p0, grads, _, opt = _run(ASGD, kw)
    for i, p in enumerate(opt.param_groups[0]["params"]):
        _, want_ax = ref_asgd(p0[i], [g[i] for g in grads], **kw)
        np.testing.assert_allclose(opt.state[p]["ax"].numpy(), want_ax, rtol=1e-12, atol=1e-14)


def test_rprop_really_takes_both_branches():
    """The fixed gradients above flip sign often; check the reference exercised growth and shrinkage."""
    p0, grads, _, opt = _run(Rprop, dict(lr=0.05))
    sizes = opt.state[opt.param_groups[0]["params"][0]]["step_size"].numpy()
    assert (sizes > 0.05).any() and (sizes < 0.05).any()


def test_adafactor_state_is_factored():
    _, _, _, opt = _run(Adafactor, {})
    st = [opt.state[p] for p in opt.param_groups[0]["params"]]
    assert st[0]["row_var"].shape == (3, 1) and st[0]["col_var"].shape == (1, 4) and "variance" not in st[0]
    assert st[1]["variance"].shape == (5,) and "row_var" not in st[1]
    assert st[2]["row_var"].shape == (2, 3, 1) and st[2]["col_var"].shape == (2, 1, 2)


# -- state dicts, devices, dtypes, arguments --------------------------------------------------------
STATE_KEYS = [
    (Adadelta, dict(weight_decay=0.1), {"step", "square_avg", "acc_delta"}),
    (Adamax, dict(), {"step", "exp_avg", "exp_inf"}),
    (NAdam, dict(decoupled_weight_decay=True, weight_decay=0.1), {"step", "mu_product", "exp_avg", "exp_avg_sq"}),
    (RAdam, dict(betas=(0.8, 0.5)), {"step", "exp_avg", "exp_avg_sq"}),
    (ASGD, dict(t0=2, lambd=0.1), {"step", "eta", "mu", "ax"}),
    (Rprop, dict(), {"step", "prev", "step_size"}),
    (Adafactor, dict(weight_decay=0.1), {"step", "row_var", "col_var"}),
]


@pytest.mark.parametrize("opt_cls,kw,keys", STATE_KEYS, ids=[c[0].__name__ for c in STATE_KEYS])
def test_state_dict_layout_and_round_trip(opt_cls, kw, keys, tmp_path, float64_default):
    """Resuming is bit-exact. (Under a float32 default it is not for NAdam / ASGD, in PyTorch too:
    load_state_dict casts their float32 scalar state to the parameter's dtype.)"""
    p0, grads, _, opt = _run(opt_cls, kw, steps=3)
    sd = opt.state_dict()
    assert set(sd["state"][0]) == keys and float(sd["state"][0]["step"]) == 3.0
    assert sd["param_groups"][0]["params"] == [0, 1, 2] and "foreach" in sd["param_groups"][0]
    blaze.save(sd, tmp_path / "o.ckpt")
    params = opt.param_groups[0]["params"]
    clones = [p.detach().clone().requires_grad_() for p in params]
    opt2 = opt_cls(clones)
    opt2.load_state_dict(blaze.load(tmp_path / "o.ckpt"))
    for o, ps in ((opt, params), (opt2, clones)):
        for k in (3, 4, 5):
            for p, g in zip(ps, grads[k]):
                p.grad = blaze.tensor(g, dtype=blaze.float64)
            o.step()
    for a, b in zip(params, clones):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


CUDA_CASES = [(c, kw) for c, kw, _ in STATE_KEYS]
# Under the Triton interpreter every composed op is a launch (~50 ms on a loaded 2-core machine):
# one matrix, two steps (enough for Rprop's sign history and NAdam's mu product) keep each run ~3 s.
CUDA_RUN = dict(steps=2, n_params=1)


@pytest.mark.parametrize("opt_cls,kw", CUDA_CASES, ids=[c[0].__name__ for c in CUDA_CASES])
def test_cuda_device_matches_cpu(opt_cls, kw):
    """The same composed ops on the cuda device (the Triton interpreter in CI) give the cpu result,
    and the tensor state stays on the device."""
    _, _, want, _ = _run(opt_cls, kw, dtype=blaze.float32, **CUDA_RUN)
    _, _, got, opt = _run(opt_cls, kw, dtype=blaze.float32, device="cuda", **CUDA_RUN)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    p = opt.param_groups[0]["params"][0]
    assert p.device.type == "cuda"
    assert all(v.device.type == "cuda" for k, v in opt.state[p].items() if k not in ("step", "eta", "mu", "mu_product"))


@pytest.mark.parametrize("opt_cls,kw", CUDA_CASES, ids=[c[0].__name__ for c in CUDA_CASES])
def test_half_params_on_cuda_keep_their_dtype(opt_cls, kw):
    """float16 parameters: state like the parameter (PyTorch's zeros_like), scalar state float32,
    and the result within float16 rounding of the float32 run."""
    if opt_cls in (NAdam, RAdam):
        # eps=1e-8 is 0 in float16 and (1 - beta2) * g*g (beta2=0.999) underflows for |g| < 0.008,
        # giving g / 0 = inf, in PyTorch as here; with beta2=0.9 the second moment stays representable
        # for this data's gradients and eps=1e-3 is above float16's subnormals
        kw = dict(kw, eps=1e-3, betas=(0.9, 0.9))
    _, _, want, _ = _run(opt_cls, kw, dtype=blaze.float32, **CUDA_RUN)
    _, _, got, opt = _run(opt_cls, kw, dtype=blaze.float16, device="cuda", **CUDA_RUN)
    p = opt.param_groups[0]["params"][0]
    assert p.dtype == blaze.float16
    for k, v in opt.state[p].items():
        assert v.dtype == (blaze.float32 if k in ("step", "eta", "mu", "mu_product") else blaze.float16), k
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=3e-2, atol=3e-2)


def test_scalar_state_is_float32_under_the_float32_default():
    _, _, _, opt = _run(ASGD, {}, steps=1)
    st = opt.state[opt.param_groups[0]["params"][0]]
    assert st["step"].dtype == st["eta"].dtype == st["mu"].dtype == blaze.float32
    assert float(st["eta"]) == float(np.float32(1e-2 / (1 + 1e-4 * 1e-2) ** 0.75))


def test_step_skips_params_without_grad_and_returns_closure_loss():
    a, b = blaze.ones(3, requires_grad=True), blaze.ones(3, requires_grad=True)
    opt = RAdam([a, b], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss
    v0 = a._version_counter
    assert float(opt.step(closure)) == 3.0
    assert a._version_counter > v0 and b not in opt.state
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(3))


@pytest.mark.parametrize("make,msg", [
    (lambda p: Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
    (lambda p: Adadelta(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: Adadelta(p, eps=-1), "Invalid epsilon value: -1"),
    (lambda p: Adamax(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (lambda p: Adamax(p, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda p: NAdam(p, momentum_decay=-1), "Invalid momentum_decay value: -1"),
    (lambda p: RAdam(p, betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
    (lambda p: ASGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: Rprop(p, etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
    (lambda p: Adafactor(p, d=0.5), "Clipping threshold d should be >= 1 but is: 0.5"),
    (lambda p: Adafactor(p, beta2_decay=0.1), "beta2_decay should be <= 0 but is: 0.1"),
    (lambda p: Adafactor(p, eps=(-1, 1e-3)), "epsilon1 should be >= 0 but is: -1"),
    (lambda p: Adafactor(p, lr=-1), "Learning rate should be >= 0 but is: -1"),
    (lambda p: RAdam([{"params": p, "lr": -2}]), "Invalid learning rate: -2"),
])
def test_invalid_arguments_fail_early(make, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        make([blaze.ones(2, requires_grad=True)])


def test_differentiable_is_refused_not_ignored():
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        NAdam([blaze.ones(2, requires_grad=True)], differentiable=True)


def test_pytorch_defaults():
    p = [blaze.ones(2, requires_grad=True)]
    assert Adadelta(p).defaults["lr"] == 1.0 and Adamax(p).defaults["lr"] == 2e-3
    assert NAdam(p).defaults["momentum_decay"] == 4e-3 and RAdam(p).defaults["decoupled_weight_decay"] is False
    assert ASGD(p).defaults["t0"] == 1e6 and Rprop(p).defaults["step_sizes"] == (1e-6, 50)
    assert Adafactor(p).defaults["eps"] == (None, 1e-3) and Adafactor(p).defaults["beta2_decay"] == -0.8
