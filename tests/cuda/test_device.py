"""The cuda device itself: memory, transfers, views, statistics, OOM, RNG, events, fallbacks, save/load."""
import os
import subprocess
import sys

import numpy as np
import pytest

import blaze
from blaze.devices.cuda import memory as cuda_memory
from blaze.devices.cuda.memory import DeviceArray

DTYPES = [blaze.float32, blaze.float16, blaze.bfloat16, blaze.float64, blaze.int64, blaze.int32, blaze.uint8,
          blaze.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_round_trip_every_dtype(device, dtype):
    a = (np.arange(24).reshape(2, 3, 4) % 7 - 3).astype(dtype.np)
    t = blaze.tensor(a, dtype=dtype).to(device)
    assert t.device == device and t.is_cuda and t.dtype is dtype
    assert isinstance(t._data, DeviceArray)
    np.testing.assert_array_equal(t.cpu().numpy(), a)
    # a strided view downloads through a device-side contiguous copy
    np.testing.assert_array_equal(t.permute(2, 0, 1)[1:, :, ::2].cpu().numpy(), a.transpose(2, 0, 1)[1:, :, ::2])


def test_views_share_memory_and_allocate_nothing(device):
    t = blaze.zeros(4, 6, device=device)
    before = blaze.cuda.memory_allocated()
    v = t[1:3, ::2]
    w = t.t()
    r = t.view(2, 12)
    e = t[:, :1].expand(4, 5)
    diag = device.backend.diagonal(t._data, 0, 0, 1)  # the primitive is a view (blaze.diagonal copies)
    assert blaze.cuda.memory_allocated() == before
    assert v.stride() == (6, 2) and w.stride() == (1, 6) and diag.strides == (7,) and e.stride() == (6, 0)
    v.fill_(2.0)
    device.backend.assign(diag, device.backend.binary("add", diag, 1.0))
    want = np.zeros((4, 6), np.float32)
    want[1:3, ::2] = 2
    want[np.arange(4), np.arange(4)] += 1
    np.testing.assert_array_equal(t.cpu().numpy(), want)
    np.testing.assert_array_equal(r.cpu().numpy(), want.reshape(2, 12))
    assert not w.is_contiguous() and w.contiguous().is_contiguous()


def test_memory_statistics(device):
    blaze.cuda.empty_cache()
    base = blaze.cuda.memory_allocated()
    blaze.cuda.reset_peak_memory_stats()
    t = blaze.empty(1000, device=device)  # 4000 bytes -> 4096 with the 256-byte granule
    assert blaze.cuda.memory_allocated() - base == 4096
    u = blaze.empty(10, device=device)
    assert blaze.cuda.max_memory_allocated() - base == 4096 + 256
    del t, u
    assert blaze.cuda.memory_allocated() == base
    assert blaze.cuda.max_memory_allocated() - base == 4096 + 256
    blaze.cuda.reset_peak_memory_stats()
    assert blaze.cuda.max_memory_allocated() == base


def test_out_of_memory_names_bytes_and_recovers(device, monkeypatch):
    dev = cuda_memory.device()
    keep = blaze.ones(1000, device=device)
    if dev.emulated:  # a small emulated device
        monkeypatch.setattr(type(dev), "capacity", cuda_memory.STATS.allocated + (1 << 20))
        n = 2_000_000
    else:  # twice what the real device holds
        n = blaze.cuda.mem_get_info()[1] // 2
    with pytest.raises(blaze.cuda.OutOfMemoryError, match=r"Tried to allocate \d+ bytes.* bytes free"):
        blaze.empty(n, dtype=blaze.float32, device=device)
    if dev.emulated:
        with pytest.raises(blaze.cuda.OutOfMemoryError, match="Tried to allocate 8000000 bytes"):
            blaze.empty(n, dtype=blaze.float32, device=device)
    # the failed allocation left nothing behind and the device keeps working
    np.testing.assert_array_equal((keep * 2).cpu().numpy(), np.full(1000, 2, np.float32))
    assert isinstance(blaze.cuda.OutOfMemoryError("x"), RuntimeError)


def test_device_queries(device):
    assert blaze.cuda.is_emulated() == (os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"))
    if blaze.cuda.is_emulated():
        assert "emulated" in blaze.cuda.get_device_name()
    assert blaze.cuda.device_count() >= 1 and blaze.cuda.current_device() == 0
    props = blaze.cuda.get_device_properties(0)
    assert props.total_memory > 0
    blaze.cuda.synchronize()


def test_without_gpu_or_interpreter_cuda_raises_clearly():
    code = ("import blaze\nassert not blaze.cuda.is_available()\n"
            "try:\n    blaze.zeros(2, device='cuda')\nexcept RuntimeError as e:\n    print('ERR', e)\n")
    env = dict(os.environ, TRITON_INTERPRET="0", PYTHONPATH=os.getcwd())
    if blaze.cuda.is_available():
        pytest.skip("a real GPU is present: the no-device error path cannot be reached")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "ERR" in out.stdout and "TRITON_INTERPRET=1" in out.stdout, out.stdout + out.stderr


def test_events_time_work(device):
    start, end = blaze.cuda.Event(enable_timing=True), blaze.cuda.Event(enable_timing=True)
    start.record()
    (blaze.ones(64, 64, device=device) @ blaze.ones(64, 64, device=device)).sum()
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) > 0
    with pytest.raises(RuntimeError, match="enable_timing"):
        blaze.cuda.Event().elapsed_time(end)


def test_manual_seed_makes_device_random_reproducible(device):
    def draw():
        blaze.cuda.manual_seed(7)
        x = blaze.ones(1000, device=device)
        return (blaze.rand(1000, device=device), blaze.randn(1000, device=device),
                blaze.nn.functional.dropout(x, 0.5, training=True), blaze.randint(0, 10, (1000,), device=device))
    a, b = draw(), draw()
    for x, y in zip(a, b):
        assert x.device == device
        np.testing.assert_array_equal(x.cpu().numpy(), y.cpu().numpy())
    u, n, d, r = (t.cpu().numpy() for t in a)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    assert abs(n.mean()) < 0.15 and abs(n.std() - 1) < 0.1
    assert set(np.unique(d)) == {0.0, 2.0} and abs((d == 0).mean() - 0.5) < 0.06
    assert r.min() == 0 and r.max() == 9
    assert not np.array_equal(u, blaze.rand(1000, device=device).cpu().numpy())  # the stream moves on


def test_dropout_backward_reuses_the_mask(device):
    x = blaze.ones(500, device=device, requires_grad=True)
    y = blaze.nn.functional.dropout(x, 0.3, training=True)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), y.detach().cpu().numpy())


def test_fallbacks_are_counted(device, fallbacks):
    x = blaze.tensor([3.0, 1.0, 2.0], device=device)
    vals, idx = x.sort()
    np.testing.assert_array_equal(vals.cpu().numpy(), [1, 2, 3])
    assert vals.device == device and idx.device == device
    assert fallbacks["sort"] == 1
    m = x[x > 1.5]  # a boolean mask needs its count: one nonzero round trip
    np.testing.assert_array_equal(m.cpu().numpy(), [3, 2])
    assert fallbacks["nonzero"] == 1


def test_save_load_cuda_tensors(device, tmp_path):
    state = {"w": blaze.randn(3, 4, device=device), "b": blaze.arange(5, device=device).to(blaze.bfloat16)}
    path = tmp_path / "ckpt.safetensors"
    blaze.save(state, str(path))
    back = blaze.load(str(path))
    for k in state:
        assert back[k].device == device and back[k].dtype is state[k].dtype  # as saved, like torch.load
        np.testing.assert_array_equal(back[k].cpu().float().numpy(), state[k].cpu().float().numpy())


def test_mixed_device_errors_name_both(device):
    with pytest.raises(RuntimeError, match="cuda:0 and cpu|cpu and cuda:0"):
        blaze.ones(3, device=device) + blaze.ones(3)


def test_advanced_indexing_read_and_write(device):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    t = blaze.tensor(a, device=device)
    i, j = np.array([2, 0, -1]), np.array([[1], [3]])
    cases = [(i,), (slice(None), i), (i, slice(1, 3), j), (0, slice(None), i), (Ellipsis, i), (i, None, 1)]
    for key in cases:
        tk = tuple(blaze.tensor(k).to(device) if isinstance(k, np.ndarray) else k for k in key)
        np.testing.assert_array_equal(t[tk].cpu().numpy(), a[key], err_msg=str(key))
    t2 = blaze.zeros(3, 4, 5, device=device)
    t2[blaze.tensor([0, 2, 0]).to(device), 1] = blaze.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device)
    want = np.zeros((3, 4, 5), np.float32)
    want[[0, 2, 0], 1] = [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(t2.cpu().numpy(), want)
    acc = blaze.zeros(4, device=device).index_put((blaze.tensor([1, 1, 3]).to(device),),
                                                  blaze.tensor([1.0, 2.0, 3.0], device=device), accumulate=True)
    np.testing.assert_array_equal(acc.cpu().numpy(), [0, 3, 0, 3])


def test_every_cpu_primitive_has_a_cuda_twin():
    from blaze.devices.cpu.backend import NumpyBackend
    from blaze.devices.cuda.backend import TritonBackend
    missing = sorted(k for k in dir(NumpyBackend) if not k.startswith("_") and not hasattr(TritonBackend, k))
    assert not missing, f"primitives without a cuda implementation: {missing}"


# ----------------------------------------------------------------------------- 0-d tensors
@pytest.mark.parametrize("dtype", [blaze.float32, blaze.bfloat16, blaze.int64, blaze.bool], ids=lambda d: d.name)
def test_zero_dim_round_trip_keeps_shape(device, dtype):
    a = np.array(3, dtype.np)
    for t in (blaze.from_numpy(a).to(device), blaze.tensor(a, dtype=dtype).to(device), blaze.tensor(a, device=device)):
        assert t.shape == () and t.ndim == 0 and t._data.shape == () and t._data.strides == ()
        back = t.cpu().numpy()
        assert back.shape == () and back == a
    assert DeviceArray.from_host(a).shape == ()


def test_zero_dim_arithmetic_and_reductions_stay_on_device(device, fallbacks):
    y = blaze.tensor(3.0, device=device)
    x = blaze.arange(4.0, device=device)
    for r, want in [(y * 2 + 1, 7.0), (y.exp().log(), 3.0), (y.sum(), 3.0), (y.mean(), 3.0), (y.amax(), 3.0),
                    (y.sum(0), 3.0), (y.logsumexp(-1), 3.0), (y.var(correction=0), 0.0), ((y > 1).all(), True),
                    (y.to(blaze.bfloat16).float(), 3.0), (x.sum(), 6.0), (x.max(), 3.0), (x.argmax(), 3)]:
        assert r.shape == () and r.device == device
        assert r.item() == want
    assert (y * x).shape == (4,) and (x * y).cpu().numpy().tolist() == [0.0, 3.0, 6.0, 9.0]
    assert np.isnan(y.var().item())  # one element, correction 1: 0/0 as torch
    assert not fallbacks  # scalar reductions are casts on the device, no host round trip


def test_backward_takes_a_zero_dim_gradient(device):
    w = blaze.randn(4, device=device, requires_grad=True)
    loss = (w * 2).sum()
    loss.backward(blaze.tensor(3.0).to(device))
    np.testing.assert_allclose(w.grad.cpu().numpy(), np.full(4, 6.0))
    p = blaze.tensor(2.0, device=device, requires_grad=True)
    (p * p).backward()
    assert p.grad.shape == () and p.grad.item() == 4.0


def test_integer_index_is_a_writable_zero_dim_view(device):
    x = blaze.arange(12.0, device=device).reshape(3, 4)
    v = x[1, 2]
    assert v.shape == () and v._data.alloc is x._data.alloc and v._data.offset == 6  # a view, no copy
    v[...] = 40.0
    assert x[1, 2].item() == 40.0
    v.add_(1)
    assert x.cpu().numpy()[1, 2] == 41.0
    x[1, 2] = blaze.tensor(50.0, device=device)
    assert v.item() == 50.0 and x[1][2].shape == ()
    i, j = blaze.tensor(2, device=device), blaze.tensor(3, device=device)
    assert x[i, j].shape == () and x[i, j].item() == 11.0  # 0-d index tensors: a 0-d gather
    x[i, j] = 99.0
    assert x.cpu().numpy()[2, 3] == 99.0
