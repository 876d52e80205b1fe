"""embedding (fused gather forward / scatter-add backward), as ``torch.nn.functional.embedding``."""
from __future__ import annotations

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled, no_grad
from ...ops.creation import zeros
from ...ops.pointwise import where
from ..._tensor import Tensor


class _Embedding(Function):
    """out = weight[ids]; dW = scatter-add of the output grad rows by id (padding row zero).

    Primitives ``be.embedding(weight, ids)`` and ``be.embedding_backward(grad, ids, V, padding_idx)``
    match kernels/embedding.py.
    """
    _internal = True

    @staticmethod
    def forward(ctx, weight, ids, padding_idx, freq_scale):
        be = weight._device.backend
        ctx.save_for_backward(ids)
        ctx.v, ctx.padding_idx, ctx.freq_scale = weight.shape[0], padding_idx, freq_scale
        ctx.wdtype = weight.dtype
        return Tensor._make(be.embedding(weight._data, ids._data), weight._device, weight._dtype)

    @staticmethod
    def backward(ctx, g):
        (ids,) = ctx.saved_tensors
        d = g.shape[-1]
        if ctx.freq_scale:
            # scale_grad_by_freq: each id's rows count 1 / (occurrences of the id in this batch)
            flat = ids.reshape(-1)
            counts = zeros(ctx.v, dtype=g.dtype, device=g.device).index_add(0, flat, g.new_ones(flat.shape[0]))
            g = g / counts[ids].unsqueeze(-1)
        if is_grad_enabled():  # create_graph: the scatter-add as a differentiable index_add
            gw = zeros(ctx.v, d, dtype=g.dtype, device=g.device).index_add(0, ids.reshape(-1), g.reshape(-1, d))
            if ctx.padding_idx is not None:
                gw = where(_row_is(ctx.v, ctx.padding_idx, g), 0.0, gw)
            return gw.to(ctx.wdtype), None, None, None
        be = g._device.backend
        gw = be.embedding_backward(be.contiguous(g._data), ids._data, ctx.v, ctx.padding_idx)
        gw = Tensor._make(gw, g._device)
        return (gw if gw.dtype is ctx.wdtype else gw.to(ctx.wdtype)), None, None, None


def _row_is(v, idx, like):
    from ...ops.creation import arange
    return (arange(v, device=like.device) == idx).reshape(-1, 1)


def _renorm_(weight, ids, max_norm: float, norm_type: float) -> None:
    """Rescale in place the rows of ``weight`` used by ``ids`` whose norm exceeds ``max_norm``."""
    with no_grad():
        import numpy as np
        rows = np.unique(ids.detach().cpu().numpy().reshape(-1))
        from ...ops.creation import tensor
        idx = tensor(rows, device=weight.device)
        sel = weight.detach().index_select(0, idx)
        norms = sel.norm(norm_type, -1, keepdim=True)
        scale = where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight.data[idx] = sel * scale


def _padding_idx(padding_idx, v, what="Padding_idx must be within num_embeddings"):
    """padding_idx in [-v, v) made non-negative (None stays None)."""
    if padding_idx is None:
        return None
    if not -v <= padding_idx < v:
        raise AssertionError(what)
    return padding_idx % v


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` (V, D) picked by integer ``input`` (*) -> (*, D).

    ``padding_idx``'s row gets no gradient; ``max_norm`` renormalizes the looked-up rows in place first.
    """
    if input.dtype.is_floating_point:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.type()} instead (while checking arguments for embedding)")
    v = weight.shape[0]
    padding_idx = _padding_idx(padding_idx, v)
    if input.device.type == "cpu" and input.numel():
        lo, hi = int(input._data.min()), int(input._data.max())
        if lo < 0 or hi >= v:
            raise IndexError(f"index {hi if hi >= v else lo} is out of bounds for dimension 0 with size {v}")
    if max_norm is not None:
        _renorm_(weight, input, max_norm, norm_type)
    return _Embedding.apply(weight, input, padding_idx, bool(scale_grad_by_freq))


__all__ = ["embedding"]
