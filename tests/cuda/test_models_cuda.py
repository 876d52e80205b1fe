"""Training steps of an MLP, a ResNet-style CNN and a tiny GPT on cpu and cuda: same results, no host trips."""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from tests.cuda.models import GPT, MLP, ResNet

def _data(kind):
    RNG = np.random.default_rng(0)  # the same batch on both devices
    if kind == "mlp":
        return RNG.standard_normal((6, 12)).astype(np.float32), RNG.integers(0, 5, 6)
    if kind == "cnn":
        return RNG.standard_normal((2, 3, 8, 8)).astype(np.float32), RNG.integers(0, 5, 2)
    idx = RNG.integers(0, 11, (2, 8))
    return idx, np.roll(idx, -1, 1)


MODELS = {"mlp": MLP, "cnn": ResNet, "gpt": GPT}


def train(kind, device, steps=2, opt_name="sgd"):
    blaze.manual_seed(0)
    model = MODELS[kind]()
    model.to(device)
    opt = blaze.optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt_name == "sgd" else \
        blaze.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = _data(kind)
    x, y = blaze.tensor(x).to(device), blaze.tensor(y).to(device)
    model.train(kind != "mlp")  # the MLP's dropout draws differ per device: evaluate it deterministically
    losses = []
    for _ in range(steps):
        loss = model(x, y) if kind == "gpt" else F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss)
    return [float(v.item()) for v in losses], {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("kind", ["mlp", "cnn", "gpt"])
def test_training_step_matches_cpu_without_host_round_trips(kind, device, fallbacks):
    l_cpu, s_cpu = train(kind, "cpu")
    l_gpu, s_gpu = train(kind, device)
    assert sum(fallbacks.values()) == 0, f"host round trips on cuda: {dict(fallbacks)}"
    np.testing.assert_allclose(l_gpu, l_cpu, rtol=1e-4, atol=1e-5)
    for k in s_cpu:
        np.testing.assert_allclose(s_gpu[k], s_cpu[k], rtol=1e-4, atol=2e-5, err_msg=k)


def test_adamw_step_on_cuda_matches_cpu(device, fallbacks):
    l_cpu, s_cpu = train("mlp", "cpu", 1, "adamw")
    l_gpu, s_gpu = train("mlp", device, 1, "adamw")
    assert sum(fallbacks.values()) == 0
    for k in s_cpu:
        np.testing.assert_allclose(s_gpu[k], s_cpu[k], rtol=1e-4, atol=1e-5, err_msg=k)
