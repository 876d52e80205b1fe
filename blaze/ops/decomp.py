"""Matrix factorizations and solves: det, inverse, svd, qr, cholesky, lu, triangular solves, matrix_exp.

LAPACK work runs in NumPy float64 on the host (``_host.host``; a counted round trip on cuda) and
the result comes back in the input's dtype. Gradients are Tensor ops over the saved factors, so
they run on the tensor's device and double backward works.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..autograd.function import Function
from ._host import f64, host, host_arrays, upload

slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
svd_result = namedtuple("svd", ["U", "S", "V"])
linalg_svd_result = namedtuple("svd", ["U", "S", "Vh"])
qr_result = namedtuple("qr", ["Q", "R"])
triangular_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
lu_unpack_result = namedtuple("lu_unpack", ["P", "L", "U"])
geqrf_result = namedtuple("geqrf", ["a", "tau"])


def square(fn, A):
    """PyTorch's checks for ops on (batches of) square floating matrices."""
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got {A._type_name()[:-6]}")
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")
    if A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{fn}: A must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")


def matrices(fn, A):
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{fn}: Expected a floating point or complex tensor as input. Got {A._type_name()[:-6]}")
    if A.ndim < 2:
        raise RuntimeError(f"{fn}: The input tensor A must have at least 2 dimensions.")


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _eye_like(A, n):
    from .creation import eye
    return eye(n, dtype=A.dtype, device=A.device)


# ------------------------------------------------------------------------- det, inverse, solve
class Inverse(Function):
    @staticmethod
    def forward(ctx, A):
        r = host("inverse", lambda a: np.linalg.inv(f64(a)), A, dtype=A.dtype)
        ctx.save_for_backward(r)
        return r

    @staticmethod
    def backward(ctx, g):
        (Ai,) = ctx.saved_tensors
        Ait = Ai.mT
        return -(Ait @ g @ Ait)


def inverse(input):
    """Inverse of a (batch of) square matrices; ``torch.linalg.inv``."""
    square("linalg.inv", input)
    return Inverse.apply(input)


class SlogDet(Function):
    @staticmethod
    def forward(ctx, A):
        sign, logabs = host("slogdet", lambda a: np.linalg.slogdet(f64(a)), A, dtype=A.dtype)
        ctx.save_for_backward(A)
        ctx.mark_non_differentiable(sign)
        return sign, logabs

    @staticmethod
    def backward(ctx, gsign, glog):
        (A,) = ctx.saved_tensors
        return glog[..., None, None] * inverse(A).mT  # d log|det A| / dA = A^{-T}


def slogdet(input):
    square("linalg.slogdet", input)
    return slogdet_result(*SlogDet.apply(input))


def logdet(input):
    """log(det A): NaN for a negative determinant, -inf for a singular matrix, as PyTorch."""
    sign, logabs = slogdet(input)
    return logabs.masked_fill(sign < 0, float("nan"))


class Det(Function):
    @staticmethod
    def forward(ctx, A):
        d = host("det", lambda a: np.linalg.det(f64(a)), A, dtype=A.dtype)
        ctx.save_for_backward(A, d)
        return d

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved_tensors
        return (g * d)[..., None, None] * inverse(A).mT  # Jacobi's formula


def det(input):
    square("linalg.det", input)
    return Det.apply(input)


class Solve(Function):
    """X = A^{-1} B; B is (..., n, k)."""
    @staticmethod
    def forward(ctx, A, B):
        X = host("solve", lambda a, b: np.linalg.solve(f64(a), f64(b)), A, B, dtype=A.dtype)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = solve(A.mT, g)
        return -(gB @ X.mT), gB


def solve(A, B, *, left=True):
    """``torch.linalg.solve``: X with A X = B (``left=False``: X A = B)."""
    square("linalg.solve", A)
    if not left:
        return solve(A.mT, B.mT).mT
    vec = B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    X = Solve.apply(*_broadcast_batch(A, B.unsqueeze(-1) if vec else B))
    return X.squeeze(-1) if vec else X


def _broadcast_batch(A, B):
    batch = np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2]))
    return A.expand(*batch, *A.shape[-2:]), B.expand(*batch, *B.shape[-2:])


class TriSolve(Function):
    """X = A^{-1} B for triangular A (only that triangle is read)."""
    @staticmethod
    def forward(ctx, A, B, upper, unitriangular):
        ctx.upper, ctx.unit = upper, unitriangular

        def run(a, b):
            a = np.triu(f64(a)) if upper else np.tril(f64(a))
            if unitriangular:
                idx = np.arange(a.shape[-1])
                a[..., idx, idx] = 1.0
            return np.linalg.solve(a, f64(b))
        X = host("triangular_solve", run, A, B, dtype=A.dtype)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = solve_triangular(A.mT, g, upper=not ctx.upper, unitriangular=ctx.unit)
        gA = -(gB @ X.mT)
        gA = gA.triu(1 if ctx.unit else 0) if ctx.upper else gA.tril(-1 if ctx.unit else 0)
        return gA, gB, None, None


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """``torch.linalg.solve_triangular``."""
    square("linalg.solve_triangular", A)
    if not left:
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    return TriSolve.apply(*_broadcast_batch(A, B), upper, unitriangular)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """``torch.triangular_solve`` (deprecated in PyTorch for ``linalg.solve_triangular``)."""
    M = A.mT if transpose else A
    X = solve_triangular(M, b, upper=upper != transpose, unitriangular=unitriangular)
    return triangular_result(X, A.clone())


# ------------------------------------------------------------------------- cholesky
class Cholesky(Function):
    @staticmethod
    def forward(ctx, A):
        def run(a):
            try:
                return np.linalg.cholesky(f64(a))
            except np.linalg.LinAlgError:
                raise RuntimeError("linalg.cholesky: The factorization could not be completed because the input "
                                   "is not positive-definite.") from None
        L = host("cholesky", run, A, dtype=A.dtype)
        ctx.save_for_backward(L)
        return L

    @staticmethod
    def backward(ctx, gL):
        # Murray (2016): phi(L^T gL) with the diagonal halved, then L^{-T} . L^{-1}, symmetrized
        (L,) = ctx.saved_tensors
        phi = (L.mT @ gL.tril()).tril()
        phi = phi - 0.5 * phi.diagonal(dim1=-2, dim2=-1).diag_embed()
        S = solve_triangular(L.mT, solve_triangular(L.mT, phi.mT, upper=True).mT, upper=True)
        return 0.5 * (S + S.mT)


def cholesky(input, upper=False):
    square("linalg.cholesky", input)
    L = Cholesky.apply(input)
    return L.mT if upper else L


def cholesky_solve(B, L, upper=False):
    """X with (L L^T) X = B, from the factor ``L`` (``upper``: ``L`` is U with U^T U = A)."""
    square("cholesky_solve", L)
    if upper:
        return solve_triangular(L, solve_triangular(L.mT, B, upper=False), upper=True)
    return solve_triangular(L.mT, solve_triangular(L, B, upper=False), upper=True)


def cholesky_inverse(L, upper=False):
    square("cholesky_inverse", L)
    eye = _eye_like(L, L.shape[-1]).expand(*L.shape)
    return cholesky_solve(eye, L, upper)


# ------------------------------------------------------------------------- qr, svd, pinverse
class QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        Q, R = host("qr", lambda a: np.linalg.qr(f64(a), mode=mode), A, dtype=A.dtype)
        ctx.save_for_backward(Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, gQ, gR):
        # m >= n (Liao et al. 2019): gA = (gQ + Q copyltu(M)) R^{-T}, M = R gR^T - gQ^T Q
        Q, R = ctx.saved_tensors
        M = R @ gR.mT - gQ.mT @ Q
        low = M.tril(-1)
        sym = low + low.mT + M.diagonal(dim1=-2, dim2=-1).diag_embed()
        return solve_triangular(R, (gQ + Q @ sym).mT, upper=True).mT, None  # (.) R^{-T}


def qr(input, some=True):
    return linalg_qr(input, "reduced" if some else "complete")


def linalg_qr(A, mode="reduced"):
    matrices("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    if mode == "r":
        from .creation import empty
        return qr_result(empty(0, dtype=A.dtype, device=A.device), QR.apply(A.detach(), "reduced")[1])
    if A.requires_grad and A.shape[-2] < A.shape[-1]:
        raise NotImplementedError("qr backward is implemented for tall or square inputs (m >= n) only")
    if A.requires_grad and mode == "complete" and A.shape[-2] > A.shape[-1]:
        raise NotImplementedError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                                  "Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                                  "through linalg.qr.")
    return qr_result(*QR.apply(A, mode))


class SVD(Function):
    @staticmethod
    def forward(ctx, A, full):
        U, S, Vh = host("svd", lambda a: np.linalg.svd(f64(a), full_matrices=full), A, dtype=A.dtype)
        ctx.save_for_backward(U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        # PyTorch's svd_backward for real input, reduced factors, distinct singular values
        U, S, Vh = ctx.saved_tensors
        V, gV = Vh.mT, gVh.mT
        S2 = S * S
        E = S2.unsqueeze(-2) - S2.unsqueeze(-1)  # E[j, k] = s_k^2 - s_j^2
        eye = _eye_like(S, S.shape[-1])
        E = E + eye
        UhgU, VhgV = U.mT @ gU, V.mT @ gV
        inner = ((UhgU - UhgU.mT) / E) * S.unsqueeze(-2) + S.unsqueeze(-1) * ((VhgV - VhgV.mT) / E) + \
            gS.diag_embed()
        gA = U @ inner @ Vh
        m, n = U.shape[-2], V.shape[-2]
        Sinv = (1 / S).unsqueeze(-2)
        if m > S.shape[-1]:
            gA = gA + ((gU - U @ UhgU) * Sinv) @ Vh
        if n > S.shape[-1]:
            gA = gA + (U * Sinv) @ (gV - V @ VhgV).mT
        return gA, None


def linalg_svd(A, full_matrices=True):
    matrices("linalg.svd", A)
    if A.requires_grad and full_matrices and A.shape[-1] != A.shape[-2]:
        raise NotImplementedError("torch.linalg.svd: the backward of full_matrices=True is not defined for "
                                  "non-square inputs; use full_matrices=False")
    return linalg_svd_result(*SVD.apply(A, full_matrices))


def svdvals(A):
    return linalg_svd(A, full_matrices=False).S


def svd(input, some=True, compute_uv=True):
    """``torch.svd``: (U, S, V) with V (not V^T)."""
    if not compute_uv:
        S = svdvals(input.detach())
        from .creation import zeros
        m, n = input.shape[-2], input.shape[-1]
        z = dict(dtype=input.dtype, device=input.device)
        return svd_result(zeros(*input.shape[:-2], m, m if not some else min(m, n), **z), S,
                          zeros(*input.shape[:-2], n, n if not some else min(m, n), **z))
    U, S, Vh = linalg_svd(input, full_matrices=not some)
    return svd_result(U, S, Vh.mT)


def pinv(input, *, atol=None, rtol=None, hermitian=False):
    """Pseudo-inverse from the SVD; singular values below max(atol, rtol * s_max) count as zero."""
    matrices("linalg.pinv", input)
    U, S, Vh = linalg_svd(input, full_matrices=False)
    smax = S.amax(-1, keepdim=True) if S.shape[-1] else S
    if rtol is None:
        rtol = (max(input.shape[-2:]) * np.finfo(input.dtype.np).eps) if atol is None or atol == 0 else 0.0
    cut = smax * rtol
    if atol is not None:
        cut = cut.clamp(min=atol)
    keep = (S > cut).to(S.dtype)
    Sinv = keep / (S + (1 - keep))
    return (Vh.mT * Sinv.unsqueeze(-2)) @ U.mT


def pinverse(input, rcond=1e-15):
    return pinv(input, rtol=rcond)


# ------------------------------------------------------------------------- lu
def _lu_np(a):
    """Partial-pivot LU of every matrix in ``a`` (..., m, n) -> packed LU, 1-based pivots (LAPACK getrf)."""
    a = f64(a).copy()
    m, n = a.shape[-2:]
    k = min(m, n)
    piv = np.zeros(a.shape[:-2] + (k,), dtype=np.int32)
    flat, fp = a.reshape(-1, m, n), piv.reshape(-1, k)
    for b in range(flat.shape[0]):
        M = flat[b]
        for j in range(k):
            p = j + int(np.argmax(np.abs(M[j:, j])))
            fp[b, j] = p + 1
            if p != j:
                M[[j, p]] = M[[p, j]]
            if M[j, j] != 0:
                M[j + 1:, j] /= M[j, j]
                M[j + 1:, j + 1:] -= np.outer(M[j + 1:, j], M[j, j + 1:])
    return flat.reshape(a.shape), piv


def _perm_np(piv, m):
    """Pivots (LAPACK row swaps, 1-based) -> the permutation matrices P with A = P L U."""
    k = piv.shape[-1]
    flat = piv.reshape(-1, k)
    P = np.zeros((flat.shape[0], m, m))
    for b in range(flat.shape[0]):
        order = np.arange(m)
        for j in range(k):
            p = int(flat[b, j]) - 1
            order[[j, p]] = order[[p, j]]
        P[b, order, np.arange(m)] = 1.0
    return P.reshape(piv.shape[:-1] + (m, m))


class LUFactor(Function):
    @staticmethod
    def forward(ctx, A):
        LU, piv = host("lu", _lu_np, A, dtype=A.dtype)
        ctx.save_for_backward(LU, piv)
        ctx.mark_non_differentiable(piv)
        return LU, piv

    @staticmethod
    def backward(ctx, gLU, gpiv):
        # square A = P L U (PyTorch's linalg_lu_backward):
        # gA = P L^{-T} (tril(L^T gL, -1) + triu(gU U^T)) U^{-T}, gL / gU the packed gradient's parts
        LU, piv = ctx.saved_tensors
        P, L, U = lu_unpack(LU, piv)
        phi = (L.mT @ gLU.tril(-1)).tril(-1) + (gLU.triu() @ U.mT).triu()
        X = solve_triangular(L.mT, phi, upper=True, unitriangular=True)
        return P @ solve_triangular(U.mT, X, upper=False, left=False)


def lu_factor(A, *, pivot=True):
    matrices("linalg.lu_factor", A)
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    if A.requires_grad and A.shape[-1] != A.shape[-2]:
        raise NotImplementedError("lu_factor backward is implemented for square matrices only")
    return namedtuple("lu_factor", ["LU", "pivots"])(*LUFactor.apply(A))


def lu(A, pivot=True, get_infos=False):
    """``torch.lu``: the packed factorization (LU, pivots[, infos]); differentiable for square A."""
    LU, piv = lu_factor(A, pivot=pivot)
    if get_infos:
        from .creation import zeros
        return LU, piv, zeros(*A.shape[:-2], dtype=piv.dtype, device=A.device)
    return LU, piv


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    m, n = LU_data.shape[-2:]
    k = min(m, n)
    P = L = U = None
    if unpack_pivots:
        P = upload(_perm_np(host_arrays("lu_unpack", LU_pivots)[0], m), LU_data.device, LU_data.dtype)
    if unpack_data:
        eye = _eye_like(LU_data, m)[:, :k]
        L = LU_data[..., :, :k].tril(-1) + eye
        U = LU_data[..., :k, :].triu()
    return lu_unpack_result(P, L, U)


def lu_solve(b, LU_data, LU_pivots):
    """X with A X = b from ``torch.lu``'s factorization of A; gradients reach b and LU_data."""
    square("lu_solve", LU_data)
    P, L, U = lu_unpack(LU_data, LU_pivots)
    y = solve_triangular(L, P.mT @ b, upper=False, unitriangular=True)
    return solve_triangular(U, y, upper=True)


# ------------------------------------------------------------------------- householder (geqrf)
def geqrf(input):
    """LAPACK geqrf: R above the diagonal, Householder vectors below, and their scales ``tau``."""
    matrices("geqrf", input)

    def run(a):
        a = f64(a)
        out_h, out_t = [], []
        for mat in a.reshape(-1, *a.shape[-2:]):
            h, tau = np.linalg.qr(mat, mode="raw")
            out_h.append(h.T)
            out_t.append(tau)
        k = min(a.shape[-2:])
        return (np.array(out_h).reshape(a.shape), np.array(out_t).reshape(a.shape[:-2] + (k,)))
    return geqrf_result(*host("geqrf", run, input.detach(), dtype=input.dtype))


def _householder_q(a, tau, m):
    """Q = H_1 ... H_k (m x m) from geqrf's packed reflectors."""
    Q = np.eye(m)
    for i in range(tau.shape[-1] - 1, -1, -1):
        v = np.zeros(m)
        v[i] = 1.0
        v[i + 1:] = a[i + 1:, i]
        Q -= tau[i] * np.outer(v, v @ Q)
    return Q


def _per_matrix(fn, *arrays):
    batch = arrays[0].shape[:-2]
    flat = [a.reshape((-1,) + a.shape[len(batch):]) for a in arrays]
    out = np.array([fn(*parts) for parts in zip(*flat)])
    return out.reshape(batch + out.shape[1:])


def householder_product(input, tau):
    """``torch.linalg.householder_product`` / ``orgqr``: the first n columns of Q."""
    matrices("householder_product", input)
    n = input.shape[-1]
    return host("orgqr", lambda a, t: _per_matrix(lambda x, y: _householder_q(f64(x), f64(y), x.shape[0])[:, :n],
                                                  a, t), input.detach(), tau.detach(), dtype=input.dtype)


orgqr = householder_product


def ormqr(input, tau, other, left=True, transpose=False):
    """``other`` multiplied by geqrf's Q (m x m): Q C, Q^T C, C Q or C Q^T."""
    def run(a, t, c):
        def one(x, y, z):
            Q = _householder_q(f64(x), f64(y), x.shape[0])
            Q = Q.T if transpose else Q
            return Q @ f64(z) if left else f64(z) @ Q
        return _per_matrix(one, a, t, c)
    return host("ormqr", run, input.detach(), tau.detach(), other.detach(), dtype=other.dtype)


# ------------------------------------------------------------------------- matrix_exp
def _expm_np(a):
    """exp(A) by scaling and squaring: Taylor to degree 18 on A / 2^s with ||A / 2^s||_1 <= 0.5
    (truncation error < 0.5^19 / 19! ~ 1e-23), then s squarings."""
    a = f64(a)
    norm = np.abs(a).sum(-2).max() if a.size else 0.0
    s = max(0, int(np.ceil(np.log2(norm))) + 1) if norm > 0.5 else 0
    x = a / (2.0 ** s)
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    result, term = eye.copy(), eye.copy()
    for k in range(1, 19):
        term = term @ x / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


class MatrixExp(Function):
    @staticmethod
    def forward(ctx, A):
        ctx.save_for_backward(A)
        return host("matrix_exp", _expm_np, A, dtype=A.dtype)

    @staticmethod
    def backward(ctx, g):
        # the Fréchet derivative at A^T applied to g is the top-right block of exp([[A^T, g], [0, A^T]])
        (A,) = ctx.saved_tensors
        from .movement import cat
        n = A.shape[-1]
        At = A.mT
        top = cat([At, g], -1)
        bottom = cat([g * 0, At], -1)
        return matrix_exp(cat([top, bottom], -2))[..., :n, n:]


def matrix_exp(input):
    square("linalg.matrix_exp", input)
    return MatrixExp.apply(input)


__all__ = ["det", "logdet", "slogdet", "inverse", "pinverse", "svd", "qr", "cholesky", "cholesky_solve",
           "cholesky_inverse", "lu", "lu_solve", "lu_unpack", "triangular_solve", "matrix_exp", "geqrf", "orgqr",
           "ormqr"]
