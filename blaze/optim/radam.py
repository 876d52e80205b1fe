"""RAdam, as ``torch.optim.RAdam``."""
from __future__ import annotations

import math

from ._compose import ComposedOptimizer, betas_ok, check_common, prepared_grad, zeros_like

__all__ = ["RAdam"]


class RAdam(ComposedOptimizer):
    """``torch.optim.RAdam`` (Liu et al., 2019): Adam whose adaptive term is switched on, with a
    variance-rectifying factor, once the length of the approximated SMA rho_t exceeds 5; before
    that the step is bias-corrected momentum SGD.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the two moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (added to the gradient, or decoupled as in AdamW with
            ``decoupled_weight_decay``).
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                                      foreach=foreach, capturable=capturable, differentiable=differentiable))

    def _check_group(self, g):
        check_common(g)
        betas_ok(g)

    def _new_state(self, p, group):
        return {"exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if group["decoupled_weight_decay"] and wd != 0:
            p.mul_(1 - lr * wd)
            wd = 0
        grad = prepared_grad(p, grad, group["maximize"], wd)
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
        update = exp_avg / bc1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2 ** step / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            # PyTorch's order of products, so float32 params round the same way
            update = update * lr * (math.sqrt(bc2) / exp_avg_sq.sqrt().add_(group["eps"])) * rect
        else:
            update = update * lr
        p.sub_(update)
