"""Elementwise kernels vs NumPy float64 references: every op in the tables, dtypes,
broadcasting, negative / transposed strides, strided outputs, scalars, cast/copy/fill, errors."""
import math

import numpy as np
import pytest

from blaze.kernels import elementwise as E
from blaze.kernels.buffer import HostBuffer
from tests.kernels.helpers import BF16, RTOL, rel_err

rng = np.random.default_rng(0)
_erf = np.vectorize(math.erf)
_sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
FLOATS = ["float32", "float16", BF16]


def _dt(d):
    return np.dtype(d)


def poisoned(dev, shape, dtype):
    # helpers.Dev.poisoned has no entry for bfloat16 (numpy kind "V"): poison it with NaN here
    if str(dtype) == "bfloat16":
        return dev.put(np.full(shape, np.nan, BF16))
    return dev.poisoned(shape, dtype)


def _tol(d):
    return RTOL.get(str(np.dtype(d)), 1e-5) * 3


# name -> (numpy reference on float64, input domain)
UNARY_REF = {
    "identity": (lambda x: x, "any"), "neg": (np.negative, "any"), "abs": (np.abs, "any"),
    "exp": (np.exp, "any"), "log": (np.log, "pos"), "sqrt": (np.sqrt, "pos"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "pos"), "sin": (np.sin, "any"), "cos": (np.cos, "any"),
    "tanh": (np.tanh, "any"), "sigmoid": (_sig, "any"), "relu": (lambda x: np.maximum(x, 0), "any"),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), "any"),
    "gelu_tanh": (lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), "any"),
    "silu": (lambda x: x * _sig(x), "any"), "sign": (np.sign, "any"), "floor": (np.floor, "any"),
    "ceil": (np.ceil, "any"), "round": (np.round, "ties"), "reciprocal": (lambda x: 1 / x, "pos"),
    "log1p": (np.log1p, "pos"), "expm1": (np.expm1, "any"), "erf": (_erf, "any"),
    "logical_not": (np.logical_not, "any"), "square": (np.square, "any"),
    "logit": (lambda x: np.log(x / (1 - x)), "unit"),
}
BINARY_REF = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "floor_divide": np.floor_divide, "remainder": np.remainder, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "xlogy": lambda a, b: np.where(a == 0, 0, a * np.log(b)),
}
TERNARY_REF = {
    "where": lambda c, a, b: np.where(c, a, b),
    "clamp": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
}


def _domain(kind, shape):
    if kind == "pos":
        return rng.uniform(0.1, 3.0, shape)
    if kind == "unit":
        return rng.uniform(0.05, 0.95, shape)
    if kind == "ties":  # exact .5 ties plus ordinary values
        x = rng.integers(-6, 6, shape) + rng.choice([0.5, 0.25, 0.75, 0.0], shape)
        return x.astype(np.float64)
    return rng.standard_normal(shape) * 2


def _check(out, ref, dtype):
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out).astype(np.float64)
    if ref.size and np.all(ref == np.round(ref)) and np.abs(ref).max(initial=0) < 256:
        np.testing.assert_array_equal(out, ref)  # integer-valued results must be exact
    else:
        assert rel_err(out, ref) < _tol(dtype), rel_err(out, ref)


def test_tables_cover_refs():
    """Every kernel instruction of blaze/_optable.py has a reference here, and nothing else does."""
    kernel = {n for n, (row, arity) in E.ROWS.items()}
    assert kernel == set(UNARY_REF) | set(BINARY_REF) | set(TERNARY_REF) | {
        "bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"}


@pytest.mark.parametrize("dtype", FLOATS + ["float64"], ids=str)
@pytest.mark.parametrize("op", sorted(UNARY_REF))
def test_unary(dev, op, dtype):
    fn, dom = UNARY_REF[op]
    x = _domain(dom, (7, 33)).astype(dtype)
    out = poisoned(dev, x.shape, "bool" if op == "logical_not" else dtype)
    E.unary(op, dev.put(x), out=out)
    _check(dev.get(out), fn(x.astype(np.float64)), dtype)


def test_unary_edge_values(dev):
    x = np.array([0.0, -0.0, 1e-6, -1e-6, 30.0, -30.0, 100.0, -100.0, np.inf, -np.inf], np.float32)
    for op, fn in [("tanh", np.tanh), ("expm1", np.expm1), ("sigmoid", _sig), ("relu", lambda v: np.maximum(v, 0))]:
        got = dev.get(E.unary(op, dev.put(x)))
        np.testing.assert_allclose(got, fn(x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-30)
    got = dev.get(E.unary("log1p", dev.put(np.array([1e-7, -1e-7, 1e30], np.float32))))
    np.testing.assert_allclose(got, np.log1p(np.array([1e-7, -1e-7, 1e30])), rtol=1e-5)
    nan = dev.get(E.unary("relu", dev.put(np.array([np.nan], np.float32))))
    assert np.isnan(nan).all()


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_unary_ints(dev, dtype):
    x = rng.integers(0 if dtype in ("uint8", "bool") else -50, 2 if dtype == "bool" else 50, (5, 9)).astype(dtype)
    ops = {"abs": np.abs, "square": np.square, "floor": np.floor, "round": np.round, "relu": lambda v: np.maximum(v, 0),
           "logical_not": np.logical_not, "bitwise_not": np.invert}
    if dtype not in ("uint8", "bool"):
        ops.update(neg=np.negative, sign=np.sign)
    for op, fn in ops.items():
        got = dev.get(E.unary(op, dev.put(x)))
        ref = fn(x)
        assert got.dtype == ("bool" if op == "logical_not" else dtype) or dtype == "bool", (op, got.dtype)
        np.testing.assert_array_equal(got.astype(np.int64), ref.astype(np.int64), err_msg=op)
    got = dev.get(E.unary("exp", dev.put(x)))  # float op on ints -> float32 like torch
    assert got.dtype == np.float32 and rel_err(got, np.exp(x.astype(np.float64))) < 1e-5


def _binary_inputs(op, shape_a, shape_b):
    a = rng.standard_normal(shape_a) * 3
    b = rng.standard_normal(shape_b) * 3
    if op in ("div", "floor_divide", "remainder"):
        b = np.sign(b + 1e-3) * rng.uniform(0.5, 3, shape_b)
    if op == "xlogy":  # zeros in a give 0 whatever b
        a[..., :3] = 0
        b = rng.uniform(0.1, 3, shape_b)
    if op == "pow":  # negative bases only with integer exponents
        a = rng.uniform(0.2, 3, shape_a) * np.where(rng.random(shape_a) < 0.3, -1, 1)
        b = np.where(a < 0, rng.integers(-3, 4, shape_b), rng.uniform(-2, 2, shape_b))
    if op in ("eq", "ne", "lt", "le", "gt", "ge", "maximum", "minimum"):  # ties happen
        a, b = np.round(a), np.round(b)
    return a, b


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16], ids=str)
@pytest.mark.parametrize("op", sorted(BINARY_REF))
def test_binary_broadcast(dev, op, dtype):
    a, b = _binary_inputs(op, (6, 1, 17), (4, 17))  # (6, 1, 17) x (4, 17) -> (6, 4, 17)
    if op == "pow":
        a, b = _binary_inputs(op, (6, 4, 17), (6, 4, 17))
    a, b = a.astype(dtype), b.astype(dtype)
    out_dtype = "bool" if op in ("eq", "ne", "lt", "le", "gt", "ge") or op.startswith("logical") else dtype
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = poisoned(dev, shape, out_dtype)
    E.binary(op, dev.put(a), dev.put(b), out=out)
    ref = BINARY_REF[op](a.astype(np.float64), b.astype(np.float64))
    if op == "pow" and dtype != "float32":
        ref = np.where(np.abs(ref) > 1e3, 0, ref)  # fp16 overflow region isn't what we test
        got = np.where(np.abs(ref) > 1e3, 0, dev.get(out).astype(np.float64))
        assert rel_err(got, ref) < _tol(dtype)
        return
    _check(dev.get(out), ref, dtype)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool"])
def test_binary_ints(dev, dtype):
    lo, hi = (0, 2) if dtype == "bool" else (0, 20) if dtype == "uint8" else (-20, 20)
    a = rng.integers(lo, hi, (5, 11)).astype(dtype)
    b = rng.integers(lo, hi, (5, 11)).astype(dtype)
    if dtype != "bool":
        b = np.where(b == 0, 3, b).astype(dtype)
    ops = ["add", "mul", "maximum", "minimum", "eq", "lt", "ge", "logical_and", "logical_xor",
           "bitwise_and", "bitwise_or", "bitwise_xor"]
    if dtype != "bool":
        ops += ["sub", "floor_divide", "remainder"] if dtype != "uint8" else ["floor_divide", "remainder"]
    for op in ops:
        ref = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
               "bitwise_xor": np.bitwise_xor}.get(op) or BINARY_REF[op]
        got = dev.get(E.binary(op, dev.put(a), dev.put(b)))
        want = ref(a, b)
        if dtype == "bool" and op in ("add", "mul"):
            want = want.astype(bool)
        np.testing.assert_array_equal(got.astype(np.int64), want.astype(np.int64), err_msg=op)
    # integer pow by squaring, and true division of ints -> float32
    e = rng.integers(0, 5, (5, 11)).astype(dtype)
    if dtype in ("int32", "int64"):
        small = rng.integers(-5, 5, (5, 11)).astype(dtype)
        np.testing.assert_array_equal(dev.get(E.binary("pow", dev.put(small), dev.put(e))), small ** e)
        got = dev.get(E.binary("div", dev.put(a), dev.put(b)))
        assert got.dtype == np.float32 and rel_err(got, a / b) < 1e-6


def test_float_floor_divide_remainder_signs(dev):
    a = np.array([7.0, -7.0, 7.0, -7.0, 5.5, -5.5, 0.0, 1e-3], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 2.5, 2.5, 3.0, -1.0], np.float32)
    np.testing.assert_array_equal(dev.get(E.binary("floor_divide", dev.put(a), dev.put(b))), np.floor_divide(a, b))
    np.testing.assert_allclose(dev.get(E.binary("remainder", dev.put(a), dev.put(b))), np.remainder(a, b), rtol=1e-6)
    ai, bi = np.array([7, -7, 7, -7], np.int32), np.array([2, 2, -2, -2], np.int32)
    np.testing.assert_array_equal(dev.get(E.binary("remainder", dev.put(ai), dev.put(bi))), np.remainder(ai, bi))
    np.testing.assert_array_equal(dev.get(E.binary("floor_divide", dev.put(ai), dev.put(bi))), ai // bi)


def test_nan_propagation(dev):
    a = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    b = np.array([1.0, np.nan, 1.0, np.nan], np.float32)
    for op in ("maximum", "minimum"):
        got = dev.get(E.binary(op, dev.put(a), dev.put(b)))
        np.testing.assert_array_equal(np.isnan(got), [True, True, False, True], err_msg=op)
    np.testing.assert_array_equal(dev.get(E.binary("ne", dev.put(a), dev.put(a))), np.isnan(a))


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16, "float64"], ids=str)
@pytest.mark.parametrize("op", sorted(TERNARY_REF))
def test_ternary(dev, op, dtype):
    a = rng.standard_normal((5, 1, 13))
    b = rng.standard_normal((3, 13))
    c = rng.uniform(-0.5, 1.5, (5, 3, 1))
    if op == "where":
        a = a > 0
    if op == "clamp":
        b, c = -np.abs(b) * 0.5, np.abs(c) * 0.5
    args = [a if op == "where" else a.astype(dtype), b.astype(dtype), c.astype(dtype)]
    shape = np.broadcast_shapes(a.shape, b.shape, c.shape)
    out = poisoned(dev, shape, dtype)
    E.ternary(op, *[dev.put(v) for v in args], out=out)
    _check(dev.get(out), TERNARY_REF[op](*[v if v.dtype == bool else v.astype(np.float64) for v in args]), dtype)


def test_ternary_scalars(dev):
    x = rng.standard_normal((4, 9)).astype(np.float32)
    got = dev.get(E.ternary("clamp", dev.put(x), -0.5, 0.75))
    np.testing.assert_array_equal(got, np.clip(x, -0.5, 0.75))
    got = dev.get(E.ternary("where", dev.put(x > 0), dev.put(x), 0.0))
    np.testing.assert_array_equal(got, np.where(x > 0, x, 0))
    got = dev.get(E.ternary("where", dev.put(x > 0), 1, -1))
    assert got.dtype == np.int64 and (got == np.where(x > 0, 1, -1)).all()


# -- strides: broadcast, negative, transposed, strided outputs -------------------------------
def _host_only(dev):
    if dev.gpu:  # views are built on host arrays below; the GPU run covers contiguous cases
        pytest.skip("strided-view construction uses host arrays")


def test_negative_and_transposed_strides(dev):
    _host_only(dev)
    a = rng.standard_normal((9, 14)).astype(np.float32)
    b = rng.standard_normal((14, 9)).astype(np.float32)
    av, bv = a[:, ::-2], b.T[:, ::-2]  # (9, 7), negative column stride; transposed
    got = E.binary("mul", HostBuffer(av), HostBuffer(bv)).array
    np.testing.assert_array_equal(got, av * bv)
    got = E.unary("neg", HostBuffer(a[::-1, ::-1])).array
    np.testing.assert_array_equal(got, -a[::-1, ::-1])


def test_write_through_strided_out_view(dev):
    _host_only(dev)
    base = np.full((8, 12), np.nan, np.float32)
    view = base[1::2, ::-3]  # (4, 4), negative stride, a window of base
    x = rng.standard_normal((4, 4)).astype(np.float32)
    E.binary("add", HostBuffer(x), 1.0, out=HostBuffer(view))
    np.testing.assert_array_equal(base[1::2, ::-3], x + 1)
    untouched = np.ones(base.shape, bool)
    untouched[1::2, ::-3] = False
    assert np.isnan(base[untouched]).all()
    # in-place on a transposed view, broadcasting a row
    m = rng.standard_normal((5, 6)).astype(np.float32)
    ref = m.copy()
    E.binary("mul", HostBuffer(m.T), HostBuffer(np.arange(5, dtype=np.float32)), out=HostBuffer(m.T))
    np.testing.assert_array_equal(m, ref * np.arange(5, dtype=np.float32)[:, None])


def test_high_rank_collapse(dev):
    _host_only(dev)
    a = rng.standard_normal((3, 2, 3, 2, 3, 2)).astype(np.float32)[..., ::-1]
    b = rng.standard_normal((3, 1, 3, 1, 3, 1)).astype(np.float32)  # alternating stride 0: 6 dims remain
    got = E.binary("sub", HostBuffer(a), HostBuffer(b)).array
    np.testing.assert_array_equal(got, a - b)
    with pytest.raises(ValueError, match="dims remain"):
        c = rng.standard_normal((2, 1, 2, 1, 2, 1, 2, 1)).astype(np.float32)
        E.binary("add", HostBuffer(rng.standard_normal((2, 2, 2, 2, 2, 2, 2, 2)).astype(np.float32)[..., ::2]),
                 HostBuffer(c))


def test_odd_shape_1823x781(dev):
    a = rng.standard_normal((1823, 781)).astype(np.float32)
    b = rng.standard_normal((781,)).astype(np.float32)
    out = poisoned(dev, a.shape, "float32")
    E.binary("add", dev.put(a), dev.put(b), out=out)
    np.testing.assert_array_equal(dev.get(out), a + b)


# -- dtypes: promotion, scalars, cast, copy, fill --------------------------------------------
def test_promotion_and_scalars(dev):
    i32 = dev.put(np.arange(6, dtype=np.int32))
    assert E.binary("add", i32, 1).dtype == np.int32
    got = E.binary("mul", i32, 0.5)
    assert got.dtype == np.float32 and np.allclose(dev.get(got), np.arange(6) * 0.5)
    assert E.binary("add", i32, dev.put(np.arange(6, dtype=np.int64))).dtype == np.int64
    h = dev.put(np.ones(4, np.float16))
    assert str(E.binary("add", h, dev.put(np.ones(4, BF16))).dtype) == "float32"
    assert E.binary("lt", i32, 2.5).dtype == bool
    np.testing.assert_array_equal(dev.get(E.binary("lt", i32, 2.5)), np.arange(6) < 2.5)
    # a float64 scalar is exact although kernel float arguments are fp32
    d = dev.put(np.zeros(3))
    assert dev.get(E.binary("add", d, 0.1))[0] == 0.1
    assert E.binary("sub", 10, dev.put(np.arange(3.0, dtype=np.float32))).dtype == np.float32
    np.testing.assert_array_equal(dev.get(E.binary("sub", 10, dev.put(np.arange(3.0, dtype=np.float32)))), [10, 9, 8])


CAST_DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
# By name, not numpy kind: ml_dtypes' bfloat16 reports a kind other than "f", so a kind test lets
# bfloat16 -> uint8 of negative values through (undefined; 254 vs 0 with numpy 2.4).
_FLOAT_SRC = {"float16", "bfloat16", "float32", "float64"}


@pytest.mark.parametrize("src", CAST_DTYPES)
def test_cast_all_pairs(dev, src):
    x = np.array([0, 1, 2, 3, 100, 7, 0, 1] if src in ("bool", "uint8") else [0, 1.75, -2.5, 3, 100.25, -7, 0.5, 1])
    x = x.astype(_dt(src) if src != "bfloat16" else BF16)
    xb = dev.put(x)
    for dst in CAST_DTYPES:
        dt = BF16 if dst == "bfloat16" else _dt(dst)
        if dt.kind == "u" and src in _FLOAT_SRC:
            continue  # negative float -> unsigned is undefined (C and numpy alike)
        out = poisoned(dev, x.shape, dt)
        E.cast(xb, dt, out=out)
        np.testing.assert_array_equal(dev.get(out).astype(np.float64), x.astype(dt).astype(np.float64),
                                      err_msg=f"{src}->{dst}")


def test_copy_fill(dev):
    src = rng.standard_normal((1, 5)).astype(np.float32)
    dst = poisoned(dev, (3, 5), "float16")
    E.copy(dev.put(src), dst)  # broadcast + convert
    np.testing.assert_array_equal(dev.get(dst), np.broadcast_to(src.astype(np.float16), (3, 5)))
    f = poisoned(dev, (2, 3), "float64")
    E.fill(f, 0.1)
    assert (dev.get(f) == 0.1).all()
    i = poisoned(dev, (4,), "int64")
    E.fill(i, 2**40 + 3)
    assert (dev.get(i) == 2**40 + 3).all()
    b = poisoned(dev, (4,), "bool")
    E.fill(b, False)
    assert not dev.get(b).any()


def test_errors(dev):
    x = dev.put(np.zeros((3, 4), np.float32))
    y = dev.put(np.zeros((5, 4), np.float32))
    with pytest.raises(ValueError, match="unknown unary op 'nope'"):
        E.unary("nope", x)
    with pytest.raises(ValueError, match="unknown binary op 'exp'"):
        E.binary("exp", x, x)
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5, 4\)"):
        E.binary("add", x, y)
    with pytest.raises(TypeError, match="complex64 is not supported"):
        E.unary("neg", dev.put(np.zeros(3, np.complex64)))
    with pytest.raises(TypeError, match="integer or bool"):
        E.binary("bitwise_and", x, x)
    with pytest.raises(ValueError, match=r"out has shape \(3, 5\)"):
        E.binary("add", x, x, out=dev.put(np.zeros((3, 5), np.float32)))
    with pytest.raises(TypeError, match="out has dtype float16"):
        E.binary("add", x, x, out=dev.put(np.zeros((3, 4), np.float16)), out_dtype="float32")
    with pytest.raises(TypeError, match="Python number"):
        E.binary("add", x, "2")
    with pytest.raises(TypeError, match="Python number"):
        E.binary("add", x, [2])
    with pytest.raises(ValueError, match=r"cannot be broadcast to \(3, 4\)"):
        E.copy(y, x)


# -- the launch-plan cache: a repeated call reuses the plan, never its values ------------------
def test_plan_cache_keys_on_strides_and_dtypes_not_values(dev):
    _host_only(dev)
    a = rng.standard_normal((6, 8)).astype(np.float32)
    for s in (2.0, -3.5):  # same plan, new scalar value each call
        np.testing.assert_array_equal(E.binary("mul", HostBuffer(a), s).array, a * np.float32(s))
    # same shape, other strides / dtype: another plan, still right
    np.testing.assert_array_equal(E.unary("neg", HostBuffer(a.T.copy().T)).array, -a)
    np.testing.assert_array_equal(E.unary("neg", HostBuffer(a[::-1])).array, -a[::-1])
    np.testing.assert_array_equal(E.unary("neg", HostBuffer(a.astype(np.float64))).array, -a.astype(np.float64))
    out = HostBuffer(np.full((6, 8), np.nan, np.float32))
    E.binary("add", HostBuffer(a), 1, out=out)
    E.binary("add", HostBuffer(a), 2, out=out)
    np.testing.assert_array_equal(out.array, a + 2)
    with pytest.raises(ValueError, match=r"out has shape \(6, 7\)"):  # the cached plan is per out shape
        E.binary("add", HostBuffer(a), 1, out=HostBuffer(np.zeros((6, 7), np.float32)))


def test_caller_decided_dtype_is_used(dev):
    i32 = dev.put(np.array([1, 2, 3], np.int32))
    got = E.binary("add", i32, 1, dtype="int64")  # the caller's dtype, not result_type's int32
    assert got.dtype == np.int64 and (dev.get(got) == [2, 3, 4]).all()
    with pytest.raises(TypeError, match="complex64 is not supported"):
        E.binary("add", i32, 1, dtype="complex64")


def test_a_repeated_call_plans_once(dev, monkeypatch):
    """The host fast path (issue 16): after the first call, same op/dtypes/shapes/strides reuse the plan."""
    plans = []
    real = E._plan
    monkeypatch.setattr(E, "_plan", lambda *a: plans.append(a[0]) or real(*a))
    E._PLANS.clear()
    a, b = dev.put(np.ones((4, 5), np.float32)), dev.put(np.ones((4, 5), np.float32))
    for v in (1.0, 2.0, 3.0):
        E.binary("add", a, b)
        E.binary("mul", a, v)
    assert plans == ["add", "mul"]
    E.binary("add", a, dev.put(np.ones((5,), np.float32)))  # another shape: another plan
    assert plans == ["add", "mul", "add"]


def test_xlogy_zeros_and_nan(dev):
    a = np.array([0.0, 0.0, 0.0, 2.0, 0.0, 1.5], np.float32)
    b = np.array([0.0, np.inf, 2.0, 0.0, np.nan, np.nan], np.float32)
    got = dev.get(E.binary("xlogy", dev.put(a), dev.put(b)))
    np.testing.assert_array_equal(got, np.array([0, 0, 0, -np.inf, np.nan, np.nan], np.float32))
