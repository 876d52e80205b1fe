"""Adam, as ``torch.optim.Adam`` (``adam()`` also serves AdamW with ``decoupled=True``)."""
from __future__ import annotations

from .optimizer import Optimizer, _bump_step, _check, _full_like, _step, _step_tensor, _written

__all__ = ["Adam", "adam"]


def _check_adam(g) -> None:
    _check(g["lr"] >= 0, f"Invalid learning rate: {g['lr']}")
    _check(g["eps"] >= 0, f"Invalid epsilon value: {g['eps']}")
    _check(0 <= g["betas"][0] < 1, f"Invalid beta parameter at index 0: {g['betas'][0]}")
    _check(0 <= g["betas"][1] < 1, f"Invalid beta parameter at index 1: {g['betas'][1]}")
    _check(g["weight_decay"] >= 0, f"Invalid weight_decay value: {g['weight_decay']}")


class Adam(Optimizer):
    """``torch.optim.Adam`` (Kingma & Ba, 2014) with optional AMSGrad.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment averages (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty added to the gradient (AdamW decouples it instead).
        amsgrad: use the running maximum of the second moment.
        maximize: ascend instead of descend.
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False, fused=None):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check_adam(g)

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        states = []
        for p in params:
            st = self.state[p]
            if not st:
                st["step"] = _step_tensor()
                st["exp_avg"] = _full_like(p)
                st["exp_avg_sq"] = _full_like(p)
                if group["amsgrad"]:
                    st["max_exp_avg_sq"] = _full_like(p)
            states.append(st)
        adam(params, [p.grad for p in params], states, amsgrad=group["amsgrad"], beta1=group["betas"][0],
             beta2=group["betas"][1], lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
             maximize=group["maximize"], decoupled=self._decoupled)


def adam(params, grads, states, *, amsgrad, beta1, beta2, lr, weight_decay, eps, maximize, decoupled=False):
    """The Adam / AdamW update on lists of tensors, in place (torch/optim/adam.py ``_single_tensor_adam``).

    ``states[i]`` holds ``step`` (float32 0-d tensor), ``exp_avg``, ``exp_avg_sq`` (and
    ``max_exp_avg_sq`` with amsgrad); ``step`` is incremented here.
    """
    for p, g, st in zip(params, grads, states):
        step = _bump_step(st)
        _step(p, "adam_step")(p._data, g._data, st["exp_avg"]._data, st["exp_avg_sq"]._data, int(step),
                              st["max_exp_avg_sq"]._data if amsgrad else None, lr=lr, betas=(beta1, beta2),
                              eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                              decoupled=decoupled)
        _written(p, {k: st[k] for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if k in st})
