"""Adagrad, as ``torch.optim.Adagrad``."""
from __future__ import annotations

from .optimizer import Optimizer, _bump_step, _check, _full_like, _step, _step_tensor, _written

__all__ = ["Adagrad", "adagrad"]


class Adagrad(Optimizer):
    """``torch.optim.Adagrad`` (Duchi et al., 2011).

    Args:
        lr: learning rate (default 1e-2), decayed as lr / (1 + (step - 1) * lr_decay).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty added to the gradient.
        initial_accumulator_value: starting value of the squared-gradient sum (default 0).
        eps: added to the denominator (default 1e-10).
        maximize: ascend instead of descend.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)
        # PyTorch creates Adagrad's state eagerly, so a fresh state_dict already holds it.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["lr_decay"] >= 0, f"Invalid lr_decay value: {g['lr_decay']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(g["initial_accumulator_value"] >= 0,
               f"Invalid initial_accumulator_value value: {g['initial_accumulator_value']}")
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")

    def _init_state(self, p, group):
        st = self.state[p]
        if not st:
            st["step"] = _step_tensor()
            st["sum"] = _full_like(p, group["initial_accumulator_value"])
        return st

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        states = [self._init_state(p, group) for p in params]
        adagrad(params, [p.grad for p in params], states, lr=group["lr"], weight_decay=group["weight_decay"],
                lr_decay=group["lr_decay"], eps=group["eps"], maximize=group["maximize"])


def adagrad(params, grads, states, *, lr, weight_decay, lr_decay, eps, maximize):
    """The Adagrad update in place (torch/optim/adagrad.py ``_single_tensor_adagrad``)."""
    for p, g, st in zip(params, grads, states):
        step = _bump_step(st)
        _step(p, "adagrad_step")(p._data, g._data, st["sum"]._data, int(step), lr=lr, lr_decay=lr_decay,
                                 weight_decay=weight_decay, eps=eps, maximize=maximize)
        _written(p, {"sum": st["sum"]})
