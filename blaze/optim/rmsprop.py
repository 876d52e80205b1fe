"""RMSprop, as ``torch.optim.RMSprop``."""
from __future__ import annotations

from .optimizer import (Optimizer, _apply, _bump_step, _check, _check_flags, _groups, _step_tensor,
                        _written, _zeros_like_each, use_foreach)

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
        foreach: one step primitive per (device, dtype) group (the default; one kernel launch on
            cuda) unless False.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False, differentiable: bool = False):
        _check_flags(foreach, None, differentiable)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize, foreach=foreach)
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
        keys = ("square_avg",) + (("momentum_buffer",) if group["momentum"] > 0 else ()) + \
            (("grad_avg",) if group["centered"] else ())
        new = [p for p in params if not self.state[p]]
        for p, *zeros in zip(new, *_zeros_like_each(new, len(keys))):
            self.state[p].update(step=_step_tensor(), **dict(zip(keys, zeros)))
        states = [self.state[p] for p in params]
        rmsprop(params, [p.grad for p in params], states, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                weight_decay=group["weight_decay"], momentum=group["momentum"], centered=group["centered"],
                maximize=group["maximize"], foreach=group.get("foreach"))


def rmsprop(params, grads, states, *, lr, alpha, eps, weight_decay, momentum, centered, maximize, foreach=None):
    """The RMSprop update in place (torch/optim/rmsprop.py), by the device's ``rmsprop_foreach``
    primitive per (device, dtype) group (``rmsprop_step`` per tensor with ``foreach=False``)."""
    foreach = use_foreach(foreach, None)
    for st in states:
        _bump_step(st)

    def col(k, used=True):
        return [st[k] for st in states] if used else None
    for idx in _groups(params, grads, foreach):
        _apply("rmsprop", idx, [params, grads, col("square_avg"), col("grad_avg", centered),
                                col("momentum_buffer", momentum > 0)], foreach, lr=lr, alpha=alpha, eps=eps,
               weight_decay=weight_decay, momentum=momentum, centered=centered, maximize=maximize)
    for p, st in zip(params, states):
        _written(p, {k: st[k] for k in ("square_avg", "grad_avg", "momentum_buffer") if k in st})
