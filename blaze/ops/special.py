"""Elementwise functions with a parameter or two results (polygamma, mvlgamma, ldexp, frexp),
composed from the op table's rows: autograd and both devices come from those."""
from __future__ import annotations

import math
from collections import namedtuple

from .. import dtypes as _dt
from . import pointwise as P
from ._util import Tensor

frexp_result = namedtuple("frexp", ["mantissa", "exponent"])

# B_2j / (2j)! for j = 1..6 (Bernoulli numbers 1/6, -1/30, 1/42, -1/30, 5/66, -691/2730)
_BERNOULLI = tuple(b / math.factorial(2 * j) for j, b in
                   enumerate((1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730), 1))


def _float(x):
    return x if x.dtype.is_floating_point else x.to(_dt.get_default_dtype())


def _hurwitz_zeta(s: int, q):
    """zeta(s, q) = sum_k (q + k)^-s for integer s >= 2: ten terms, then Euler-Maclaurin at a = q + 10
    with six Bernoulli terms (the next is below 1e-17 relative for s <= 12)."""
    total = sum((q + k) ** -s for k in range(10))
    a = q + 10
    total = total + a ** (1 - s) / (s - 1) + 0.5 * a ** -s
    rising = s  # s (s+1) ... (s + 2j - 2)
    for j, c in enumerate(_BERNOULLI, 1):
        total = total + (c * rising) * a ** (-s - 2 * j + 1)
        rising *= (s + 2 * j - 1) * (s + 2 * j)
    return total


def polygamma(n, input, *, out=None):
    """The n-th derivative of digamma, as ``torch.polygamma``: (-1)^(n+1) n! zeta(n + 1, x) for n >= 1."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    x = _float(input)
    r = P.digamma(x) if n == 0 else (-1) ** (n + 1) * math.factorial(n) * _hurwitz_zeta(n + 1, x)  # noqa: F821
    return r if out is None else out.copy_(r)


def mvlgamma(input, p, *, out=None):
    """Multivariate log-gamma of dimension ``p``, as ``torch.mvlgamma``:
    p (p - 1) / 4 log(pi) + sum_{i<p} lgamma(x - i / 2)."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _float(input)
    if not bool((x > (p - 1) / 2).all()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2, but got {(p - 1) / 2}")
    r = sum(P.lgamma(x - i / 2) for i in range(p)) + p * (p - 1) / 4 * math.log(math.pi)  # noqa: F821
    return r if out is None else out.copy_(r)


def ldexp(input, other, *, out=None):
    """``input * 2 ** other``, as ``torch.ldexp`` (a float result)."""
    r = input * (2.0 ** other)
    return r if out is None else out.copy_(r)


def frexp(input, *, out=None):
    """Split into mantissa in [0.5, 1) by magnitude and an int32 exponent, ``input = m * 2 ** e``,
    as ``torch.frexp``; 0, inf and NaN keep their value with exponent 0."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes, but got {input.dtype}")
    ax = input.abs()
    plain = (ax != 0).logical_and(P.isfinite(input))  # noqa: F821
    e = ax.where(plain, 1.0).log2().floor() + 1
    h = (e * -0.5).floor()
    m = input * 2.0 ** h * 2.0 ** (-e - h)  # two factors: 2^-e alone overflows for denormals (e = -148)
    big = m.abs() >= 1       # log2 rounded up
    e, m = e + big, m.where(~big, m * 0.5)
    small = (m.abs() < 0.5).logical_and(plain)  # log2 rounded down
    e, m = e - small, m.where(~small, m * 2)
    r = frexp_result(m.where(plain, input), e.where(plain, 0.0).to(_dt.int32))
    if out is not None:
        out[0].copy_(r.mantissa)
        out[1].copy_(r.exponent)
        return frexp_result(*out)
    return r


def _finfo(dtype):
    import numpy as np  # ml_dtypes' bfloat16 answers np.finfo too
    return np.finfo(dtype.np)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the dtype's largest
    and lowest finite values), as ``torch.nan_to_num``; integer tensors come back as they are."""
    if not input.dtype.is_floating_point:
        r = input.clone()
    else:
        fi = _finfo(input.dtype)
        r = input.where(~P.isnan(input), nan)  # noqa: F821
        r = r.where(~P.isposinf(input), float(fi.max) if posinf is None else posinf)  # noqa: F821
        r = r.where(~P.isneginf(input), float(fi.min) if neginf is None else neginf)  # noqa: F821
    return r if out is None else out.copy_(r)


def float_power_(self, exponent):
    """In place ``float_power``: ``self`` must already be float64, as PyTorch requires."""
    if self.dtype is not _dt.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {_dt.type_label(self.dtype)} but the "
                           "operation's result requires dtype Double")
    return self._inplace_apply(P.float_power, exponent)


# torch.relu_; torch.selu_, celu_, threshold_, rrelu_ are nn.functional's (blaze.__getattr__: ops sit below nn)
def relu_(input):
    return input.relu_()


__all__ = ["polygamma", "mvlgamma", "ldexp", "frexp", "nan_to_num", "relu_"]
