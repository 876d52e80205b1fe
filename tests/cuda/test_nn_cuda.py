"""nn modules on cuda vs cpu: forward, input gradient and parameter gradients (float32 both sides)."""
import numpy as np
import pytest

import blaze
from blaze import nn

R = np.random.default_rng(1)
IMG = (2, 3, 7, 6)

CASES = [
    ("linear", lambda: nn.Linear(5, 4), (3, 5)),
    ("bilinear", lambda: nn.Bilinear(3, 3, 2), None),
    ("conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), IMG),
    ("conv2d_groups_dil", lambda: nn.Conv2d(3, 6, 2, dilation=2, groups=3), IMG),
    ("conv_transpose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), IMG),
    ("conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), (2, 3, 9)),
    ("max_pool2d", lambda: nn.MaxPool2d(3, 2, padding=1), IMG),
    ("avg_pool2d", lambda: nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), IMG),
    ("adaptive_avg_pool2d", lambda: nn.AdaptiveAvgPool2d((2, 3)), IMG),
    ("batch_norm", lambda: nn.BatchNorm2d(3), IMG),
    ("group_norm", lambda: nn.GroupNorm(1, 3), IMG),
    ("layer_norm", lambda: nn.LayerNorm(6), IMG),
    ("rms_norm", lambda: nn.RMSNorm(6), IMG),
    ("softmax", lambda: nn.Softmax(dim=1), IMG),
    ("log_softmax", lambda: nn.LogSoftmax(dim=-1), (4, 7)),
    ("gelu", lambda: nn.GELU(), (4, 7)),
    ("silu", lambda: nn.SiLU(), (4, 7)),
    ("leaky_relu", lambda: nn.LeakyReLU(0.1), (4, 7)),
    ("softplus", lambda: nn.Softplus(), (4, 7)),
    ("upsample_bilinear", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), IMG),
    ("upsample_nearest", lambda: nn.Upsample(size=(5, 9), mode="nearest"), IMG),
    ("mha", lambda: nn.MultiheadAttention(8, 2, batch_first=True), (2, 5, 8)),
    ("encoder_layer", lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), (2, 5, 8)),
    ("lstm", lambda: nn.LSTM(4, 3, batch_first=True), (2, 5, 4)),
]


def _call(m, x):
    if isinstance(m, nn.MultiheadAttention):
        return m(x, x, x, need_weights=False)[0]
    if isinstance(m, nn.Bilinear):
        return m(x, x)
    if isinstance(m, nn.LSTM):
        return m(x)[0]
    return m(x)


def _run(factory, x, dev):
    blaze.manual_seed(0)
    m = factory().to(dev)
    t = blaze.tensor(x).to(dev).requires_grad_()
    y = _call(m, t)
    w = blaze.tensor(np.random.default_rng(2).standard_normal(tuple(y.shape)).astype(np.float32)).to(dev)
    (y * w).sum().backward()
    grads = {n: p.grad.cpu().numpy() for n, p in m.named_parameters() if p.grad is not None}
    return y.detach().cpu().numpy(), t.grad.cpu().numpy(), grads, y.device


@pytest.mark.parametrize("name,factory,shape", CASES, ids=[c[0] for c in CASES])
def test_module_parity(name, factory, shape, device, fallbacks):
    x = R.standard_normal(shape or (4, 3)).astype(np.float32)
    y0, gx0, gp0, _ = _run(factory, x, "cpu")
    y1, gx1, gp1, dev = _run(factory, x, device)
    assert dev == device
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx1, gx0, rtol=1e-4, atol=1e-4)
    assert gp0.keys() == gp1.keys()
    for k in gp0:
        np.testing.assert_allclose(gp1[k], gp0[k], rtol=1e-4, atol=1e-4, err_msg=k)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)


def test_embedding_and_losses(device, fallbacks):
    ids = np.array([[1, 0, 3], [3, 2, 1]])
    tgt = np.array([2, 0, 1, 4, 4, 3])
    outs = []
    for dev in ("cpu", device):
        blaze.manual_seed(0)
        emb = nn.Embedding(5, 4, padding_idx=0).to(dev)
        z = emb(blaze.tensor(ids).to(dev)).view(6, 4)
        logits = blaze.cat([z, z[:, :1]], 1)  # (6, 5)
        t = blaze.tensor(tgt).to(dev)
        loss = (nn.CrossEntropyLoss(label_smoothing=0.1)(logits, t) + nn.MSELoss()(z, z.detach() * 0.5)
                + nn.NLLLoss()(blaze.nn.functional.log_softmax(logits, 1), t) + nn.BCEWithLogitsLoss()(z, (z.detach() > 0).float()))
        loss.backward()
        outs.append((loss.item(), emb.weight.grad.cpu().numpy()))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-5)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-4, atol=1e-6)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)
