"""Attention and transformer layers: MultiheadAttention, TransformerEncoder(Layer), TransformerDecoder(Layer),
Transformer. Parameter names, shapes, defaults and init mirror PyTorch's, so state dicts map one to one."""
from __future__ import annotations

import copy

from ... import dtypes as _dt
from ...ops.creation import empty, full
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear", "TransformerEncoderLayer", "TransformerEncoder",
           "TransformerDecoderLayer", "TransformerDecoder", "Transformer", "generate_square_subsequent_mask"]


class NonDynamicallyQuantizableLinear(Linear):
    """PyTorch's name for MultiheadAttention's ``out_proj`` (a plain Linear)."""


def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
    """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees 0..i)."""
    return full((sz, sz), float("-inf"), dtype=dtype or _dt.get_default_dtype(), device=device).triu(1)


class MultiheadAttention(Module):
    """Multi-head attention, as ``torch.nn.MultiheadAttention``.

    Parameters: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) — or ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight`` when kdim/vdim differ from E — and ``out_proj``
    (Linear E -> E). forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) -> (output, weights or None).
    Inputs are (L, N, E), or (N, L, E) with batch_first, or unbatched (L, E).
    need_weights=False takes the fused attention path (no (L, S) matrix kept for backward).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv / add_zero_attn are not supported")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        kw = dict(device=device, dtype=dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # PyTorch: xavier_uniform on the projections, zero biases; out_proj.weight keeps Linear's init
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        return self._forward(None, query, key, value, key_padding_mask, need_weights, attn_mask,
                             average_attn_weights, is_causal)

    def _forward(self, residual, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                 average_attn_weights=True, is_causal=False):
        """forward, plus ``residual`` (laid out as ``query``) added in the output projection's epilogue."""
        unbatched = query.ndim == 2
        if unbatched:       # (L, E) -> (1, L, E); masks gain the batch dim too
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            residual = None if residual is None else residual.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif not self.batch_first:   # (L, N, E) -> (N, L, E), keeping q is k is v for the fused projection
            same_kv = key is value
            same_qk = query is key
            query = query.transpose(0, 1)
            key = query if same_qk else key.transpose(0, 1)
            value = key if same_kv else value.transpose(0, 1)
            residual = None if residual is None else residual.transpose(0, 1)
        out, weights = F.attention.attention_add(
            residual, query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
            self.out_proj.bias, self.dropout, self.training, key_padding_mask, need_weights, attn_mask,
            average_attn_weights, is_causal, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        if unbatched:
            return out.squeeze(0), None if weights is None else weights.squeeze(0)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
_EPILOGUE = {F.relu: "relu", F.gelu: "gelu"}  # activations the matmul epilogue applies (F.linear_act)


def _activation(act):
    if callable(act):
        return act
    if act not in _ACTIVATIONS:
        raise RuntimeError(f"activation should be relu/gelu, not {act}")
    return _ACTIVATIONS[act]


def _idle(drop) -> bool:
    """A Dropout that is the identity now (eval mode or p = 0): a residual add may move before it."""
    return not drop.training or drop.p == 0


def _dropout_add(drop, residual, y):
    """``residual + drop(y)``: one kernel (F.bias_dropout_add) instead of a dropout and an add.

    The sublayer's bias stays in its GEMM epilogue, where it costs nothing; its gradient is one
    column sum either way (the matmul backward's instead of this op's)."""
    return F.bias_dropout_add(y, None, residual, drop.p, drop.training)


def _attention_add(attn, drop, residual, q, kv, mask, key_padding_mask, is_causal):
    """``residual + drop(attn(q, kv, kv))``; with ``drop`` idle the add is the out-projection's epilogue."""
    kw = dict(attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False, is_causal=is_causal)
    if _idle(drop):
        return attn._forward(residual, q, kv, kv, **kw)[0]
    return _dropout_add(drop, residual, attn(q, kv, kv, **kw)[0])


def _attention_add_norm(attn, drop, norm, residual, q, kv, mask, key_padding_mask, is_causal):
    """(norm(h), h) with h = ``residual + drop(attn(q, kv, kv))``: the pre-norm joint, where h is the next
    residual. The add and the LayerNorm are one kernel (F.add_layer_norm), forward and backward (whose
    gradient of h from its later use is added there instead of in a launch of its own)."""
    y = attn(q, kv, kv, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
             is_causal=is_causal)[0]
    return F.add_layer_norm(drop(y), residual, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _feed_forward_add(layer, drop, residual, x):
    """``residual + drop(linear2(dropout(act(linear1(x)))))``: linear1 + activation in one GEMM epilogue
    when the activation is relu/gelu, and linear2 + the residual in another when ``drop`` is idle."""
    act = next((name for fn, name in _EPILOGUE.items() if layer.activation is fn), None)
    if act is not None:
        h = F.linear_act(x, layer.linear1.weight, layer.linear1.bias, activation=act)
    else:
        h = layer.activation(layer.linear1(x))
    h = layer.dropout(h)
    if _idle(drop):
        return F.linear_act(h, layer.linear2.weight, layer.linear2.bias, residual=residual)
    return _dropout_add(drop, residual, layer.linear2(h))


class TransformerEncoderLayer(Module):
    """Self-attention + feed-forward block, as ``torch.nn.TransformerEncoderLayer`` (post-norm by default).

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            h = self.norm1(x)
            h, x = _attention_add_norm(self.self_attn, self.dropout1, self.norm2, x, h, h, src_mask,
                                       src_key_padding_mask, is_causal)
            x = _feed_forward_add(self, self.dropout2, x, h)
        else:
            x = self.norm1(_attention_add(self.self_attn, self.dropout1, x, x, x, src_mask, src_key_padding_mask,
                                          is_causal))
            x = self.norm2(_feed_forward_add(self, self.dropout2, x, x))
        return x


class TransformerDecoderLayer(Module):
    """Self-attention + cross-attention + feed-forward, as ``torch.nn.TransformerDecoderLayer``.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        sa = (self.self_attn, self.dropout1)
        ca = (self.multihead_attn, self.dropout2)
        if self.norm_first:
            h = self.norm1(x)
            h, x = _attention_add_norm(*sa, self.norm2, x, h, h, tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            h, x = _attention_add_norm(*ca, self.norm3, x, h, memory, memory_mask, memory_key_padding_mask,
                                       memory_is_causal)
            x = _feed_forward_add(self, self.dropout3, x, h)
        else:
            x = self.norm1(_attention_add(*sa, x, x, x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(_attention_add(*ca, x, x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(_feed_forward_add(self, self.dropout3, x, x))
        return x


def _clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (+ optional final ``norm``), as PyTorch's.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None).
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` (+ optional final ``norm``), as PyTorch's."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """Encoder-decoder transformer, as ``torch.nn.Transformer`` (parameters ``encoder.*``, ``decoder.*``)."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias)
        self.encoder = custom_encoder or TransformerEncoder(TransformerEncoderLayer(*args, **kw), num_encoder_layers,
                                                            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.decoder = custom_decoder or TransformerDecoder(TransformerDecoderLayer(*args, **kw), num_decoder_layers,
                                                            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():      # PyTorch's _reset_parameters: xavier on every matrix
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        return generate_square_subsequent_mask(sz, device, dtype)

