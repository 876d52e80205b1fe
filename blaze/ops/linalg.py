"""Matrix products: matmul (batch broadcasting), mm, bmm, mv, dot, outer, einsum, linear."""
from __future__ import annotations

import numpy as np

from .. import amp as _amp
from .. import dtypes as _dt
from ..autograd.function import Function
from ..devices.defaults.einsum import parse as parse_einsum
from ._util import make, same_device, unbroadcast


def _mm_error(a_shape, b_shape):
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, a_shape))} and "
                        f"{'x'.join(map(str, b_shape))})")


class MatMul(Function):
    """``a @ b`` for a, b with at least 2 dims and broadcastable batch dims."""
    _internal = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return make(a._device.backend.matmul(a._data, b._data), a._device, a._dtype)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = unbroadcast(g @ b.transpose(-1, -2), a.shape) if na else None
        gb = unbroadcast(a.transpose(-1, -2) @ g, b.shape) if nb else None
        return ga, gb


def matmul(input, other, *, out=None):
    """Matrix product with NumPy/PyTorch semantics for 1-D operands and batch broadcasting."""
    a, b = input, other
    same_device(a, b)
    if _amp._state.__dict__.get("stack"):  # inside blaze.autocast: matmul runs in the low precision
        a, b = _amp.cast_inputs(a, b)
        input, other = a, b
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {_dt.type_label(a.dtype).lower()} "
                           f"!= {_dt.type_label(b.dtype).lower()}")
    squeeze = []
    if a.ndim == 1:
        a = a.unsqueeze(0)
        squeeze.append(-2)
    if b.ndim == 1:
        b = b.unsqueeze(-1)
        squeeze.append(-1)
    if a.shape[-1] != b.shape[-2]:
        if input.ndim <= 2 and other.ndim <= 2:
            raise _mm_error(a.shape, b.shape)
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{list(b.shape[:-2])}, {a.shape[-1]}] but got: [{list(b.shape[:-2])}, {b.shape[-2]}]."
                           f" (matmul of shapes {list(input.shape)} and {list(other.shape)})")
    try:
        np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions {list(a.shape[:-2])} and {list(b.shape[:-2])} of shapes "
                           f"{list(input.shape)} and {list(other.shape)} do not broadcast") from None
    r = MatMul.apply(a, b)
    for d in squeeze if len(squeeze) < 2 else (-1, -1):
        r = r.squeeze(d)
    return r if out is None else out.copy_(r)


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {input.ndim}D and {mat2.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor and batch2 must be a 3D tensor (got {input.ndim}D and "
                           f"{mat2.ndim}D)")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {input.shape[0]} and {mat2.shape[0]}")
    return matmul(input, mat2)


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src [{other.shape[0]}] "
                           "to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    r = matmul(mat1, mat2)
    return (input * beta if beta != 1 else input) + (r * alpha if alpha != 1 else r)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return addmm(input, batch1, batch2, beta=beta, alpha=alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``, as ``torch.addmv``."""
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}")
    return addmm(input, mat, vec, beta=beta, alpha=alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``, as ``torch.addr``."""
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {vec1.ndim}-D" if vec1.ndim != 1 else
                           f"addr: Expected 1-D argument vec2, but got {vec2.ndim}-D")
    return addmm(input, vec1.unsqueeze(1), vec2.unsqueeze(0), beta=beta, alpha=alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``, as ``torch.addbmm``."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor, batch2 must be a 3D tensor (got {batch1.ndim}-D and "
                           f"{batch2.ndim}-D)")
    b, n, k = batch1.shape
    # (n, b*k) @ (b*k, p): one matmul sums over the batch
    return addmm(input, batch1.permute(1, 0, 2).reshape(n, b * k), batch2.reshape(b * k, -1), beta=beta, alpha=alpha)


def tensordot(a, b, dims=2):
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [i for i in range(b.ndim) if i not in db]
    k = int(np.prod([a.shape[i] for i in da])) if da else 1
    am = a.permute(fa + da).reshape(-1, k)
    bm = b.permute(db + fb).reshape(k, -1)
    return (am @ bm).reshape([a.shape[i] for i in fa] + [b.shape[i] for i in fb])


# ---------------------------------------------------------------------------- einsum
class Einsum(Function):
    _internal = True

    @staticmethod
    def forward(ctx, eq, *xs):
        ins, out = parse_einsum(eq, len(xs))
        ctx.ins, ctx.out = ins, out
        ctx.save_for_backward(*xs)
        return make(xs[0]._device.backend.einsum(f"{','.join(ins)}->{out}", *[x._data for x in xs]),
                    xs[0]._device, xs[0]._dtype)

    @staticmethod
    def backward(ctx, g):
        xs = ctx.saved_tensors
        grads = [None]
        for i, x in enumerate(xs):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            others = [ctx.ins[j] for j in range(len(xs)) if j != i]
            operands = [xs[j] for j in range(len(xs)) if j != i]
            target = ctx.ins[i]
            avail = set(ctx.out) | set("".join(others))
            # letters only in operand i were summed over: their gradient broadcasts back
            kept = "".join(dict.fromkeys(c for c in target if c in avail))
            gi = einsum(f"{','.join([ctx.out] + others)}->{kept}", g, *operands)
            if kept != target:
                if len(set(target)) != len(target):
                    raise NotImplementedError("einsum backward: repeated index within one operand")
                shape = [x.shape[target.index(c)] for c in target]
                view = [gi.shape[kept.index(c)] if c in kept else 1 for c in target]
                perm = sorted(range(len(kept)), key=lambda k: target.index(kept[k]))
                gi = gi.permute(perm).reshape(view).expand(shape)
            grads.append(gi)
        return tuple(grads)


def einsum(equation, *operands):
    """Einstein summation over explicit subscripts (e.g. ``"bij,bjk->bik"``), as ``torch.einsum``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    same_device(*operands)
    ins, _ = parse_einsum(equation, len(operands))
    for sub, x in zip(ins, operands):
        if len(sub) != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(sub)}) does not match the "
                               f"number of dimensions ({x.ndim}) for operand {ins.index(sub)}")
    seen = {}
    for i, (sub, x) in enumerate(zip(ins, operands)):
        for c, n in zip(sub, x.shape):
            if seen.setdefault(c, n) != n:  # the cuda path's GEMMs would read past the shorter operand
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which does not "
                                   f"broadcast with previously seen size {seen[c]}")
    return Einsum.apply(equation, *operands)
