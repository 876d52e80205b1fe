"""F.add_layer_norm and F.bias_dropout_add (the transformer block's joints, one kernel each on cuda) and
the transformer layers that use them: the unfused ops' values, gradients and random draws, on cpu and on
the emulated cuda device."""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.profiler import profile, record_function

from .helpers import check_grad, randn64
from .test_linear_act import _layer_pair, _reference_decoder, _reference_encoder

pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value|overflow):RuntimeWarning")


def _np(t):
    return t.detach().float().cpu().numpy() if t.dtype is not blaze.float64 else t.detach().numpy()


def _unfused_aln(x, r, w, b):
    h = x + r
    return F.layer_norm(h, (x.shape[-1],), w, b, 1e-5), h


# ---------------------------------------------------------------------------------------------------------
# add_layer_norm


def test_add_layer_norm_is_the_composition_in_float64_with_finite_difference_gradients():
    x, r = randn64(3, 4, 10, seed=1), randn64(3, 4, 10, seed=2)
    w, b = randn64(10, seed=3), randn64(10, seed=4)
    y, h = F.add_layer_norm(x, r, (10,), w, b)
    y2, h2 = _unfused_aln(x, r, w, b)
    np.testing.assert_array_equal(_np(y), _np(y2))
    np.testing.assert_array_equal(_np(h), _np(h2))
    # both outputs used downstream: h's gradient joins layer_norm's input gradient
    check_grad(lambda *a: F.add_layer_norm(a[0], a[1], (10,), a[2], a[3]), [x, r, w, b])
    check_grad(lambda *a: F.add_layer_norm(a[0], a[1], (10,), a[2], a[3])[0], [x, r, w, b])   # h unused
    check_grad(lambda *a: F.add_layer_norm(a[0], a[1], (10,), None, None)[1] * 3.0, [x, r])   # y unused


def test_add_layer_norm_double_backward_matches_the_composition():
    def grads(fn):
        x, r, w = randn64(4, 6, seed=5), randn64(4, 6, seed=6), randn64(6, seed=7)
        y, h = fn(x, r, w)
        gx, = blaze.autograd.grad((y * y).sum() + (h * y).sum(), x, create_graph=True)
        (gx * gx).sum().backward()
        return [t.grad.numpy() for t in (x, r, w)]
    for a, b in zip(grads(lambda x, r, w: F.add_layer_norm(x, r, (6,), w, None)),
                    grads(lambda x, r, w: _unfused_aln(x, r, w, None))):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_add_layer_norm_falls_back_to_the_unfused_ops_where_its_kernel_does_not_apply():
    x, r = randn64(2, 5, 8, seed=1), randn64(5, 8, seed=2)            # broadcast residual
    y, h = F.add_layer_norm(x, r, (8,))
    assert "LayerNorm" in y.grad_fn.name() and "AddLayerNorm" not in y.grad_fn.name() and tuple(h.shape) == (2, 5, 8)
    np.testing.assert_array_equal(_np(y), _np(_unfused_aln(x, r, None, None)[0]))
    with pytest.raises(RuntimeError, match="Given normalized_shape=\\[7\\]"):
        F.add_layer_norm(x, x, (7,))


@pytest.mark.parametrize("dtype,tol", [(blaze.float32, 1e-5), (blaze.float16, 1e-2), (blaze.bfloat16, 2e-2)])
def test_add_layer_norm_on_cuda_is_the_unfused_ops(dtype, tol):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((3, 5, 40), (3, 5, 40), (40,), (40,), (3, 5, 40))]

    def run(fn):
        x, r, w, b, dh = (blaze.tensor(a).to("cuda").to(dtype).requires_grad_() for a in arrays)
        y, h = fn(x, r, w, b)
        ((y.float() * y.float()).sum() + (h * dh).float().sum()).backward()
        return [y, h] + [t.grad for t in (x, r, w, b)]
    fused, ref = run(lambda *a: F.add_layer_norm(*a[:2], (40,), *a[2:])), run(_unfused_aln)
    np.testing.assert_array_equal(_np(fused[0]), _np(ref[0]))                 # forward: bit for bit
    np.testing.assert_array_equal(_np(fused[1]), _np(ref[1]))
    for name, a, b in zip(("x", "residual", "weight", "bias"), fused[2:], ref[2:]):
        # dx + dh summed in fp32 before one rounding (the unfused ops round dx first)
        np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol, err_msg=name)


# ---------------------------------------------------------------------------------------------------------
# bias_dropout_add


def _unfused_bda(x, b, r, p, training=True):
    return r + F.dropout(x if b is None else x + b, p, training)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_bias_dropout_add_draws_the_unfused_mask_and_gives_its_gradients(device):
    rng = np.random.default_rng(1)
    x, r, b = (blaze.tensor(rng.standard_normal(s).astype(np.float32)).to(device).requires_grad_()
               for s in ((4, 6, 32), (4, 6, 32), (32,)))
    blaze.manual_seed(5)
    out = F.bias_dropout_add(x, b, r, 0.25)
    nxt = F.bias_dropout_add(x, None, r, 0.5)
    (out * out).sum().backward()
    g = [t.grad for t in (x, b, r)]
    for t in (x, b, r):
        t.grad = None
    blaze.manual_seed(5)
    ref = _unfused_bda(x, b, r, 0.25)
    ref_nxt = _unfused_bda(x, None, r, 0.5)
    (ref * ref).sum().backward()
    np.testing.assert_array_equal(_np(out), _np(ref))
    for name, a, t in zip("xbr", g, (x, b, r)):
        np.testing.assert_allclose(_np(a), _np(t.grad), rtol=1e-6, atol=1e-6, err_msg=name)
    # the draw advanced the generator as F.dropout's does: the next draws agree too
    np.testing.assert_array_equal(_np(nxt), _np(ref_nxt))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_bias_dropout_add_mask_rate(device):
    x = blaze.ones(200, 100, device=device)
    r = blaze.zeros(200, 100, device=device)
    blaze.manual_seed(0)
    out = _np(F.bias_dropout_add(x, None, r, 0.3))
    # 20000 draws: the dropped fraction is within 5 sigma (0.016) of p; the kept scale by 1 / (1 - p)
    assert abs((out == 0).mean() - 0.3) < 0.016
    np.testing.assert_allclose(out[out != 0], np.float32(1 / 0.7), rtol=1e-6)


@pytest.mark.parametrize("device,dtype", [("cpu", blaze.float64), ("cuda", blaze.float32), ("cuda", blaze.float16),
                                          ("cuda", blaze.bfloat16)])
def test_bias_dropout_add_p0_and_eval_are_exactly_the_adds_and_draw_nothing(device, dtype):
    rng = np.random.default_rng(2)
    x, r = (blaze.tensor(rng.standard_normal((5, 16))).to(device).to(dtype) for _ in range(2))
    b = blaze.tensor(rng.standard_normal(16)).to(device).to(dtype)
    ref = _np(r + (x + b))
    blaze.manual_seed(3)
    np.testing.assert_array_equal(_np(F.bias_dropout_add(x, b, r, 0.0)), ref)
    np.testing.assert_array_equal(_np(F.bias_dropout_add(x, b, r, 0.5, training=False)), ref)
    after = _np(blaze.rand(8, device=device))
    blaze.manual_seed(3)
    np.testing.assert_array_equal(after, _np(blaze.rand(8, device=device)))      # the generator did not move


def test_bias_dropout_add_float64_gradients_and_errors():
    x, r, b = randn64(3, 7, seed=1), randn64(3, 7, seed=2), randn64(7, seed=3)
    check_grad(lambda x, b, r: F.bias_dropout_add(x, b, r, 0.0), [x, b, r])
    blaze.manual_seed(1)
    check_grad(lambda x, b, r: F.bias_dropout_add(x, b, r, 0.4, generator=blaze.Generator().manual_seed(9)),
               [x, b, r])
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        F.bias_dropout_add(x, b, r, 1.5)
    # a residual that broadcasts runs the unfused ops
    out = F.bias_dropout_add(x, b, randn64(7, seed=4), 0.0)
    assert "BiasDropoutAdd" not in out.grad_fn.name() and tuple(out.shape) == (3, 7)


# ---------------------------------------------------------------------------------------------------------
# the transformer layers


def _grads(layer, out):
    layer.zero_grad()
    (out * out).sum().backward()
    return {n: p.grad.cpu().numpy() for n, p in layer.named_parameters()}


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_layers_with_live_dropout_are_the_unfused_layers(device, norm_first, training):
    """Same masks (same draws in the same order), outputs and parameter gradients as the unfused ops."""
    enc = _layer_pair(nn.TransformerEncoderLayer, dropout=0.2, activation="gelu", norm_first=norm_first)
    dec = _layer_pair(nn.TransformerDecoderLayer, dropout=0.2, activation="relu", norm_first=norm_first)
    x, mem = blaze.randn(2, 5, 16, device=device), blaze.randn(2, 3, 16, device=device)
    tol = dict(rtol=1e-5, atol=1e-6) if device == "cpu" else dict(rtol=1e-4, atol=1e-5)
    for layer, args, ref_fn in ((enc, (x,), lambda: _reference_encoder(enc, x, None)),
                                (dec, (x, mem), lambda: _reference_decoder(dec, x, mem))):
        layer.to(device).train(training)
        blaze.manual_seed(11)
        out = layer(*args)
        g = _grads(layer, out)
        blaze.manual_seed(11)
        ref = ref_fn()
        np.testing.assert_allclose(_np(out), _np(ref), **tol)
        for n, gr in _grads(layer, ref).items():
            np.testing.assert_allclose(g[n], gr, err_msg=n, **tol)


def _forward_ops(layer, *args):
    counts = {}
    with profile() as prof:
        with record_function("forward"):
            layer(*args)
    for e in prof._events:
        if e.cat != "kernel" and e.cat != "user_annotation":
            counts[e.name] = counts.get(e.name, 0) + 1
    return counts


@pytest.mark.parametrize("norm_first,fused", [(False, {"BiasDropoutAdd": 2}),
                                              (True, {"AddLayerNorm": 1, "BiasDropoutAdd": 1, "LayerNorm": 1})])
def test_encoder_layer_fuses_every_residual_joint_on_cuda(norm_first, fused):
    """Training, live dropout: no residual add is left as an op of its own (post-norm: dropout + add is
    one kernel before each LayerNorm; pre-norm: add + norm2 is one, the last dropout + add another)."""
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, norm_first=norm_first).to("cuda")
    ops = _forward_ops(layer, blaze.randn(5, 2, 16, device="cuda"))
    assert "Add" not in ops
    assert {k: ops.get(k, 0) for k in fused} == fused


def test_pre_norm_eval_adds_and_normalises_in_one_op():
    layer = nn.TransformerDecoderLayer(16, 4, dim_feedforward=32, norm_first=True).to("cuda").eval()
    ops = _forward_ops(layer, blaze.randn(5, 2, 16, device="cuda"), blaze.randn(3, 2, 16, device="cuda"))
    assert ops.get("AddLayerNorm") == 2 and ops.get("LayerNorm") == 1 and "Add" not in ops
