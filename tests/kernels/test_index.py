"""blaze.kernels.index vs NumPy: gather/scatter, index_select, take, index_put, index_add,
cat, pad, flip, roll — odd shapes, duplicate int64 indices, strided inputs, poisoned outputs."""
import numpy as np
import pytest

from blaze.kernels import index as K
from blaze.kernels.buffer import HostBuffer
from tests.kernels.helpers import BF16, raises_device_error

FLOATS = ["float32", "float16", BF16]
RNG = np.random.default_rng(0)


class _DevView:
    """A strided view of a device buffer (the GPU path has no numpy views)."""

    def __init__(self, base, offset, shape, strides):
        self.base, self.off, self.shape, self.strides, self.dtype = base, offset, shape, strides, base.dtype

    def data_ptr(self):
        return self.base.data_ptr() + self.off

    def new(self, shape, dtype=None):
        return self.base.new(shape, dtype)


def strided(dev, arr, make_view):
    """A device buffer showing the numpy view ``make_view(arr)``, strides included."""
    if not dev.gpu:
        return HostBuffer(make_view(arr.copy()))
    v = make_view(arr)
    off = v.__array_interface__["data"][0] - arr.__array_interface__["data"][0]
    return _DevView(dev.put(arr), off, v.shape, tuple(s // v.itemsize for s in v.strides))


def poison(dev, shape, dtype):
    """dev.poisoned, also for bfloat16 (whose numpy kind 'V' helpers.POISON lacks)."""
    if BF16 is not None and np.dtype(dtype) == BF16:
        return dev.put(np.full(shape, np.nan, dtype=BF16))
    return dev.poisoned(shape, dtype)


def arr(shape, dtype):
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-50, 50, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def same(out, ref):
    np.testing.assert_array_equal(np.asarray(out).astype(np.float64), np.asarray(ref).astype(np.float64))


@pytest.mark.parametrize("dtype", FLOATS + ["int64"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dev, dtype, dim):
    x = arr((3, 13, 11), dtype)
    ishape = [3, 13, 11]
    ishape[dim] = 7
    ishape[(dim + 1) % 3] -= 1   # smaller than x outside dim is allowed
    idx = RNG.integers(0, x.shape[dim], ishape)  # duplicates for sure
    out = K.gather(dev.put(x), dim, dev.put(idx), out=poison(dev, tuple(ishape), x.dtype))
    same(dev.get(out), np.take_along_axis(x[tuple(slice(0, s) if d != dim % 3 else slice(None)
                                                  for d, s in enumerate(ishape))], idx, dim))


def test_gather_strided_and_guarded(dev):
    x = arr((11, 13), "float32")
    xt = strided(dev, x, lambda a: a.T)                         # (13, 11) with strides (1, 13)
    idx = RNG.integers(0, 13, (13, 5))
    idx[0, 0], idx[1, 1], idx[2, 2] = -1, 13, -14               # wraps / out of range -> 0
    out = dev.get(K.gather(xt, 0, dev.put(idx), out=poison(dev, (13, 5), np.float32)))
    safe = np.where((idx >= -13) & (idx < 13), idx, 0)
    ref = np.take_along_axis(x.T[:, :5], safe % 13, 0)
    ref[1, 1] = ref[2, 2] = 0
    same(out, ref)
    raises_device_error("gather")


def test_scatter_and_scatter_add(dev):
    x = arr((5, 9), "float32")
    src = arr((5, 9), "float32")
    perm = np.stack([RNG.permutation(9) for _ in range(5)])[:, :6]   # unique per row
    out = K.scatter(dev.put(x), 1, dev.put(perm), dev.put(src), out=poison(dev, (5, 9), np.float32))
    ref = x.copy()
    np.put_along_axis(ref, perm, src[:, :6], 1)
    same(dev.get(out), ref)

    idx = RNG.integers(0, 5, (13, 9))                                # many duplicates
    src = arr((13, 9), "float32")
    out = K.scatter_add(dev.put(x), 0, dev.put(idx), dev.put(src), out=poison(dev, (5, 9), np.float32))
    ref = x.astype(np.float64)
    for i in range(13):
        for j in range(9):
            ref[idx[i, j], j] += src[i, j]
    np.testing.assert_allclose(dev.get(out), ref, rtol=1e-5, atol=1e-5)

    xi = arr((4, 3), "int32")
    srci = arr((6, 3), "int32")
    idx = RNG.integers(0, 4, (6, 3))
    xb = dev.put(xi)
    K.scatter_add(xb, 0, dev.put(idx), dev.put(srci), out=xb)        # in place
    ref = xi.copy()
    np.add.at(ref, (idx, np.arange(3)[None, :].repeat(6, 0)), srci)
    same(dev.get(xb), ref)


@pytest.mark.parametrize("dtype", FLOATS)
def test_index_select_and_take(dev, dtype):
    x = arr((7, 13, 3), dtype)
    idx = np.array([6, 0, 0, 3, -1, 6], dtype=np.int64)
    for dim in (0, 1, 2):
        ix = idx % x.shape[dim]
        shape = list(x.shape)
        shape[dim] = len(ix)
        out = K.index_select(dev.put(x), dim, dev.put(ix), out=poison(dev, tuple(shape), x.dtype))
        same(dev.get(out), np.take(x, ix, axis=dim))
    idx2 = RNG.integers(-7, 7, (4, 5))
    out = K.take(dev.put(x), dev.put(idx2), out=poison(dev, (4, 5, 13, 3), x.dtype))
    same(dev.get(out), x[idx2])


def test_take_large_rows(dev):
    # vocabulary-sized table, sequence 77, an int32 index
    x = arr((1823, 5), "float32")
    idx = RNG.integers(0, 1823, (2, 77)).astype(np.int32)
    same(dev.get(K.take(dev.put(x), dev.put(idx))), x[idx])


def test_index_put_and_add(dev):
    x = arr((9, 4), "float32")
    idx = np.array([[1, 8, 1], [1, 0, -1]])                          # duplicates, negative
    vals = arr((2, 3, 4), "float32")
    xb = dev.put(x)
    assert K.index_put_(xb, dev.put(idx), dev.put(vals), accumulate=True) is xb
    ref = x.astype(np.float64)
    np.add.at(ref, idx % 9, vals)
    np.testing.assert_allclose(dev.get(xb), ref, rtol=1e-5, atol=1e-6)

    uniq = np.array([5, 2, 0])
    xb = dev.put(x)
    K.index_put_(xb, dev.put(uniq), dev.put(vals[0]))
    ref = x.copy()
    ref[uniq] = vals[0]
    same(dev.get(xb), ref)

    # broadcast values through a stride-0 buffer: x[idx] += row
    row = arr((1, 4), "float32")
    xb = dev.put(x)
    bvals = strided(dev, row, lambda a: np.broadcast_to(a, (3, 4)))
    K.index_put_(xb, dev.put(uniq), bvals, accumulate=True)
    ref = x.copy()
    ref[uniq] += row
    np.testing.assert_allclose(dev.get(xb), ref, rtol=1e-6)

    x2, src2 = arr((4, 9), "float32"), arr((4, 6), "float32")
    idx1 = np.array([3, 3, 0, 8, 3, 1])
    out = K.index_add(dev.put(x2), 1, dev.put(idx1), dev.put(src2), alpha=0.5, out=poison(dev, (4, 9), np.float32))
    ref = x2.astype(np.float64)
    for k, i in enumerate(idx1):
        ref[:, i] += 0.5 * src2[:, k]
    np.testing.assert_allclose(dev.get(out), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS + ["int64", "bool"])
def test_cat(dev, dtype):
    a, b, c = arr((3, 5, 11), dtype), arr((3, 1, 11), dtype), arr((3, 7, 11), dtype)
    if dtype == "bool":
        a, b, c = a > 0, b > 0, c > 0
    cb = strided(dev, np.ascontiguousarray(c.transpose(2, 1, 0)), lambda t: t.transpose(2, 1, 0))
    out = K.cat([dev.put(a), dev.put(b), cb], 1, out=poison(dev, (3, 13, 11), a.dtype))
    same(dev.get(out), np.concatenate([a, b, c], 1))
    same(dev.get(K.cat([dev.put(a), dev.put(a)], -1)), np.concatenate([a, a], -1))


@pytest.mark.parametrize("dtype", ["float32", BF16, "int32"])
def test_pad(dev, dtype):
    x = arr((2, 3, 13, 11), dtype)
    pads = (1, 2, 0, 3, -1, 1)        # last dim (1, 2), dim 2 (0, 3), dim 1 crop 1 / add 1
    out = K.pad(dev.put(x), pads, value=4, out=poison(dev, (2, 3, 16, 14), x.dtype))
    ref = np.pad(x[:, 1:], ((0, 0), (0, 1), (0, 3), (1, 2)), constant_values=4)
    same(dev.get(out), ref)


def test_flip_and_roll(dev):
    x = arr((3, 13, 11), "float32")
    same(dev.get(K.flip(dev.put(x), (0, -1), out=poison(dev, x.shape, x.dtype))), x[::-1, :, ::-1])
    xt = strided(dev, x, lambda a: a.transpose(2, 0, 1))
    same(dev.get(K.flip(xt, [1])), x.transpose(2, 0, 1)[:, ::-1])
    out = K.roll(dev.put(x), (4, -3), (1, 2), out=poison(dev, x.shape, x.dtype))
    same(dev.get(out), np.roll(x, (4, -3), (1, 2)))
    same(dev.get(K.roll(dev.put(x), 16, 1)), np.roll(x, 16, 1))
    same(dev.get(K.roll(dev.put(x), (1, 2), (0, 0))), np.roll(x, 3, 0))


def test_copy_merges_dims_beyond_six(dev):
    x = arr((2,) * 8, "float32")        # 8 dims, contiguous: merges to one
    same(dev.get(K.take(dev.put(x.reshape(2, -1)), dev.put(np.array([1, 0])))), x.reshape(2, -1)[[1, 0]])
    xt = strided(dev, x, lambda a: a.transpose(1, 0, 3, 2, 5, 4, 7, 6))
    with pytest.raises(ValueError, match="at most 6"):
        K.copy_(poison(dev, xt.shape, np.float32), xt)


def test_errors(dev):
    x = dev.put(arr((3, 4), "float32"))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        K.gather(x, 2, dev.put(np.zeros((3, 4), np.int64)))
    with pytest.raises(ValueError, match="same rank|must have x's rank"):
        K.gather(x, 0, dev.put(np.zeros((3,), np.int64)))
    with pytest.raises(TypeError, match="float32 is not supported|dtype float32"):
        K.gather(x, 0, dev.put(np.zeros((3, 4), np.float32)))
    with pytest.raises(TypeError, match="no atomic add"):
        K.scatter_add(dev.put(np.zeros((3, 4), np.float16)), 0, dev.put(np.zeros((3, 4), np.int64)),
                      dev.put(np.zeros((3, 4), np.float16)))
    with pytest.raises(ValueError, match="does not match"):
        K.cat([x, dev.put(arr((2, 5), "float32"))], 0)
    with pytest.raises(ValueError, match="values shape"):
        K.index_put_(x, dev.put(np.zeros(2, np.int64)), dev.put(arr((3, 4), "float32")))
    with pytest.raises(ValueError, match="expected shape"):
        K.index_select(x, 0, dev.put(np.zeros(2, np.int64)), out=poison(dev, (3, 4), np.float32))
    with pytest.raises(ValueError, match="pad values"):
        K.pad(x, (1, 1, 1))


def test_check_indices_wraps_and_reports(dev):
    idx = np.array([0, -1, 4, 5, -6, 2], np.int64)
    wrapped, bad = K.check_indices(dev.put(idx), 5, "my_op")
    assert dev.get(wrapped).tolist() == [0, 4, 4, 0, 0, 2]
    assert dev.get(bad).tolist() == [False, False, False, True, True, False]
    raises_device_error("my_op")
    wrapped, bad = K.check_indices(dev.put(idx.astype(np.int32)[[0, 1, 2]]), 5, "my_op")
    assert dev.get(wrapped).tolist() == [0, 4, 4] and not dev.get(bad).any()
    from blaze.devices.cuda.memory import check_device_errors
    check_device_errors()  # in range: nothing reported


def test_scatter_skips_and_reports_out_of_range(dev):
    x = np.zeros((2, 3), np.float32)
    out = K.scatter_add(dev.put(x), 1, dev.put(np.array([[0, 3], [-4, 2]])), dev.put(np.ones((2, 2), np.float32)))
    same(dev.get(out), np.array([[1, 0, 0], [0, 0, 1]], np.float32))
    raises_device_error("scatter_add")
