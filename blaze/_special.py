"""Special functions (lgamma, digamma, erfinv, i0, ...) written once over a math namespace.

Each formula takes ``m``, a namespace with ``log``/``exp``/``sqrt``/``sin``/``tan``/``abs``/
``floor``/``where``/``isnan``: :data:`NP` (NumPy, the cpu device, run in float64) or
:func:`device_ops` (a backend's unary/binary/where primitives, the cuda composition). So both
devices evaluate the same series, and the tests compare them against independent references
(``math.lgamma``, finite differences, PyTorch in ``perf/torch_parity.py``).

This module imports only NumPy and math, as ``blaze._optable`` (which reads it).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

_PI = math.pi
_LN2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


NP = SimpleNamespace(log=np.log, exp=np.exp, sqrt=np.sqrt, sin=np.sin, tan=np.tan, abs=np.abs, floor=np.floor,
                     isnan=np.isnan, where=np.where, round=np.round, log1p=np.log1p,
                     erf=np.vectorize(math.erf, otypes=[np.float64]))


class _V:
    """A backend array with Python operators, so the formulas below read as math on both devices."""
    __slots__ = ("b", "v")

    def __init__(self, b, v):
        self.b, self.v = b, v

    def _bin(self, op, o, swap=False):
        o = o.v if isinstance(o, _V) else o
        return _V(self.b, self.b.binary(op, o, self.v) if swap else self.b.binary(op, self.v, o))

    def __add__(self, o): return self._bin("add", o)
    def __radd__(self, o): return self._bin("add", o, True)
    def __sub__(self, o): return self._bin("sub", o)
    def __rsub__(self, o): return self._bin("sub", o, True)
    def __mul__(self, o): return self._bin("mul", o)
    def __rmul__(self, o): return self._bin("mul", o, True)
    def __truediv__(self, o): return self._bin("div", o)
    def __rtruediv__(self, o): return self._bin("div", o, True)
    def __neg__(self): return _V(self.b, self.b.unary("neg", self.v))
    def __lt__(self, o): return self._bin("lt", o)
    def __le__(self, o): return self._bin("le", o)
    def __gt__(self, o): return self._bin("gt", o)
    def __ge__(self, o): return self._bin("ge", o)
    def __eq__(self, o): return self._bin("eq", o)  # noqa: D105 - elementwise, as arrays
    def __ne__(self, o): return self._bin("ne", o)
    def __and__(self, o): return self._bin("logical_and", o)
    def __or__(self, o): return self._bin("logical_or", o)
    __hash__ = None


class _DevOps:
    def __init__(self, b):
        self.b = b

    def __getattr__(self, name):  # log, exp, sqrt, sin, tan, abs, floor, isnan, erf: the backend's unary rows
        return lambda x: _V(self.b, self.b.unary(name, x.v))

    def where(self, c, x, y):
        val = (lambda t: t.v if isinstance(t, _V) else t)
        return _V(self.b, self.b.where(c.v, val(x), val(y)))


def on_device(fn):
    """``fn(x, m)`` as a cuda composition ``(backend, x) -> array``."""
    return lambda b, x: fn(_V(b, x), _DevOps(b)).v


def on_numpy(fn):
    """``fn(x, m)`` as the cpu function: evaluated in float64, returned in ``x``'s float dtype."""
    def run(x):
        with np.errstate(all="ignore"):
            r = fn(np.asarray(x, np.float64), NP)
        return r.astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)
    return run


def _horner(coefs, t):
    p = t * 0.0 + coefs[0]
    for c in coefs[1:]:
        p = p * t + c
    return p


# Stirling's series for z >= 9.5: its next term, 691 / 360360 / z^11, is 3e-14. Below, lgamma(n + t),
# n = round(z), |t| <= 1/2, is lgamma(2 + t) (a power series) plus log((2 + t) ... (n - 1 + t)), all
# terms of one sign: Stirling after a shift to 10 cancels 25 - 11 - 15 there (5e-6 off in float32 at
# lgamma's zeros 1 and 2, where this has no cancellation).
_STIRLING = (1 / 1188, -1 / 1680, 1 / 1260, -1 / 360, 1 / 12)
_EULER_GAMMA = 0.5772156649015329


def _lgamma2_coefs():
    """lgamma(2 + t) = (1 - gamma) t + sum_k (-1)^k (zeta(k) - 1) / k t^k, k = 2..30: for |t| <= 1/2
    the terms fall as 4^-k / k, under 1e-19 by k = 30. zeta(k) - 1 = sum_{j>=2} j^-k, summed to 1000
    plus the Euler-Maclaurin tail (k = 2 from pi^2 / 6)."""
    k = np.arange(3, 31, dtype=np.float64)
    j = np.arange(2, 1000, dtype=np.float64)[None, :]
    n = 1000.0
    zm1 = (j ** -k[:, None]).sum(1) + n ** (1 - k) / (k - 1) + 0.5 * n ** -k + k / 12 * n ** (-k - 1)
    zm1 = np.concatenate([[math.pi ** 2 / 6 - 1], zm1])
    ks = np.arange(2, 31)
    return (1 - _EULER_GAMMA,) + tuple(float(c) for c in (-1.0) ** ks * zm1 / ks)


_LGAMMA2 = None


def _lgamma_near(z, m):
    global _LGAMMA2
    if _LGAMMA2 is None:  # built on first use: import blaze stays free of it
        _LGAMMA2 = _lgamma2_coefs()[::-1]
    n = m.floor(z + 0.5)             # z >= 0.5: n >= 1
    t = z - n                         # exact
    r = _horner(_LGAMMA2, t) * t      # lgamma(2 + t)
    prod = t * 0.0 + 1.0
    for j in range(2, 10):
        prod = prod * m.where(n > float(j), t + float(j), 1.0)
    return r + m.log(prod) - m.where(n == 1.0, m.log1p(t), 0.0)


def lgamma(x, m):
    reflect = x < 0.5
    z = m.where(reflect, 1.0 - x, x)
    far = z >= 9.5
    w = m.where(far, z, 9.5)
    inv = 1.0 / w
    r = (w - 0.5) * m.log(w) - w + _HALF_LOG_2PI + _horner(_STIRLING, inv * inv) * inv
    r = m.where(far, r, _lgamma_near(m.where(far, 1.0, z), m))
    # reflection lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x); poles at 0, -1, -2, ... and +inf are inf
    r = m.where(reflect, math.log(_PI) - m.log(m.abs(m.sin(_frac_pi(x, m)))) - r, r)
    pole = (x <= 0.0) & (m.floor(x) == x)
    return m.where(pole | (x == math.inf), math.inf, r)


def _frac_pi(x, m):
    """pi * (x - round(x)): |sin| and tan of it equal those of pi * x, and x - round(x) is exact, where
    pi * x in float32 loses 1e-3 of sin(pi * x) at x = -0.9999 (next to a pole)."""
    return (x - m.round(x)) * _PI


def digamma(x, m):
    reflect = x < 0.5
    z = m.where(reflect, 1.0 - x, x)
    # psi(z) = psi(z + 10) - sum 1/(z + k): at w = z + 10 >= 10.5 the asymptotic series to w^-10
    # is within 2e-14 (its next term, 691 / 32760 / w^12)
    acc = 1.0 / z
    for k in range(1, 10):
        acc = acc + 1.0 / (z + float(k))
    w = z + 10.0
    w2 = 1.0 / (w * w)
    tail = w2 * (1 / 12 - w2 * (1 / 120 - w2 * (1 / 252 - w2 * (1 / 240 - w2 * (1 / 132)))))
    psi = m.log(w) - 0.5 / w - tail - acc
    psi = m.where(reflect, psi - _PI / m.tan(_frac_pi(x, m)), psi)
    # torch: -inf at 0, NaN at the negative integers
    return m.where(x == 0.0, -math.inf, m.where((x < 0.0) & (m.floor(x) == x), math.nan, psi))


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision:
# relative error < 4e-7 (w < 5 and w >= 5 branches)
_ERFINV_SMALL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                 -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_LARGE = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                 -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def erfinv_approx(x, m):
    w = -m.log((1.0 - x) * (1.0 + x))
    small = w < 5.0
    ws = m.where(small, w, 5.0) - 2.5             # each branch on inputs it is defined for: no inf * 0
    wl = m.sqrt(m.where(small, 5.0, w)) - 3.0
    r = m.where(small, _horner(_ERFINV_SMALL, ws), _horner(_ERFINV_LARGE, wl)) * x
    return m.where(m.abs(x) == 1.0, x * math.inf, r)


def erfinv(x, m):
    """Float64: Giles' approximation and two Newton steps on erf(y) = x (2e-7 -> below 1e-15)."""
    y = erfinv_approx(x, m)
    for _ in range(2):
        step = (m.erf(y) - x) / (2.0 / math.sqrt(_PI) * m.exp(-y * y))
        y = m.where(m.abs(x) < 1.0, y - step, y)
    return y


# Abramowitz & Stegun 9.8.1-9.8.4: |relative error| < 2e-7, enough for float32/half on the device
_I0_SMALL = (0.0045813, 0.0360768, 0.2659732, 1.2067492, 3.0899424, 3.5156229, 1.0)
_I0_LARGE = (0.00392377, -0.01647633, 0.02635537, -0.02057706, 0.00916281, -0.00157565, 0.00225319,
             0.01328592, 0.39894228)
_I1_SMALL = (0.00032411, 0.00301532, 0.02658733, 0.15084934, 0.51498869, 0.87890594, 0.5)
_I1_LARGE = (-0.00420059, 0.01787654, -0.02895312, 0.02282967, -0.01031555, 0.00163801, -0.00362018,
             -0.03988024, 0.39894228)


def _bessel(x, m, small, large, odd):
    ax = m.abs(x)
    near = ax <= 3.75
    t = m.where(near, ax, 3.75) / 3.75
    s = _horner(small, t * t)
    s = s * x if odd else s
    inv = 3.75 / m.where(near, 3.75, ax)
    big = _horner(large, inv) * m.exp(ax) / m.sqrt(m.where(near, 3.75, ax))
    big = m.where(x < 0.0, -big, big) if odd else big
    return m.where(near, s, big)


def i0_approx(x, m):
    return _bessel(x, m, _I0_SMALL, _I0_LARGE, False)


def i1_approx(x, m):
    return _bessel(x, m, _I1_SMALL, _I1_LARGE, True)


def _bessel_series(x, order):
    """I_order(x) = sum (x/2)^(2k+order) / (k! (k+order)!), float64; the terms are all one sign, so
    summing until they drop below 1e-17 of the total is exact to rounding (|x| <= 700)."""
    x = np.asarray(x, np.float64)
    h = x / 2
    term = h ** order / math.factorial(order)
    total = term.copy()
    k = 0
    while np.any(np.abs(term) > 1e-17 * np.abs(total)) and k < 1000:
        k += 1
        term = term * h * h / (k * (k + order))
        total += term
    return total


def i0_numpy(x):
    return np.i0(np.asarray(x, np.float64)).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)


def i1_numpy(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return _bessel_series(x, 1).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)
