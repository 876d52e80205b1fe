"""Adafactor, as ``torch.optim.Adafactor`` (PyTorch 2.5+)."""
from __future__ import annotations

import math

from ._compose import ComposedOptimizer, prepared_grad, zeros_like
from .._tensor import Tensor
from .optimizer import _check

__all__ = ["Adafactor"]


class Adafactor(ComposedOptimizer):
    """``torch.optim.Adafactor`` (Shazeer & Stern, 2018), PyTorch's variant: no first moment; the
    second moment of a matrix (or a stack of matrices, the last two dimensions) is kept factored as
    a row and a column mean, so the state is O(rows + cols) instead of O(rows * cols).

    Args:
        params: parameters or parameter groups.
        lr: the relative step size's upper bound (default 1e-2): rho_t = min(lr, 1 / sqrt(t)).
        beta2_decay: the second-moment averaging weight is t ** beta2_decay (default -0.8, <= 0).
        eps: (eps1, eps2): eps1 clamps the variance estimate from below (None: the parameter
            dtype's machine epsilon), eps2 the parameter RMS that scales the step (default 1e-3).
        d: clipping threshold on the update's RMS (default 1.0).
        weight_decay: decoupled weight decay, p *= 1 - lr * weight_decay.
        maximize: ascend instead of descend.

    State per parameter: ``step``; ``row_var`` (shape ``(..., R, 1)``) and ``col_var``
    (``(..., 1, C)``) for parameters of 2 or more dimensions, ``variance`` for vectors and scalars.
    """

    def __init__(self, params, lr: float = 1e-2, beta2_decay: float = -0.8, eps=(None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach=None, maximize: bool = False):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d,
                                      weight_decay=weight_decay, foreach=foreach, maximize=maximize))

    def _check_group(self, g):
        eps1, eps2 = g["eps"]
        _check(g["lr"] >= 0, f"Learning rate should be >= 0 but is: {g['lr']}")
        _check(g["beta2_decay"] <= 0, f"beta2_decay should be <= 0 but is: {g['beta2_decay']}")
        _check(eps1 is None or eps1 >= 0, f"epsilon1 should be >= 0 but is: {eps1}")
        _check(eps2 >= 0, f"epsilon2 should be >= 0 but is: {eps2}")
        _check(g["d"] >= 1, f"Clipping threshold d should be >= 1 but is: {g['d']}")
        _check(g["weight_decay"] >= 0, f"weight_decay should be >= 0 but is: {g['weight_decay']}")

    def _new_state(self, p, group):
        if p.dim() > 1:
            return {"row_var": _zeros(p, (*p.shape[:-1], 1)), "col_var": _zeros(p, (*p.shape[:-2], 1, p.shape[-1]))}
        return {"variance": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        lr, (eps1, eps2) = group["lr"], group["eps"]
        if eps1 is None:
            eps1 = _MACHINE_EPS[p.dtype.name]
        grad = prepared_grad(p, grad, group["maximize"], 0)
        beta2_weight = step ** group["beta2_decay"]  # 1 - beta2_t
        rho_t = min(lr, 1 / step ** 0.5)
        alpha = max(eps2, float(p.norm(2)) / math.sqrt(p.numel())) * rho_t
        if group["weight_decay"] != 0:
            p.mul_(1 - lr * group["weight_decay"])
        if grad.dim() > 1:
            row_var, col_var = st["row_var"], st["col_var"]
            # mean of g*g over a row / column, via the norm so no squared copy of g is made
            row_var.lerp_(grad.norm(dim=-1, keepdim=True).square_().div_(grad.shape[-1]), beta2_weight)
            col_var.lerp_(grad.norm(dim=-2, keepdim=True).square_().div_(grad.shape[-2]), beta2_weight)
            var_estimate = row_var @ col_var  # (..., R, 1) @ (..., 1, C) -> (..., R, C)
            var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        else:
            st["variance"].lerp_(grad * grad, beta2_weight)
            var_estimate = st["variance"].clone()
        update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_().mul_(grad)
        denom = max(1.0, float(update.norm(2)) / (math.sqrt(update.numel()) * group["d"]))
        p.add_(update, alpha=-alpha / denom)


def _zeros(p, shape):
    return Tensor._make(p._device.backend.full(tuple(shape), 0.0, p._dtype), p._device, p._dtype)


# torch.finfo(dtype).eps, PyTorch's eps1 when it is None
_MACHINE_EPS = {"float64": 2.0 ** -52, "float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
