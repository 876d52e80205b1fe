"""nn's fused Functions on the "cuda" device (a real GPU, or emulated: the same Triton kernels
through the interpreter) give the CPU backend's results, forward and gradients, with no
host round trip."""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze import nn
from tests.nn.helpers import compare_devices


@pytest.fixture
def fallbacks():
    from blaze.devices.cuda import backend as triton_backend
    triton_backend.FALLBACKS.clear()
    return triton_backend.FALLBACKS


def _ids(*rows):
    return blaze.tensor(list(rows))


# name -> (fn(*tensors, dev), input shapes); ids are moved to the input's device inside fn
CASES = {
    "softmax_dim0": (lambda x: F.softmax(x, 0), [(5, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, -1), [(3, 5, 4)]),
    "linear": (F.linear, [(3, 5, 4), (6, 4), (6,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [(3, 5, 4), (4,), (4,)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, (8,), w), [(3, 8), (8,)]),
    "group_norm": (lambda x: F.group_norm(x, 3), [(2, 6, 5)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, _ids(0, 3, 1, 2, 3).to(x.device), label_smoothing=0.1,
                                                ignore_index=1), [(5, 4)]),
    "cross_entropy_nd": (lambda x: F.cross_entropy(x, _ids([0, 1, 3], [2, 2, 1]).to(x.device), reduction="none"),
                         [(2, 4, 3)]),
    "embedding": (lambda w: F.embedding(_ids([1, 0, 6], [6, 6, 2]).to(w.device), w, padding_idx=0), [(7, 3)]),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), [(4, 3, 2, 2)]),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_ops_match_cpu(name, fallbacks):
    compare_devices(*CASES[name])
    assert not fallbacks, f"host round trips on cuda: {dict(fallbacks)}"


def test_training_step_on_cuda(fallbacks):
    blaze.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.LayerNorm(8),
                      nn.Linear(8, 3)).to("cuda")
    x = blaze.randn(6, 4).to("cuda")
    loss = nn.CrossEntropyLoss()(m(x), blaze.tensor([0, 1, 2, 0, 1, 2]).to("cuda"))
    loss.backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda" for p in m.parameters())
    assert m[1].running_mean.device.type == "cuda" and m[1].num_batches_tracked.item() == 1
    total = nn.utils.clip_grad_norm_(m.parameters(), 0.01)
    assert total.item() > 0.01
    np.testing.assert_allclose(nn.utils.clip_grad_norm_(m.parameters(), 1e9).item(), 0.01, rtol=1e-3)
    blaze.manual_seed(1)
    y = F.dropout(blaze.ones(4000).to("cuda").requires_grad_(), 0.25)
    keep = y.detach().cpu().numpy() != 0
    assert abs(keep.mean() - 0.75) < 0.03
    np.testing.assert_allclose(y.detach().cpu().numpy()[keep], 1 / 0.75, rtol=1e-6)
