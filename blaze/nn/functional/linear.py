"""linear and bilinear, as ``torch.nn.functional``.

``linear`` is one Function over the backend primitive ``be.linear(x2d, w, b)`` — the
Triton backend maps it to the matmul kernel's bias epilogue (one pass over the output
instead of a GEMM plus a broadcast add). Its backward is written with Tensor ops, so a
gradient penalty can differentiate through it again.
"""
from __future__ import annotations

from ... import amp as _amp
from ...autograd.function import Function
from ...ops.linalg import einsum
from ..._tensor import Tensor


class _Linear(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, weight, bias):
        be = x._device.backend
        k = x._data.shape[-1]
        lead = x._data.shape[:-1]
        x2 = be.reshape(x._data, (-1, k))  # (M, K): all leading dims are rows
        y = be.linear(x2, weight._data, None if bias is None else bias._data)
        ctx.save_for_backward(x, weight)
        return Tensor._make(be.reshape(y, lead + (weight._data.shape[0],)), x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        n, k = weight.shape
        g2 = g.reshape(-1, n)  # (M, N)
        gx = (g2 @ weight).reshape(x.shape) if nx else None
        gw = g2.t() @ x.reshape(-1, k) if nw else None  # (N, M) @ (M, K)
        gb = g2.sum(0) if nb else None
        return gx, gw, gb


def _check(input, weight, bias):
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        a = list(input.shape)
        rows = 1
        for s in a[:-1]:
            rows *= s
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{a[-1] if a else 1} and "
                           f"{weight.shape[1] if weight.ndim > 1 else 1}x{weight.shape[0]})")
    for t in (weight, bias):
        if t is not None and t.dtype is not input.dtype:
            raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {input.dtype} and {t.dtype}")
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), ()):
        raise RuntimeError(f"bias of shape {list(bias.shape)} does not match out_features {weight.shape[0]}")


def linear(input, weight, bias=None):
    """y = x @ weight.T + bias.

    Shape: input (*, in_features), weight (out_features, in_features), bias (out_features,)
    -> (*, out_features).
    """
    input, weight, bias = _amp.cast_inputs(input, weight, bias)  # autocast: a lower-precision op
    if weight.ndim == 1:  # torch allows a 1-D weight: a dot product over the last dim
        y = input @ weight
        return y + bias if bias is not None else y
    _check(input, weight, bias)
    if bias is not None and bias.ndim == 0:
        return _Linear.apply(input, weight, None) + bias
    return _Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = x1 @ weight[o] @ x2 + bias[o]; weight (out, in1, in2)."""
    input1, input2, weight, bias = _amp.cast_inputs(input1, input2, weight, bias)
    lead = tuple(input1.shape[:-1])
    a = input1.reshape(-1, input1.shape[-1])  # (B, in1)
    b = input2.reshape(-1, input2.shape[-1])  # (B, in2)
    y = einsum("bi,oij,bj->bo", a, weight, b).reshape(lead + (weight.shape[0],))
    return y + bias if bias is not None else y


__all__ = ["linear", "bilinear"]
