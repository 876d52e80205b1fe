"""einsum over the core tier: the one equation parser, and a composition as permutes, reductions and GEMMs.

Operands are folded left to right. For a pair, every label is a batch label (in both
operands and still needed), a contracted label (in both, not needed), or a free label of
one side; labels needed by neither the output nor a later operand are summed away first.
Each pair becomes one (Z, M, K) @ (Z, K, N) matmul after a permute and reshape. A label
repeated within one operand (a trace, a diagonal) is first taken as a strided diagonal view.
"""
from __future__ import annotations

import numpy as np


def parse(eq: str, n: int):
    """Split ``eq`` into (input subscripts, output subscripts) for ``n`` operands, torch's errors."""
    eq = eq.replace(" ", "")
    if "->" in eq:
        lhs, out = eq.split("->")
    else:  # implicit output: the labels seen once, sorted
        lhs = eq
        letters = lhs.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c != "."))
    ins = lhs.split(",")
    if len(ins) != n:
        raise RuntimeError("einsum(): more operands were provided than specified in the equation"
                           if len(ins) < n else "einsum(): fewer operands were provided than specified in the equation")
    if "." in eq:
        raise NotImplementedError("einsum: ellipsis ('...') is not supported; write the dims out (see README)")
    return ins, out


def _diagonals(be, x, labels):
    """Take each repeated label's diagonal (a view) until every label of ``x`` is distinct."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        i = labels.index(c)
        j = labels.index(c, i + 1)
        x = be.diagonal(x, 0, i, j)  # the two dims go; the diagonal becomes the last dim
        labels = labels[:i] + labels[i + 1:j] + labels[j + 1:] + c
    return x, labels


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
    """``numpy.einsum(eq, *xs)`` on device arrays through ``be``'s core primitives."""
    ins, out = parse(eq, len(xs))
    xs, ins = zip(*(_diagonals(be, x, s) for x, s in zip(xs, ins)))
    later = [set("".join(ins[i + 1:]) + out) for i in range(len(ins))]
    acc, la = _sum_away(be, xs[0], ins[0], later[0] | set(ins[1]) if len(ins) > 1 else set(out))
    for i in range(1, len(xs)):
        b, lb = _sum_away(be, xs[i], ins[i], later[i] | set(la))
        acc, la = _sum_away(be, acc, la, later[i] | set(lb))
        acc, la = _pair(be, acc, la, b, lb, later[i])
    acc, la = _sum_away(be, acc, la, set(out))
    return be.contiguous(_permute(be, acc, la, out)) if la != out else acc
