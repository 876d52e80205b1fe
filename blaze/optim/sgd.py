"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``."""
from __future__ import annotations

from .optimizer import Optimizer, _apply, _check, _check_flags, _state_like, _groups, _written, use_foreach

__all__ = ["SGD", "sgd"]


class SGD(Optimizer):
    """``torch.optim.SGD``: p -= lr * (momentum buffer or gradient, with optional Nesterov).

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3, as PyTorch 2.x).
        momentum, dampening: buf = momentum * buf + (1 - dampening) * g (buf = g on step 1).
        weight_decay: L2 penalty added to the gradient.
        nesterov: use g + momentum * buf instead of buf.
        maximize: ascend instead of descend.
        foreach, fused: one step primitive per (device, dtype) group (the default; one kernel
            launch on cuda) unless ``foreach=False``.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        _check_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach, fused=fused)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(g["momentum"] >= 0, f"Invalid momentum value: {g['momentum']}")
        _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")
        _check(not g["nesterov"] or (g["momentum"] > 0 and g["dampening"] == 0),
               "Nesterov momentum requires a momentum and zero dampening")

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        bufs = [self.state[p].get("momentum_buffer") for p in params]
        sgd(params, [p.grad for p in params], bufs, weight_decay=group["weight_decay"],
            momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
            nesterov=group["nesterov"], maximize=group["maximize"], foreach=group.get("foreach"),
            fused=group.get("fused"))
        if group["momentum"] != 0:
            for p, buf in zip(params, bufs):
                self.state[p]["momentum_buffer"] = buf


def sgd(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize,
        foreach=None, fused=None):
    """The SGD update on lists of tensors, in place (torch/optim/sgd.py), by the device's
    ``sgd_foreach`` primitive per (device, dtype) group (``sgd_step`` per tensor with ``foreach=False``).

    ``momentum_buffers[i]`` is None before the first step; it is filled in with a new buffer.
    """
    foreach = use_foreach(foreach, fused)
    firsts = [momentum != 0 and b is None for b in momentum_buffers]
    for i, first in enumerate(firsts):
        if first:
            momentum_buffers[i] = _state_like(params[i])   # the first step writes it whole
    bufs = list(momentum_buffers) if momentum != 0 else None
    for idx in _groups(params, grads, foreach, firsts):
        _apply("sgd", idx, [params, grads, bufs], foreach, lr=lr, momentum=momentum, dampening=dampening,
               nesterov=nesterov, weight_decay=weight_decay, maximize=maximize, first_step=firsts[idx[0]])
    for p, buf in zip(params, momentum_buffers):
        _written(p, {"momentum_buffer": buf} if momentum != 0 else None)
