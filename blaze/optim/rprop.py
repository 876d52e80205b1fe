"""Rprop, as ``torch.optim.Rprop``."""
from __future__ import annotations

from ..ops.creation import ones_like
from ..ops.pointwise import where
from ._compose import ComposedOptimizer, prepared_grad, zeros_like
from .optimizer import _check, _full_like

__all__ = ["Rprop"]


class Rprop(ComposedOptimizer):
    """``torch.optim.Rprop`` (Riedmiller & Braun, 1993; the iRprop- variant): each element keeps its
    own step size, grown by ``etas[1]`` while the gradient keeps its sign and shrunk by ``etas[0]``
    when it flips (and that element then skips its update); only the gradient's sign is used.

    Args:
        params: parameters or parameter groups.
        lr: initial step size (default 1e-2).
        etas: (etaminus, etaplus), 0 < etaminus < 1 < etaplus (default (0.5, 1.2)).
        step_sizes: (min, max) bounds of the step sizes (default (1e-6, 50)).
        maximize: ascend instead of descend.

    State per parameter: ``step``, ``prev`` (the last gradient used), ``step_size``.
    """

    def __init__(self, params, lr: float = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable: bool = False, foreach=None, maximize: bool = False, differentiable: bool = False):
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, capturable=capturable))

    def _check_group(self, g):
        _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
        _check(0.0 < g["etas"][0] < 1.0 < g["etas"][1], f"Invalid eta values: {g['etas'][0]}, {g['etas'][1]}")

    def _new_state(self, p, group):
        return {"prev": zeros_like(p), "step_size": _full_like(p, group["lr"])}

    def _update(self, p, grad, st, group, step):
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        grad = prepared_grad(p, grad, group["maximize"], 0)
        prev, step_size = st["prev"], st["step_size"]
        sign = grad.mul(prev).sign()
        factor = where(sign > 0, etaplus, where(sign < 0, etaminus, ones_like(sign)))
        step_size.mul_(factor).clamp_(lo, hi)
        grad = where(sign < 0, 0.0, grad)  # a flipped sign skips this step and resets prev
        p.addcmul_(grad.sign(), step_size, value=-1)
        prev.copy_(grad)
