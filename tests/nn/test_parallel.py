"""nn.DataParallel / data_parallel on one device, and blaze.accelerator."""
import numpy as np
import pytest

import blaze
import blaze.accelerator as acc
import blaze.nn as nn
from blaze.nn.parallel import DataParallel, DistributedDataParallel, data_parallel


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, scale=1.0, extra=None):
        y = self.fc(x) * scale
        return y if extra is None else y + extra["bias"]


def test_names_resolve():
    assert nn.DataParallel is DataParallel and nn.parallel.data_parallel is data_parallel
    assert nn.parallel.DistributedDataParallel is DistributedDataParallel


def test_cpu_is_a_plain_call_with_module_prefix(monkeypatch):
    monkeypatch.setattr(blaze.cuda, "is_available", lambda: False)  # a CPU machine, even on a GPU runner
    blaze.manual_seed(0)
    m = Two()
    dp = DataParallel(m)
    assert dp.module is m and dp.device_ids == [] and dp.output_device is None
    x = blaze.randn(5, 4)
    np.testing.assert_allclose(dp(x, scale=2.0).detach().numpy(), m(x, scale=2.0).detach().numpy())
    assert list(dp.state_dict()) == ["module.fc.weight", "module.fc.bias"]
    fresh = DataParallel(Two())
    fresh.load_state_dict(dp.state_dict())
    np.testing.assert_array_equal(fresh.module.fc.weight.detach().numpy(), m.fc.weight.detach().numpy())
    dp(x).sum().backward()
    assert m.fc.weight.grad is not None and [p is q for p, q in zip(dp.parameters(), m.parameters())] == [True] * 2
    out = data_parallel(m, x, module_kwargs={"scale": 3.0})
    np.testing.assert_allclose(out.detach().numpy(), m(x, scale=3.0).detach().numpy())


def test_one_device_moves_inputs_and_keeps_output_there():
    blaze.manual_seed(0)
    ref = Two()
    m = Two()
    m.load_state_dict(ref.state_dict())
    m.to("cuda")
    dp = DataParallel(m, device_ids=[0])
    assert dp.device_ids == [0] and dp.output_device == 0
    assert DataParallel(m, device_ids=[blaze.device("cuda")], output_device="cuda:0").output_device == 0
    x = blaze.randn(6, 4)
    extra = {"bias": blaze.ones(3)}
    y = dp(x, extra=extra)  # cpu inputs, nested ones too, are scattered to cuda:0
    assert y.device == blaze.device("cuda", 0)
    np.testing.assert_allclose(y.cpu().detach().numpy(), ref(x, extra=extra).detach().numpy(), rtol=1e-5, atol=1e-5)
    y2 = data_parallel(m, (x,), device_ids=["cuda:0"])
    assert y2.device.type == "cuda"


def test_placement_and_device_errors():
    with pytest.raises(RuntimeError, match=r"on device cuda:0 \(device_ids\[0\]\) but found one of them on device: cpu"):
        DataParallel(Two(), device_ids=[0])
    with pytest.raises(RuntimeError, match="device_ids"):
        data_parallel(Two(), blaze.randn(2, 4), device_ids=[0])
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        DataParallel(Two(), device_ids=["cpu"])
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        DataParallel(Two(), device_ids=[0, 1])


def test_accelerator_without_a_gpu(monkeypatch):
    if blaze.cuda.is_emulated():
        assert not blaze.cuda.is_available()  # the emulated device is not an accelerator
    monkeypatch.setattr(blaze.cuda, "is_available", lambda: False)
    assert acc.is_available() is False and acc.device_count() == 0 and acc.current_accelerator() is None
    with pytest.raises(RuntimeError, match="no accelerator"):
        acc.synchronize()


def test_accelerator_with_a_gpu(monkeypatch):
    monkeypatch.setattr(blaze.cuda, "is_available", lambda: True)  # stand in for a GPU: the emulated device
    assert acc.is_available() and acc.device_count() == 1
    assert acc.current_accelerator() == blaze.device("cuda") and acc.current_device_index() == 0
    acc.set_device_index(0)
    acc.set_device_index("cuda:0")
    with pytest.raises(RuntimeError, match="one cuda device"):
        acc.set_device_index(1)
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        acc.set_device_index("cpu")
    t = blaze.ones(3, device="cuda") * 2
    acc.synchronize()
    with acc.device_index(0):
        assert t.sum().item() == 6.0
