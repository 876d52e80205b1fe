"""Per-op dispatch overhead: tiny tensors, so the time is the framework, not the math.

    python -m perf run --filter dispatch

- ``dispatch_add``: ``a + b`` on two (16,) float32 tensors, forward only, no grad.
- ``dispatch_fwd_bwd``: ``(x * y + x).sum().backward()`` with ``requires_grad`` on (16,)
  float32 tensors: 3 forward ops, their backward and the graph walk.

Rows report ``median_ms`` and ``best_ms`` per call; ``us_per_op`` is the fastest sample
divided by the forward op count. With PyTorch installed, the reference is the same code in
PyTorch eager (its C++ dispatcher) and ``ratio`` = PyTorch time / blaze time (below 1:
blaze has more overhead per op).
"""
from __future__ import annotations

import numpy as np

from perf.cases import Case

N = 16


def dispatch_add(p, env):
    a, b = np.arange(N, dtype=np.float32), np.ones(N, np.float32)
    A, B = env.b(a), env.b(b)
    torch = None
    if env.torch is not None:
        ta, tb = env.t(a), env.t(b)
        torch = lambda: ta + tb  # noqa: E731
    return dict(shape=f"({N},)+({N},)", dtype="float32", blaze=lambda: A + B, numpy=lambda: a + b, torch=torch,
                ops=1, note="forward, no grad")


def _step(x, y):
    x.grad = y.grad = None
    (x * y + x).sum().backward()


def _numpy_step(x, y):
    # the same math with hand-written gradients: the floor any framework is measured against
    z = x * y + x
    z.sum()
    g = np.ones_like(z)
    return g * y + g, g * x


def dispatch_fwd_bwd(p, env):
    x, y = np.linspace(-1, 1, N, dtype=np.float32), np.full(N, 0.5, np.float32)
    X, Y = env.b(x, requires_grad=True), env.b(y, requires_grad=True)
    torch = None
    if env.torch is not None:
        tx, ty = env.t(x, requires_grad=True), env.t(y, requires_grad=True)
        torch = lambda: _step(tx, ty)  # noqa: E731
    return dict(shape=f"({N},) x*y+x .sum() .backward()", dtype="float32", blaze=lambda: _step(X, Y),
                numpy=lambda: _numpy_step(x, y), torch=torch, ops=3, note="forward + backward, 3 forward ops")


CASES = [
    Case("dispatch_add", dispatch_add, {"cpu": [{}], "cuda": [{}]}, [{}]),
    Case("dispatch_fwd_bwd", dispatch_fwd_bwd, {"cpu": [{}], "cuda": [{}]}, [{}]),
]
