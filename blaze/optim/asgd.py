"""ASGD, as ``torch.optim.ASGD``."""
from __future__ import annotations

from ._compose import ComposedOptimizer, prepared_grad, scalar_state, zeros_like

__all__ = ["ASGD"]


class ASGD(ComposedOptimizer):
    """``torch.optim.ASGD`` (Polyak & Juditsky, 1992): SGD with a decaying step size
    eta_t = lr / (1 + lambd * lr * t) ** alpha, and a running average ``ax`` of the iterates
    that starts averaging at step ``t0``.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the eta decay (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``eta``, ``mu`` (0-d scalar tensors, as PyTorch's) and ``ax``
    (the averaged parameter; read it for evaluation).
    """

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach=None, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _new_state(self, p, group):
        return {"eta": scalar_state(group["lr"]), "mu": scalar_state(1.0), "ax": zeros_like(p)}

    def _update(self, p, grad, st, group, step):
        lr, lambd = group["lr"], group["lambd"]
        grad = prepared_grad(p, grad, group["maximize"], group["weight_decay"])
        eta, mu = float(st["eta"]), float(st["mu"])
        p.mul_(1 - lambd * eta)
        p.add_(grad, alpha=-eta)
        ax = st["ax"]
        if mu != 1:
            ax.add_(p.sub(ax).mul_(mu))
        else:
            ax.copy_(p)
        for name, value in (("eta", lr / (1 + lambd * lr * step) ** group["alpha"]),
                            ("mu", 1 / max(1, step - group["t0"]))):
            st[name].fill_(value)  # rounded to the state's dtype, as PyTorch's
