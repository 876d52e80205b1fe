"""Adamax, as ``torch.optim.Adamax``."""
from __future__ import annotations

from ..ops.pointwise import maximum
from ._compose import ComposedOptimizer, betas_ok, check_common, prepared_grad, zeros_like

__all__ = ["Adamax"]


class Adamax(ComposedOptimizer):
    """``torch.optim.Adamax`` (Kingma & Ba, 2014, section 7): Adam with the second moment
    replaced by an exponentially weighted infinity norm.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay of the first moment and of the infinity norm (default (0.9, 0.999)).
        eps: added to |g| before the max (default 1e-8).
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``exp_avg``, ``exp_inf``.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 foreach=None, *, maximize: bool = False, differentiable: bool = False, capturable: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _check_group(self, g):
        check_common(g)
        betas_ok(g)

    def _new_state(self, p, group):
        return {"exp_avg": zeros_like(p), "exp_inf": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        beta1, beta2 = group["betas"]
        grad = prepared_grad(p, grad, group["maximize"], group["weight_decay"])
        exp_avg, exp_inf = st["exp_avg"], st["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_inf.copy_(maximum(exp_inf.mul_(beta2), grad.abs().add_(group["eps"])))
        p.addcdiv_(exp_avg, exp_inf, value=-group["lr"] / (1 - beta1 ** step))
