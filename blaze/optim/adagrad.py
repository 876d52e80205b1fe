"""Adagrad, as ``torch.optim.Adagrad``."""
from __future__ import annotations

from .optimizer import (Optimizer, _apply, _bump_step, _cast_step, _check, _check_capturable, _check_flags,
                        _groups, _state_like, _step_tensor, _written, use_foreach)

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
        foreach, fused: one step primitive per (device, dtype) group (the default; one kernel
            launch on cuda) unless ``foreach=False``.
        capturable: as :class:`Adam`'s (PyTorch's Adagrad has no such option): the step count on
            the device, the decayed rate computed there, so a CUDA graph can capture the step.
    """

    _graph_capture = "capturable"

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None, capturable: bool = False):
        _check_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay, foreach=foreach, fused=fused,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                        capturable=capturable)
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
            st["step"] = _cast_step(p, 0.0, True) if group["capturable"] else _step_tensor()
            st["sum"] = _state_like(p, group["initial_accumulator_value"])
        return st

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        capturable = group.get("capturable", False)
        if capturable:
            _check_capturable(params, [self.state.get(p, {}) for p in params])
        states = [self._init_state(p, group) for p in params]
        adagrad(params, [p.grad for p in params], states, lr=group["lr"], weight_decay=group["weight_decay"],
                lr_decay=group["lr_decay"], eps=group["eps"], maximize=group["maximize"],
                foreach=group.get("foreach"), fused=group.get("fused"), capturable=capturable)


def adagrad(params, grads, states, *, lr, weight_decay, lr_decay, eps, maximize, foreach=None, fused=None,
            capturable=False):
    """The Adagrad update in place (torch/optim/adagrad.py), by the device's ``adagrad_foreach``
    primitive per (device, dtype, step) group (``adagrad_step`` per tensor with ``foreach=False``);
    with ``capturable`` the primitive increments the device step counts (groups per (device, dtype))."""
    foreach = use_foreach(foreach, fused)
    steps = [st["step"] for st in states] if capturable else [int(_bump_step(st)) for st in states]
    sums = [st["sum"] for st in states]
    for idx in _groups(params, grads, foreach, *(() if capturable else (steps,))):
        _apply("adagrad", idx, [params, grads, sums, steps if capturable else steps[idx[0]]], foreach, lr=lr,
               lr_decay=lr_decay, weight_decay=weight_decay, eps=eps, maximize=maximize)
    for p, st in zip(params, states):
        _written(p, {"sum": st["sum"], **({"step": st["step"]} if capturable else {})})
