"""Adadelta, as ``torch.optim.Adadelta``."""
from __future__ import annotations

from ._compose import ComposedOptimizer, check_common, prepared_grad, zeros_like
from .optimizer import _check

__all__ = ["Adadelta"]


class Adadelta(ComposedOptimizer):
    """``torch.optim.Adadelta`` (Zeiler, 2012): the step is the gradient scaled by
    RMS(past updates) / RMS(gradients), times ``lr``.

    Args:
        params: parameters or parameter groups.
        lr: scale of the update (default 1.0).
        rho: decay of both running averages (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach=None, *, capturable: bool = False, maximize: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      capturable=capturable, maximize=maximize, differentiable=differentiable))

    def _check_group(self, g):
        check_common(g)
        _check(0 <= g["rho"] <= 1, f"Invalid rho value: {g['rho']}")

    def _new_state(self, p, group):
        return {"square_avg": zeros_like(p), "acc_delta": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        rho, eps = group["rho"], group["eps"]
        grad = prepared_grad(p, grad, group["maximize"], group["weight_decay"])
        square_avg, acc_delta = st["square_avg"], st["acc_delta"]
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        delta = acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(grad)
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.add_(delta, alpha=-group["lr"])
