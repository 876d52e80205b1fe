"""Shared helpers for the nn tests: float64 central-difference gradient checks and small makers."""
from __future__ import annotations

import numpy as np

import blaze


def t64(a, requires_grad: bool = False):
    """A float64 blaze tensor from array-like ``a``."""
    return blaze.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def randn64(*shape, seed: int = 0, requires_grad: bool = True):
    """A float64 normal tensor from a NumPy seed (independent of blaze's generator)."""
    return t64(np.random.default_rng(seed).standard_normal(shape), requires_grad)


def _scalar(out, weights):
    if isinstance(out, (tuple, list)):
        return sum((o * w).sum() for o, w in zip(out, weights) if o is not None)
    return (out * weights[0]).sum()


def check_grad(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0):
    """Compare autograd gradients of ``fn(*inputs)`` with float64 central differences.

    Every input that is a float tensor with ``requires_grad`` is checked. The output (a tensor
    or a tuple of tensors) is contracted with fixed random weights so the whole Jacobian is
    exercised, not only its column sums. Raises AssertionError naming the input and the worst
    element.
    """
    inputs = list(inputs)
    targets = [i for i, x in enumerate(inputs) if isinstance(x, blaze.Tensor) and x.requires_grad]
    if not targets:
        raise ValueError("check_grad: no input requires grad")
    for i in targets:
        if inputs[i].dtype is not blaze.float64:
            raise ValueError(f"check_grad: input {i} must be float64, got {inputs[i].dtype}")
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    weights = [None if o is None else blaze.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
               for o in outs]
    analytic = blaze.autograd.grad(_scalar(out, weights), [inputs[i] for i in targets], allow_unused=True)
    for k, i in enumerate(targets):
        x = inputs[i]
        data = x._data  # perturb in place: a view shared by every op that reads x
        num = np.zeros(data.shape)
        # grad mode stays on: fn may itself call autograd.grad (double-backward checks)
        for idx in np.ndindex(*data.shape):
            orig = data[idx]
            data[idx] = orig + eps
            fp = _scalar(fn(*inputs), weights).item()
            data[idx] = orig - eps
            fm = _scalar(fn(*inputs), weights).item()
            data[idx] = orig
            num[idx] = (fp - fm) / (2 * eps)
        got = np.zeros(data.shape) if analytic[k] is None else analytic[k].detach().numpy()
        if not np.allclose(got, num, atol=atol, rtol=rtol):
            err = np.abs(got - num)
            j = np.unravel_index(np.argmax(err), err.shape)
            raise AssertionError(f"check_grad: input {i} (shape {list(x.shape)}): autograd {float(got[j])!r} vs numeric "
                                 f"{float(num[j])!r} at {tuple(int(v) for v in j)}; max abs err {err.max():.3g}")


def compare_devices(fn, shapes, rtol: float = 1e-5, atol: float = 1e-5, seed: int = 0):
    """fn(*tensors) on "cuda" matches cpu: the output (on cuda) and every input's gradient (on cuda)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    cpu = [blaze.tensor(a, requires_grad=True) for a in arrays]
    dev = [blaze.tensor(a).to("cuda").requires_grad_() for a in arrays]
    yc, yd = fn(*cpu), fn(*dev)
    assert yd.device.type == "cuda"
    np.testing.assert_allclose(yd.detach().cpu().numpy(), yc.detach().numpy(), rtol=rtol, atol=atol)
    w = rng.standard_normal(tuple(yc.shape)).astype(np.float32)
    (yc * blaze.tensor(w)).sum().backward()
    (yd * blaze.tensor(w).to("cuda")).sum().backward()
    for c, d in zip(cpu, dev):
        assert d.grad.device.type == "cuda"
        np.testing.assert_allclose(d.grad.cpu().numpy(), c.grad.numpy(), rtol=rtol, atol=atol)
