"""blaze.kernels.random: Philox fills (moments, ranges, reproducibility, counter layout),
dropout (mask fraction, scaling, same mask in backward, offsets differ) and residual +
dropout(x + bias) (the unfused kernels' values and mask, p = 0 / 1 exactness, strides)."""
import numpy as np
import pytest

from blaze.kernels import random as R
from tests.kernels.helpers import BF16
from tests.kernels.test_index import poison, strided

N = 20000
# sampling error of a mean over N draws is std/sqrt(N) = 0.7% of std; 5 sigma tolerances
TOL = 5 / np.sqrt(N)


def f64(buf, dev):
    return dev.get(buf).astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16])
def test_uniform_and_normal_moments(dev, dtype):
    u = f64(R.uniform_(poison(dev, (N,), dtype), -1.0, 3.0, seed=11, offset=0), dev)
    assert u.min() >= -1 and u.max() <= 3
    assert abs(u.mean() - 1.0) < 4 / np.sqrt(12) * TOL + 2e-3 and abs(u.var() - 16 / 12) < 0.05
    assert np.histogram(u, bins=8, range=(-1, 3))[0].min() > N / 8 * 0.9   # flat, no empty bins
    z = f64(R.normal_(poison(dev, (N,), dtype), 2.0, 3.0, seed=11, offset=N), dev)
    assert abs(z.mean() - 2.0) < 3.0 * TOL + 0.01 and abs(z.std() - 3.0) < 3.0 * 0.03
    s = (z - 2.0) / 3.0
    assert abs(np.mean(s ** 3)) < 0.1 and abs(np.mean(s ** 4) - 3.0) < 0.25    # skew 0, kurtosis 3


def test_counter_layout_and_reproducibility(dev):
    a = dev.get(R.uniform_(poison(dev, (N,), np.float32), seed=3, offset=0))
    b = dev.get(R.uniform_(poison(dev, (N,), np.float32), seed=3, offset=0))
    np.testing.assert_array_equal(a, b)
    # element i uses counter offset + i: a shifted offset reads the same stream shifted
    c = dev.get(R.uniform_(poison(dev, (100,), np.float32), seed=3, offset=2 ** 33 + 57))
    d = dev.get(R.uniform_(poison(dev, (157,), np.float32), seed=3, offset=2 ** 33))
    np.testing.assert_array_equal(c, d[57:])
    assert not np.any(c == dev.get(R.uniform_(poison(dev, (100,), np.float32), seed=4, offset=2 ** 33 + 57)))
    # a strided out holds the same numbers in logical (row-major) order
    base = np.full((11, 13), np.nan, np.float32)
    t = strided(dev, base, lambda x: x.T)                     # (13, 11)
    R.uniform_(t, seed=3, offset=0)
    flat = dev.get(R.uniform_(poison(dev, (13, 11), np.float32), seed=3, offset=0))
    got = t.array if hasattr(t, "array") else dev.get(t.base).T
    np.testing.assert_array_equal(np.asarray(got), flat)


def test_bernoulli_and_randint(dev):
    m = dev.get(R.bernoulli_(poison(dev, (N,), bool), 0.3, seed=1))
    assert m.dtype == bool and abs(m.mean() - 0.3) < TOL * 0.46 + 1e-3
    f = dev.get(R.bernoulli_(poison(dev, (N,), np.float32), 0.9, seed=2))
    assert set(np.unique(f)) == {0.0, 1.0} and abs(f.mean() - 0.9) < TOL * 0.3 + 1e-3
    k = dev.get(R.randint_(poison(dev, (N,), np.int64), -3, 4, seed=5))
    counts = np.bincount(k + 3, minlength=7)
    assert k.min() == -3 and k.max() == 3 and counts.min() > N / 7 * 0.9
    big = dev.get(R.randint_(poison(dev, (N,), np.int64), -2 ** 40, 2 ** 40, seed=5))
    assert big.min() >= -2 ** 40 and big.max() < 2 ** 40 and abs(big.mean()) < 2 ** 40 * 0.03
    one = dev.get(R.randint_(poison(dev, (7,), np.int32), 5, 6, seed=5))
    np.testing.assert_array_equal(one, 5)


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16])
def test_dropout_forward_backward(dev, dtype):
    p = 0.3
    x = np.random.default_rng(0).standard_normal((7, 13, 77)).astype(dtype)
    xb = dev.put(x)
    y = dev.get(R.dropout(xb, p, 42, 1000, out=poison(dev, x.shape, x.dtype)))
    keep = y != 0
    assert abs(1 - keep.mean() - p) < TOL * 0.46 + 2e-3
    ref = (x.astype(np.float32) * np.float32(1 / (1 - p))).astype(dtype)
    # exact for fp32/fp16; the interpreter rounds fp32 -> bf16 toward zero (1 ulp = 2**-8)
    tol = 2 ** -7 if dtype == BF16 else 0
    np.testing.assert_allclose(y[keep].astype(np.float64), ref[keep].astype(np.float64), rtol=tol)
    # same (seed, offset): same mask; backward scales dy through that mask
    np.testing.assert_array_equal(dev.get(R.dropout(xb, p, 42, 1000)).astype(np.float64), y.astype(np.float64))
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    dx = dev.get(R.dropout_backward(dev.put(dy), p, 42, 1000, out=poison(dev, x.shape, x.dtype)))
    ref_dx = np.where(keep, (dy.astype(np.float32) * np.float32(1 / (1 - p))), 0).astype(dtype)
    np.testing.assert_allclose(dx.astype(np.float64), ref_dx.astype(np.float64), rtol=tol)
    np.testing.assert_array_equal(dx != 0, keep & (dy != 0))
    # another offset (the next call of a generator): a different mask
    other = dev.get(R.dropout(xb, p, 42, 1000 + x.size)) != 0
    assert 0.3 < (other != keep).mean() < 0.5                 # 2 p (1 - p) = 0.42 of them flip


def test_dropout_edges_and_strides(dev):
    x = np.random.default_rng(2).standard_normal((13, 11)).astype(np.float32)
    np.testing.assert_array_equal(dev.get(R.dropout(dev.put(x), 0.0, 1, 0)), x)
    np.testing.assert_array_equal(dev.get(R.dropout(dev.put(x), 1.0, 1, 0)), np.zeros_like(x))
    xt = strided(dev, np.ascontiguousarray(x.T), lambda a: a.T)  # same values, column-major
    np.testing.assert_array_equal(dev.get(R.dropout(xt, 0.5, 9, 0)), dev.get(R.dropout(dev.put(x), 0.5, 9, 0)))


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16])
def test_bias_dropout_add_is_the_unfused_kernels(dev, dtype):
    p, shape = 0.3, (7, 13, 77)
    rng = np.random.default_rng(3)
    x, r = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[-1]).astype(dtype)
    out = dev.get(R.bias_dropout_add(dev.put(x), dev.put(b), dev.put(r), p, 42, 1000,
                                     out=poison(dev, shape, x.dtype))).astype(np.float64)
    # the unfused chain: x + b rounded to the dtype, dropout's kernel with the same (seed, offset), + r
    xb = (x.astype(np.float32) + b.astype(np.float32)).astype(dtype)
    d = dev.get(R.dropout(dev.put(xb), p, 42, 1000))
    ref = (d.astype(np.float32) + r.astype(np.float32)).astype(dtype).astype(np.float64)
    # exact for fp32/fp16; the interpreter rounds fp32 -> bf16 toward zero, NumPy to nearest: a 1-ulp
    # different x + b (2**-6 at |x + b| ~ 4), scaled by 1 / (1 - p) and rounded again
    np.testing.assert_allclose(out, ref, rtol=2 ** -6 if dtype == BF16 else 0, atol=0.05 if dtype == BF16 else 0)
    dropped = dev.get(R.dropout(dev.put(np.ones(shape, dtype)), p, 42, 1000)) == 0
    assert abs(dropped.mean() - p) < TOL * 0.46 + 2e-3                     # mask rate: p of the elements
    np.testing.assert_array_equal(out[dropped], r.astype(np.float64)[dropped])   # dropped: the residual alone
    # its backward is dropout_backward with the same (seed, offset): the same mask
    dx = dev.get(R.dropout_backward(dev.put(np.ones(shape, dtype)), p, 42, 1000))
    np.testing.assert_array_equal(dx == 0, dropped)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_bias_dropout_add_p0_is_exactly_the_adds_and_p1_the_residual(dev, dtype):
    rng = np.random.default_rng(4)
    x, r = rng.standard_normal((9, 40)).astype(dtype), rng.standard_normal((9, 40)).astype(dtype)
    b = rng.standard_normal(40).astype(dtype)
    f32 = np.float32
    xb = (x.astype(f32) + b.astype(f32)).astype(dtype)
    np.testing.assert_array_equal(dev.get(R.bias_dropout_add(dev.put(x), dev.put(b), dev.put(r), 0.0)),
                                  (r.astype(f32) + xb.astype(f32)).astype(dtype))
    np.testing.assert_array_equal(dev.get(R.bias_dropout_add(dev.put(x), None, dev.put(r), 0.0)),
                                  (r.astype(f32) + x.astype(f32)).astype(dtype))
    np.testing.assert_array_equal(dev.get(R.bias_dropout_add(dev.put(x), dev.put(b), dev.put(r), 1.0, 5, 0)), r)
    np.testing.assert_array_equal(dev.get(R.bias_dropout_add(dev.put(x), dev.put(b), None, 0.0)), xb)


def test_bias_dropout_add_strided_residual(dev):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 10)).astype(np.float32)
    r = rng.standard_normal((10, 6)).astype(np.float32)
    rt = strided(dev, r, lambda a: a.T)                      # (6, 10) column-major view
    got = dev.get(R.bias_dropout_add(dev.put(x), None, rt, 0.5, 9, 0))
    np.testing.assert_array_equal(got, dev.get(R.bias_dropout_add(dev.put(x), None, dev.put(r.T.copy()), 0.5, 9, 0)))
    np.testing.assert_array_equal(got, (dev.get(R.dropout(dev.put(x), 0.5, 9, 0)) + r.T).astype(np.float32))


def test_bias_dropout_add_errors(dev):
    x = dev.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"bias: expected shape \(4,\) to match the last dim of x, got \(3,\)"):
        R.bias_dropout_add(x, dev.put(np.zeros(3, np.float32)), None, 0.5)
    with pytest.raises(TypeError, match="dtype float16 is not supported"):
        R.bias_dropout_add(x, dev.put(np.zeros(4, np.float16)), None, 0.5)
    with pytest.raises(ValueError, match=r"residual: expected shape \(3, 4\), got \(4, 3\)"):
        R.bias_dropout_add(x, None, dev.put(np.zeros((4, 3), np.float32)), 0.5)


def test_errors(dev):
    with pytest.raises(ValueError, match="between 0 and 1"):
        R.dropout(dev.put(np.zeros(3, np.float32)), 1.5, 0, 0)
    with pytest.raises(TypeError, match="dtype int64 is not supported"):
        R.dropout(dev.put(np.zeros(3, np.int64)), 0.5, 0, 0)
    with pytest.raises(TypeError, match="dtype int32 is not supported"):
        R.normal_(dev.put(np.zeros(3, np.int32)))
    with pytest.raises(ValueError, match="seed must be"):
        R.uniform_(dev.put(np.zeros(3, np.float32)), seed=-1)
    with pytest.raises(ValueError, match="low < high"):
        R.randint_(dev.put(np.zeros(3, np.int64)), 3, 3)
    with pytest.raises(ValueError, match="expected shape"):
        R.dropout(dev.put(np.zeros(3, np.float32)), 0.5, 0, 0, out=dev.put(np.zeros(4, np.float32)))
