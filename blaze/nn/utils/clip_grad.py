"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``."""
from __future__ import annotations

import math

from ...autograd.grad_mode import no_grad
from ...ops.creation import tensor
from ...ops.movement import stack
from ..._tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None):
    """Scale all gradients so their joint ``norm_type``-norm is at most ``max_norm``.

    The norm is taken over all gradients together, as if concatenated into one vector;
    ``norm_type`` may be ``inf``. Gradients are scaled by min(1, max_norm / (norm + 1e-6)).
    With ``foreach`` (None or True) gradients of one device and dtype go to the device's
    ``clip_norm_foreach`` primitive: three launches on cuda whatever their number, no host sync.

    Returns:
        The total norm before clipping (a 0-d tensor).
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    # error_if_nonfinite must read the norm before any gradient is scaled: the per-tensor path
    if foreach is not False and not error_if_nonfinite and norm_type > 0 and \
            len({(g._device, g._dtype) for g in grads}) == 1:
        return _clip_foreach(grads, float(max_norm), norm_type)
    with no_grad():
        if math.isinf(norm_type):
            norms = [g.detach().abs().amax() for g in grads]
            total = stack([n.to(grads[0].dtype) for n in norms]).amax()
        else:
            norms = [g.detach().norm(norm_type) for g in grads]
            total = stack([n.to(grads[0].dtype) for n in norms]).norm(norm_type)
        if error_if_nonfinite and not math.isfinite(total.item()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        # clamp the coefficient on the device: no host sync in the common (GPU) path
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype))
    return total


def _clip_foreach(grads, max_norm, norm_type):
    g0 = grads[0]
    with no_grad():
        total = Tensor._make(g0._device.backend.clip_norm_foreach([g._data for g in grads], max_norm, norm_type),
                             g0._device)
        for g in grads:
            g._version[0] += 1
        return total if total.dtype == g0.dtype else total.to(g0.dtype)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient elementwise into [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"]
