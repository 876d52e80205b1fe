"""einsum on the cuda device as permutes, reductions and batched GEMMs (no kernel of its own).

Operands are folded left to right. For a pair, every label is a batch label (in both
operands and still needed), a contracted label (in both, not needed), or a free label of
one side; labels needed by neither the output nor a later operand are summed away first.
Each pair becomes one (Z, M, K) @ (Z, K, N) matmul after a permute and reshape.
"""
from __future__ import annotations

import numpy as np


def _parse(eq, ndims):
    eq = eq.replace(" ", "")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:
        lhs = eq
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = lhs.split(",")
    if "." in eq or len(ins) != len(ndims) or any(len(s) != n for s, n in zip(ins, ndims)):
        return None
    if any(len(set(s)) != len(s) for s in ins):  # repeated labels (traces, diagonals)
        return None
    return ins, out


def _sum_away(be, x, labels, keep):
    axes = tuple(i for i, c in enumerate(labels) if c not in keep)
    if not axes:
        return x, labels
    return be.reduce("sum", x, axes, False), "".join(c for c in labels if c in keep)


def _permute(be, x, labels, order):
    return be.permute(x, tuple(labels.index(c) for c in order))


def _pair(be, a, la, b, lb, needed):
    batch = [c for c in la if c in lb and c in needed]
    contr = [c for c in la if c in lb and c not in needed]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    size = {c: a.shape[la.index(c)] for c in la}
    size.update({c: b.shape[lb.index(c)] for c in lb})
    prod = lambda cs: int(np.prod([size[c] for c in cs], dtype=np.int64))  # noqa: E731
    a = be.reshape(_permute(be, a, la, batch + fa + contr), (prod(batch), prod(fa), prod(contr)))  # (Z, M, K)
    b = be.reshape(_permute(be, b, lb, batch + contr + fb), (prod(batch), prod(contr), prod(fb)))  # (Z, K, N)
    y = be.matmul(a, b)                                                                             # (Z, M, N)
    labels = "".join(batch + fa + fb)
    return be.reshape(y, tuple(size[c] for c in labels)), labels


def einsum(be, eq, xs):
    """``numpy.einsum(eq, *xs)`` on device arrays, or None when the equation needs the fallback."""
    parsed = _parse(eq, [x.ndim for x in xs])
    if parsed is None:
        return None
    ins, out = parsed
    if any(x.dtype.kind not in "fV" for x in xs):
        return None
    later = [set("".join(ins[i + 1:]) + out) for i in range(len(ins))]
    acc, la = _sum_away(be, xs[0], ins[0], later[0] | set(ins[1]) if len(ins) > 1 else set(out))
    for i in range(1, len(xs)):
        b, lb = _sum_away(be, xs[i], ins[i], later[i] | set(la))
        acc, la = _sum_away(be, acc, la, later[i] | set(lb))
        acc, la = _pair(be, acc, la, b, lb, later[i])
    acc, la = _sum_away(be, acc, la, set(out))
    return be.contiguous(_permute(be, acc, la, out)) if la != out else acc
