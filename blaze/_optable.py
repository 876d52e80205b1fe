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


class Unary(NamedTuple):
    kernel_id: int | None  # the kernel instruction; None: ``compose`` builds it from others on cuda
    # "float": ints promote to the default float; "same": dtype kept (float16/bfloat16 computed in
    # float32 on cpu); "exact": dtype kept, computed in it; "int": ints/bool only; "bool": bool out
    rule: str
    numpy: Callable        # the cpu implementation
    grad: Callable | None = None   # (g, x, y) -> dx as Tensor ops; None: not differentiable
    saves: str = ""        # what ``grad`` reads: "x", "y" or ""
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
    "bitwise_not": Unary(25, "int", np.invert, public=False),
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
