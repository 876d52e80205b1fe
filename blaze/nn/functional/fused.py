"""Fused layer ops with no single PyTorch equivalent: ``linear_act``, ``add_layer_norm``, ``bias_dropout_add``.

``linear_act(x, W, b, activation=..., residual=r)`` is ``act(x @ W^T + b) + r`` as one
Function over the device primitives ``be.linear_act`` / ``be.linear_act_backward``: on cuda one
GEMM whose epilogue adds the bias, applies the activation, adds the residual and keeps the
pre-activation for the backward (instead of a GEMM, then an activation and an add reading and
writing the (M, N) output twice more); its backward runs dact(pre) and both gradient GEMMs in
the matmul backward kernels. PyTorch has no public op for this (``torch._addmm_activation`` is
private, relu/gelu only), hence a blaze name. Double backward goes through Tensor ops.

``add_layer_norm`` (h = x + residual, y = layer_norm(h); returns (y, h)) and ``bias_dropout_add``
(residual + dropout(x + bias)) are the joints of a transformer block, each one kernel on cuda
instead of two or three. Their values are the unfused ops' (bit for bit on cuda and cpu: each step
is rounded to the tensor's dtype where the unfused ops round it), and so are the random numbers
drawn: the dropout mask comes from the same Philox (seed, offset) ``F.dropout`` would take, and is
regenerated in the backward rather than stored. Inputs the fused kernels do not take (mixed
dtypes or devices, broadcasting, autocast) run the unfused ops.
"""
from __future__ import annotations

from ... import amp as _amp
from ...autograd import grad as _autograd_grad
from ...autograd.function import Function
from ...autograd.grad_mode import enable_grad, is_grad_enabled
from ..._tensor import Tensor
from ...random import default_generator
from .activation import gelu, relu, silu
from .dropout import _check_p, _DropoutMask, dropout
from .linear import _check, linear
from .normalization import (_layer_norm_grad_composed, _layer_norm_grad_tensors, _norm_shape, _normalized_size, _rows,
                            _vec, layer_norm)

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


class _AddLayerNorm(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, residual, weight, bias, n, eps):
        be = x._device.backend
        y, h, mean, rstd = be.add_layer_norm(_rows(x, n), _rows(residual, n), _vec(weight), _vec(bias), eps)
        shape = x._data.shape
        ht = Tensor._make(be.reshape(h, shape), x._device, x._dtype)
        # h is an output: unpacked in the backward it carries this node as grad_fn, so the
        # create_graph formula over it differentiates back to x and residual (what layer_norm
        # saves, its input, is this h: no more memory than the unfused add + layer_norm)
        ctx.save_for_backward(ht, weight)
        ctx.set_materialize_grads(False)   # y or h unused downstream: None, not a launch of zeros
        ctx.stats, ctx.n, ctx.eps = (mean, rstd), n, eps
        ctx.bias_meta = None if bias is None else (bias._data.shape, bias._dtype)
        return Tensor._make(be.reshape(y, shape), x._device, x._dtype), ht

    @staticmethod
    def backward(ctx, gy, gh):
        h, weight = ctx.saved_tensors
        nx, nr, nw, nb, _, _ = ctx.needs_input_grad
        nb = nb and ctx.bias_meta is not None
        if gy is None:                     # only h was used: it is x + residual
            return gh, gh, None, None, None, None
        if is_grad_enabled():
            dx, dw, db, _, _ = _layer_norm_grad_composed(gy, h, weight, ctx.n, ctx.eps, nw, nb, ctx.bias_meta)
            dx = dx if gh is None else dx + gh
        else:
            be = gy._device.backend
            mean, rstd = ctx.stats
            grads = be.add_layer_norm_backward(_rows(gy, ctx.n), None if gh is None else _rows(gh, ctx.n),
                                               _rows(h, ctx.n), _vec(weight), mean, rstd, need_weight_grad=nw or nb)
            dx, dw, db = _layer_norm_grad_tensors(grads, gy, h, weight, nw, nb, ctx.bias_meta)
        return dx if nx else None, dx if nr else None, dw if nw else None, db if nb else None, None, None


def add_layer_norm(input, residual, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """h = input + residual and y = layer_norm(h) in one kernel; returns (y, h).

    The pre-norm block's joint (``x = x + sublayer(..); y = norm(x)``): h is the next residual.
    The backward adds h's own gradient into layer_norm's input gradient in the same kernel.

    Shape: input, residual (*, *normalized_shape) -> y, h of that shape.

    Example::

        >>> y, x = F.add_layer_norm(attn_out, x, (d,), ln2.weight, ln2.bias)   # x += attn_out; y = ln2(x)
    """
    shape = _norm_shape(normalized_shape)
    if (residual.dtype is not input.dtype or residual.device != input.device
            or tuple(residual.shape) != tuple(input.shape) or _amp.is_autocast_enabled(input.device.type)):
        h = input + residual                       # promotion, broadcasting, autocast: the unfused ops
        return layer_norm(h, shape, weight, bias, eps), h
    n = _normalized_size(input, shape, "layer_norm")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                               f"{list(t.shape)} and normalized_shape = {list(shape)}")
    return _AddLayerNorm.apply(input, residual, weight, bias, n, float(eps))


class _BiasDropoutAdd(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, bias, residual, p, gen):
        be = x._device.backend
        out, state = be.bias_dropout_add(x._data, _vec(bias), residual._data, p, gen)
        ctx.p, ctx.state = p, state
        return Tensor._make(out, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        nx, nb, nr, _, _ = ctx.needs_input_grad
        dx = None
        if nx or nb:   # x + bias went through the mask: the same mask, regenerated (cuda) or kept (cpu)
            dx = g if ctx.state is None else _DropoutMask.apply(g, ctx.p, ctx.state)
        db = dx.sum(tuple(range(dx.ndim - 1))) if nb else None
        return dx if nx else None, db, g if nr else None, None, None


def bias_dropout_add(input, bias, residual, p: float = 0.5, training: bool = True, generator=None):
    """residual + dropout(input + bias, p, training) in one kernel; ``bias`` may be None.

    Not training or p = 0: exactly residual + (input + bias), and no random numbers are drawn.
    The mask is the one ``F.dropout`` would draw from the same generator state.

    Shape: input, residual (*, N), bias (N,) -> (*, N).

    Example::

        >>> x = F.bias_dropout_add(proj_out, None, x, 0.1, training=True)   # x + dropout(proj_out)
    """
    _check_p(p)
    p = float(p) if training else 0.0
    if (residual.dtype is not input.dtype or residual.device != input.device
            or tuple(residual.shape) != tuple(input.shape) or input.ndim == 0
            or (bias is not None and (bias.dtype is not input.dtype or bias.device != input.device
                                      or tuple(bias.shape) != (input.shape[-1],)))):
        return residual + dropout(input if bias is None else input + bias, p, p > 0, generator=generator)
    return _BiasDropoutAdd.apply(input, bias, residual, p, generator or default_generator)


__all__ = ["linear_act", "add_layer_norm", "bias_dropout_add"]
