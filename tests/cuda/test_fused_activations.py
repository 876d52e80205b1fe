"""F.gelu (both forms) and F.silu run as one fused elementwise kernel forward on cuda."""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze.kernels import elementwise as _ew


@pytest.mark.parametrize("name,fn,op", [
    ("gelu", F.gelu, "gelu"),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), "gelu_tanh"),
    ("silu", F.silu, "silu"),
])
def test_one_fused_launch_forward_and_cpu_equal(monkeypatch, name, fn, op):
    calls = []
    real = _ew.unary
    monkeypatch.setattr(_ew, "unary", lambda o, *a, **k: calls.append(o) or real(o, *a, **k))
    x = blaze.randn(4, 9, dtype=blaze.float64)
    xc = x.float().cuda().requires_grad_()
    y = fn(xc)
    assert calls == [op]
    (g,) = blaze.autograd.grad(y.sum(), xc)
    x64 = x.clone().requires_grad_()
    y64 = fn(x64)
    (g64,) = blaze.autograd.grad(y64.sum(), x64)
    np.testing.assert_allclose(y.detach().cpu().numpy(), y64.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.cpu().numpy(), g64.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", [lambda x: F.gelu(x, approximate="tanh"), F.silu])
def test_double_backward_through_the_fused_forms(fn):
    x = blaze.randn(6, dtype=blaze.float64, requires_grad=True)
    (g,) = blaze.autograd.grad(fn(x).sum(), x, create_graph=True)
    (gg,) = blaze.autograd.grad(g.sum(), x)
    eps, xs = 1e-6, x.detach().numpy()

    def d1(v):
        t = blaze.tensor(v, requires_grad=True)
        return blaze.autograd.grad(fn(t).sum(), t)[0].numpy()
    num = np.array([(d1(xs + eps * e) - d1(xs - eps * e))[i] / (2 * eps) for i, e in enumerate(np.eye(6))])
    np.testing.assert_allclose(gg.numpy(), num, rtol=1e-4, atol=1e-6)
