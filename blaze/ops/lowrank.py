"""Randomized low-rank SVD and PCA (Halko, Martinsson & Tropp 2011, Algorithms 4.4 and 5.1),
composed of matmul, QR and a small SVD, so gradients flow through the exact factors."""
from __future__ import annotations

from . import creation as C
from .decomp import linalg_qr, linalg_svd, matrices


def _approximate_basis(A, q, niter, generator=None):
    """Q (m, q) with orthonormal columns spanning A's top-q range; ``niter`` power iterations."""
    R = C.randn(A.shape[-1], q, dtype=A.dtype, device=A.device, generator=generator)
    Q = linalg_qr(A @ R).Q
    for _ in range(niter):
        Q = linalg_qr(A.mT @ Q).Q
        Q = linalg_qr(A @ Q).Q
    return Q


def svd_lowrank(A, q=6, niter=2, M=None):
    """(U, S, V) of a rank-``q`` approximation of A (or A - M): U (..., m, q), S (..., q), V (..., n, q)."""
    matrices("svd_lowrank", A)
    q = 6 if q is None else q
    X = A if M is None else A - M
    m, n = X.shape[-2:]
    if not 0 < q <= min(m, n):
        raise ValueError(f"q(={q}) must be positive and not greater than min(m, n)(={min(m, n)})")
    if m < n:  # work on the tall side: the QR backward needs m >= q columns of height >= q
        U, S, V = svd_lowrank(X.mT, q, niter)
        return V, S, U
    Q = _approximate_basis(X, q, niter)
    U, S, Vh = linalg_svd(Q.mT @ X, full_matrices=False)    # (q, n) = Q^T X
    return Q @ U, S, Vh.mT


def pca_lowrank(A, q=None, center=True, niter=2):
    """Principal directions of A's rows: svd_lowrank of A with its column means removed."""
    matrices("pca_lowrank", A)
    m, n = A.shape[-2:]
    q = min(6, m, n) if q is None else q
    if not 0 <= q <= min(m, n):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    X = A - A.mean(-2, keepdim=True) if center else A
    return svd_lowrank(X, q, niter)


__all__ = ["svd_lowrank", "pca_lowrank"]
