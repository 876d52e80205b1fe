"""The elementwise op table: one row per unary, binary and ternary op, read by every layer that needs it.

A row holds the op's name, its kernel instruction id (``blaze/kernels/elementwise.py`` names
the constant ``OP_<NAME>``; ids are fixed values, so adding a row renumbers nothing), its dtype
rule, the NumPy function (the cpu device and the reference the kernels are tested against),
the gradient as Tensor ops (differentiable again), what the gradient reads, and, where the
kernel has no instruction, its composition over core primitives (the cuda device uses it).
``blaze.ops.pointwise`` makes ``blaze.<name>`` and ``Tensor.<name>`` from the public rows.
Unary ids are 0-99, binary 100-199, ternary 200-299.

This module imports only NumPy, so every layer may read it.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from . import _special as _sp


class Unary(NamedTuple):
    kernel_id: int | None  # the kernel instruction; None: ``compose`` builds it from others on cuda
    # "float": ints promote to the default float; "same": dtype kept (float16/bfloat16 computed in
    # float32 on cpu); "exact": dtype kept, computed in it; "int": ints/bool only; "bool": bool out
    rule: str
    numpy: Callable        # the cpu implementation
    grad: Callable | None = None   # (g, x, y) -> dx as Tensor ops; None: not differentiable
    saves: str = ""        # what ``grad`` reads: "x", "y", "xy" or ""
    compose: Callable | None = None  # (backend, x) -> array, over the backend's unary/binary/where
    public: bool = True    # a torch.* name: blaze.<name> and Tensor.<name>


_LN2 = math.log(2.0)
_GELU_C = math.sqrt(2.0 / math.pi)


def np_erf(x):
    """erf, vectorized. Float64 inputs get the exact libm value; narrower types a rational
    approximation (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7) evaluated in float32 with in-place
    ufuncs: |error| < 7e-7 against libm, and 12.5 ms -> 1.9 ms on 1M elements (GELU in every
    transformer block; the float64 evaluation was 6x slower for 4x less rounding)."""
    if x.dtype == np.float64:
        return np.vectorize(math.erf, otypes=[np.float64])(x)
    xf = x.astype(np.float32, copy=False)                      # only read (sign); temporaries below
    a = np.abs(xf)
    t = np.float32(0.3275911) * a
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = np.float32(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):  # Horner, highest degree first
        poly += np.float32(c)
        poly *= t
    with np.errstate(over="ignore"):                           # |x| > 1.8e19: exp(-inf) = 0, erf = +-1
        np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(np.float32(1.0), poly, out=poly)
    y = np.copysign(poly, xf, out=poly)
    return y.astype(x.dtype, copy=False) if x.dtype.kind == "f" else y


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1)  # tanh form: no overflow for large |x|


def _gelu_tanh_grad(x):
    t = (_GELU_C * (x + 0.044715 * x * x * x)).tanh()
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)


def _zero(g, x, y):  # piecewise-constant: zero gradient, as PyTorch
    return g * 0


def _sqrt_1_minus_sq(b, x):
    return b.unary("sqrt", b.binary("sub", 1.0, b.unary("square", x)))


def _by_float64(fn, x):
    return fn(np.asarray(x, np.float64)).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)


# Saving only what the gradient reads keeps memory down: exp saves its output, log its input.
UNARY: dict[str, Unary] = {
    "identity": Unary(0, "same", lambda x: x, public=False),
    "neg": Unary(1, "exact", np.negative, lambda g, x, y: -g),
    "abs": Unary(2, "exact", np.abs, lambda g, x, y: g * x.sign(), "x"),
    "exp": Unary(3, "float", np.exp, lambda g, x, y: g * y, "y"),
    "log": Unary(4, "float", np.log, lambda g, x, y: g / x, "x"),
    "sqrt": Unary(5, "float", np.sqrt, lambda g, x, y: g / (2 * y), "y"),
    "rsqrt": Unary(6, "float", lambda x: 1 / np.sqrt(x), lambda g, x, y: -0.5 * g * y * y * y, "y"),
    "sin": Unary(7, "float", np.sin, lambda g, x, y: g * x.cos(), "x"),
    "cos": Unary(8, "float", np.cos, lambda g, x, y: -g * x.sin(), "x"),
    "tanh": Unary(9, "float", np.tanh, lambda g, x, y: g * (1 - y * y), "y"),
    "sigmoid": Unary(10, "float", _sigmoid, lambda g, x, y: g * y * (1 - y), "y"),
    "relu": Unary(11, "same", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False),
                  lambda g, x, y: g * (y > 0), "y"),
    "gelu": Unary(12, "float", lambda x: 0.5 * x * (1 + np_erf(x * 0.7071067811865476)), public=False),
    # F.gelu(approximate="tanh") and F.silu: no torch.* name, one launch where the compositions made ~8 and 2
    "gelu_tanh": Unary(13, "float", lambda x: 0.5 * x * (1 + np.tanh(_GELU_C * (x + 0.044715 * x * x * x))),
                       lambda g, x, y: g * _gelu_tanh_grad(x), "x", public=False),
    "silu": Unary(14, "float", lambda x: x * _sigmoid(x),
                  lambda g, x, y: g * x.sigmoid() * (1 + x * (1 - x.sigmoid())), "x", public=False),
    "sign": Unary(15, "same", np.sign, _zero),
    "floor": Unary(16, "same", np.floor, _zero),
    "ceil": Unary(17, "same", np.ceil, _zero),
    "round": Unary(18, "same", np.round, _zero),  # half to even, as torch
    "reciprocal": Unary(19, "float", np.reciprocal, lambda g, x, y: -g * y * y, "y"),
    "log1p": Unary(20, "float", np.log1p, lambda g, x, y: g / (x + 1), "x"),
    "expm1": Unary(21, "float", np.expm1, lambda g, x, y: g * (y + 1), "y"),
    "erf": Unary(22, "float", np_erf, lambda g, x, y: g * (2 / math.sqrt(math.pi)) * (-(x * x)).exp(), "x"),
    "logical_not": Unary(23, "bool", np.logical_not),
    "square": Unary(24, "same", np.square, lambda g, x, y: 2 * g * x, "x"),
    "bitwise_not": Unary(25, "int", np.invert),
    "logit": Unary(26, "float", lambda x: np.log(x / (1 - x)), lambda g, x, y: g / (x * (1 - x)), "x"),
    # -- no kernel instruction: composed on cuda ------------------------------------------------
    "exp2": Unary(None, "float", np.exp2, lambda g, x, y: g * y * _LN2, "y",
                  lambda b, x: b.unary("exp", b.binary("mul", x, _LN2))),
    "log2": Unary(None, "float", np.log2, lambda g, x, y: g / (x * _LN2), "x",
                  lambda b, x: b.binary("mul", b.unary("log", x), 1.0 / _LN2)),
    "log10": Unary(None, "float", np.log10, lambda g, x, y: g / (x * math.log(10.0)), "x",
                   lambda b, x: b.binary("mul", b.unary("log", x), 1.0 / math.log(10.0))),
    "tan": Unary(None, "float", np.tan, lambda g, x, y: g * (1 + y * y), "y",
                 lambda b, x: b.binary("div", b.unary("sin", x), b.unary("cos", x))),
    "asin": Unary(None, "float", np.arcsin, lambda g, x, y: g * (1 - x * x).rsqrt(), "x",
                  lambda b, x: b.binary("atan2", x, _sqrt_1_minus_sq(b, x))),
    "acos": Unary(None, "float", np.arccos, lambda g, x, y: -g * (1 - x * x).rsqrt(), "x",
                  lambda b, x: b.binary("atan2", _sqrt_1_minus_sq(b, x), x)),
    "atan": Unary(None, "float", np.arctan, lambda g, x, y: g / (1 + x * x), "x",
                  lambda b, x: b.binary("atan2", x, 1.0)),
    # expm1 keeps sinh accurate near 0, where exp(x) - exp(-x) cancels
    "sinh": Unary(None, "float", np.sinh, lambda g, x, y: g * x.cosh(), "x",
                  lambda b, x: b.binary("mul", b.binary("sub", b.unary("expm1", x),
                                                        b.unary("expm1", b.unary("neg", x))), 0.5)),
    "cosh": Unary(None, "float", np.cosh, lambda g, x, y: g * x.sinh(), "x",
                  lambda b, x: b.binary("mul", b.binary("add", b.unary("exp", x), b.unary("exp", b.unary("neg", x))),
                                        0.5)),
    "asinh": Unary(None, "float", np.arcsinh, lambda g, x, y: g * (x * x + 1).rsqrt(), "x",
                   lambda b, x: b.binary("mul", b.unary("sign", x), b.unary("log", b.binary(
                       "add", b.unary("abs", x), b.unary("sqrt", b.binary("add", b.unary("square", x), 1.0)))))),
    "acosh": Unary(None, "float", np.arccosh, lambda g, x, y: g * (x * x - 1).rsqrt(), "x",
                   lambda b, x: b.unary("log", b.binary("add", x, b.unary("sqrt", b.binary(
                       "sub", b.unary("square", x), 1.0))))),
    "atanh": Unary(None, "float", np.arctanh, lambda g, x, y: g / (1 - x * x), "x",
                   lambda b, x: b.binary("mul", b.unary("log1p", b.binary(
                       "div", b.binary("mul", x, 2.0), b.binary("sub", 1.0, x))), 0.5)),
    "trunc": Unary(None, "same", np.trunc, _zero, "",
                   lambda b, x: b.where(b.binary("lt", x, 0), b.unary("ceil", x), b.unary("floor", x))),
    "frac": Unary(None, "same", lambda x: x - np.trunc(x), lambda g, x, y: g, "",
                  lambda b, x: b.binary("sub", x, b.unary("trunc", x))),
    "erfc": Unary(None, "float", lambda x: _by_float64(np.vectorize(math.erfc, otypes=[np.float64]), x),
                  lambda g, x, y: g * (-2 / math.sqrt(math.pi)) * (-(x * x)).exp(), "x",
                  lambda b, x: b.binary("sub", 1.0, b.unary("erf", x))),
    # float64 on the device: two Newton steps on the device's erf after the float32-grade approximation
    "erfinv": Unary(None, "float", _sp.on_numpy(_sp.erfinv),
                    lambda g, x, y: g * (math.sqrt(math.pi) / 2) * (y * y).exp(), "y",
                    lambda b, x: _sp.on_device(_sp.erfinv if x.dtype.itemsize == 8 else _sp.erfinv_approx)(b, x)),
    "lgamma": Unary(None, "float", _sp.on_numpy(_sp.lgamma), lambda g, x, y: g * x.digamma(), "x",
                    _sp.on_device(_sp.lgamma)),
    "digamma": Unary(None, "float", _sp.on_numpy(_sp.digamma), lambda g, x, y: g * x.polygamma(1), "x",
                     _sp.on_device(_sp.digamma)),
    "i0": Unary(None, "float", _sp.i0_numpy, lambda g, x, y: g * x._i1(), "x",
                _sp.on_device(_sp.i0_approx)),
    # torch.special.i1: i0's derivative; I1'(x) = I0(x) - I1(x) / x, 1/2 at 0
    "i1": Unary(None, "float", _sp.i1_numpy, lambda g, x, y: g * (x.i0() - y / x).where(x != 0, 0.5), "xy",
                _sp.on_device(_sp.i1_approx), public=False),
    "sinc": Unary(None, "float", np.sinc, lambda g, x, y: g * (((x * math.pi).cos() - y) / x).where(x != 0, 0.0), "xy",
                  lambda b, x: b.where(b.binary("eq", x, 0), 1.0, b.binary("div", b.unary("sin", b.binary(
                      "mul", x, math.pi)), b.binary("mul", x, math.pi)))),
    "deg2rad": Unary(None, "float", np.deg2rad, lambda g, x, y: g * (math.pi / 180), "",
                     lambda b, x: b.binary("mul", x, math.pi / 180)),
    "rad2deg": Unary(None, "float", np.rad2deg, lambda g, x, y: g * (180 / math.pi), "",
                     lambda b, x: b.binary("mul", x, 180 / math.pi)),
    "isposinf": Unary(None, "bool", np.isposinf, compose=lambda b, x: b.binary("eq", x, math.inf)
                      if x.dtype.kind in "fV" else b.full(x.shape, False, np.bool_)),
    "isneginf": Unary(None, "bool", np.isneginf, compose=lambda b, x: b.binary("eq", x, -math.inf)
                      if x.dtype.kind in "fV" else b.full(x.shape, False, np.bool_)),
    "isnan": Unary(None, "bool", np.isnan, compose=lambda b, x: b.binary("ne", x, x)),
    # x - x is 0 for finite x and NaN for inf/NaN
    "isfinite": Unary(None, "bool", np.isfinite, compose=lambda b, x: b.binary("eq", b.binary("sub", x, x), 0)),
    "isinf": Unary(None, "bool", np.isinf, compose=lambda b, x: b.binary("eq", b.unary("abs", x), float("inf"))
                   if x.dtype.kind in "fV" else b.full(x.shape, False, np.bool_)),
    # -0.0 has its sign bit set: 1/x sends it to -inf
    "signbit": Unary(None, "bool", np.signbit, compose=lambda b, x: b.binary(
        "lt", b.where(b.binary("eq", x, 0), b.unary("reciprocal", x), x), 0)
        if x.dtype.kind in "fV" else b.binary("lt", x, 0)),
}


class Binary(NamedTuple):
    kernel_id: int | None  # the kernel instruction; None: ``compose`` builds it from others on cuda
    # "same": result_type of the operands; "float": ints promote to the default float (div, atan2);
    # "cmp": bool out; "logical": bool out, operands read as bool; "int": ints/bool only
    rule: str
    numpy: Callable        # the cpu implementation
    # (g, a, b, y) -> da / db as Tensor ops (a or b may be a Python number); None: not differentiable
    grad_a: Callable | None = None
    saves_a: str = ""      # what grad_a reads, of "a", "b", "y": only what the needed grads read is saved
    grad_b: Callable | None = None
    saves_b: str = ""
    compose: Callable | None = None  # (backend, a, b) -> array, over the backend's unary/binary/where


def _max_weight(a, b):
    # ties split the gradient evenly, as PyTorch does
    return (a > b) + (a == b) * 0.5


def _log(a):
    return a.log() if hasattr(a, "log") else math.log(a)


def _fmod(b, x, y):
    # C fmod: the remainder takes the dividend's sign; Python's remainder takes the divisor's
    r = b.binary("remainder", x, y)
    fix = b.binary("logical_and", b.binary("ne", r, 0), b.binary("ne", b.binary("lt", r, 0), b.binary("lt", x, 0)))
    return b.where(fix, b.binary("sub", r, y), r)


def _square(b, x):  # x may be a Python number (hypot(t, 1.5))
    return x * x if isinstance(x, (int, float)) else b.binary("mul", x, x)


def _xlogy(a, b):
    """a * log(b), 0 where a == 0 (also at b == 0 or inf); NaN in b stays NaN, as torch.xlogy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.multiply(a, np.log(b))
    return np.where(np.isnan(b), b, np.where(np.equal(a, 0), 0, r)).astype(r.dtype, copy=False)


def _xlogy_grad_a(a, b):
    # torch: xlogy(a != 0, b): log(b) where a != 0 and 0 where a == 0, even where log(b) = -inf
    lb = _log(b)
    if not hasattr(a, "ne"):  # a Python number
        return lb if a != 0 else lb * 0
    return lb.where(a != 0, 0.0) if hasattr(lb, "where") else (a != 0) * lb


def _full_like(b, v, like):  # a Python-number operand as an array, for compositions that index or loop on it
    return b.full(like.shape, v, like.dtype) if isinstance(v, (int, float)) else v


def _isnan(v):
    return math.isnan(v) if isinstance(v, (int, float)) else v.isnan()


def _logaddexp(base):
    """log(base^a + base^b) on the device: max + log1p(base^-|a - b|); equal operands (both +-inf
    included, where a - b is NaN) are max + log(2)."""
    k = _LN2 if base == 2 else 1.0
    def compose(b, x, y):
        x, y = _full_like(b, x, y), _full_like(b, y, x)
        m = b.binary("maximum", x, y)
        d = b.unary("neg", b.unary("abs", b.binary("sub", x, y)))
        r = b.binary("add", m, b.binary("div", b.unary("log1p", b.unary("exp", b.binary("mul", d, k))), k))
        return b.where(b.binary("eq", x, y), b.binary("add", m, 1.0 if base == 2 else _LN2), r)
    return compose


def _fmax(op):
    def compose(b, x, y):
        x, y = _full_like(b, x, y), _full_like(b, y, x)
        return b.where(b.binary("ne", y, y), x, b.where(b.binary("ne", x, x), y, b.binary(op, x, y)))
    return compose


def _fmax_grads(cmp):  # torch: ties and a NaN other send the gradient to self
    def to_a(a, b):
        return cmp(a, b).logical_or(_isnan(b)) if hasattr(cmp(a, b), "logical_or") else cmp(a, b) or _isnan(b)
    return (lambda g, a, b, y: g * to_a(a, b), lambda g, a, b, y: g * ~to_a(a, b)
            if hasattr(to_a(a, b), "logical_not") else g * (not to_a(a, b)))


def _copysign(b, x, y):
    mag = b.unary("abs", x)
    if isinstance(y, (int, float)):
        return mag if math.copysign(1.0, y) > 0 else b.unary("neg", mag)
    neg = b.unary("signbit", y)
    return b.where(neg, b.unary("neg", mag), mag)


def _gcd(b, x, y):
    """Euclid with a fixed step count (no host round trip): 48 steps cover 32-bit operands, 94 cover
    64-bit ones (consecutive Fibonacci numbers are the slowest inputs)."""
    x, y = b.unary("abs", _full_like(b, x, y)), b.unary("abs", _full_like(b, y, x))
    for _ in range(94 if x.dtype.itemsize == 8 else 48):
        nz = b.binary("ne", y, 0)
        r = b.binary("remainder", x, b.where(nz, y, 1))
        x, y = b.where(nz, y, x), b.where(nz, r, 0)
    return x


def _lcm(b, x, y):
    x, y = _full_like(b, x, y), _full_like(b, y, x)
    g = _gcd(b, x, y)
    return b.unary("abs", b.where(b.binary("eq", g, 0), 0, b.binary("mul", b.binary("floor_divide", x, b.where(
        b.binary("eq", g, 0), 1, g)), y)))


def _lcm_numpy(a, b):
    """torch's |a / gcd * b|, which wraps on overflow before the abs (np.lcm takes the abs first)."""
    g = np.gcd(a, b)
    with np.errstate(over="ignore"):
        return np.abs(np.where(g == 0, 0, np.floor_divide(a, np.where(g == 0, 1, g)) * b))


def _shift_numpy(left):
    """torch's rule: a shift count below 0 or at least the bit width gives 0 (-1 for a negative
    right-shifted value); NumPy leaves those to C's undefined behaviour."""
    def run(a, s):
        a, s = np.asarray(a), np.asarray(s)
        dt = np.result_type(a, s)
        bits = dt.itemsize * 8
        ok = (s >= 0) & (s < bits)
        sc = np.where(ok, s, 0).astype(dt)
        r = np.left_shift(a.astype(dt), sc) if left else np.right_shift(a.astype(dt), sc)
        return np.where(ok, r, 0 if left else np.where(a < 0, -1, 0)).astype(dt)
    return run


def _shift(left):
    def compose(b, x, s):
        x, s = _full_like(b, x, s), _full_like(b, s, x)
        bits = x.dtype.itemsize * 8
        if left:  # x * 2^h * 2^(s-h), h = s // 2: each factor < 2^(bits/2); the product wraps as the shift
            ok = b.binary("logical_and", b.binary("ge", s, 0), b.binary("lt", s, bits))
            s = b.where(ok, s, 0)
            h = b.binary("floor_divide", s, 2)
            r = b.binary("mul", b.binary("mul", x, b.binary("pow", 2, h)), b.binary("pow", 2, b.binary("sub", s, h)))
            return b.where(ok, r, 0)
        ok = b.binary("logical_and", b.binary("ge", s, 0), b.binary("lt", s, bits - 1))  # 2^s fits
        r = b.binary("floor_divide", x, b.binary("pow", 2, b.where(ok, s, 0)))
        return b.where(ok, r, b.where(b.binary("lt", x, 0), -1, 0))
    return compose


def _heaviside(a, b):
    return np.where(np.equal(a, 0), b, np.greater(a, 0)).astype(np.result_type(a, b), copy=False)


def _interleave(grads):  # (grad_a, grad_b) as Binary's grad_a, saves_a, grad_b, saves_b
    return grads[0], "ab", grads[1], "ab"


def _one(g, a, b, y):
    return g


BINARY: dict[str, Binary] = {
    "add": Binary(100, "same", np.add, _one, "", _one, ""),
    "sub": Binary(101, "same", np.subtract, _one, "", lambda g, a, b, y: -g, ""),
    "mul": Binary(102, "same", np.multiply, lambda g, a, b, y: g * b, "b", lambda g, a, b, y: g * a, "a"),
    "div": Binary(103, "float", np.true_divide, lambda g, a, b, y: g / b, "b",
                  lambda g, a, b, y: -g * a / (b * b), "ab"),
    "floor_divide": Binary(104, "same", np.floor_divide),
    "remainder": Binary(105, "same", np.remainder, _one, "", lambda g, a, b, y: -g * (a / b).floor(), "ab"),
    "pow": Binary(106, "same", np.power, lambda g, a, b, y: g * b * a ** (b - 1), "ab",
                  lambda g, a, b, y: g * y * _log(a), "ay"),
    "maximum": Binary(107, "same", np.maximum, lambda g, a, b, y: g * _max_weight(a, b), "ab",
                      lambda g, a, b, y: g * _max_weight(b, a), "ab"),
    "minimum": Binary(108, "same", np.minimum, lambda g, a, b, y: g * _max_weight(b, a), "ab",
                      lambda g, a, b, y: g * _max_weight(a, b), "ab"),
    "atan2": Binary(109, "float", np.arctan2, lambda g, a, b, y: g * b / (a * a + b * b), "ab",
                    lambda g, a, b, y: -g * a / (a * a + b * b), "ab"),
    "eq": Binary(110, "cmp", np.equal),
    "ne": Binary(111, "cmp", np.not_equal),
    "lt": Binary(112, "cmp", np.less),
    "le": Binary(113, "cmp", np.less_equal),
    "gt": Binary(114, "cmp", np.greater),
    "ge": Binary(115, "cmp", np.greater_equal),
    "logical_and": Binary(116, "logical", np.logical_and),
    "logical_or": Binary(117, "logical", np.logical_or),
    "logical_xor": Binary(118, "logical", np.logical_xor),
    "bitwise_and": Binary(119, "int", np.bitwise_and),
    "bitwise_or": Binary(120, "int", np.bitwise_or),
    "bitwise_xor": Binary(121, "int", np.bitwise_xor),
    "xlogy": Binary(122, "float", lambda a, b: _xlogy(a, b), lambda g, a, b, y: g * _xlogy_grad_a(a, b), "ab",
                    lambda g, a, b, y: g * a / b, "ab"),
    # -- no kernel instruction: composed on cuda ------------------------------------------------
    "fmod": Binary(None, "same", np.fmod, _one, "", lambda g, a, b, y: -g * (a / b).trunc(), "ab", _fmod),
    "logaddexp": Binary(None, "same", np.logaddexp, lambda g, a, b, y: g * (a - y).exp(), "ay",
                        lambda g, a, b, y: g * (b - y).exp(), "by", _logaddexp(math.e)),
    "logaddexp2": Binary(None, "same", np.logaddexp2, lambda g, a, b, y: g * ((a - y) * _LN2).exp(), "ay",
                         lambda g, a, b, y: g * ((b - y) * _LN2).exp(), "by", _logaddexp(2)),
    # torch: d/da = copysign(a, b) / a (0 at a == 0); d/db = 0
    "copysign": Binary(None, "float", np.copysign, lambda g, a, b, y: g * (y / a).where(a != 0, 0.0), "ay",
                       lambda g, a, b, y: g * 0, "", _copysign),
    "fmax": Binary(None, "same", np.fmax, *_interleave(_fmax_grads(lambda a, b: a >= b)), _fmax("maximum")),
    "fmin": Binary(None, "same", np.fmin, *_interleave(_fmax_grads(lambda a, b: a <= b)), _fmax("minimum")),
    "heaviside": Binary(None, "same", _heaviside, compose=lambda b, x, y: b.where(b.binary("eq", x, 0), y, b.where(
        b.binary("gt", x, 0), 1, 0))),
    "gcd": Binary(None, "int", np.gcd, compose=_gcd),
    "lcm": Binary(None, "int", _lcm_numpy, compose=_lcm),
    "bitwise_left_shift": Binary(None, "int", _shift_numpy(True), compose=_shift(True)),
    "bitwise_right_shift": Binary(None, "int", _shift_numpy(False), compose=_shift(False)),
    "hypot": Binary(None, "same", np.hypot, lambda g, a, b, y: g * a / y, "ay", lambda g, a, b, y: g * b / y, "by",
                    lambda b, x, y: b.unary("sqrt", b.binary("add", _square(b, x), _square(b, y)))),
}


class Ternary(NamedTuple):
    kernel_id: int
    rule: str              # "where": operand 0 is a bool condition, the others promote; "same": all promote
    numpy: Callable        # (a, b, c) -> array: the cpu implementation and the kernels' reference


TERNARY: dict[str, Ternary] = {
    "where": Ternary(200, "where", np.where),
    # NaN in x or a bound propagates, as torch.clamp (np.maximum/np.minimum propagate NaN too)
    "clamp": Ternary(202, "same", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)),
}
