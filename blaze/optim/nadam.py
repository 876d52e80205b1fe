"""NAdam, as ``torch.optim.NAdam``."""
from __future__ import annotations

from ._compose import ComposedOptimizer, betas_ok, check_common, prepared_grad, scalar_state, zeros_like
from .optimizer import _check

__all__ = ["NAdam"]


class NAdam(ComposedOptimizer):
    """``torch.optim.NAdam`` (Dozat, 2016): Adam with Nesterov momentum, whose momentum
    coefficient warms up as ``beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))``.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 2e-3).
        betas: decay rates of the two moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (added to the gradient, or, with ``decoupled_weight_decay``,
            applied to the parameter as in AdamW: NAdamW).
        momentum_decay: the momentum warm-up rate psi (default 4e-3).
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``mu_product`` (float32 0-d, the product of the mu_t so
    far), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _check_group(self, g):
        check_common(g)
        betas_ok(g)
        _check(g["momentum_decay"] >= 0, f"Invalid momentum_decay value: {g['momentum_decay']}")

    def _new_state(self, p, group):
        return {"mu_product": scalar_state(1.0), "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        lr, (beta1, beta2), wd, psi = group["lr"], group["betas"], group["weight_decay"], group["momentum_decay"]
        if group["decoupled_weight_decay"] and wd != 0:
            p.mul_(1 - lr * wd)
            wd = 0
        grad = prepared_grad(p, grad, group["maximize"], wd)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = float(st["mu_product"].mul_(mu))  # rounded in the state's dtype, as PyTorch's
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(1 - beta2 ** step).sqrt_().add_(group["eps"])
        p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - mu_product))
        p.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1.0 - mu_product * mu_next))
