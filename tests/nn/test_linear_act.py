"""F.linear_act (the matmul activation/residual epilogue as a public op) and the transformer layers
that use it: same values and gradients as the composed ops, on cpu and on the emulated cuda device."""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze import _flags
from blaze.nn.functional.fused import ACTIVATIONS

from .helpers import check_grad, randn64

ACTS = [None, *ACTIVATIONS]


def _composed(x, w, b, activation, residual):
    y = F.linear(x, w, b)
    y = ACTIVATIONS[activation](y) if activation else y
    return y + residual if residual is not None else y


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("with_bias,with_res", [(True, True), (False, False), (True, False)])
def test_linear_act_is_the_composition_and_its_gradient_is_exact(activation, with_bias, with_res):
    x, w = randn64(2, 3, 4, seed=1), randn64(5, 4, seed=2)
    b = randn64(5, seed=3) if with_bias else None
    r = randn64(2, 3, 5, seed=4) if with_res else None
    y = F.linear_act(x, w, b, activation=activation, residual=r)
    np.testing.assert_allclose(y.detach().numpy(), _composed(x, w, b, activation, r).detach().numpy(), rtol=1e-12)
    inputs = [t for t in (x, w, b, r) if t is not None]
    check_grad(lambda *ts: F.linear_act(ts[0], ts[1], ts[2] if with_bias else None, activation=activation,
                                        residual=ts[-1] if with_res else None), inputs)


@pytest.mark.parametrize("activation", ["gelu", "silu", None])
def test_linear_act_double_backward_matches_the_composition(activation):
    def gx_norm(fn):
        x, w, b = randn64(3, 4, seed=5), randn64(5, 4, seed=6), randn64(5, seed=7)
        gx, = blaze.autograd.grad(fn(x, w, b).pow(2).sum(), x, create_graph=True)
        gx.pow(2).sum().backward()
        return gx.detach().numpy(), w.grad.numpy(), b.grad.numpy()
    fused = gx_norm(lambda x, w, b: F.linear_act(x, w, b, activation=activation))
    ref = gx_norm(lambda x, w, b: _composed(x, w, b, activation, None))
    for a, r in zip(fused, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_linear_act_rejects_bad_input_before_any_work():
    x, w = blaze.randn(3, 4), blaze.randn(5, 4)
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        F.linear_act(x, w, activation="softplus")
    with pytest.raises(RuntimeError, match=r"residual of shape \[5\] does not match the output shape \[3, 5\]"):
        F.linear_act(x, w, residual=blaze.randn(5))
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        F.linear_act(blaze.randn(3, 2), w)
    with pytest.raises(RuntimeError, match="residual dtype"):
        F.linear_act(x, w, residual=blaze.randn(3, 5, dtype=blaze.float64))


@pytest.mark.parametrize("dtype,tol", [(blaze.float32, 1e-4), (blaze.float16, 2e-2)])
@pytest.mark.parametrize("activation", ACTS)
def test_linear_act_on_cuda_matches_cpu_in_one_epilogue(activation, dtype, tol):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((2, 7, 12), (9, 12), (9,), (2, 7, 9), (2, 7, 9))]

    def run(device):
        x, w, b, r = (blaze.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays[:4])
        y = F.linear_act(x, w, b, activation=activation, residual=r)
        (y * blaze.tensor(arrays[4], dtype=dtype, device=device)).sum().backward()
        return [t.detach().cpu().float().numpy() for t in (y, x.grad, w.grad, b.grad, r.grad)]

    before = sum(_flags.FALLBACKS.values())
    got = run("cuda")
    assert sum(_flags.FALLBACKS.values()) == before  # kernels only: no host round trip
    for g, want in zip(got, run("cpu")):
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol * np.abs(want).max())


def test_the_cuda_linear_act_primitives_are_the_matmul_epilogue_kernels(monkeypatch):
    """The fused op reaches kernels/matmul.py's epilogue (save_preact) and backward kernels."""
    from blaze.kernels import matmul as mm
    calls = []
    for name in ("matmul", "matmul_backward"):
        real = getattr(mm, name)
        monkeypatch.setattr(mm, name, (lambda real, name: lambda *a, **k: calls.append((name, k.get("activation")))
                                       or real(*a, **k))(real, name))
    x = blaze.randn(4, 6, device="cuda", requires_grad=True)
    lin = nn.Linear(6, 3).to("cuda")
    F.linear_act(x, lin.weight, lin.bias, activation="silu").sum().backward()
    assert calls == [("matmul", "silu"), ("matmul_backward", "silu")]


# -------------------------------------------------------------------- the transformer layers use it


def _layer_pair(cls, **kw):
    blaze.manual_seed(0)
    layer = cls(16, 4, dim_feedforward=24, batch_first=True, **kw)
    return layer


def _reference_encoder(layer, x, mask):
    """TransformerEncoderLayer.forward written with unfused ops (PyTorch's own code path)."""
    def sa(h):
        return layer.dropout1(layer.self_attn(h, h, h, attn_mask=mask, need_weights=False)[0])

    def ff(h):
        return layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h)))))
    if layer.norm_first:
        x = x + sa(layer.norm1(x))
        return x + ff(layer.norm2(x))
    x = layer.norm1(x + sa(x))
    return layer.norm2(x + ff(x))


def _grads(layer, out):
    layer.zero_grad()
    (out * out).sum().backward()
    return {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", F.gelu, nn.ReLU()])
@pytest.mark.parametrize("training", [False, True])
def test_encoder_layer_outputs_and_gradients_are_unchanged(norm_first, activation, training):
    layer = _layer_pair(nn.TransformerEncoderLayer, dropout=0.0 if training else 0.1, activation=activation,
                        norm_first=norm_first)
    layer.train(training)
    x = blaze.randn(2, 5, 16)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    out, ref = layer(x, src_mask=mask), _reference_encoder(layer, x, mask)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    g, gr = _grads(layer, layer(x, src_mask=mask)), _grads(layer, _reference_encoder(layer, x, mask))
    for n in gr:
        np.testing.assert_allclose(g[n], gr[n], rtol=1e-4, atol=1e-5, err_msg=n)


def test_encoder_layer_with_active_dropout_draws_the_same_masks():
    """Training with dropout keeps the unfused order of random draws (dropout, then the residual add)."""
    layer = _layer_pair(nn.TransformerEncoderLayer, dropout=0.3, activation="gelu")
    x = blaze.randn(2, 5, 16)
    blaze.manual_seed(7)
    out = layer(x)
    blaze.manual_seed(7)
    np.testing.assert_allclose(out.detach().numpy(), _reference_encoder(layer, x, None).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def _reference_decoder(layer, x, mem):
    """TransformerDecoderLayer.forward with unfused ops (PyTorch's code path)."""
    def sa(h):
        return layer.dropout1(layer.self_attn(h, h, h, need_weights=False)[0])

    def ca(h):
        return layer.dropout2(layer.multihead_attn(h, mem, mem, need_weights=False)[0])

    def ff(h):
        return layer.dropout3(layer.linear2(layer.dropout(layer.activation(layer.linear1(h)))))
    if layer.norm_first:
        x = x + sa(layer.norm1(x))
        x = x + ca(layer.norm2(x))
        return x + ff(layer.norm3(x))
    x = layer.norm1(x + sa(x))
    x = layer.norm2(x + ca(x))
    return layer.norm3(x + ff(x))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_outputs_are_unchanged(norm_first):
    layer = _layer_pair(nn.TransformerDecoderLayer, dropout=0.1, activation="relu", norm_first=norm_first).eval()
    x, mem = blaze.randn(2, 5, 16), blaze.randn(2, 3, 16)
    np.testing.assert_allclose(layer(x, mem).detach().numpy(), _reference_decoder(layer, x, mem).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_encoder_layer_on_cuda_matches_cpu():
    layer = _layer_pair(nn.TransformerEncoderLayer, dropout=0.0, activation="gelu")
    x = blaze.randn(2, 5, 16)
    out_cpu = layer(x)
    g_cpu = _grads(layer, out_cpu)
    layer.to("cuda")
    xc = x.to("cuda")
    out = layer(xc)
    np.testing.assert_allclose(out.detach().cpu().numpy(), out_cpu.detach().numpy(), rtol=1e-4, atol=1e-4)
    layer.zero_grad()
    (out * out).sum().backward()
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad.cpu().numpy(), g_cpu[n], rtol=1e-3, atol=1e-3, err_msg=n)


@pytest.mark.parametrize("training,p,fused_calls", [(False, 0.1, 3), (True, 0.0, 3), (True, 0.1, 1)])
def test_encoder_layer_takes_the_epilogue_where_the_pattern_is_fixed(monkeypatch, training, p, fused_calls):
    """eval or p = 0: linear1+gelu, linear2+residual and out_proj+residual are each one linear_act;
    with live dropout between a projection and its residual only linear1+gelu is."""
    from blaze.nn.functional import fused
    seen = []
    real = fused._LinearAct.apply
    monkeypatch.setattr(fused._LinearAct, "apply", lambda *a: seen.append(a[-1]) or real(*a))
    layer = _layer_pair(nn.TransformerEncoderLayer, dropout=p, activation="gelu").train(training)
    layer(blaze.randn(2, 5, 16))
    assert len(seen) == fused_calls and seen.count("gelu") == 1


def test_cpu_bias_add_is_in_place_only_when_the_sum_keeps_the_shape_and_dtype():
    """_add_into (the linear/matmul epilogue) writes into the fresh GEMM result unless the sum widens it."""
    from blaze.devices.cpu.nn import _add_into
    y = np.ones((2, 3), np.float32)
    assert _add_into(y, np.arange(3, dtype=np.float32)) is y and y[1, 2] == 3
    assert _add_into(y, None) is y
    wide = _add_into(np.ones((1, 3), np.float32), np.ones((2, 3), np.float32))
    assert wide.shape == (2, 3)
    promoted = _add_into(np.ones((2, 3), np.float32), np.ones((2, 3)))
    assert promoted.dtype == np.float64 and promoted[0, 0] == 2
