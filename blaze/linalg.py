"""``torch.linalg``: factorizations, solves and matrix functions (blaze/ops/decomp.py, products.py)."""
from __future__ import annotations

from .ops.decomp import (cholesky as _cholesky, det, householder_product, inverse as inv, linalg_qr as qr,  # noqa
                         linalg_svd as svd, lu_factor, matrices as _matrices, pinv, slogdet, solve,
                         solve_triangular, svdvals)
from .ops.decomp import lu_unpack as _lu_unpack, matrix_exp  # noqa: F401
from .ops.linalg import matmul  # noqa: F401
from .ops.products import cross as _cross, matrix_power  # noqa: F401


def cholesky(A, *, upper=False):
    return _cholesky(A, upper)


def cross(input, other, *, dim=-1):
    return _cross(input, other, dim)


def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U."""
    LU, piv = lu_factor(A, pivot=pivot)
    return _lu_unpack(LU, piv)


def vecdot(x, y, *, dim=-1):
    return (x * y).sum(dim)


def multi_dot(tensors):
    if not tensors:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got 0")
    r = tensors[0]
    for t in tensors[1:]:
        r = r @ t
    return r


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return A.diagonal(offset, dim1, dim2)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    return x.norm(ord, dim, keepdim, dtype=dtype)


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    _matrices("linalg.matrix_rank", A)
    S = svdvals(A.detach())
    smax = S.amax(-1, keepdim=True)
    if rtol is None:
        rtol = max(A.shape[-2:]) * _eps(A) if atol is None or atol == 0 else 0.0
    cut = smax * rtol
    if atol is not None:
        cut = cut.clamp(min=atol)
    return (S > cut).sum(-1)


def _eps(A):
    import numpy as np
    return float(np.finfo(A.dtype.np).eps)


__all__ = ["cholesky", "cross", "det", "householder_product", "inv", "lu", "lu_factor", "matmul", "matrix_exp",
           "matrix_power", "matrix_rank", "multi_dot", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd",
           "svdvals", "vecdot", "diagonal", "vector_norm"]
