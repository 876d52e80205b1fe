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
