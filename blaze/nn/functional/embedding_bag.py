"""embedding_bag, as ``torch.nn.functional.embedding_bag``: sums, means or maxes of bags of rows.

Bags are laid out as a padded (B, Lmax) table of positions into ``input`` plus a validity
mask (from the offsets, and ``!= padding_idx``), so every mode is one embedding lookup and one
masked reduction over dim 1; gradients reach ``weight`` through embedding's scatter-add and
``per_sample_weights`` through the product. The offsets are read on the host to size the
table (one small copy per call on cuda; a 2-D input of fixed-length bags needs none).
"""
from __future__ import annotations

import numpy as np

from ...ops.creation import tensor as _tensor
from ...ops.pointwise import where
from .sparse import _padding_idx, _renorm_, embedding

__all__ = ["embedding_bag"]

_MODES = ("sum", "mean", "max")


def _bags(input, offsets, include_last_offset):
    """(B, Lmax) positions into the flat input and the (B, Lmax) host mask of real entries."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             f"fixed length sequences. However, found offsets of type {type(offsets).__name__}")
        B, L = input.shape
        return np.arange(B * L).reshape(B, L), np.ones((B, L), bool)
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    off = offsets.detach().cpu().numpy().astype(np.int64)
    n = input.shape[0]
    if off.size and (off[0] != 0 or (np.diff(off) < 0).any() or off[-1] > n):
        raise RuntimeError(f"offsets must start at 0, be non-decreasing and at most input.size(0) = {n}, got "
                           f"{off.tolist()}")
    starts = off[:-1] if include_last_offset else off
    ends = off[1:] if include_last_offset else np.append(off[1:], n)
    lens = ends - starts
    lmax = max(int(lens.max()) if lens.size else 0, 1)
    pos = starts[:, None] + np.arange(lmax)[None, :]
    valid = np.arange(lmax)[None, :] < lens[:, None]
    return np.where(valid, pos, 0), valid


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Reduce bags of rows of ``weight`` (V, D) to (B, D).

    input: (B, L) fixed-length bags, or 1-D ids with ``offsets`` (B,) giving each bag's start
    (``include_last_offset``: B+1 offsets, the last one the end). mode 'sum' | 'mean' | 'max';
    ``per_sample_weights`` (input's shape, mode 'sum' only) scale each row. Entries equal to
    ``padding_idx`` are left out of every bag (and its mean count); an empty bag gives zeros.
    """
    if mode not in _MODES:
        raise ValueError(f"mode has to be one of sum, mean or max, but got {mode}")
    if input.dtype.is_floating_point:
        raise ValueError(f"embedding_bag: expected input to be an integer tensor, got {input.dtype}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      "on GitHub.")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, "
                             f"then it must have the same shape as the input ({list(input.shape)})")
    padding_idx = _padding_idx(padding_idx, weight.shape[0], "padding_idx must be within the number of embeddings")
    pos, valid = _bags(input, offsets, include_last_offset)
    flat = input.reshape(-1)
    if max_norm is not None:
        _renorm_(weight, flat, max_norm, norm_type)
    pos_t = _tensor(pos, device=input.device)
    ids = flat[pos_t] if flat.numel() else pos_t                      # (B, Lmax)
    mask = _tensor(valid, device=input.device)
    if padding_idx is not None:
        mask = mask & (ids != padding_idx)
    rows = embedding(ids, weight, padding_idx, None, 2.0, scale_grad_by_freq)   # (B, Lmax, D)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[pos_t].unsqueeze(-1)
    m = mask.unsqueeze(-1)
    if mode == "max":
        out = where(m, rows, float("-inf")).max(1)[0]
        return where(mask.any(1, keepdim=True), out, 0.0)
    total = where(m, rows, 0.0).sum(1)
    if mode == "sum":
        return total
    return total / mask.sum(1, keepdim=True).clamp(min=1).to(total.dtype)


