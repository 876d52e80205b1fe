"""scaled_dot_product_attention, MultiheadAttention and transformer layers vs float64 NumPy references;
gradients vs finite differences; masks follow PyTorch; state-dict names match PyTorch's."""
import math

import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from tests.nn.test_conv_pool import T, check_grad

RNG = np.random.default_rng(1)


def ref_attention(q, k, v, mask=None, causal=False, scale=None, add=None):
    """mask: bool, True = attend (broadcast); add: float mask added to the scores."""
    s = q @ np.swapaxes(k, -1, -2) * (scale or 1 / math.sqrt(q.shape[-1]))
    if add is not None:
        s = s + add
    allowed = np.ones(s.shape, bool)
    if mask is not None:
        allowed &= mask
    if causal:
        allowed &= np.tri(s.shape[-2], s.shape[-1], dtype=bool)
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - np.where(np.isfinite(m), m, 0))
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-300)
    return p @ v, p


@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float", "scale"])
def test_sdpa_forward(case):
    q, k, v = RNG.standard_normal((2, 3, 5, 4)), RNG.standard_normal((2, 3, 7, 4)), RNG.standard_normal((2, 3, 7, 6))
    mask = RNG.random((5, 7)) > 0.3 if case == "bool" else None
    add = RNG.standard_normal((2, 1, 5, 7)) if case == "float" else None
    m = T(mask, False).bool() if mask is not None else (T(add, False) if add is not None else None)
    y = F.scaled_dot_product_attention(T(q, False), T(k, False), T(v, False), attn_mask=m, is_causal=case == "causal",
                                       scale=0.3 if case == "scale" else None)
    ref, _ = ref_attention(q, k, v, mask, case == "causal", 0.3 if case == "scale" else None, add)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)


def test_sdpa_three_dim_fully_masked_and_float32():
    q, k, v = RNG.standard_normal((3, 4, 5)), RNG.standard_normal((3, 6, 5)), RNG.standard_normal((3, 6, 2))
    mask = RNG.random((3, 4, 6)) > 0.4
    mask[1, 2] = False                                    # a row with no key: zeros, not NaN
    y = F.scaled_dot_product_attention(T(q, False), T(k, False), T(v, False), attn_mask=T(mask, False).bool())
    ref, _ = ref_attention(q, k, v, mask)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    assert np.all(y.numpy()[1, 2] == 0)
    y32 = F.scaled_dot_product_attention(*(blaze.tensor(a.astype(np.float32)) for a in (q, k, v)))
    assert y32.dtype == blaze.float32
    np.testing.assert_allclose(y32.numpy(), ref_attention(q, k, v)[0], rtol=1e-5, atol=1e-5)


def test_sdpa_grads():
    q, k, v = RNG.standard_normal((1, 2, 4, 3)), RNG.standard_normal((1, 2, 5, 3)), RNG.standard_normal((1, 2, 5, 2))
    mask = T(RNG.random((4, 5)) > 0.3, False).bool()
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), [q, k, v])
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])
    # a float mask that requires grad takes the composed path and gets its gradient
    add = RNG.standard_normal((4, 5))
    check_grad(lambda q, a: F.scaled_dot_product_attention(q, T(k, False), T(v, False), attn_mask=a), [q, add])


def test_sdpa_errors_and_dropout():
    q = T(RNG.standard_normal((1, 1, 3, 2)))
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=T(np.ones((3, 3)), False), is_causal=True)
    blaze.manual_seed(0)
    qq = T(RNG.standard_normal((2, 2, 16, 4)), False)
    vv = T(np.ones((2, 2, 16, 4)), False)
    yd = F.scaled_dot_product_attention(qq, qq, vv, dropout_p=0.5)
    # rows of (dropped, 1/(1-p)-scaled) probabilities times ones: mean 1 over many rows, not all equal 1
    assert abs(yd.numpy().mean() - 1) < 0.2 and yd.numpy().std() > 0.1


def test_sdpa_double_backward_raises():
    q = T(RNG.standard_normal((1, 1, 3, 2)))
    y = F.scaled_dot_product_attention(q, q, q)
    with pytest.raises(RuntimeError, match="double backward"):
        blaze.autograd.grad(y.sum(), (q,), create_graph=True)


def _ref_attention_grads(q, k, v, do, p, scale):
    """Analytic float64 (dq, dk, dv) of out = p @ v, p = softmax(q k^T * scale + mask)."""
    dv = np.swapaxes(p, -1, -2) @ do
    dp = do @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    return ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


@pytest.mark.parametrize("mode", ["kept", "shifted", "some kept", "none kept"])
@pytest.mark.parametrize("S_k", [150, 200, 330])
@pytest.mark.parametrize("causal", [True, False])
def test_sdpa_blocked_rows_match_reference(monkeypatch, S_k, causal, mode):
    """200 query rows cut into 128-row blocks and one head per piece (the budget shrunk so non-causal blocks too): every
    block edge, the causal diagonal tile, S_k < S_q and S_k > S_q, a (batch, 1, S_q, S_k) bool mask and a
    fully masked row agree with the unblocked float64 reference, forward and backward. Modes: every block's
    probabilities kept for the backward and small scores (the softmax unshifted); scores past the no-shift
    bound (the row max subtracted); the first block kept and the second recomputed; nothing kept."""
    from blaze.devices.cpu import attention as cpu_attention
    monkeypatch.setattr(cpu_attention, "_PIECE_ELEMS", 1000)
    if mode == "some kept":
        monkeypatch.setattr(cpu_attention._Plan, "kept_blocks", lambda self, itemsize: 1)
    if mode == "none kept":
        monkeypatch.setattr(cpu_attention, "_KEEP_BYTES", 0)
    q, do = RNG.standard_normal((2, 2, 200, 8)), RNG.standard_normal((2, 2, 200, 5))
    if mode == "shifted":
        q *= 1000                                           # scores in the thousands: exp overflows unshifted
    k, v = RNG.standard_normal((2, 2, S_k, 8)), RNG.standard_normal((2, 2, S_k, 5))
    mask = RNG.random((200, S_k)) > 0.2
    mask[130] = False                                       # a row with no key in the third block
    kpm = np.zeros((2, S_k), bool)
    kpm[1, S_k - 40:] = True
    allowed = mask & ~kpm[:, None, None, :]                 # (2, 1, 200, S_k), broadcast over heads
    ts = [T(a) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, attn_mask=T(allowed, False).bool()) if not causal \
        else F.scaled_dot_product_attention(*ts, is_causal=True)
    y.backward(T(do, False))
    allowed = None if causal else allowed
    ref, p = ref_attention(q, k, v, allowed, causal)
    y = y.detach()
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-12)
    for t, r in zip(ts, _ref_attention_grads(q, k, v, do, p, 1 / math.sqrt(8))):
        np.testing.assert_allclose(t.grad.numpy(), r, atol=1e-11)
    if not causal:
        assert np.all(y.numpy()[:, :, 130] == 0) and np.all(ts[0].grad.numpy()[:, :, 130] == 0)


# ---------------------------------------------------------------------------- MultiheadAttention
def ref_mha(m, q, k, v, kpm=None, attn_mask=None):
    """NumPy MHA on (L, N, E) inputs; bool masks True = not allowed, float masks added."""
    E, H = m.embed_dim, m.num_heads
    W = m.in_proj_weight.detach().numpy()
    b = m.in_proj_bias.detach().numpy()
    qp, kp, vp = q @ W[:E].T + b[:E], k @ W[E:2 * E].T + b[E:2 * E], v @ W[2 * E:].T + b[2 * E:]
    L, N, _ = q.shape
    S = k.shape[0]

    def heads(x, n):       # (n, N, E) -> (N, H, n, hd)
        return x.reshape(n, N, H, E // H).transpose(1, 2, 0, 3)
    s = heads(qp, L) @ np.swapaxes(heads(kp, S), -1, -2) / math.sqrt(E // H)
    if attn_mask is not None:
        am = attn_mask.reshape(N, H, L, S) if attn_mask.ndim == 3 else attn_mask
        s = np.where(am, -np.inf, s) if am.dtype == bool else s + am
    if kpm is not None:
        s = np.where(kpm[:, None, None, :], -np.inf, s)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    o = (p @ heads(vp, S)).transpose(2, 0, 1, 3).reshape(L, N, E)
    return o @ m.out_proj.weight.detach().numpy().T + m.out_proj.bias.detach().numpy(), p


@pytest.mark.parametrize("masks", ["none", "kpm", "bool2d", "float3d", "both"])
def test_mha_vs_reference(masks):
    blaze.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dtype=blaze.float64)
    for p in m.parameters():           # non-zero biases so the reference checks them
        p.data = p.data + T(RNG.standard_normal(p.shape) * 0.1, False)
    L, S, N = 4, 5, 3
    q, kv = RNG.standard_normal((L, N, 8)), RNG.standard_normal((S, N, 8))
    kpm = np.zeros((N, S), bool)
    kpm[0, 1] = kpm[2, 4] = True
    bool2d = np.triu(np.ones((L, S), bool), 2)
    float3d = RNG.standard_normal((N * 2, L, S))
    args = dict(none=(None, None), kpm=(kpm, None), bool2d=(None, bool2d), float3d=(None, float3d),
                both=(kpm, bool2d))[masks]
    kw = dict(key_padding_mask=None if args[0] is None else T(args[0], False).bool(),
              attn_mask=None if args[1] is None else (T(args[1], False).bool() if args[1].dtype == bool
                                                      else T(args[1], False)))
    ref, p = ref_mha(m, q, kv, kv, *args)
    out, w = m(T(q, False), T(kv, False), T(kv, False), **kw)
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(w.detach().numpy(), p.mean(1), atol=1e-12)
    out2, w2 = m(T(q, False), T(kv, False), T(kv, False), need_weights=False, **kw)
    assert w2 is None
    np.testing.assert_allclose(out2.detach().numpy(), ref, atol=1e-12)
    _, w3 = m(T(q, False), T(kv, False), T(kv, False), average_attn_weights=False, **kw)
    np.testing.assert_allclose(w3.detach().numpy(), p, atol=1e-12)


def test_mha_batch_first_self_attention_grads_and_names():
    blaze.manual_seed(0)
    m = nn.MultiheadAttention(6, 3, batch_first=True, dtype=blaze.float64)
    x = RNG.standard_normal((2, 4, 6))
    ref, _ = ref_mha(m, x.transpose(1, 0, 2), x.transpose(1, 0, 2), x.transpose(1, 0, 2))
    xt = T(x)
    out, _ = m(xt, xt, xt, need_weights=False)
    np.testing.assert_allclose(out.detach().numpy(), ref.transpose(1, 0, 2), atol=1e-12)
    check_grad(lambda x: m(x, x, x, need_weights=False, is_causal=True)[0], [x[:1]])
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    bound = math.sqrt(6 / (6 + 18))            # xavier_uniform on (3E, E)
    assert m.in_proj_weight.abs().max().item() <= bound
    kd = nn.MultiheadAttention(6, 2, kdim=4, vdim=5, bias=False)
    assert [(n, tuple(p.shape)) for n, p in kd.state_dict().items()] == [
        ("q_proj_weight", (6, 6)), ("k_proj_weight", (6, 4)), ("v_proj_weight", (6, 5)), ("out_proj.weight", (6, 6))]
    assert tuple(kd(blaze.randn(3, 2, 6), blaze.randn(7, 2, 4), blaze.randn(7, 2, 5))[0].shape) == (3, 2, 6)
    o, w = nn.MultiheadAttention(6, 3)(blaze.randn(4, 6), blaze.randn(5, 6), blaze.randn(5, 6))   # unbatched
    assert tuple(o.shape) == (4, 6) and tuple(w.shape) == (4, 5)


# ---------------------------------------------------------------------------- transformer layers
ENC_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
            "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
            "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
DEC_KEYS = ENC_KEYS[:4] + [k.replace("self_attn", "multihead_attn") for k in ENC_KEYS[:4]] + ENC_KEYS[4:] + [
    "norm3.weight", "norm3.bias"]


def test_transformer_state_dict_names():
    enc = nn.TransformerEncoderLayer(8, 2, 16)
    assert list(enc.state_dict()) == ENC_KEYS
    assert tuple(enc.linear1.weight.shape) == (16, 8)
    dec = nn.TransformerDecoderLayer(8, 2, 16)
    assert list(dec.state_dict()) == DEC_KEYS
    stack = nn.TransformerEncoder(enc, 2, norm=nn.LayerNorm(8))
    assert list(stack.state_dict()) == [f"layers.{i}.{k}" for i in range(2) for k in ENC_KEYS] + [
        "norm.weight", "norm.bias"]
    assert stack.layers[0].linear1.weight is not stack.layers[1].linear1.weight


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_composition_and_grads_flow(norm_first):
    blaze.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=norm_first)
    x = blaze.randn(2, 5, 8, requires_grad=True)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    kpm = blaze.tensor([[False] * 5, [False] * 3 + [True] * 2])
    y = layer(x, src_mask=mask, src_key_padding_mask=kpm)
    sa = lambda h: layer.self_attn(h, h, h, attn_mask=mask, key_padding_mask=kpm)[0]   # noqa: E731
    ff = lambda h: layer.linear2(F.gelu(layer.linear1(h)))                              # noqa: E731
    if norm_first:
        h = x + sa(layer.norm1(x))
        ref = h + ff(layer.norm2(h))
    else:
        h = layer.norm1(x + sa(x))
        ref = layer.norm2(h + ff(h))
    np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), atol=1e-5)
    y.pow(2).sum().backward()
    assert all(p.grad is not None and np.abs(p.grad.numpy()).sum() > 0 for p in layer.parameters())
    assert np.abs(x.grad.numpy()).sum() > 0
    # causal: output at position 0 does not depend on later positions
    x2 = x.detach().clone()
    x2[:, 3:] = 0
    np.testing.assert_allclose(layer(x2, src_mask=mask)[:, :3].detach().numpy(),
                               layer(x.detach(), src_mask=mask)[:, :3].detach().numpy(), atol=1e-5)


def test_decoder_transformer_and_mask_helper():
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    np.testing.assert_array_equal(mask, np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], np.float32))
    blaze.manual_seed(0)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.1), 2, norm=nn.LayerNorm(8))
    tgt, mem = blaze.randn(4, 2, 8), blaze.randn(6, 2, 8)
    dec.eval()
    y = dec(tgt, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4))
    assert tuple(y.shape) == (4, 2, 8)
    y2 = dec(tgt, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4))
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())    # eval: no dropout
    dec.train()
    dec(tgt, mem, tgt_is_causal=True).sum().backward()
    assert all(p.grad is not None for p in dec.parameters())
    t = nn.Transformer(8, 2, 1, 1, 16, batch_first=True)
    assert tuple(t(blaze.randn(2, 5, 8), blaze.randn(2, 3, 8)).shape) == (2, 3, 8)
    assert sorted({k.split(".")[0] for k in t.state_dict()}) == ["decoder", "encoder"]


def test_cpu_attention_keeps_blocks_within_the_budget_and_shifts_only_when_needed(monkeypatch):
    """The forward keeps the leading blocks that fit _KEEP_BYTES (only when the backward will run) and
    skips the row max only where max|q| max|k| bounds every score by _NO_SHIFT_BOUND and no float mask is added."""
    from blaze.devices.cpu import attention as cpu_attention
    be = cpu_attention.NumpyAttentionPrimitives()
    q, k, v = (RNG.standard_normal((1, 2, 512, 8)) for _ in range(3))
    block = 2 * 128 * 8                                     # bytes per key column of one 128-row block, 2 heads
    monkeypatch.setattr(cpu_attention, "_KEEP_BYTES", block * (128 + 256 + 384))
    out, lse = be.attention(q, k, v, causal=True, keep_probs=True)
    assert [p.shape for p in lse.probs] == [(2, 128, 128), (2, 128, 256), (2, 128, 384)]
    assert not getattr(be.attention(q, k, v, causal=True)[1], "probs", ())
    ref, p = ref_attention(q, k, v, causal=True)
    np.testing.assert_allclose(lse.probs[1], p[0, :, 128:256, :256].reshape(2, 128, 256), atol=1e-12)
    plan = cpu_attention._Plan((2,), 512, 512, True, None, None)
    assert plan.unshifted(q[0] / np.sqrt(8), k[0]).all() and not plan.unshifted(q[0] * 10, k[0]).any()
    float_mask = cpu_attention._Plan((2,), 512, 512, False, np.zeros((512, 512)), None)
    assert not float_mask.unshifted(q[0] / np.sqrt(8), k[0]).any()
