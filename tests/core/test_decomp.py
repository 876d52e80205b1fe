"""Factorizations, solves and products (blaze/ops/decomp.py, products.py): NumPy float64 oracle,
gradients by finite differences, PyTorch's errors."""
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check

A = arr(4, 4) + 2 * np.eye(4)
SPD = (lambda x: x @ x.T + 4 * np.eye(4))(arr(4, 4))
TALL = arr(5, 3)
B = arr(4, 2)
UP = np.triu(arr(4, 4)) + 3 * np.eye(4)


def _lu_np(a):
    """Doolittle LU with partial pivoting, the textbook way (the oracle for lu / lu_unpack)."""
    n = a.shape[0]
    P, L, U = np.eye(n), np.eye(n), a.copy()
    for j in range(n - 1):
        p = j + np.argmax(np.abs(U[j:, j]))
        U[[j, p]], P[[j, p]] = U[[p, j]], P[[p, j]]
        L[[j, p], :j] = L[[p, j], :j]
        L[j + 1:, j] = U[j + 1:, j] / U[j, j]
        U[j + 1:] -= np.outer(L[j + 1:, j], U[j])
    return P.T, L, np.triu(U)


LU_A, PIV = (t.numpy() for t in blaze.lu(blaze.tensor(A)))


def _unpacked(lu):
    """A = P L U from a packed LU and LAPACK's 1-based row swaps PIV."""
    order = np.arange(4)
    for j, p in enumerate(PIV - 1):
        order[[j, p]] = order[[p, j]]
    P = np.eye(4)[order].T
    return P @ (np.tril(lu, -1) + np.eye(4)) @ np.triu(lu)


def _expm_series(a):
    out, term = np.eye(len(a)), np.eye(len(a))
    for k in range(1, 60):
        term = term @ a / k
        out = out + term
    return out


def _sym(x):
    return x @ x.mT + 4 * blaze.eye(x.shape[-1], dtype=x.dtype)


CASES = [
    ("det", blaze.det, np.linalg.det, [A]),
    ("det_batch", blaze.det, np.linalg.det, [arr(2, 3, 3)]),
    ("logdet", blaze.logdet, lambda a: np.log(np.linalg.det(a)), [SPD]),
    ("slogdet", lambda a: tuple(blaze.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)), [A]),
    ("inverse", blaze.inverse, np.linalg.inv, [A]),
    ("pinverse", blaze.pinverse, np.linalg.pinv, [TALL]),
    ("svd_recon", lambda a: (lambda u, s, v: ((u * s) @ v.mT, s))(*blaze.svd(a)),
     lambda a: (a, np.linalg.svd(a, compute_uv=False)), [TALL]),
    ("svd_wide_projector", lambda a: (lambda u, s, vh: (vh.mT @ vh, u @ u.mT))(*blaze.linalg.svd(
        a, full_matrices=False)), lambda a: (np.linalg.pinv(a) @ a, np.eye(3)), [arr(3, 5)]),
    ("qr", lambda a: tuple(blaze.qr(a)), lambda a: tuple(np.linalg.qr(a)), [TALL]),
    ("cholesky", lambda x: blaze.cholesky(_sym(x)), lambda x: np.linalg.cholesky(x @ x.T + 4 * np.eye(4)),
     [arr(4, 4)]),
    ("cholesky_solve", lambda b, x: blaze.cholesky_solve(b, blaze.cholesky(_sym(x))),
     lambda b, x: np.linalg.solve(x @ x.T + 4 * np.eye(4), b), [B, arr(4, 4)]),
    ("cholesky_solve_upper", lambda b, x: blaze.cholesky_solve(b, blaze.cholesky(_sym(x), upper=True), upper=True),
     lambda b, x: np.linalg.solve(x @ x.T + 4 * np.eye(4), b), [B, arr(4, 4)]),
    ("cholesky_inverse", lambda x: blaze.cholesky_inverse(blaze.cholesky(_sym(x))),
     lambda x: np.linalg.inv(x @ x.T + 4 * np.eye(4)), [arr(4, 4)]),
    ("triangular_solve", lambda b, a: blaze.triangular_solve(b, a).solution, lambda b, a: np.linalg.solve(np.triu(a), b),
     [B, UP]),
    ("triangular_solve_T_unit", lambda b, a: blaze.triangular_solve(b, a, upper=False, transpose=True,
                                                                    unitriangular=True).solution,
     lambda b, a: np.linalg.solve((np.tril(a, -1) + np.eye(4)).T, b), [B, A]),
    ("solve", blaze.linalg.solve, np.linalg.solve, [A, B]),
    ("lu_solve", lambda b, lu: blaze.lu_solve(b, lu, blaze.tensor(PIV)),
     lambda b, lu: np.linalg.solve(_unpacked(lu), b), [B, LU_A]),
    ("lu_factor_grad", lambda a: blaze.linalg.lu_factor(a).LU, lambda a: LU_A, [A]),
    ("linalg_lu_grad", lambda a: tuple(blaze.linalg.lu(a))[1:], lambda a: _lu_np(a)[1:], [A]),
    ("matrix_power", lambda a: (blaze.matrix_power(a, 5), a.matrix_power(-2), a.matrix_power(0)),
     lambda a: (np.linalg.matrix_power(a, 5), np.linalg.matrix_power(a, -2), np.eye(4)), [A]),
    ("matrix_exp", blaze.matrix_exp, _expm_series, [arr(3, 3) * 2]),
    ("kron", blaze.kron, np.kron, [arr(2, 3), arr(3, 2)]),
    ("cross", lambda a, b: blaze.cross(a, b, dim=1), lambda a, b: np.cross(a, b, axis=1), [arr(4, 3), arr(4, 3)]),
    ("trace_vdot", lambda a, v: (blaze.trace(a), blaze.vdot(v, v)), lambda a, v: (np.trace(a), v @ v),
     [arr(3, 4), arr(5)]),
    ("addbmm", lambda m, b1, b2: blaze.addbmm(m, b1, b2, beta=0.5, alpha=2),
     lambda m, b1, b2: 0.5 * m + 2 * np.einsum("bij,bjk->ik", b1, b2), [arr(3, 3), arr(2, 3, 4), arr(2, 4, 3)]),
    ("addmv_addr", lambda m, v, w: (blaze.addmv(w, m, v, alpha=3), blaze.addr(m, w, v, beta=2)),
     lambda m, v, w: (w + 3 * m @ v, 2 * m + np.outer(w, v)), [arr(3, 3), arr(3), arr(3)]),
    ("chain_matmul", blaze.chain_matmul, lambda a, b, c: a @ b @ c, [arr(2, 3), arr(3, 4), arr(4, 2)]),
    ("cdist", lambda a, b: (blaze.cdist(a, b), blaze.cdist(a, b, p=1)),
     lambda a, b: (np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)), np.abs(a[:, None] - b[None]).sum(-1)),
     [arr(4, 3), arr(5, 3)]),
    ("pdist_dist", lambda a: (blaze.pdist(a), blaze.dist(a[0], a[1], 3)),
     lambda a: (np.array([np.linalg.norm(a[i] - a[j]) for i in range(5) for j in range(i + 1, 5)]),
                np.sum(np.abs(a[0] - a[1]) ** 3) ** (1 / 3)), [arr(5, 3)]),
    ("renorm", lambda a: blaze.renorm(a, 2, 0, 1.0),
     lambda a: a * np.where(np.linalg.norm(a, axis=1, keepdims=True) > 1,
                            1 / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-7), 1), [arr(3, 4) * 2]),
]


@pytest.mark.parametrize("name,fn,ref,xs", CASES, ids=[c[0] for c in CASES])
def test_decomp_oracle(name, fn, ref, xs):
    check(fn, ref, *[x.copy() for x in xs], atol=1e-8, rtol=1e-7, grad_atol=1e-5)


def test_lu_and_unpack_match_textbook_lu():
    a = arr(4, 4)
    LU, piv = blaze.lu(blaze.tensor(a))
    P, L, U = blaze.lu_unpack(LU, piv)
    rP, rL, rU = _lu_np(a)
    for got, want in ((P, rP), (L, rL), (U, rU)):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    assert piv.dtype is blaze.int32 and int(piv.min()) >= 1


def test_geqrf_orgqr_ormqr_rebuild_q():
    a = arr(5, 3)
    h, tau = blaze.geqrf(blaze.tensor(a))
    Q = blaze.orgqr(h, tau).numpy()
    np.testing.assert_allclose(Q @ np.triu(h.numpy()[:3]), a, atol=1e-12)
    c = arr(5, 2)
    np.testing.assert_allclose(blaze.ormqr(h, tau, blaze.tensor(c), transpose=True).numpy()[:3],
                               (Q.T @ c), atol=1e-12)


def test_float32_input_computes_in_float64_and_keeps_dtype():
    a = np.array([[1e4, 1.0], [1.0, 1e-4 + 1e-4]], dtype=np.float32)
    d = blaze.det(blaze.tensor(a))
    assert d.dtype is blaze.float32
    np.testing.assert_allclose(float(d), np.linalg.det(a.astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize("fn,msg", [
    (lambda: blaze.det(blaze.ones(2, 3)), "must be batches of square matrices"),
    (lambda: blaze.inverse(blaze.ones(3, dtype=blaze.float64)), "at least 2 dimensions"),
    (lambda: blaze.det(blaze.ones(2, 2, dtype=blaze.int64)), "Expected a floating point"),
    (lambda: blaze.cholesky(-blaze.eye(2)), "not positive-definite"),
    (lambda: blaze.cross(blaze.ones(2, 4), blaze.ones(2, 4)), "no dimension of size 3"),
    (lambda: blaze.cdist(blaze.ones(2, 3), blaze.ones(2, 4)), "same number of columns"),
    (lambda: blaze.trace(blaze.ones(2)), "expected a matrix"),
    (lambda: blaze.linalg.qr(blaze.ones(2, 2), mode="x"), "unrecognized mode"),
])
def test_decomp_errors(fn, msg):
    with pytest.raises(RuntimeError, match=msg):
        fn()


def test_svd_lowrank_is_exact_on_a_low_rank_matrix_and_differentiable():
    low = arr(7, 3) @ arr(3, 5)
    blaze.manual_seed(0)
    U, S, V = blaze.svd_lowrank(blaze.tensor(low), q=3)
    np.testing.assert_allclose(((U * S) @ V.mT).numpy(), low, atol=1e-10)
    np.testing.assert_allclose(S.numpy(), np.linalg.svd(low, compute_uv=False)[:3], atol=1e-10)
    centered = low - low.mean(0)
    _, S2, _ = blaze.pca_lowrank(blaze.tensor(low), q=3)
    np.testing.assert_allclose(S2.numpy(), np.linalg.svd(centered, compute_uv=False)[:3], atol=1e-10)
    x = blaze.tensor(low, requires_grad=True)
    blaze.svd_lowrank(x, q=3)[1].sum().backward()  # d sum(s) / dA = U V^T on the top-3 subspace
    u, s, vh = np.linalg.svd(low, full_matrices=False)
    np.testing.assert_allclose(x.grad.numpy(), u[:, :3] @ vh[:3], atol=1e-8)
    with pytest.raises(ValueError, match="must be positive and not greater than"):
        blaze.svd_lowrank(blaze.tensor(low), q=6)


def test_adjoint_and_inplace_linalg_forms():
    a = blaze.tensor(arr(2, 3, 4))
    assert blaze.adjoint(a).shape == a.mH.shape == (2, 4, 3) and a[0].H.shape == (4, 3)
    with pytest.raises(RuntimeError, match="only supported on matrices"):
        a.H
    m = arr(3, 3)
    b1, b2 = arr(2, 3, 4), arr(2, 4, 3)
    t = blaze.tensor(m)
    t.addbmm_(blaze.tensor(b1), blaze.tensor(b2), alpha=2).addr_(blaze.tensor(m[0]), blaze.tensor(m[1]))
    np.testing.assert_allclose(t.numpy(), m + 2 * np.einsum("bij,bjk->ik", b1, b2) + np.outer(m[0], m[1]))
