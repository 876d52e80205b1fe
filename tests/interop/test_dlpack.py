"""DLPack and the CUDA array interface: every dtype on cpu and (emulated or real) cuda, strided
views without copies, shared writes both ways, lifetime, versioned and legacy capsules."""
import gc

import numpy as np
import pytest

import blaze
from blaze import dtypes as _dt
from blaze.utils import dlpack as D

DTYPES = list(_dt.ALL)
NUMPY_DTYPES = [d for d in DTYPES if d is not blaze.bfloat16]  # NumPy's DLPack has no bfloat16
DEVICES = ["cpu", "cuda"]
VERSIONS = [None, (1, 0)]


def _sample(dtype, shape=(3, 4), device="cpu"):
    a = (np.arange(int(np.prod(shape))).reshape(shape) % 7).astype(dtype.np)
    return blaze.tensor(a, dtype=dtype, device=device)


def _host(t):
    return t.cpu()._data.astype(np.float64)


class _Capsule:
    """A producer that hands out one capsule (to pin legacy vs versioned on the consumer side)."""

    def __init__(self, t, max_version):
        self.t, self.max_version = t, max_version

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()

    def __dlpack__(self, stream=None):  # no max_version: a pre-1.0 producer
        kw = {} if self.t.device.type == "cpu" else {"stream": stream}
        return self.t.__dlpack__(max_version=self.max_version, **kw)


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_blaze_round_trip_every_dtype(dtype, device):
    t = _sample(dtype, device=device)
    for version in VERSIONS:
        u = blaze.from_dlpack(_Capsule(t, version))
        assert u.dtype is dtype and u.device == t.device and u.shape == t.shape
        assert u._data.data_ptr() == t._data.data_ptr() if device == "cuda" else np.shares_memory(u._data, t._data)
        np.testing.assert_array_equal(_host(u), _host(t))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.name)
def test_numpy_round_trip_every_dtype(dtype):
    t = _sample(dtype)
    a = np.from_dlpack(t)
    assert a.dtype == dtype.np and np.shares_memory(a, t._data)
    b = np.arange(12).reshape(3, 4).astype(dtype.np)
    u = blaze.from_dlpack(b)
    assert u.dtype is dtype and np.shares_memory(u._data, b)
    np.testing.assert_array_equal(u.numpy(), b)


def test_numpy_refuses_bfloat16_as_numpy_does():
    with pytest.raises(RuntimeError, match="Unsupported dtype"):
        np.from_dlpack(_sample(blaze.bfloat16))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("view", ["transpose", "step", "column", "scalar", "empty"])
def test_strided_views_export_as_they_are(device, view):
    base = _sample(blaze.float32, (4, 6), device)
    v = {"transpose": lambda x: x.t(), "step": lambda x: x[1::2, ::3], "column": lambda x: x[:, 2],
         "scalar": lambda x: x[1, 1], "empty": lambda x: x[:0]}[view](base)
    u = blaze.from_dlpack(v)
    assert u.shape == v.shape and (u.stride() == v.stride() or not v.numel())
    np.testing.assert_array_equal(_host(u), _host(v))
    if v.numel():
        u.fill_(-3.0)  # the write lands in the base: no copy was made on the way
        assert (_host(base) == -3.0).sum() == v.numel()


def test_numpy_strided_and_negative_strides_import_without_copy():
    a = np.arange(24.0).reshape(4, 6)[::-1, 1::2]  # negative and stepped strides
    u = blaze.from_dlpack(a)
    assert u.stride() == (-6, 2) and np.shares_memory(u._data, a)
    np.testing.assert_array_equal(u.numpy(), a)
    b = np.from_dlpack(blaze.arange(12.0).reshape(3, 4).t())
    assert b.strides == (4, 16)


def test_writes_are_seen_both_ways():
    t = blaze.zeros(2, 3)
    a = np.from_dlpack(t)
    a[1, 2] = 5.0
    assert t[1, 2].item() == 5.0
    t[0, 0] = 7.0
    assert a[0, 0] == 7.0
    b = np.zeros(4, np.int32)
    u = blaze.from_dlpack(b)
    u.add_(3)
    assert b.tolist() == [3, 3, 3, 3]


@pytest.mark.parametrize("device", DEVICES)
def test_shared_writes_on_device(device):
    t = blaze.zeros(3, 4, device=device)
    u = blaze.from_dlpack(t)
    u[:, 1] = 2.0
    t[0] = 1.0
    np.testing.assert_array_equal(_host(t), _host(u))
    assert _host(t)[:, 1].tolist() == [1.0, 2.0, 2.0]


# ----------------------------------------------------------------------------- lifetime
def _live():
    gc.collect()
    D._sweep()  # exports dropped unconsumed (by earlier tests) are released here
    return len(D._LIVE)


@pytest.mark.parametrize("device", DEVICES)
def test_producer_deleted_memory_stays_until_consumer_releases(device):
    n0 = _live()
    t = blaze.arange(6.0, device=device) * 2
    u = blaze.from_dlpack(t)
    del t
    assert _live() == n0 + 1  # the export still holds the producer's memory
    blaze.ones(3, device=device)  # new allocations must not reuse it
    assert _host(u).tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    del u
    assert _live() == n0  # the consumer's release called the deleter


def test_unconsumed_capsule_is_released_at_next_export():
    n0 = _live()
    cap = blaze.ones(5).__dlpack__()
    assert _live() == n0 + 1
    del cap
    blaze.ones(1).__dlpack__()  # sweeps the dropped one, holds its own
    assert len(D._LIVE) == n0 + 1 and _live() == n0


def test_numpy_view_keeps_blaze_memory_alive():
    a = np.from_dlpack(blaze.arange(4.0) + 1)
    gc.collect()
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0]


# ----------------------------------------------------------------------------- capsule protocol
def test_capsule_names_and_versions():
    t = blaze.ones(2)
    assert "dltensor_versioned" in repr(t.__dlpack__(max_version=(1, 0)))
    assert '"dltensor"' in repr(t.__dlpack__())
    assert '"dltensor"' in repr(t.__dlpack__(max_version=(0, 8)))
    cap = t.__dlpack__(max_version=(1, 2))
    ptr = D._api.PyCapsule_GetPointer(cap, b"dltensor_versioned")
    m = D.DLManagedTensorVersioned.from_address(ptr)
    assert (m.version.major, m.version.minor) == D.VERSION and m.flags == 0
    blaze.from_dlpack(cap)
    assert "used_dltensor_versioned" in repr(cap)
    with pytest.raises(BufferError, match="not\\s+consumed yet|consumed"):
        blaze.from_dlpack(cap)


def test_read_only_flag():
    a = np.arange(3.0)
    a.flags.writeable = False
    u = blaze.from_dlpack(a)  # NumPy signals read-only through a versioned capsule
    assert not u._data.flags.writeable
    with pytest.raises(BufferError, match="read-only"):
        u.__dlpack__()
    cap = u.__dlpack__(max_version=(1, 0))
    ptr = D._api.PyCapsule_GetPointer(cap, b"dltensor_versioned")
    assert D.DLManagedTensorVersioned.from_address(ptr).flags & 1


def test_copy_argument():
    t = blaze.zeros(3)
    c = blaze.from_dlpack(t.__dlpack__(max_version=(1, 0), copy=True))
    c.fill_(1.0)
    assert t.sum().item() == 0.0
    assert np.from_dlpack(t, copy=False).base is not None


def test_bad_exports_raise():
    with pytest.raises(RuntimeError, match="require gradient"):
        blaze.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(ValueError, match="stream must be None"):
        blaze.ones(2).__dlpack__(stream=1)
    with pytest.raises(BufferError, match="not to"):
        blaze.ones(2).__dlpack__(dl_device=(2, 0))
    with pytest.raises(TypeError, match="__dlpack__"):
        blaze.from_dlpack([1, 2])


# ----------------------------------------------------------------------------- cuda specifics
def test_cuda_device_and_numpy_refusal():
    t = blaze.arange(6.0, device="cuda").reshape(2, 3)
    assert t.__dlpack_device__() == (D.kDLCUDA, 0)
    with pytest.raises(RuntimeError, match="Unsupported device"):
        np.from_dlpack(t)
    host = np.from_dlpack(t, device="cpu")  # NumPy asks for a host copy: allowed
    assert host.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(BufferError, match="copy=False"):
        np.from_dlpack(t, device="cpu", copy=False)
    assert blaze.ones(1).__dlpack_device__() == (D.kDLCPU, 0)


def test_cuda_stream_handshake_arguments():
    t = blaze.ones(2, device="cuda")
    for stream in (None, 1, 2, -1):
        blaze.from_dlpack(t.__dlpack__(stream=stream, max_version=(1, 0)))
    with pytest.raises(ValueError, match="stream 0"):
        t.__dlpack__(stream=0)


def test_emulated_device_refuses_foreign_cuda_pointers():
    from blaze.devices.cuda.memory import device
    if not device().emulated:
        pytest.skip("a real GPU imports foreign kDLCUDA pointers (checked by hand with torch)")
    cap = np.zeros(4).__dlpack__(max_version=(1, 0))  # host memory that blaze did not allocate
    ptr = D._api.PyCapsule_GetPointer(cap, b"dltensor_versioned")
    D.DLManagedTensorVersioned.from_address(ptr).dl_tensor.device.device_type = D.kDLCUDA
    with pytest.raises(BufferError, match="imports only memory it allocated"):
        blaze.from_dlpack(cap)


# ----------------------------------------------------------------------------- CUDA array interface
class _CAI:
    def __init__(self, d):
        self.__cuda_array_interface__ = d


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.name)
def test_cuda_array_interface_both_ways(dtype):
    base = _sample(dtype, (4, 6), "cuda")
    v = base[1:, ::2]
    cai = v.__cuda_array_interface__
    assert cai["version"] == 3 and cai["stream"] == 1 and cai["typestr"] == dtype.np.str
    assert cai["shape"] == (3, 3) and cai["strides"] == (6 * dtype.itemsize, 2 * dtype.itemsize)
    assert cai["data"] == (v._data.data_ptr(), False)
    u = blaze.as_tensor(_CAI(cai))
    assert u.device == base.device and u.dtype is dtype and u._data.data_ptr() == v._data.data_ptr()
    np.testing.assert_array_equal(_host(u), _host(v))
    u.fill_(1)
    assert _host(base)[1:, ::2].tolist() == [[1.0] * 3] * 3
    assert base.__cuda_array_interface__["strides"] is None  # contiguous


def test_cuda_array_interface_refusals():
    assert not hasattr(blaze.ones(2), "__cuda_array_interface__")
    with pytest.raises(TypeError, match="bfloat16"):
        blaze.ones(2, dtype=blaze.bfloat16, device="cuda").__cuda_array_interface__
    with pytest.raises(RuntimeError, match="requires grad"):
        blaze.ones(2, device="cuda", requires_grad=True).__cuda_array_interface__
    good = blaze.ones(2, device="cuda").__cuda_array_interface__
    with pytest.raises(TypeError, match="mask"):
        blaze.as_tensor(_CAI({**good, "mask": object()}))


def test_array_interface_on_cpu_shares_memory():
    t = blaze.zeros(3)
    a = np.asarray(t)
    a[0] = 4.0
    assert t[0].item() == 4.0


def test_held_capsule_survives_sweeps():
    cap = (blaze.arange(4.0) * 3).__dlpack__(max_version=(1, 0))
    gc.collect()
    for _ in range(3):
        blaze.ones(2).__dlpack__()
    D._sweep()
    assert blaze.from_dlpack(cap).tolist() == [0.0, 3.0, 6.0, 9.0]
