"""Reduction and scan kernels vs NumPy float64 references: every op, axes sets, dtypes,
strided / negative-stride inputs, strided outputs, large rows, odd shapes, errors."""
import numpy as np
import pytest

from blaze.kernels import reduce as K
from blaze.kernels.buffer import HostBuffer
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err

rng = np.random.default_rng(1)


def _lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis)) if isinstance(axis, int) else \
        np.log(np.exp(x).sum(axis=axis))


def _flat_arg(fn):
    # argmax over several axes: flat index over the reduced axes, in order
    def f(x, axis):
        axis = (axis,) if isinstance(axis, int) else axis
        keep = [d for d in range(x.ndim) if d not in axis]
        y = np.transpose(x, keep + list(axis)).reshape([x.shape[d] for d in keep] + [-1])  # (kept..., R)
        return fn(y, axis=-1)
    return f


REF = {
    "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean,
    "argmax": _flat_arg(np.argmax), "argmin": _flat_arg(np.argmin), "any": np.any, "all": np.all,
    "var": lambda x, axis: np.var(x, axis=axis, ddof=1), "std": lambda x, axis: np.std(x, axis=axis, ddof=1),
    "logsumexp": lambda x, axis: np.log(np.exp(x).sum(axis=axis)),
}


def poisoned(dev, shape, dtype):
    if str(dtype) == "bfloat16":  # helpers.Dev.poisoned has no bfloat16 entry
        return dev.put(np.full(shape, np.nan, BF16))
    return dev.poisoned(shape, dtype)


def _input(op, shape, dtype):
    if op == "prod":
        x = rng.uniform(0.95, 1.05, shape) * np.where(rng.random(shape) < 0.2, -1, 1)
    elif op in ("any", "all"):
        x = (rng.random(shape) < (0.97 if op == "all" else 0.03)).astype(np.float64)
    elif op in ("argmax", "argmin", "max", "min") and str(dtype) != "float32":
        x = rng.integers(-4, 5, shape).astype(np.float64)  # ties: first occurrence matters
    else:
        x = rng.standard_normal(shape)
    return x.astype(dtype)


def _check(op, got, ref, dtype):
    if op in ("argmax", "argmin", "any", "all"):
        np.testing.assert_array_equal(got, ref)
    else:
        tol = 1e-9 if str(dtype) == "float64" else 2e-5 if str(dtype) == "float32" else RTOL[str(dtype)]
        assert rel_err(got, ref) < tol, (op, rel_err(got, ref))


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16, "float64"], ids=str)
@pytest.mark.parametrize("op", sorted(K.REDUCE_OPS))
def test_reduce_ops(dev, op, dtype):
    x = _input(op, (5, 6, 37), dtype)
    xb = dev.put(x)
    x64 = x.astype(np.float64)
    for axes in [2, 0, (0, 2), None]:
        ax = axes if axes is not None else (0, 1, 2)
        ref = REF[op](x64, axis=ax)
        out_dtype = {"argmax": "int64", "argmin": "int64", "any": "bool", "all": "bool"}.get(op, dtype)
        out = poisoned(dev, np.shape(ref), out_dtype)
        K.reduce(op, xb, axes, out=out)
        _check(op, dev.get(out), ref, dtype)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_reduce_ints(dev, dtype):
    x = rng.integers(0, 2 if dtype == "bool" else 9, (6, 23)).astype(dtype)
    xb = dev.put(x)
    for op in ["sum", "prod", "max", "min", "argmax", "argmin", "any", "all", "mean"]:
        got = dev.get(K.reduce(op, xb, 1))
        ref = REF[op](x.astype(np.int64) if op != "prod" else x.astype(np.int64) % 3, axis=1)
        if op == "prod":
            got = dev.get(K.reduce(op, dev.put((x.astype(np.int64) % 3).astype(dtype)), 1))
        want_dtype = {"sum": "int64", "prod": "int64", "argmax": "int64", "argmin": "int64", "any": "bool",
                      "all": "bool", "mean": "float32"}.get(op, dtype)
        assert str(got.dtype) == want_dtype, (op, got.dtype)
        if op == "mean":
            assert rel_err(got, ref) < 1e-6
        else:
            np.testing.assert_array_equal(got.astype(np.int64), ref.astype(np.int64), err_msg=op)


def test_strided_and_negative_inputs(dev):
    if dev.gpu:
        pytest.skip("strided-view construction uses host arrays")
    base = rng.standard_normal((12, 30)).astype(np.float32)
    for view in (base[:, ::-2], base.T, base[::3, 1::2].T, base[::-1]):
        for op in ("sum", "max", "argmin", "var", "logsumexp"):
            for axis in (0, 1, None):
                ax = axis if axis is not None else (0, 1)
                got = K.reduce(op, HostBuffer(view), axis).array
                _check(op, got, REF[op](view.astype(np.float64), axis=ax), "float32")


def test_strided_out_and_keepdim_out(dev):
    if dev.gpu:
        pytest.skip("strided-view construction uses host arrays")
    x = rng.standard_normal((7, 9)).astype(np.float32)
    base = np.full((3, 18), np.nan, np.float32)
    K.reduce("sum", HostBuffer(x), 0, out=HostBuffer(base[1, ::-2]))  # negative-stride out
    assert rel_err(base[1, ::-2], x.astype(np.float64).sum(0)) < 1e-6
    assert np.isnan(base[0]).all() and np.isnan(base[1, -2::-2]).all()
    kd = HostBuffer(np.full((7, 1), np.nan, np.float32))
    K.reduce("mean", HostBuffer(x), 1, out=kd)
    assert rel_err(kd.array[:, 0], x.astype(np.float64).mean(1)) < 1e-6


def test_large_row_sum_1e6(dev):
    x = rng.standard_normal(1_000_000).astype(np.float32)
    got = dev.get(K.reduce("sum", dev.put(x), 0))
    assert abs(float(got) - x.astype(np.float64).sum()) < 1e-3


def test_odd_shape_1823x781_each_axis(dev):
    x = rng.standard_normal((1823, 781)).astype(np.float32)
    xb = dev.put(x)
    for axis in (0, 1):
        out = poisoned(dev, (x.shape[1 - axis],), "float32")
        K.reduce("sum", xb, axis, out=out)
        assert rel_err(dev.get(out), x.astype(np.float64).sum(axis)) < 1e-5
    np.testing.assert_array_equal(dev.get(K.reduce("argmax", xb, 0)), x.argmax(0))


def test_nan_propagation_and_edges(dev):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, -1.0, 5.0], [-np.inf] * 4], np.float32)
    xb = dev.put(x)
    got = dev.get(K.reduce("max", xb, 1))
    assert np.isnan(got[0]) and got[1] == 5 and got[2] == -np.inf
    np.testing.assert_array_equal(dev.get(K.reduce("argmax", xb, 1)), [1, 1, 0])
    np.testing.assert_array_equal(dev.get(K.reduce("argmin", xb, 1)), [1, 2, 0])
    lse = dev.get(K.reduce("logsumexp", xb, 1))
    assert np.isnan(lse[0]) and lse[2] == -np.inf
    one = dev.get(K.reduce("var", dev.put(np.ones((3, 1), np.float32)), 1))
    assert np.isnan(one).all()  # 0 / max(1 - 1, 0), like torch
    v0 = dev.get(K.reduce("var", dev.put(x[1:2]), 1, correction=0))
    assert abs(v0[0] - np.var(x[1].astype(np.float64))) < 1e-5
    empty = dev.put(np.zeros((3, 0), np.float32))
    np.testing.assert_array_equal(dev.get(K.reduce("sum", empty, 1)), [0, 0, 0])
    np.testing.assert_array_equal(dev.get(K.reduce("prod", empty, 1)), [1, 1, 1])


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16, "int32", "bool"], ids=str)
def test_cumsum(dev, dtype):
    x = (rng.integers(0, 2, (9, 300)) if dtype == "bool" else rng.integers(-5, 5, (9, 300)) if dtype == "int32"
         else rng.standard_normal((9, 300))).astype(dtype)
    for axis in (0, 1):
        ref = np.cumsum(x.astype(np.float64), axis=axis)
        out_dtype = "int64" if dtype in ("int32", "bool") else dtype
        out = poisoned(dev, x.shape, out_dtype)
        K.cumsum(dev.put(x), axis, out=out)
        got = dev.get(out)
        assert str(got.dtype) == out_dtype
        tol = 1e-5 if dtype in ("float32", "int32", "bool") else 2e-2
        assert rel_err(got, ref) < tol, (axis, rel_err(got, ref))


def test_cumsum_long_row_and_strided_cumprod(dev):
    x = rng.standard_normal((2, 40_000)).astype(np.float32)
    got = dev.get(K.cumsum(dev.put(x), -1))
    assert rel_err(got, np.cumsum(x.astype(np.float64), -1)) < 1e-5
    p = rng.uniform(0.9, 1.1, (6, 50)).astype(np.float32)
    assert rel_err(dev.get(K.cumprod(dev.put(p), 1)), np.cumprod(p.astype(np.float64), 1)) < 1e-5
    if not dev.gpu:
        v = p[::-1, ::2]
        base = np.full((25, 12), np.nan, np.float32)
        K.cumsum(HostBuffer(v), 0, out=HostBuffer(base[:, ::2].T))
        assert rel_err(base[:, ::2].T, np.cumsum(v.astype(np.float64), 0)) < 1e-5
        assert np.isnan(base[:, 1::2]).all()


def test_tunable_registered(dev):
    t = tunables()["reduce"]
    cfg = t.heuristic(dict(op="sum", M=1823, R=781, dtype="float32", layout="col"))
    assert set(cfg) >= {"BLOCK_M", "BLOCK_R", "num_warps"}
    x = rng.standard_normal((3, 50)).astype(np.float32)
    run = t.make_problem(dict(op="sum", M=3, R=50, dtype="float32", layout="row"),
                         lambda shape, dtype: dev.put(x.reshape(shape).astype(dtype)))
    got = dev.get(run(dict(BLOCK_M=2, BLOCK_R=16, num_warps=4)))  # a small explicit config
    assert rel_err(got, x.astype(np.float64).sum(1)) < 1e-5


def test_errors(dev):
    x = dev.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="unknown reduction 'median'"):
        K.reduce("median", x, 1)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        K.reduce("sum", x, 2)
    with pytest.raises(ValueError, match="repeat"):
        K.reduce("sum", x, (1, -1))
    with pytest.raises(ValueError, match=r"out has shape \(4,\), expected \(3,\)"):
        K.reduce("sum", x, 1, out=dev.put(np.zeros(4, np.float32)))
    with pytest.raises(TypeError, match="out has dtype float16"):
        K.reduce("sum", x, 1, out=dev.put(np.zeros(3, np.float16)), out_dtype="float32")
    with pytest.raises(TypeError, match="complex64 is not supported"):
        K.reduce("sum", dev.put(np.zeros(3, np.complex64)), 0)
    with pytest.raises(ValueError, match="empty dimension"):
        K.reduce("max", dev.put(np.zeros((2, 0), np.float32)), 1)
    with pytest.raises(ValueError, match="unknown scan"):
        K.scan("cummax", x, 0)


@pytest.mark.parametrize("layout", ["row", "col"])
def test_small_blocks_loop_over_r(dev, layout):
    # BLOCK_R far below R so every op walks R in several chunks (carries, ties across chunks)
    x = rng.integers(-3, 4, (5, 45)).astype(np.float32)
    if layout == "col":
        x = np.ascontiguousarray(x.T).T  # same values, M contiguous
    xb = dev.put(x)
    cfg = dict(BLOCK_M=2, BLOCK_R=8, num_warps=4)
    for op in sorted(K.REDUCE_OPS):
        got = dev.get(K.reduce(op, xb, 1, config=cfg))
        _check(op, got, REF[op](x.astype(np.float64), axis=1), "float32")
    got = dev.get(K.cumsum(xb, 1, config=cfg))
    np.testing.assert_array_equal(got, np.cumsum(x, 1))
