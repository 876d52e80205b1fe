"""Adam, as ``torch.optim.Adam`` (``adam()`` also serves AdamW with ``decoupled=True``)."""
from __future__ import annotations

from .optimizer import (Optimizer, _apply, _bump_step, _check, _check_capturable, _check_flags, _groups,
                        _step_tensor, _written, _zeros_like_each, use_foreach)

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
        foreach, fused: one step primitive per (device, dtype) group (the default; one kernel
            launch on cuda) unless ``foreach=False``.
        capturable: keep ``state['step']`` on the parameters' (cuda) device and compute the bias
            corrections there (in float32), so the step can be captured in a CUDA graph and each
            replay advances the count: two launches per (device, dtype) group instead of one.
    """

    _decoupled = False
    _graph_capture = "capturable"

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False, fused=None):
        _check_flags(foreach, fused, differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable, fused=fused)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, g):
        _check_adam(g)

    def _update_group(self, group):
        params = [p for p in group["params"] if p.grad is not None]
        capturable = group.get("capturable", False)
        if capturable:
            _check_capturable(params, [self.state.get(p, {}) for p in params])
        keys = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())
        new = [p for p in params if not self.state[p]]
        cols = _zeros_like_each(new, len(keys), device_steps=capturable)
        steps = cols.pop() if capturable else [_step_tensor() for _ in new]
        for p, step, *zeros in zip(new, steps, *cols):
            self.state[p].update(step=step, **dict(zip(keys, zeros)))
        states = [self.state[p] for p in params]
        adam(params, [p.grad for p in params], states, amsgrad=group["amsgrad"], beta1=group["betas"][0],
             beta2=group["betas"][1], lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
             maximize=group["maximize"], decoupled=self._decoupled, foreach=group.get("foreach"),
             fused=group.get("fused"), capturable=capturable)


def adam(params, grads, states, *, amsgrad, beta1, beta2, lr, weight_decay, eps, maximize, decoupled=False,
         foreach=None, fused=None, capturable=False):
    """The Adam / AdamW update on lists of tensors, in place (torch/optim/adam.py), by the device's
    ``adam_foreach`` primitive per (device, dtype, step) group (``adam_step`` per tensor with ``foreach=False``).

    ``states[i]`` holds ``step`` (float32 0-d tensor), ``exp_avg``, ``exp_avg_sq`` (and
    ``max_exp_avg_sq`` with amsgrad); ``step`` is incremented here, on the host, or with
    ``capturable`` on the device by the primitive (the groups are then per (device, dtype) only).
    """
    foreach = use_foreach(foreach, fused)
    steps = [st["step"] for st in states] if capturable else [int(_bump_step(st)) for st in states]
    col = {k: [st[k] for st in states] for k in ("exp_avg", "exp_avg_sq")}
    vmax = [st["max_exp_avg_sq"] for st in states] if amsgrad else None
    for idx in _groups(params, grads, foreach, *(() if capturable else (steps,))):
        _apply("adam", idx, [params, grads, col["exp_avg"], col["exp_avg_sq"], steps if capturable else steps[idx[0]],
                             vmax], foreach, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
               amsgrad=amsgrad, maximize=maximize, decoupled=decoupled)
    written = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") + (("step",) if capturable else ())
    for p, st in zip(params, states):
        _written(p, {k: st[k] for k in written if k in st})
