"""Attention: scaled_dot_product_attention (one fused Function) and multi_head_attention_forward.

The fused path calls the backend's ``attention`` / ``attention_backward`` primitives, whose
semantics are those of ``blaze/kernels/attention.py``: the backward recomputes the probabilities
from the saved logsumexp, except what a device keeps when told the backward will run (the cpu
device keeps probability blocks up to a budget). The composed path (softmax of
explicit scores) serves what the fused one cannot: dropout on the weights, a float mask
that needs a gradient, and returning the attention weights.
"""
from __future__ import annotations

import math

from ... import amp as _amp
from ... import dtypes as _dt
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...ops._util import make, same_device
from ...ops.creation import ones

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


class _FusedAttention(Function):
    """out = softmax(q k^T * scale + mask) v over (B, H, S, D) tensors; masks get no gradient.

    attn_mask: bool (True = attend) or float (added), broadcastable to (B, H, S_q, S_k);
    key_padding_mask: bool (B, S_k), True = ignore that key.
    """
    _internal = True

    @staticmethod
    def forward(ctx, q, k, v, attn_mask, key_padding_mask, causal, scale):
        be = q._device.backend
        am = None if attn_mask is None else attn_mask._data
        kpm = None if key_padding_mask is None else key_padding_mask._data
        out, lse = be.attention(q._data, k._data, v._data, causal, scale, am, kpm,
                                keep_probs=any(ctx.needs_input_grad[:3]))
        out = make(out, q._device, q._dtype)
        ctx.save_for_backward(q, k, v, out)
        ctx.lse, ctx.masks, ctx.causal, ctx.scale = lse, (am, kpm), causal, scale
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out = ctx.saved_tensors
        if is_grad_enabled() and (g.requires_grad or q.requires_grad or k.requires_grad or v.requires_grad):
            raise RuntimeError("double backward through the fused scaled_dot_product_attention is not supported; "
                               "pass dropout_p > 0 or a float attn_mask that requires grad to use the composed "
                               "(differentiable) path")
        be = q._device.backend
        dq, dk, dv = be.attention_backward(g._data, q._data, k._data, v._data, out._data, ctx.lse, ctx.causal,
                                           ctx.scale, *ctx.masks)
        dev = q._device
        return make(dq, dev, q._dtype), make(dk, dev, k._dtype), make(dv, dev, v._dtype), None, None, None, None


def _causal_mask(L, S, device):
    """bool (L, S), True where query i may see key j <= i (PyTorch's top-left aligned tril)."""
    return ones(L, S, dtype=_dt.bool_, device=device).tril()


def _composed(q, k, v, attn_mask, key_padding_mask, causal, scale, dropout_p):
    """Explicit scores -> softmax -> dropout -> weighted sum. Returns (out, weights)."""
    from .activation import softmax
    from .dropout import dropout
    s = (q @ k.transpose(-2, -1)) * scale                                  # (..., L, S)
    L, S = s.shape[-2:]
    if causal:
        s = s.masked_fill(_causal_mask(L, S, q.device).logical_not(), float("-inf"))
    if attn_mask is not None:
        s = s.masked_fill(attn_mask.logical_not(), float("-inf")) if attn_mask.dtype is _dt.bool_ else s + attn_mask
    if key_padding_mask is not None:                                       # (B, S) -> (B, 1, 1, S)
        s = s.masked_fill(key_padding_mask.reshape(key_padding_mask.shape[0], 1, 1, S), float("-inf"))
    p = softmax(s, dim=-1)
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, training=True)
    return p @ v, p


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(q k^T * scale + mask) v, as ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev); the leading dims must match.
        attn_mask: bool (True = take part in attention) or float (added to the scores),
            broadcastable to (..., L, S).
        dropout_p: dropout on the attention weights (always applied when > 0, as PyTorch).
        is_causal: top-left aligned causal mask; not together with attn_mask.
        scale: defaults to 1/sqrt(E).

    Returns:
        (..., L, Ev). A row with every key masked gives zeros (PyTorch's math path gives NaN).
    """
    query, key, value, attn_mask = _amp.cast_inputs(query, key, value, attn_mask)  # autocast: lower precision
    same_device(query, key, value, attn_mask)
    if query.ndim < 2 or key.ndim != query.ndim or value.ndim != query.ndim:
        raise RuntimeError(f"scaled_dot_product_attention: expected query, key, value of equal rank >= 2, got "
                           f"{list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
    if not (query.dtype is key.dtype is value.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead.")
    if key.shape[-1] != query.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: shapes do not agree: query {list(query.shape)}, key "
                           f"{list(key.shape)}, value {list(value.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key, value = key.repeat_interleave(rep, dim=-3), value.repeat_interleave(rep, dim=-3)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    if attn_mask is not None and attn_mask.dtype is not _dt.bool_ and attn_mask.dtype is not query.dtype:
        attn_mask = attn_mask.to(query.dtype)
    if dropout_p > 0.0 or (attn_mask is not None and attn_mask.requires_grad):
        return _composed(query, key, value, attn_mask, None, is_causal, scale, dropout_p)[0]
    return _fused(query, key, value, attn_mask, None, is_causal, scale)


def _fused(q, k, v, attn_mask, key_padding_mask, causal, scale):
    """Run :class:`_FusedAttention` on any (..., L, E) layout by viewing it as (B, H, L, E)."""
    batch = tuple(q.shape[:-2])
    L, S = q.shape[-2], k.shape[-2]
    if q.ndim == 4 and tuple(k.shape[:2]) == batch == tuple(v.shape[:2]):
        return _FusedAttention.apply(q, k, v, attn_mask, key_padding_mask, causal, scale)
    if tuple(k.shape[:-2]) != batch or tuple(v.shape[:-2]) != batch:
        k = k.expand(*batch, *k.shape[-2:])
        v = v.expand(*batch, *v.shape[-2:])
    B = math.prod(batch)
    q4, k4, v4 = (t.reshape(B, 1, t.shape[-2], t.shape[-1]) for t in (q, k, v))   # (B, 1, L|S, E)
    if attn_mask is not None and attn_mask.ndim > 2:
        attn_mask = attn_mask.expand(*batch, L, S).reshape(B, 1, L, S)
    out = _FusedAttention.apply(q4, k4, v4, attn_mask, key_padding_mask, causal, scale)
    return out.reshape(*batch, L, v.shape[-1])


def _as_bool_or_float(mask, dtype, what):
    if mask is None or mask.dtype is _dt.bool_ or mask.dtype.is_floating_point:
        return mask if mask is None or mask.dtype is _dt.bool_ else mask.to(dtype)
    raise RuntimeError(f"only bool and floating types of {what} are supported")


def multi_head_attention_forward(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                                 out_proj_bias, dropout_p=0.0, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None):
    """Multi-head attention on batch-first (N, L, E) inputs (``nn.MultiheadAttention`` transposes).

    Masks follow ``nn.MultiheadAttention``: key_padding_mask (N, S) and attn_mask (L, S) or
    (N*num_heads, L, S); bool True means *not allowed*, float is added. ``is_causal`` with no
    attn_mask applies the causal mask. Returns (out (N, L, E), weights or None).
    """
    return attention_add(None, query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                         out_proj_bias, dropout_p, training, key_padding_mask, need_weights, attn_mask,
                         average_attn_weights, is_causal, q_proj_weight, k_proj_weight, v_proj_weight)


def attention_add(residual, query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
                  out_proj_bias, dropout_p=0.0, training=True, key_padding_mask=None, need_weights=True,
                  attn_mask=None, average_attn_weights=True, is_causal=False, q_proj_weight=None, k_proj_weight=None,
                  v_proj_weight=None):
    """``residual + multi_head_attention_forward(...)[0]`` (and the weights), the add fused into the
    output projection's GEMM epilogue (F.linear_act); ``residual`` None: no add. Not exported."""
    from .fused import linear_act
    from .linear import linear
    N, L, E = query.shape
    S = key.shape[1]
    hd = E // num_heads
    if hd * num_heads != E:
        raise AssertionError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if in_proj_weight is not None:
        if query is key and key is value:       # self-attention: one (N*L, E) x (E, 3E) GEMM
            q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, dim=-1)
        else:
            w = in_proj_weight.chunk(3)
            b = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
            q, k, v = linear(query, w[0], b[0]), linear(key, w[1], b[1]), linear(value, w[2], b[2])
    else:
        b = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = linear(query, q_proj_weight, b[0]), linear(key, k_proj_weight, b[1]), linear(value, v_proj_weight,
                                                                                               b[2])
    q = q.reshape(N, L, num_heads, hd).transpose(1, 2)                      # (N, H, L, hd)
    k = k.reshape(N, S, num_heads, hd).transpose(1, 2)                      # (N, H, S, hd)
    v = v.reshape(N, S, num_heads, hd).transpose(1, 2)

    attn_mask = _as_bool_or_float(attn_mask, query.dtype, "attn_mask")
    key_padding_mask = _as_bool_or_float(key_padding_mask, query.dtype, "key_padding_mask")
    causal = bool(is_causal) and attn_mask is None
    if attn_mask is not None:
        if attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is {list(attn_mask.shape)}, but should be "
                                   f"{[N * num_heads, L, S]}.")
            attn_mask = attn_mask.reshape(N, num_heads, L, S)
        elif tuple(attn_mask.shape) != (L, S):
            raise RuntimeError(f"The shape of the 2D attn_mask is {list(attn_mask.shape)}, but should be {[L, S]}.")
        if attn_mask.dtype is _dt.bool_:
            attn_mask = attn_mask.logical_not()          # MHA: True = masked; SDPA: True = attend
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise RuntimeError(f"expected key_padding_mask of shape {[N, S]}, got {list(key_padding_mask.shape)}")
        if key_padding_mask.dtype is not _dt.bool_:      # float: fold into the additive mask
            kpm = key_padding_mask.reshape(N, 1, 1, S)
            if attn_mask is None:
                attn_mask = kpm
            elif attn_mask.dtype is _dt.bool_:
                attn_mask = kpm.masked_fill(attn_mask.logical_not(), float("-inf"))
            else:
                attn_mask = attn_mask + kpm
            key_padding_mask = None
    # autocast: the projections above ran in the low precision; the float mask follows q, k, v
    q, k, v, attn_mask = _amp.cast_inputs(q, k, v, attn_mask)
    scale = 1.0 / math.sqrt(hd)
    p = dropout_p if training else 0.0
    weights = None
    if need_weights or p > 0.0 or (attn_mask is not None and attn_mask.requires_grad):
        out, weights = _composed(q, k, v, attn_mask, key_padding_mask, causal, scale, p)
    else:
        out = _FusedAttention.apply(q, k, v, attn_mask, key_padding_mask, causal, scale)
    out = out.transpose(1, 2).reshape(N, L, E)                              # (N, L, H*hd)
    out = (linear(out, out_proj_weight, out_proj_bias) if residual is None
           else linear_act(out, out_proj_weight, out_proj_bias, residual=residual))
    if not need_weights:
        return out, None
    return out, (weights.mean(dim=1) if average_attn_weights else weights)

