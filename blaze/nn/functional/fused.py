"""Fused layer ops with no single PyTorch equivalent: ``linear_act``.

``linear_act(x, W, b, activation=..., residual=r)`` is ``act(x @ W^T + b) + r`` as one
Function over the device primitives ``be.linear_act`` / ``be.linear_act_backward``: on cuda one
GEMM whose epilogue adds the bias, applies the activation, adds the residual and keeps the
pre-activation for the backward (instead of a GEMM, then an activation and an add reading and
writing the (M, N) output twice more); its backward runs dact(pre) and both gradient GEMMs in
the matmul backward kernels. PyTorch has no public op for this (``torch._addmm_activation`` is
private, relu/gelu only), hence a blaze name. Double backward goes through Tensor ops.
"""
from __future__ import annotations

from ... import amp as _amp
from ...autograd import grad as _autograd_grad
from ...autograd.function import Function
from ...autograd.grad_mode import enable_grad, is_grad_enabled
from ..._tensor import Tensor
from .activation import gelu, relu, silu
from .linear import _check, linear

# the matmul epilogue's activations (blaze/kernels/matmul.py's ACTIVATIONS), as Tensor ops
ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_tanh": lambda t: gelu(t, approximate="tanh"), "silu": silu,
               "tanh": lambda t: t.tanh()}


class _LinearAct(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, weight, bias, residual, activation):
        be = x._device.backend
        k, n = x._data.shape[-1], weight._data.shape[0]
        lead = x._data.shape[:-1]
        x2 = be.reshape(x._data, (-1, k))                                    # (M, K): all leading dims are rows
        r2 = None if residual is None else be.reshape(be.contiguous(residual._data), (-1, n))   # (M, N)
        y, pre = be.linear_act(x2, weight._data, None if bias is None else bias._data, r2, activation)
        ctx.save_for_backward(x, weight, bias)
        ctx.pre, ctx.activation = pre, activation
        return Tensor._make(be.reshape(y, lead + (n,)), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        x, weight, bias = ctx.saved_tensors
        nx, nw, nb, nr, _ = ctx.needs_input_grad
        gr = g if nr else None
        n, k = weight.shape
        if is_grad_enabled():  # create_graph: the same gradients as Tensor ops, differentiable again
            dz = g
            if ctx.activation is not None:
                with enable_grad():
                    pre = linear(x, weight, bias)
                    dz, = _autograd_grad(ACTIVATIONS[ctx.activation](pre), pre, g, create_graph=True)
            dz2 = dz.reshape(-1, n)                                          # (M, N)
            return ((dz2 @ weight).reshape(x.shape) if nx else None, dz2.t() @ x.reshape(-1, k) if nw else None,
                    dz2.sum(0) if nb else None, gr, None)
        be, dev = g._device.backend, g._device
        dx, dw, db = be.linear_act_backward(be.reshape(be.contiguous(g._data), (-1, n)), be.reshape(x._data, (-1, k)),
                                            weight._data, ctx.pre, ctx.activation, nx, nw, nb)
        return (Tensor._make(be.reshape(dx, x._data.shape), dev, x._dtype) if nx else None,
                Tensor._make(dw, dev, weight._dtype) if nw else None,
                Tensor._make(db, dev, bias._dtype) if nb else None, gr, None)


def linear_act(input, weight, bias=None, *, activation=None, residual=None):
    """y = activation(input @ weight.T + bias) + residual, fused into the matmul epilogue.

    Args:
        activation: None, "relu", "gelu", "gelu_tanh" (GELU's tanh approximation), "silu" or "tanh".
        residual: a tensor of the output's shape, or None.

    Shape: input (*, in_features), weight (out_features, in_features), bias (out_features,),
    residual (*, out_features) -> (*, out_features).

    Example::

        >>> h = F.linear_act(x, ff1.weight, ff1.bias, activation="gelu")   # F.gelu(ff1(x))
        >>> y = F.linear_act(h, ff2.weight, ff2.bias, residual=x)          # x + ff2(h)
    """
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"linear_act: unknown activation {activation!r} (supported: None, {', '.join(ACTIVATIONS)})")
    input, weight, bias, residual = _amp.cast_inputs(input, weight, bias, residual)
    if weight.ndim != 2 or (bias is not None and bias.ndim != 1):
        raise RuntimeError(f"linear_act: weight must be 2-D and bias 1-D, got {list(weight.shape)} and "
                           f"{None if bias is None else list(bias.shape)}")
    _check(input, weight, bias)
    out_shape = tuple(input.shape[:-1]) + (weight.shape[0],)
    if residual is not None:
        if residual.dtype is not input.dtype:
            raise RuntimeError(f"linear_act: residual dtype {residual.dtype} differs from input's {input.dtype}")
        if residual.device != input.device:
            raise RuntimeError(f"linear_act: residual is on {residual.device}, input on {input.device}")
        if tuple(residual.shape) != out_shape:
            raise RuntimeError(f"linear_act: residual of shape {list(residual.shape)} does not match the output "
                               f"shape {list(out_shape)}")
    return _LinearAct.apply(input, weight, bias, residual, activation)


__all__ = ["linear_act"]
