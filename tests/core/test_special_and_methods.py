"""Edge values of the special/elementwise rows, the NumPy-style aliases and in-place forms, and the
Tensor-only methods (memory facts, resize, put, index_copy, samplers)."""
import math

import mpmath
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check

DEVICES = ["cpu", "cuda"]


def _dev(device):
    if device == "cuda":
        pytest.importorskip("triton")
    return device


def _t(x, device, **kw):
    return blaze.tensor(np.asarray(x), device=device, **kw)


# -- integer rows ----------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_gcd_lcm_edges(device):
    a = np.array([0, 0, 12, -12, 7, 2 ** 30, 832040, -5], np.int32)
    b = np.array([0, 9, -18, -8, 0, 6, 514229, 5], np.int32)   # 832040, 514229: Fibonacci, Euclid's worst
    ta, tb = _t(a, _dev(device)), _t(b, device)
    np.testing.assert_array_equal(blaze.gcd(ta, tb).cpu().numpy(), np.gcd(a, b))
    lcm = blaze.lcm(ta, tb).cpu().numpy()
    np.testing.assert_array_equal(lcm[:5], np.lcm(a, b)[:5])
    assert lcm[5] == 2 ** 30  # torch: |a / gcd * b| wraps before the abs (3 * 2^30 -> -2^30 -> 2^30)
    np.testing.assert_array_equal(blaze.gcd(ta, 4).cpu().numpy(), np.gcd(a, 4))


@pytest.mark.parametrize("device", DEVICES)
def test_shifts_follow_torch_out_of_range(device):
    a = np.array([1, -5, 3, -1, 7, 1, -8], np.int32)
    s = np.array([3, 1, 31, 31, 32, -1, 40], np.int32)
    ta, ts = _t(a, _dev(device)), _t(s, device)
    # torch: a count outside [0, 32) gives 0, or -1 for a negative value shifted right
    np.testing.assert_array_equal(blaze.bitwise_left_shift(ta, ts).cpu().numpy(),
                                  [8, -10, -2 ** 31, -2 ** 31, 0, 0, 0])
    np.testing.assert_array_equal(ta.bitwise_right_shift(ts).cpu().numpy(), [0, -3, 0, -1, 0, 0, -1])
    np.testing.assert_array_equal((ta.bitwise_left_shift(2)).cpu().numpy(), a * 4)


@pytest.mark.parametrize("device", DEVICES)
def test_float_edges(device):
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.inf, -np.inf, np.nan], np.float32)
    t = _t(x, _dev(device))
    np.testing.assert_array_equal(blaze.isposinf(t).cpu().numpy(), np.isposinf(x))
    np.testing.assert_array_equal(blaze.isneginf(t).cpu().numpy(), np.isneginf(x))
    np.testing.assert_array_equal(blaze.heaviside(t, _t(np.float32(0.5), device)).cpu().numpy(),
                                  [0, 0.5, 0.5, 1, 1, 0, 0])  # torch: NaN > 0 is false
    np.testing.assert_array_equal(blaze.copysign(_t(np.ones(7, np.float32), device), t).cpu().numpy(),
                                  np.copysign(1, x))
    np.testing.assert_array_equal(blaze.fmax(t, _t(np.float32(1.0), device)).cpu().numpy(), np.fmax(x, 1))
    np.testing.assert_array_equal(blaze.logaddexp(t, t).cpu().numpy()[4:6], [np.inf, -np.inf])
    np.testing.assert_array_equal(blaze.nan_to_num(t, posinf=7.0).cpu().numpy(),
                                  np.nan_to_num(x, posinf=7.0, neginf=np.finfo(np.float32).min))
    lg = blaze.lgamma(_t(np.array([0.0, -1.0, -2.0, np.inf], np.float32), device)).cpu().numpy()
    np.testing.assert_array_equal(lg, [np.inf] * 4)
    dg = blaze.digamma(_t(np.array([0.0, -1.0], np.float32), device)).cpu().numpy()
    assert dg[0] == -np.inf and np.isnan(dg[1])
    np.testing.assert_array_equal(blaze.erfinv(_t(np.array([1, -1, 0], np.float32), device)).cpu().numpy(),
                                  [np.inf, -np.inf, 0])


@pytest.mark.parametrize("device", DEVICES)
def test_float64_erfinv_lgamma_digamma_to_float64_rounding(device):
    x = np.linspace(-0.999, 0.999, 41)
    got = blaze.erfinv(_t(x, _dev(device))).cpu().numpy()
    np.testing.assert_allclose(got, [float(mpmath.erfinv(v)) for v in x], rtol=1e-13, atol=1e-15)
    z = np.linspace(-7.3, 30.1, 50)
    np.testing.assert_allclose(blaze.lgamma(_t(z, device)).cpu().numpy(),
                               [float(mpmath.log(abs(mpmath.gamma(v)))) for v in z], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(blaze.digamma(_t(z, device)).cpu().numpy(), [float(mpmath.digamma(v)) for v in z],
                               rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_frexp_matches_numpy(device):
    x = np.array([8.0, 0.3, -5.0, 1e-40, 0.0, 1.0, 0.99999994, 3e38, np.inf], np.float32)
    m, e = blaze.frexp(_t(x, _dev(device)))
    rm, re = np.frexp(x)
    np.testing.assert_array_equal(m.cpu().numpy(), rm)
    np.testing.assert_array_equal(e.cpu().numpy()[:-1], re[:-1])
    assert e.dtype == blaze.int32
    with pytest.raises(RuntimeError, match="floating-point"):
        blaze.frexp(blaze.tensor([1, 2]))


def test_parameter_checks():
    with pytest.raises(RuntimeError, match="negative n"):
        blaze.polygamma(-1, blaze.ones(2))
    with pytest.raises(RuntimeError, match=r"greater than \(p-1\)/2"):
        blaze.mvlgamma(blaze.tensor([0.2, 3.0]), 2)
    x = blaze.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="float_power_ has dtype Float"):
        x.float_power_(2)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])  # left as it was
    assert blaze.tensor([1.5, 2.0], dtype=blaze.float64).float_power_(2).tolist() == [2.25, 4.0]
    with pytest.raises(RuntimeError, match="bool tensor"):
        blaze.positive(blaze.tensor([True]))
    assert blaze.ldexp(blaze.tensor([3]), blaze.tensor([2])).tolist() == [12.0]


# -- aliases and in-place forms ---------------------------------------------------------------
UNARY_ALIASES = {"absolute": np.abs, "negative": np.negative, "fix": np.trunc, "sgn": np.sign,
                 "arccos": np.arccos, "arcsin": np.arcsin, "arctan": np.arctan, "arcsinh": np.arcsinh,
                 "arctanh": np.arctanh, "erfc": np.vectorize(math.erfc), "deg2rad": np.deg2rad,
                 "lgamma": np.vectorize(math.lgamma), "sinc": np.sinc, "i0": np.i0}


@pytest.mark.parametrize("name", sorted(UNARY_ALIASES))
def test_unary_alias_and_inplace(name):
    x = arr(3, 4, low=-0.9, high=0.9)
    check(getattr(blaze, name), UNARY_ALIASES[name], x)
    t = blaze.tensor(x)
    r = getattr(blaze, name)(t)
    assert getattr(t, name + "_")() is t
    np.testing.assert_array_equal(t.numpy(), r.numpy())


BINARY_INPLACE = ["subtract", "multiply", "divide", "true_divide", "greater", "greater_equal", "less",
                  "less_equal", "not_equal", "arctan2", "copysign", "ldexp",
                  "hypot", "xlogy", "heaviside"]


@pytest.mark.parametrize("name", BINARY_INPLACE)
def test_binary_inplace_matches_out_of_place(name):
    a, b = blaze.tensor(arr(3, 4)), blaze.tensor(arr(4, positive=True))
    want = getattr(blaze, name)(a, b)
    got = a.clone()
    assert getattr(got, name + "_")(b) is got
    np.testing.assert_array_equal(got.numpy(), want.to(a.dtype).numpy())


def test_no_inplace_form_where_torch_has_none():
    for name in ("logaddexp_", "logaddexp2_", "fmax_", "fmin_"):
        assert not hasattr(blaze.Tensor, name), name


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                                  "bitwise_right_shift", "gcd", "lcm"])
def test_integer_inplace(name):
    a, b = blaze.tensor([12, -7, 5]), blaze.tensor([8, 3, 2])
    want = getattr(blaze, name)(a, b)
    assert getattr(a, name + "_")(b).tolist() == want.tolist()
    c = blaze.tensor([5, -6])
    assert c.bitwise_not_().tolist() == [-6, 5]


def test_matrix_inplace_and_views():
    x = blaze.tensor(arr(3, 3))
    for name, args in [("tril", ()), ("triu", (1,)), ("cumsum", (0,)), ("cumprod", (1,)),
                       ("addmm", (blaze.ones(3, 3), blaze.eye(3))), ("addr", (blaze.ones(3), blaze.ones(3)))]:
        want = getattr(x, name)(*args)
        got = x.clone()
        assert getattr(got, name + "_")(*args) is got
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    y = blaze.zeros(2, 3)
    y.swapaxes_(0, 1)
    assert tuple(y.shape) == (3, 2)
    y.swapdims_(0, 1)
    assert tuple(y.shape) == (2, 3)


def test_blas_updates_against_numpy_and_finite_differences():
    check(lambda i, m, v: blaze.addmv(i, m, v, beta=0.5, alpha=2), lambda i, m, v: 0.5 * i + 2 * m @ v,
          arr(3), arr(3, 4), arr(4))
    check(lambda i, a, b: blaze.addr(i, a, b, alpha=3), lambda i, a, b: i + 3 * np.outer(a, b), arr(3, 2), arr(3),
          arr(2))
    check(lambda i, a, b: blaze.addbmm(i, a, b), lambda i, a, b: i + np.einsum("bnk,bkp->np", a, b), arr(2, 5),
          arr(3, 2, 4), arr(3, 4, 5))
    with pytest.raises(RuntimeError, match="3D"):
        blaze.addbmm(blaze.ones(2, 2), blaze.ones(2, 2), blaze.ones(2, 2))


# -- Tensor-only methods ------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_memory_facts(device):
    x = blaze.arange(24.0, device=_dev(device)).reshape(2, 3, 4)
    v = x[1, 1:]
    assert v.storage_offset() == 16 and x.storage_offset() == 0
    assert v.data_ptr() - x.data_ptr() == 16 * 4 == v.const_data_ptr() - x.const_data_ptr()
    assert (x.itemsize, x.nbytes) == (4, 96)
    assert x.get_device() == (-1 if device == "cpu" else 0)
    assert x.permute(2, 0, 1).dim_order() == (1, 2, 0) and x.dim_order() == (0, 1, 2)


def test_h_mh_adjoint():
    m = blaze.tensor(arr(2, 3, 4))
    np.testing.assert_array_equal(m.mH.numpy(), m.numpy().swapaxes(-1, -2))
    np.testing.assert_array_equal(m.adjoint().numpy(), m.numpy().swapaxes(-1, -2))
    np.testing.assert_array_equal(m[0].H.numpy(), m[0].numpy().T)
    with pytest.raises(RuntimeError, match="only supported on matrices"):
        m.H
    with pytest.raises(RuntimeError, match="matrices or batches"):
        blaze.ones(3).mH


def test_resize_and_sum_to_size():
    x = blaze.arange(6.0)
    assert x.resize_(2, 2).tolist() == [[0, 1], [2, 3]]
    assert tuple(x.resize_as_(blaze.empty(3, 3)).shape) == (3, 3) and x.flatten()[:4].tolist() == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="require grad"):
        blaze.ones(2, requires_grad=True).resize_(3)
    y = arr(2, 3, 4)
    check(lambda t: t.sum_to_size(3, 1), lambda t: t.sum(0).sum(-1, keepdims=True), y)
    with pytest.raises(RuntimeError, match="not expandable"):
        blaze.tensor(y).sum_to_size(2, 4)


def test_apply_map_as_subclass():
    x = blaze.tensor([1.0, 2.0, 3.0])
    assert x.apply_(lambda v: v * v).tolist() == [1, 4, 9]
    assert x.map_(blaze.tensor([1.0]), lambda a, b: a - b).tolist() == [0, 3, 8]

    class Sub(blaze.Tensor):
        pass
    s = x.as_subclass(Sub)
    assert type(s) is Sub and s.data_ptr() == x.data_ptr()
    pytest.importorskip("triton")
    with pytest.raises(TypeError, match="only implemented on CPU"):
        x.to("cuda").apply_(abs)


def test_put_and_index_copy():
    x = arr(3, 4)
    idx = np.array([0, 5, -1])
    src = arr(3)
    want = x.copy()
    np.put(want, idx, src)
    got = blaze.tensor(x)
    got.put_(blaze.tensor(idx), blaze.tensor(src))
    np.testing.assert_array_equal(got.numpy(), want)
    acc = blaze.zeros(4).put_(blaze.tensor([1, 1, 3]), blaze.tensor([1.0, 2.0, 3.0]), accumulate=True)
    assert acc.tolist() == [0, 3, 0, 3]
    with pytest.raises(IndexError, match="out of range: tried to access index 12"):
        blaze.tensor(x).put(blaze.tensor([12]), blaze.tensor([1.0]))
    check(lambda t, s: t.put(blaze.tensor(idx), s), lambda t, s: np.put(t := t.copy(), idx, s) or t, x, src)
    cols = np.array([3, 0])
    ref = x.copy()
    ref[:, cols] = arr(3, 2)[:, :]
    s2 = arr(3, 2)

    def np_index_copy(t, s):
        t = t.copy()
        t[:, cols] = s
        return t
    check(lambda t, s: t.index_copy(1, blaze.tensor(cols), s), np_index_copy, x, s2)
    got = blaze.tensor(x)
    assert got.index_copy_(1, blaze.tensor(cols), blaze.tensor(s2)) is got
    np.testing.assert_array_equal(got.numpy(), np_index_copy(x, s2))
    with pytest.raises(RuntimeError, match="same slice shapes"):
        blaze.tensor(x).index_copy(1, blaze.tensor(cols), blaze.ones(2, 2, dtype=blaze.float64))


def test_random_samplers():
    blaze.manual_seed(0)
    c = blaze.empty(20000).cauchy_(median=2.0, sigma=0.5)
    assert abs(float(c.median()) - 2.0) < 0.05
    g = blaze.empty(20000).geometric_(0.25)
    assert float(g.min()) >= 1 and abs(float(g.mean()) - 4.0) < 0.15
    ln = blaze.empty(20000).log_normal_(0.5, 0.25)
    assert float(ln.min()) > 0 and abs(float(ln.log().mean()) - 0.5) < 0.01
    with pytest.raises(RuntimeError, match=r"p to be in \(0, 1\)"):
        blaze.empty(2).geometric_(1.5)
    with pytest.raises(RuntimeError, match="sigma > 0"):
        blaze.empty(2).cauchy_(sigma=0)
