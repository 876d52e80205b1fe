"""The oracle: forward vs a NumPy float64 reference, gradients vs central finite differences.

``check(fn, ref, *inputs)`` runs ``fn`` on blaze float64 tensors and ``ref`` on the same
NumPy arrays, compares, then checks every gradient of ``sum(fn(...) * w)`` (random ``w``)
against central differences with step 1e-6.
"""
import numpy as np

import blaze

RNG = np.random.default_rng(0)


def arr(*shape, low=-1.0, high=1.0, positive=False):
    a = RNG.uniform(low, high, size=shape)
    if positive:
        a = np.abs(a) + 0.5
    return a


def _to_tensors(inputs, grad):
    out = []
    for x in inputs:
        if isinstance(x, np.ndarray) and x.dtype == np.float64:
            out.append(blaze.tensor(x, dtype=blaze.float64, requires_grad=grad))
        elif isinstance(x, np.ndarray):
            out.append(blaze.tensor(x))
        else:
            out.append(x)
    return out


def _flat_out(y):
    if isinstance(y, (tuple, list)):
        return [o for o in y]
    return [y]


def check(fn, ref, *inputs, atol=1e-6, rtol=1e-6, grad=True, grad_atol=1e-5, eps=1e-6):
    """Forward against ``ref`` and (if ``grad``) gradients against finite differences."""
    ts = _to_tensors(inputs, grad)
    out = _flat_out(fn(*ts))
    expected = _flat_out(ref(*inputs))
    assert len(out) == len(expected)
    for o, e in zip(out, expected):
        e = np.asarray(e)
        assert tuple(o.shape) == e.shape, f"shape {tuple(o.shape)} != {e.shape}"
        np.testing.assert_allclose(o.detach().numpy().astype(np.float64), e.astype(np.float64), atol=atol, rtol=rtol)
    if not grad:
        return
    diff = [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray) and x.dtype == np.float64]
    if not diff:
        return
    float_outs = [k for k, o in enumerate(out) if o.dtype.is_floating_point and o.requires_grad]
    weights = [RNG.standard_normal(tuple(out[k].shape)) for k in float_outs]

    def loss_np(xs):
        ys = _flat_out(fn(*_to_tensors(xs, False)))
        return sum(float((ys[k].detach().numpy() * w).sum()) for k, w in zip(float_outs, weights))

    total = None
    for k, w in zip(float_outs, weights):
        term = (out[k] * blaze.tensor(w, dtype=blaze.float64)).sum()
        total = term if total is None else total + term
    if total is None:
        return
    grads = blaze.autograd.grad(total, [ts[i] for i in diff], allow_unused=True)
    for i, g in zip(diff, grads):
        x = inputs[i]
        num = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            xp = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
            xm = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
            xp[i][idx] += eps
            xm[i][idx] -= eps
            num[idx] = (loss_np(xp) - loss_np(xm)) / (2 * eps)
        got = np.zeros_like(x) if g is None else g.numpy()
        np.testing.assert_allclose(got, num, atol=grad_atol, rtol=1e-4, err_msg=f"gradient of input {i}")
