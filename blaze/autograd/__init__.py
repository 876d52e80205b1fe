"""Define-by-run autograd: ``backward``, ``grad``, ``Function`` and grad-mode switches."""
from __future__ import annotations

from .engine import run_backward
from .function import Function, once_differentiable  # noqa: F401
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401


def _make_grads(outputs, grad_outputs):
    grads = []
    for out, g in zip(outputs, grad_outputs):
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.dtype.is_floating_point:
                raise RuntimeError(f"grad can be implicitly created only for real scalar outputs but got "
                                   f"{out.dtype}")
            g = out._make(out._device.backend.full(out._data.shape, 1, out._dtype), out._device, out._dtype)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {list(g.shape)} and output[0] has "
                               f"a shape of {list(out.shape)}.")
        grads.append(g)
    return grads


def _seq(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves they depend on."""
    tensors = _seq(tensors)
    grads = _seq(grad_tensors) or [None] * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(tensors, grads)
    if inputs is not None:
        inputs = _seq(inputs)
        got = run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs, allow_unused=True,
                           accumulate=False)
        from .engine import _accumulate
        for x, g in zip(inputs, got):
            _accumulate(x, g, create_graph, set())
        return
    run_backward(tensors, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False,
         is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` (returned, not stored), as ``torch.autograd.grad``.

    With ``create_graph=True`` the result is itself differentiable (e.g. a WGAN-GP gradient penalty).
    """
    outputs = _seq(outputs)
    single = not isinstance(inputs, (list, tuple))
    inputs = _seq(inputs)
    grads = _seq(grad_outputs) or [None] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(outputs, grads)
    result = run_backward(outputs, grads, retain_graph, create_graph, inputs=inputs,
                          allow_unused=allow_unused or materialize_grads, accumulate=False)
    if materialize_grads:
        from ..ops.creation import zeros_like
        result = tuple(g if g is not None else zeros_like(x) for g, x in zip(result, inputs))
    return result


__all__ = ["backward", "grad", "Function", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_grad_enabled", "once_differentiable"]
