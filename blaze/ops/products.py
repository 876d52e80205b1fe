"""Products and distances composed from matmul and reductions: matrix_power, kron, cross, trace,
vdot, addbmm/addmv/addr, chain_matmul, cdist/pdist/dist, renorm. Autograd and both devices come
from the ops they are built of."""
from __future__ import annotations

import builtins

import numpy as np

from . import creation as C
from . import movement as M
from .decomp import inverse
from .linalg import matmul


def matrix_power(input, n):
    """A^n by repeated squaring (log2(n) + popcount(n) matmuls); n < 0 uses the inverse."""
    if input.ndim < 2 or input.shape[-1] != input.shape[-2]:
        raise RuntimeError("linalg.matrix_power: A must be batches of square matrices")
    if n == 0:
        eye = C.eye(input.shape[-1], dtype=input.dtype, device=input.device)
        return eye.expand(*input.shape).clone()
    base = inverse(input) if n < 0 else input
    n = builtins.abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def kron(input, other):
    """Kronecker product: out[..., i*p + k, ...] = a[..., i, ...] * b[..., k, ...]."""
    nd = builtins.max(input.ndim, other.ndim)
    a = input.reshape((1,) * (nd - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (nd - other.ndim) + tuple(other.shape))
    # interleave: a -> (a0, 1, a1, 1, ...), b -> (1, b0, 1, b1, ...)
    ai = a.reshape(*[s for d in a.shape for s in (d, 1)])
    bi = b.reshape(*[s for d in b.shape for s in (1, d)])
    return (ai * bi).reshape(*[x * y for x, y in zip(a.shape, b.shape)])


def cross(input, other, dim=None):
    """Cross product of 3-vectors along ``dim`` (the first size-3 dim when None, as torch.cross)."""
    shape = np.broadcast_shapes(tuple(input.shape), tuple(other.shape))
    a, b = input.expand(*shape), other.expand(*shape)
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = a._wrap_dim(dim)
    if shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                           f"{other.shape[d]}")
    a0, a1, a2 = a.unbind(d)
    b0, b1, b2 = b.unbind(d)
    return M.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return input.diagonal().sum()


def vdot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return input.dot(other)


def chain_matmul(*matrices, out=None):
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    r = matrices[0]
    for m in matrices[1:]:
        r = r.mm(m)
    return r if out is None else out.copy_(r)


def _pnorm(diff, p, dim):
    if p == 0:
        return (diff != 0).to(diff.dtype).sum(dim)
    if p == float("inf"):
        return diff.abs().amax(dim)
    if p == 2:  # the sqrt of 0 has an infinite derivative: PyTorch's cdist gives 0 there
        sq = (diff * diff).sum(dim)
        pos = sq > 0
        return sq.masked_fill(~pos, 1).sqrt().masked_fill(~pos, 0)
    return diff.abs().pow(p).sum(dim).pow(1.0 / p)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Pairwise p-norm distances of rows: (..., P, M) and (..., R, M) -> (..., P, R)."""
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)            # (..., P, R, M)
    return _pnorm(diff, p, -1)


def pdist(input, p=2):
    """Distances between all row pairs i < j of an (N, M) input, as a flat (N(N-1)/2,) vector."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    ii, jj = C.tensor(i.astype(np.int64), device=input.device), C.tensor(j.astype(np.int64), device=input.device)
    return _pnorm(input[ii] - input[jj], p, -1)


def dist(input, other, p=2):
    d = (input - other).reshape(-1)
    return _pnorm(d, p, 0)


def renorm(input, p, dim, maxnorm):
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to it."""
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = input._wrap_dim(dim)
    others = tuple(i for i in builtins.range(input.ndim) if i != d)
    norms = input.norm(p, dim=others, keepdim=True) if others else input.abs()
    # PyTorch's factor: maxnorm / (norm + 1e-7) where norm > maxnorm, else 1 (differentiated, as PyTorch)
    factor = (maxnorm / (norms + 1e-7)).where(norms > maxnorm, C.ones_like(norms))
    return input * factor


def renorm_(input, p, dim, maxnorm):
    return input._inplace_apply(renorm, p, dim, maxnorm)


__all__ = ["matrix_power", "kron", "cross", "trace", "vdot", "chain_matmul", "cdist",
           "pdist", "dist", "renorm"]
