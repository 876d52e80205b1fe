"""blaze.vision.ops on the cuda device (real or emulated): the same results and gradients as on cpu."""
import numpy as np
import pytest

import blaze
from blaze.vision import ops
from tests.cuda.conftest import device, fallbacks  # noqa: F401

RNG = np.random.default_rng(7)


def boxes(n, hi=40.0):
    xy = RNG.uniform(0, hi, (n, 2))
    return np.concatenate([xy, xy + RNG.uniform(1, 15, (n, 2))], 1).astype(np.float32)


def test_nms_and_batched_nms_on_cuda(device, fallbacks):
    b, s = boxes(90), RNG.uniform(size=90).astype(np.float32)
    idx = RNG.integers(0, 3, 90)
    want = ops.nms(blaze.tensor(b), blaze.tensor(s), 0.4).tolist()
    got = ops.nms(blaze.tensor(b, device=device), blaze.tensor(s, device=device), 0.4)
    assert got.device.type == "cuda" and got.tolist() == want
    assert (ops.batched_nms(blaze.tensor(b, device=device), blaze.tensor(s, device=device),
                            blaze.tensor(idx, device=device), 0.4).tolist()
            == ops.batched_nms(blaze.tensor(b), blaze.tensor(s), blaze.tensor(idx), 0.4).tolist())
    assert "nms" not in fallbacks


def test_roi_align_forward_backward_on_cuda(device, fallbacks):
    x = RNG.standard_normal((2, 3, 6, 7)).astype(np.float32)
    bx = [blaze.tensor(boxes(2, 5.0) * 0.4), blaze.tensor(boxes(1, 5.0) * 0.4)]
    g = RNG.standard_normal((3, 3, 2, 2)).astype(np.float32)
    outs = []
    for dev in ("cpu", device):
        xt = blaze.tensor(x, device=dev, requires_grad=True)
        y = ops.roi_align(xt, [b.to(dev) for b in bx], 2, 0.5, -1, True)
        (y * blaze.tensor(g, device=dev)).sum().backward()
        outs.append((y.detach().cpu().numpy(), xt.grad.cpu().numpy()))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-5, atol=1e-6)
    assert not fallbacks


def test_roi_pool_on_cuda_is_a_counted_round_trip(device, fallbacks):
    x = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
    r = np.array([[0, 0.5, 1.0, 4.0, 5.0]], np.float32)
    xt = blaze.tensor(x, device=device, requires_grad=True)
    y = ops.roi_pool(xt, blaze.tensor(r, device=device), 2, 1.0)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().cpu().numpy(), ops.roi_pool(blaze.tensor(x), blaze.tensor(r), 2).numpy())
    assert fallbacks["roi_pool"] == 1 and fallbacks["roi_pool_backward"] == 1
    assert float(xt.grad.sum().item()) == pytest.approx(8.0)  # 2 channels x 4 bins, one argmax each
