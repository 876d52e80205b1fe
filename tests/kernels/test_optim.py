"""blaze.kernels.optim vs a float64 NumPy transcription of PyTorch's single-tensor SGD / Adam /
AdamW / RMSprop / Adagrad (torch/optim/sgd.py, adam.py, rmsprop.py, adagrad.py), several steps,
every option."""
import numpy as np
import pytest

from blaze.kernels import optim as O
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err
from tests.kernels.test_index import strided

N = 1823
STEPS = 4


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False):
    p, buf = p.astype(np.float64), None
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else buf * momentum + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p, buf


def ref_adam(p, grads, lr, betas, eps, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
    p = p.astype(np.float64)
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = m + (1 - betas[0]) * (g - m)
        v = v * betas[1] + (1 - betas[1]) * g * g
        bc1, bc2 = 1 - betas[0] ** step, 1 - betas[1] ** step
        if amsgrad:
            vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(bc2) + eps
        p = p - lr / bc1 * m / denom
    return p, m, v


def data(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(N).astype(dtype)
    grads = [rng.standard_normal(N).astype(dtype) for _ in range(STEPS)]
    return p, grads


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-2, maximize=True),
]


@pytest.mark.parametrize("opts", SGD_CASES)
def test_sgd(dev, opts):
    p, grads = data()
    pb = dev.put(p)
    buf = dev.put(np.full(N, np.nan, np.float32))     # poisoned: the first step must initialise it
    for step, g in enumerate(grads):
        assert O.sgd_step(pb, dev.put(g), buf if opts.get("momentum") else None, first_step=step == 0, **opts) is pb
    ref_p, ref_buf = ref_sgd(p, grads, **opts)
    assert rel_err(dev.get(pb), ref_p) < 1e-6
    if opts.get("momentum"):
        assert rel_err(dev.get(buf), ref_buf) < 1e-6


ADAM_CASES = [
    dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8),
    dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, amsgrad=True, maximize=True),
    dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, decoupled=True),
    dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, decoupled=True, amsgrad=True),
]


@pytest.mark.parametrize("capturable", [False, True])
@pytest.mark.parametrize("opts", ADAM_CASES)
def test_adam(dev, opts, capturable):
    """capturable: the count is a device buffer the step increments, bias corrections in the kernel."""
    p, grads = data(seed=1)
    # smaller second steps make amsgrad's running max differ from v
    grads = [g * s for g, s in zip(grads, (2.0, 0.5, 1.0, 0.25))]
    pb, m, v = dev.put(p), dev.put(np.zeros(N, np.float32)), dev.put(np.zeros(N, np.float32))
    vmax = dev.put(np.zeros(N, np.float32))
    kw = {k: val for k, val in opts.items() if k != "decoupled"}
    step_fn = O.adamw_step if opts.get("decoupled") else O.adam_step
    if not opts.get("decoupled"):
        kw.setdefault("weight_decay", 0.0)
    count = dev.put(np.zeros((), np.float32))
    for step, g in enumerate(grads, 1):
        step_fn(pb, dev.put(g), m, v, count if capturable else step, max_exp_avg_sq=vmax, **kw)
    ref_p, ref_m, ref_v = ref_adam(p, grads, **opts)
    assert dev.get(count) == (len(grads) if capturable else 0)
    assert rel_err(dev.get(pb), ref_p) < 1e-6
    assert rel_err(dev.get(m), ref_m) < 1e-6 and rel_err(dev.get(v), ref_v) < 1e-6


def test_adamw_default_decay_and_half_params(dev):
    # fp16/bf16 params and grads, fp32 state: each step rounds p once to the param dtype
    for dtype in (np.float16, BF16):
        p, grads = data(dtype, seed=2)
        pb, m, v = dev.put(p), dev.put(np.zeros(N, np.float32)), dev.put(np.zeros(N, np.float32))
        for step, g in enumerate(grads, 1):
            O.adamw_step(pb, dev.put(g), m, v, step, lr=1e-2)
        ref_p, _, _ = ref_adam(p.astype(np.float64), [g.astype(np.float64) for g in grads], 1e-2,
                               (0.9, 0.999), 1e-8, weight_decay=1e-2, decoupled=True)
        assert rel_err(dev.get(pb), ref_p) < RTOL[str(np.dtype(dtype))]


def test_make_problem_runs(dev):
    t = tunables()["optim"]
    run = t.make_problem(dict(numel=300, dtype="float32"), lambda shape, dt: dev.put(np.zeros(shape, dt)))
    run(t.configs[0])


def test_errors(dev):
    p, g = dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        O.sgd_step(p, g, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        O.sgd_step(p, g, dev.put(np.zeros(8, np.float32)), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="needs a float32 momentum_buffer"):
        O.sgd_step(p, g, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grad: shape"):
        O.sgd_step(p, dev.put(np.zeros(7, np.float32)), lr=0.1)
    with pytest.raises(TypeError, match="exp_avg: dtype float16"):
        O.adam_step(p, g, dev.put(np.zeros(8, np.float16)), dev.put(np.zeros(8, np.float32)), 1)
    with pytest.raises(ValueError, match="step counts from 1"):
        O.adam_step(p, g, dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32)), 0)
    with pytest.raises(ValueError, match="needs a float32 max_exp_avg_sq"):
        O.adam_step(p, g, dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32)), 1, amsgrad=True)
    with pytest.raises(ValueError, match="Invalid beta"):
        O.adam_step(p, g, dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32)), 1, betas=(1.0, 0.9))
    p2 = dev.put(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        O.sgd_step(strided(dev, np.zeros((4, 4), np.float32), lambda a: a.T), p2, lr=0.1)
    with pytest.raises(TypeError, match="param: dtype int32"):
        O.sgd_step(dev.put(np.zeros(8, np.int32)), g, lr=0.1)


def ref_rmsprop(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    p = p.astype(np.float64)
    sq, ga, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = ga + (1 - alpha) * (g - ga)
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p, sq, ga, buf


def ref_adagrad(p, grads, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, initial=0.0, maximize=False):
    p = p.astype(np.float64)
    acc = np.full_like(p, initial)
    for step, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        acc = acc + g * g
        p = p - lr / (1 + (step - 1) * lr_decay) * g / (np.sqrt(acc) + eps)
    return p, acc


RMSPROP_CASES = [
    dict(lr=1e-2),
    dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=0.1),
    dict(lr=1e-2, momentum=0.9, maximize=True),
    dict(lr=1e-2, alpha=0.95, centered=True, momentum=0.5, weight_decay=1e-2),
]


@pytest.mark.parametrize("opts", RMSPROP_CASES)
def test_rmsprop(dev, opts):
    p, grads = data(seed=3)
    pb = dev.put(p)
    sq, ga, buf = (dev.put(np.zeros(N, np.float32)) for _ in range(3))
    for g in grads:
        assert O.rmsprop_step(pb, dev.put(g), sq, grad_avg=ga, momentum_buffer=buf, **opts) is pb
    ref_p, ref_sq, ref_ga, ref_buf = ref_rmsprop(p, grads, **opts)
    assert rel_err(dev.get(pb), ref_p) < 1e-6 and rel_err(dev.get(sq), ref_sq) < 1e-6
    if opts.get("centered"):
        assert rel_err(dev.get(ga), ref_ga) < 1e-6
    if opts.get("momentum"):
        assert rel_err(dev.get(buf), ref_buf) < 1e-6


ADAGRAD_CASES = [
    dict(lr=1e-2),
    dict(lr=1e-1, lr_decay=0.1, weight_decay=0.1, initial=0.5),
    dict(lr=1e-2, eps=1e-6, maximize=True, initial=0.1),
]


@pytest.mark.parametrize("capturable", [False, True])
@pytest.mark.parametrize("opts", ADAGRAD_CASES)
def test_adagrad(dev, opts, capturable):
    p, grads = data(seed=4)
    pb, acc = dev.put(p), dev.put(np.full(N, opts.get("initial", 0.0), np.float32))
    kw = {k: v for k, v in opts.items() if k != "initial"}
    count = dev.put(np.zeros(1, np.float32))
    for step, g in enumerate(grads, 1):
        assert O.adagrad_step(pb, dev.put(g), acc, count if capturable else step, **kw) is pb
    assert dev.get(count)[0] == (len(grads) if capturable else 0)
    ref_p, ref_acc = ref_adagrad(p, grads, **opts)
    assert rel_err(dev.get(pb), ref_p) < 1e-6 and rel_err(dev.get(acc), ref_acc) < 1e-6


def test_rmsprop_adagrad_half_params(dev):
    for dtype in (np.float16, BF16):
        p, grads = data(dtype, seed=5)
        p64, g64 = p.astype(np.float64), [g.astype(np.float64) for g in grads]
        pb, sq = dev.put(p), dev.put(np.zeros(N, np.float32))
        for g in grads:
            O.rmsprop_step(pb, dev.put(g), sq, lr=1e-2)
        assert rel_err(dev.get(pb), ref_rmsprop(p64, g64, 1e-2)[0]) < RTOL[str(np.dtype(dtype))]
        pb, acc = dev.put(p), dev.put(np.zeros(N, np.float32))
        for step, g in enumerate(grads, 1):
            O.adagrad_step(pb, dev.put(g), acc, step, lr=1e-2)
        assert rel_err(dev.get(pb), ref_adagrad(p64, g64, 1e-2)[0]) < RTOL[str(np.dtype(dtype))]


def test_rmsprop_adagrad_errors(dev):
    p, g = dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32))
    z = lambda n=8: dev.put(np.zeros(n, np.float32))  # noqa: E731
    with pytest.raises(ValueError, match="Invalid alpha"):
        O.rmsprop_step(p, g, z(), alpha=-0.1)
    with pytest.raises(ValueError, match="centered=True needs a float32 grad_avg"):
        O.rmsprop_step(p, g, z(), centered=True)
    with pytest.raises(ValueError, match="momentum > 0 needs a float32 momentum_buffer"):
        O.rmsprop_step(p, g, z(), momentum=0.9)
    with pytest.raises(ValueError, match="square_avg: shape"):
        O.rmsprop_step(p, g, z(7))
    with pytest.raises(TypeError, match="state_sum: dtype float16"):
        O.adagrad_step(p, g, dev.put(np.zeros(8, np.float16)), 1)
    with pytest.raises(ValueError, match="step counts from 1"):
        O.adagrad_step(p, g, z(), 0)
    with pytest.raises(ValueError, match="Invalid lr_decay"):
        O.adagrad_step(p, g, z(), 1, lr_decay=-1.0)


def test_capturable_step_count_errors(dev):
    p, g = dev.put(np.zeros(8, np.float32)), dev.put(np.zeros(8, np.float32))
    z = lambda n=8, dt=np.float32: dev.put(np.zeros(n, dt))  # noqa: E731
    with pytest.raises(TypeError, match="step: dtype float16"):
        O.adagrad_step(p, g, z(), z(1, np.float16))
    with pytest.raises(ValueError, match="a capturable step count has one element"):
        O.adam_step(p, g, z(), z(), z(2))
    with pytest.raises(ValueError, match="steps: 1 tensors for 2 params"):
        O.adam_multi([p, z()], [g, z()], [z(), z()], [z(), z()], [z(1)])
