"""Shared pieces of the optimizers whose step is composed from Tensor ops (Adadelta, Adamax,
NAdam, RAdam, ASGD, Rprop, Adafactor): the per-group loop, lazily created state, and the
maximize / L2 weight-decay treatment of the gradient that every one of them starts with.

These run the same code on every device (cpu, emulated or real cuda); state tensors are made
like the parameter (same device and dtype, as PyTorch's ``zeros_like``), scalar state (``step``,
ASGD's ``eta`` / ``mu``, NAdam's ``mu_product``) is a 0-d tensor on the cpu in PyTorch's
``_get_scalar_dtype()``: float64 when the default dtype is float64, else float32 (ASGD's rates
are rounded there, so matching it matters: a float32 eta moves parameters by ~1e-9 relative).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .._tensor import Tensor
from .optimizer import Optimizer, _bump_step, _check, _full_like

__all__ = ["ComposedOptimizer", "prepared_grad", "check_common", "betas_ok"]


def prepared_grad(p, g, maximize: bool, weight_decay: float):
    """``-g`` under maximize, plus the L2 term ``weight_decay * p`` (a new Tensor; g is untouched)."""
    if maximize:
        g = g.neg()
    if weight_decay != 0:
        g = g.add(p, alpha=weight_decay)
    return g


def check_common(g: dict) -> None:
    _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
    if "eps" in g and not isinstance(g["eps"], tuple):
        _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
    _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")


def betas_ok(g: dict) -> None:
    for i in (0, 1):
        _check(0 <= g["betas"][i] < 1, f"Invalid beta parameter at index {i}: {g['betas'][i]}")


class ComposedOptimizer(Optimizer):
    """An optimizer whose subclass gives ``_new_state(p, group) -> dict`` (the state tensors other
    than ``step``) and ``_update(p, grad, state, group, step)`` (one parameter, in place, under
    no_grad, with ``step`` already incremented)."""

    _graph_capture = "never"   # Python-number step counts in the composed ops' arguments

    def __init__(self, params, defaults: dict):
        if defaults.get("differentiable"):
            raise NotImplementedError(f"{type(self).__name__}: differentiable=True (autograd through the "
                                      "update) is not supported by blaze")
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, g):
        check_common(g)

    def _new_state(self, p, group) -> dict:
        return {}

    def _update_group(self, group):
        for p in group["params"]:
            if p.grad is None:
                continue
            st = self.state[p]
            if not st:
                st["step"] = scalar_state(0.0)
                st.update(self._new_state(p, group))
            self._update(p, p.grad, st, group, _bump_step(st))

    def _update(self, p, grad, state, group, step):
        raise NotImplementedError


def zeros_like(p):
    return _full_like(p, 0.0)


def scalar_state(value: float) -> Tensor:
    dt = np.float64 if dtypes.get_default_dtype() is dtypes.float64 else np.float32
    return Tensor._make(np.array(value, dtype=dt))
