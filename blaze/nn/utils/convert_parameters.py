"""Flatten parameters into one vector and back, as ``torch.nn.utils``."""
from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops.movement import cat
from ..._tensor import Tensor


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    ps = list(parameters)
    if not ps:
        raise RuntimeError("parameters_to_vector: no parameters given")
    dev = ps[0].device
    for p in ps:
        if p.device != dev:
            raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return cat([p.reshape(-1) for p in ps])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into each parameter (in place)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected blaze.Tensor, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise RuntimeError(f"expected a 1-D vector, got shape {list(vec.shape)}")
    ps = list(parameters)
    total = sum(p.numel() for p in ps)
    if total != vec.numel():
        raise RuntimeError(f"vector has {vec.numel()} elements but the parameters hold {total}")
    i = 0
    with no_grad():
        for p in ps:
            n = p.numel()
            p.copy_(vec[i:i + n].reshape(p.shape))
            i += n


__all__ = ["parameters_to_vector", "vector_to_parameters"]
