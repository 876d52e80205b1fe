"""Defaults of the ``fused`` group over the core tier: a linear layer with its activation and residual,
residual add + LayerNorm, and residual + dropout(x + bias).

``linear_act`` is ``act(x @ W^T + b) + residual``; the core ``matmul`` already carries that
epilogue, so the forward is one GEMM whenever no pre-activation has to be kept. With an
activation the default keeps ``pre = x @ W^T + b`` for the backward (dact(pre) needs it) and
applies the activation as one more elementwise op; the cuda device does both in one kernel.

``add_layer_norm`` and ``bias_dropout_add`` are the unfused ops in their order (an add, then the
``nn`` group's layer_norm / dropout), so a device without its own version computes the same
values, and draws the same random numbers, as the ops it replaces; cuda runs each in one kernel.
"""
from __future__ import annotations

import math

from ._util import acc, back, dtype_of

_GELU_C = math.sqrt(2.0 / math.pi)


def _relu_grad(be, pre):
    return be.cast(be.binary("gt", pre, 0.0), dtype_of(pre))


def _gelu_grad(be, pre):  # Phi(x) + x * phi(x)
    cdf = be.binary("mul", be.binary("add", be.unary("erf", be.binary("mul", pre, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
    pdf = be.binary("mul", be.unary("exp", be.binary("mul", be.binary("mul", pre, pre), -0.5)),
                    1.0 / math.sqrt(2.0 * math.pi))
    return be.binary("add", cdf, be.binary("mul", pre, pdf))


def _gelu_tanh_grad(be, pre):  # 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2)
    x2 = be.binary("mul", pre, pre)
    t = be.unary("tanh", be.binary("mul", be.binary("add", pre, be.binary("mul", be.binary("mul", x2, pre), 0.044715)),
                                   _GELU_C))
    inner = be.binary("mul", be.binary("add", be.binary("mul", x2, 3 * 0.044715), 1.0), _GELU_C)
    dt = be.binary("mul", be.binary("mul", be.binary("sub", 1.0, be.binary("mul", t, t)), inner), pre)
    return be.binary("mul", be.binary("add", be.binary("add", t, 1.0), dt), 0.5)


def _silu_grad(be, pre):  # s (1 + x (1 - s))
    s = be.unary("sigmoid", pre)
    return be.binary("mul", s, be.binary("add", be.binary("mul", pre, be.binary("sub", 1.0, s)), 1.0))


def _tanh_grad(be, pre):
    t = be.unary("tanh", pre)
    return be.binary("sub", 1.0, be.binary("mul", t, t))


# the matmul epilogue's activations (blaze/kernels/matmul.py's ACTIVATIONS) -> d act / d pre
ACT_GRADS = {"relu": _relu_grad, "gelu": _gelu_grad, "gelu_tanh": _gelu_tanh_grad, "silu": _silu_grad,
             "tanh": _tanh_grad}


class FusedDefaults:
    def linear_act(self, x, weight, bias=None, residual=None, activation=None):
        """(y, pre): y = act(x (M, K) @ weight (N, K)^T + bias) + residual (M, N); ``pre`` = the
        pre-activation the backward needs (None without an activation)."""
        wt = self.permute(weight, (1, 0))
        if activation is None:
            return self.matmul(x, wt, bias=bias, residual=residual), None
        pre = self.matmul(x, wt, bias=bias)
        y = self.unary(activation, pre)
        return (y if residual is None else self.binary("add", y, residual)), pre

    def linear_act_backward(self, grad, x, weight, pre, activation=None, need_input=True, need_weight=True,
                            need_bias=False):
        """(dx (M, K), dw (N, K), db (N,)), each None unless asked; residual's gradient is ``grad``."""
        dz = grad
        if activation is not None:
            dz = back(self, self.binary("mul", acc(self, grad), ACT_GRADS[activation](self, acc(self, pre))), grad)
        dx = self.matmul(dz, weight) if need_input else None
        dw = self.matmul(self.permute(dz, (1, 0)), x) if need_weight else None
        db = back(self, self.reduce("sum", acc(self, dz), (0,), False), dz) if need_bias else None
        return dx, dw, db

    def add_layer_norm(self, x, residual, weight, bias, eps: float = 1e-5):
        """(y, h, mean, rstd): h = x + residual (M, N), y = layer_norm(h); mean/rstd as layer_norm's."""
        h = self.binary("add", x, residual)
        y, mean, rstd = self.layer_norm(h, weight, bias, eps)
        return y, h, mean, rstd

    def add_layer_norm_backward(self, dy, dh, h, weight, mean, rstd, need_weight_grad: bool = True):
        """(dx, dw, db): dx = layer_norm's input gradient at h + dh (None: h had no other use) is the
        gradient of both x and residual; dw, db as layer_norm_backward's."""
        dx, dw, db = self.layer_norm_backward(dy, h, weight, mean, rstd, need_weight_grad)
        return (dx if dh is None else self.binary("add", dx, dh)), dw, db

    def bias_dropout_add(self, x, bias, residual, p: float, gen):
        """(out, state): out = residual + dropout(x + bias) (bias, residual may be None); ``state`` is
        what ``dropout_backward`` takes for x's gradient, None when p == 0 (no random numbers drawn)."""
        h = x if bias is None else self.binary("add", x, bias)
        state = None
        if p > 0:
            h, state = self.dropout(h, p, gen)
        return (h if residual is None else self.binary("add", residual, h)), state
