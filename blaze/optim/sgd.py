"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``."""
from __future__ import annotations

from .optimizer import Optimizer, _check, _step, _written

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
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
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
            nesterov=group["nesterov"], maximize=group["maximize"])
        if group["momentum"] != 0:
            for p, buf in zip(params, bufs):
                self.state[p]["momentum_buffer"] = buf


def sgd(params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize):
    """The SGD update on lists of tensors, in place (torch/optim/sgd.py ``_single_tensor_sgd``),
    by the device's ``sgd_step`` primitive.

    ``momentum_buffers[i]`` is None before the first step; it is filled in with a new buffer.
    """
    for i, (p, g) in enumerate(zip(params, grads)):
        buf = momentum_buffers[i]
        first = momentum != 0 and buf is None
        if first:
            buf = momentum_buffers[i] = _new_buffer(p)
        _step(p, "sgd_step")(p._data, g._data, buf._data if momentum != 0 else None, lr=lr, momentum=momentum,
                             dampening=dampening, nesterov=nesterov, weight_decay=weight_decay, maximize=maximize,
                             first_step=first)
        _written(p, {"momentum_buffer": buf} if momentum != 0 else None)


def _new_buffer(p):
    from .optimizer import _full_like
    return _full_like(p, 0.0)
