"""RMSprop, as ``torch.optim.RMSprop``."""
from __future__ import annotations

from .optimizer import Optimizer, _bump_step, _check, _full_like, _step, _step_tensor, _written

__all__ = ["RMSprop", "rmsprop"]


class RMSprop(Optimizer):
    """``torch.optim.RMSprop`` (Hinton's lecture 6e; centered form of Graves, 2013).

    Args:
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the squared-gradient average (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient.
        momentum: momentum of the scaled step (default 0).
        centered: normalise by the estimated variance instead of the raw second moment.
        maximize: ascend instead of descend.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False, differentiable: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
        _check(g["momentum"] >= 0, f"Invalid momentum value: {g['momentum']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(g["alpha"] >= 0, f"Invalid alpha value: {g['alpha']}")

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        states = []
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = _step_tensor()
                st["square_avg"] = _full_like(p)
                if group["momentum"] > 0:
                    st["momentum_buffer"] = _full_like(p)
                if group["centered"]:
                    st["grad_avg"] = _full_like(p)
            states.append(st)
        rmsprop(params, [p.grad for p in params], states, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                weight_decay=group["weight_decay"], momentum=group["momentum"], centered=group["centered"],
                maximize=group["maximize"])


def rmsprop(params, grads, states, *, lr, alpha, eps, weight_decay, momentum, centered, maximize):
    """The RMSprop update in place (torch/optim/rmsprop.py ``_single_tensor_rmsprop``)."""
    for p, g, st in zip(params, grads, states):
        _bump_step(st)
        _step(p, "rmsprop_step")(p._data, g._data, st["square_avg"]._data,
                                 st["grad_avg"]._data if centered else None,
                                 st["momentum_buffer"]._data if momentum > 0 else None, lr=lr, alpha=alpha,
                                 eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                                 maximize=maximize)
        _written(p, {k: st[k] for k in ("square_avg", "grad_avg", "momentum_buffer") if k in st})
