"""blaze.autocast and GradScaler on the cuda device."""
import numpy as np
import pytest

import blaze
from blaze.amp import autocast_dtype, cast_fp32, cast_inputs
from blaze.cuda.amp import GradScaler


@pytest.mark.parametrize("dtype", [blaze.bfloat16, blaze.float16], ids=lambda d: d.name)
def test_matmul_runs_low_precision_and_grads_come_back_fp32(device, dtype):
    a = blaze.randn(4, 8, device=device, requires_grad=True)
    b = blaze.randn(8, 3, device=device, requires_grad=True)
    with blaze.autocast(device_type="cuda", dtype=dtype):
        y = a @ b
        assert y.dtype is dtype and y.device == device
        s = y.float().sum()  # reductions stay where the user puts them
    s.backward()
    assert a.grad.dtype is blaze.float32 and b.grad.dtype is blaze.float32
    np.testing.assert_allclose(a.grad.cpu().numpy(), np.broadcast_to(b.detach().cpu().numpy().sum(1), (4, 8)),
                               rtol=2e-2, atol=2e-2)
    assert (a @ b).dtype is blaze.float32  # outside the region: full precision again


def test_state_is_scoped_nested_and_per_device(device):
    assert autocast_dtype("cuda") is None
    with blaze.autocast("cuda", dtype=blaze.float16):
        assert autocast_dtype(device) is blaze.float16 and autocast_dtype("cpu") is None
        with blaze.autocast("cuda", enabled=False):
            assert autocast_dtype("cuda") is None
            x = blaze.ones(2, 2, device=device)
            assert (x @ x).dtype is blaze.float32
        assert autocast_dtype("cuda") is blaze.float16
    assert autocast_dtype("cuda") is None

    @blaze.autocast("cuda")
    def f(x):
        return x @ x
    assert f(blaze.ones(2, 2, device=device)).dtype is blaze.bfloat16
    with pytest.raises(RuntimeError, match="not supported"):
        blaze.autocast("cuda", dtype=blaze.float64)


def test_cast_helpers_for_fused_ops(device):
    x = blaze.ones(2, device=device)
    h = x.to(blaze.bfloat16)
    with blaze.autocast("cuda"):
        lx, n, none = cast_inputs(x, 3, None)
        assert lx.dtype is blaze.bfloat16 and n == 3 and none is None
        (up,) = cast_fp32(h)
        assert up.dtype is blaze.float32
    assert cast_inputs(x)[0] is x and cast_fp32(h)[0] is h


def _fp16_step(scaler, w, x, poison=False):
    opt = blaze.optim.SGD([w], lr=0.1)
    with blaze.autocast("cuda", dtype=blaze.float16):
        y = x @ w
    loss = y.float().pow(2).mean()
    opt.zero_grad()
    scaler.scale(loss).backward()
    if poison:
        w.grad.fill_(float("inf"))
    before = w.detach().clone()
    scaler.step(opt)
    scaler.update()
    return before


def test_grad_scaler_scales_unscales_skips_and_backs_off(device):
    blaze.manual_seed(0)
    w = blaze.randn(8, 4, device=device, requires_grad=True)
    x = blaze.randn(16, 8, device=device)
    scaler = GradScaler(init_scale=1024.0, growth_interval=2)
    # reference gradient without scaling (fp16 matmul, fp32 loss)
    with blaze.autocast("cuda", dtype=blaze.float16):
        ref = (x @ w).float().pow(2).mean()
    (g_ref,) = blaze.autograd.grad(ref, [w])
    before = _fp16_step(scaler, w, x)
    # the step used the unscaled gradient
    np.testing.assert_allclose((before - w.detach()).cpu().numpy() / 0.1, g_ref.cpu().numpy(), rtol=1e-2, atol=1e-4)
    assert scaler.get_scale() == 1024.0
    _fp16_step(scaler, w, x)
    assert scaler.get_scale() == 2048.0  # two clean steps: grow
    before = _fp16_step(scaler, w, x, poison=True)
    np.testing.assert_array_equal(w.detach().cpu().numpy(), before.cpu().numpy())  # skipped
    assert scaler.get_scale() == 1024.0  # backed off
    sd = scaler.state_dict()
    other = GradScaler()
    other.load_state_dict(sd)
    assert other.get_scale() == 1024.0 and other.state_dict() == sd
    assert blaze.amp.GradScaler is GradScaler


def test_unscale_twice_is_an_error_and_disabled_is_passthrough(device):
    w = blaze.ones(3, device=device, requires_grad=True)
    opt = blaze.optim.SGD([w], lr=0.1)
    s = GradScaler()
    (s.scale(w.sum())).backward()
    s.unscale_(opt)
    np.testing.assert_allclose(w.grad.cpu().numpy(), np.ones(3))
    with pytest.raises(RuntimeError, match="already been called"):
        s.unscale_(opt)
    off = GradScaler(enabled=False)
    t = blaze.ones(1, device=device)
    assert off.scale(t) is t and off.get_scale() == 1.0 and off.state_dict() == {}


# ----------------------------------------------------------------------------- nn hooks (PyTorch's op lists)
DEVICES = ["cuda", "cpu"]


def _mlp(device):
    blaze.manual_seed(0)
    model = blaze.nn.Sequential(blaze.nn.Linear(16, 32), blaze.nn.LayerNorm(32), blaze.nn.Linear(32, 5)).to(device)
    x = blaze.randn(8, 16, device=device)
    y = blaze.randint(0, 5, (8,), device=device)
    return model, x, y


@pytest.mark.parametrize("dev", DEVICES)
def test_linear_layernorm_cross_entropy_under_bf16_autocast(dev):
    model, x, y = _mlp(dev)
    ref = blaze.nn.functional.cross_entropy(model(x), y)
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o.dtype))
             for k, m in zip(("lin1", "norm", "lin2"), model)]
    with blaze.autocast(device_type=dev, dtype=blaze.bfloat16):
        logits = model(x)
        loss = blaze.nn.functional.cross_entropy(logits, y)
    for h in hooks:
        h.remove()
    # matmuls in bf16; the norm between them and the loss in fp32
    assert seen == {"lin1": blaze.bfloat16, "norm": blaze.float32, "lin2": blaze.bfloat16}
    assert logits.dtype is blaze.bfloat16 and loss.dtype is blaze.float32 and loss.shape == ()
    assert abs(loss.item() - ref.item()) < 2e-2
    loss.backward()
    for name, p in model.named_parameters():
        assert p.dtype is blaze.float32 and p.grad is not None and p.grad.dtype is blaze.float32, name
        assert np.isfinite(p.grad.cpu().numpy()).all(), name


@pytest.mark.parametrize("dev", DEVICES)
def test_lower_precision_list_and_fp32_list(dev):
    F = blaze.nn.functional
    blaze.manual_seed(1)
    r = lambda *s: blaze.randn(*s, device=dev)  # noqa: E731
    img, seq, x = r(1, 2, 5, 5), r(1, 2, 6), r(3, 4)
    q = r(1, 2, 3, 4)
    low = {
        "linear": lambda: F.linear(x, r(5, 4), r(5)),
        "bilinear": lambda: F.bilinear(x, x, r(2, 4, 4), r(2)),
        "conv1d": lambda: F.conv1d(seq, r(3, 2, 3), r(3)),
        "conv2d": lambda: F.conv2d(img, r(3, 2, 3, 3), r(3), padding=1),
        "conv_transpose1d": lambda: F.conv_transpose1d(seq, r(2, 3, 3), r(3)),
        "conv_transpose2d": lambda: F.conv_transpose2d(img, r(2, 3, 3, 3), r(3)),
        "sdpa": lambda: F.scaled_dot_product_attention(q, q, q, attn_mask=r(3, 3)),
        "mha": lambda: blaze.nn.MultiheadAttention(4, 2, batch_first=True).to(dev)(r(2, 3, 4), r(2, 3, 4),
                                                                                  r(2, 3, 4), need_weights=False)[0],
    }
    h = x.to(blaze.bfloat16)
    p = h.sigmoid()
    t = blaze.randint(0, 4, (3,), device=dev)
    fp32 = {
        "softmax": lambda: F.softmax(h, -1), "log_softmax": lambda: F.log_softmax(h, -1),
        "layer_norm": lambda: F.layer_norm(h, (4,)), "rms_norm": lambda: F.rms_norm(h, (4,)),
        "group_norm": lambda: F.group_norm(h.reshape(3, 4, 1), 2),
        "batch_norm": lambda: F.batch_norm(h, None, None, training=True),
        "cross_entropy": lambda: F.cross_entropy(h, t), "nll_loss": lambda: F.nll_loss(h, t),
        "mse_loss": lambda: F.mse_loss(h, h * 2), "l1_loss": lambda: F.l1_loss(h, h * 2),
        "smooth_l1_loss": lambda: F.smooth_l1_loss(h, h * 2), "huber_loss": lambda: F.huber_loss(h, h * 2),
        "binary_cross_entropy": lambda: F.binary_cross_entropy(p, p),
        "bce_with_logits": lambda: F.binary_cross_entropy_with_logits(h, p),
        "kl_div": lambda: F.kl_div(F.log_softmax(x, -1).to(blaze.bfloat16), p, reduction="batchmean"),
    }
    with blaze.autocast(device_type=dev, dtype=blaze.bfloat16):
        got = {k: f().dtype for k, f in low.items()}
        assert got == dict.fromkeys(low, blaze.bfloat16)
        got = {k: f().dtype for k, f in fp32.items()}
        assert got == dict.fromkeys(fp32, blaze.float32)
        assert F.softmax(h, -1, dtype=blaze.bfloat16).dtype is blaze.bfloat16  # an explicit dtype wins
    # outside autocast: untouched
    assert F.linear(x, r(5, 4)).dtype is blaze.float32 and F.softmax(h, -1).dtype is blaze.bfloat16
    with blaze.autocast(device_type="cpu" if dev == "cuda" else "cuda"):  # the other device's region
        assert F.linear(x, r(5, 4)).dtype is blaze.float32


def test_fp16_grad_scaler_training_steps(device):
    model, x, y = _mlp(device)
    opt = blaze.optim.SGD(model.parameters(), lr=0.2)
    scaler = GradScaler(init_scale=2.0 ** 12)
    losses = []
    for _ in range(4):
        with blaze.autocast(device_type="cuda", dtype=blaze.float16):
            loss = blaze.nn.functional.cross_entropy(model(x), y)
        assert loss.dtype is blaze.float32
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0] - 0.05, losses
    assert all(p.dtype is blaze.float32 for p in model.parameters())
