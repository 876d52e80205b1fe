"""Math the Triton core language lacks, as @jit helpers for the elementwise kernel.

libdevice does not run in the interpreter, so each is written from ``tl`` primitives, with
the numerics noted where they are not the textbook formula.
"""
from __future__ import annotations

import triton
import triton.language as tl

_PI = tl.constexpr(3.141592653589793)  # globals read in @jit code must be constexpr (GPU compile)
_SQRT1_2 = tl.constexpr(0.7071067811865476)
_SQRT_2_OVER_PI = tl.constexpr(0.7978845608028654)


# -- math helpers the core language lacks (libdevice does not run in the interpreter) ----------
@triton.jit
def _expm1(x):
    # Kahan: (u - 1) * x / log(u) cancels the rounding error of u = exp(x); exact near 0.
    u = tl.exp(x)
    um1 = u - 1.0
    r = tl.where(u == 1.0, x, um1 * x / tl.log(tl.where(u == 1.0, 2.0, u)))
    r = tl.where(um1 == -1.0, -1.0, r)
    return tl.where(u == float("inf"), u, r)


@triton.jit
def _log1p(x):
    # Kahan: log(u) * x / (u - 1) with u = 1 + x keeps full relative precision near 0.
    u = 1.0 + x
    d = tl.where(u == 1.0, 1.0, u - 1.0)
    r = tl.where(u == 1.0, x, tl.log(u) * x / d)
    return tl.where(u == float("inf"), u, r)


@triton.jit
def _tanh(x):
    # tanh|x| = -e / (e + 2) with e = expm1(-2|x|) in (-1, 0]: no overflow, no cancellation.
    e = _expm1(-2.0 * tl.abs(x))
    t = -e / (e + 2.0)
    return tl.where(x < 0, -t, t)


@triton.jit
def _atan2(y, x):
    # Octant reduction to a ratio in [0, 1], then Cephes atanf (max error ~1e-7 relative).
    ax = tl.abs(x)
    ay = tl.abs(y)
    hi = tl.maximum(ax, ay)
    lo = tl.minimum(ax, ay)
    t = lo / tl.where(hi == 0, 1.0, hi)
    big = t > 0.41421356237309503
    z = tl.where(big, (t - 1.0) / (t + 1.0), t)
    zz = z * z
    p = (((8.05374449538e-2 * zz - 1.38776856032e-1) * zz + 1.99777106478e-1) * zz
         - 3.33329491539e-1) * zz * z + z
    a = tl.where(big, p + _PI / 4, p)
    a = tl.where(ay > ax, -a + _PI / 2, a)  # tensor on the left of constexpr math
    a = tl.where(x < 0, -a + _PI, a)
    a = tl.where(y < 0, -a, a)
    return tl.where((x != x) | (y != y), x + y, a)


@triton.jit
def _rint(x):
    # Round half to even (torch.round): floor, then break exact .5 ties towards the even one.
    f = tl.floor(x)
    d = x - f  # exact in binary floating point
    f_odd = (f - 2.0 * tl.floor(f * 0.5)) != 0
    return tl.where((d > 0.5) | ((d == 0.5) & f_odd), f + 1.0, f)


@triton.jit
def _max_nan(x, y):
    # NaN-propagating maximum (torch.maximum); x != x is False for ints.
    return tl.where(x != x, x, tl.where((x > y) | (y != y), tl.where(y != y, y, x), y))


@triton.jit
def _min_nan(x, y):
    return tl.where(x != x, x, tl.where((x < y) | (y != y), tl.where(y != y, y, x), y))


@triton.jit
def _pow(x, y, FLOAT: tl.constexpr):
    if FLOAT:
        y_int = tl.floor(y) == y
        y_odd = y_int & ((y - 2.0 * tl.floor(y * 0.5)) != 0)
        r = tl.exp2(y * tl.log2(tl.abs(x)))
        r = tl.where(x < 0, tl.where(y_int, tl.where(y_odd, -r, r), float("nan")), r)
        r = tl.where(y == 2.0, x * x, tl.where(y == 1.0, x, r))
        return tl.where(y == 0.0, 1.0, r)
    else:
        # Integer power by squaring over the exponent's bits; negative exponents give 0
        # except for bases +-1 (torch raises instead).
        r = tl.full(x.shape, 1, x.dtype) + x * 0
        b = x
        e = tl.abs(y)
        for _ in tl.static_range(63):
            r = tl.where((e & 1) != 0, r * b, r)
            b = b * b
            e = e >> 1
        inv = tl.where(x == 1, 1, tl.where(x == -1, tl.where((y & 1) != 0, -1, 1), 0))
        return tl.where(y < 0, inv, r)


@triton.jit
def _floordiv(x, y, FLOAT: tl.constexpr):
    if FLOAT:
        # numpy/Python floor division built on fmod (exact), not floor(x / y) (rounded).
        m = x % y
        d = (x - m) / y
        d = tl.where((m != 0) & ((y < 0) != (m < 0)), d - 1.0, d)
        fd = tl.floor(d)
        fd = tl.where(d - fd > 0.5, fd + 1.0, fd)
        return tl.where(y == 0, x / y, fd)
    else:
        ys = tl.where(y == 0, 1, y)  # integer division by zero is undefined on the GPU: give 0
        q = x // ys
        r = x % ys
        q = tl.where((r != 0) & ((r < 0) != (ys < 0)), q - 1, q)
        return tl.where(y == 0, 0, q)


@triton.jit
def _remainder(x, y, FLOAT: tl.constexpr):
    # Python/torch sign semantics: the result takes the divisor's sign.
    if FLOAT:
        r = x % y
    else:
        r = x % tl.where(y == 0, 1, y)
    r = tl.where((r != 0) & ((r < 0) != (y < 0)), r + y, r)
    if not FLOAT:
        r = tl.where(y == 0, 0, r)
    return r
