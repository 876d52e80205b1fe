"""The API-coverage ops on the cuda device: same values as on cpu, gradients on the device, and
the host round trips of the LAPACK-style ops counted by name (composed ops make none)."""
import numpy as np

import blaze
from tests.core.oracle import arr

# float32: the cuda matmul kernels take fp32/fp16/bf16 (the host ops compute in float64 either way)
A = (arr(4, 4) + 2 * np.eye(4)).astype(np.float32)
X = arr(4, 6).astype(np.float32)


def _both(fn, *arrays):
    outs = []
    for dev in ("cpu", "cuda"):
        ts = [blaze.tensor(a, device=dev, requires_grad=a.dtype.kind == "f") for a in arrays]
        y = fn(*ts)
        w = np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)).astype(np.float32)
        (y * blaze.tensor(w, device=dev)).sum().backward()
        assert y.device.type == dev and all(t.grad is None or t.grad.device.type == dev for t in ts)
        outs.append((y.detach().cpu().numpy(), [t.grad.cpu().numpy() for t in ts if t.grad is not None]))
    (y0, g0), (y1, g1) = outs
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-5)
    for a, b in zip(g0, g1):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_host_ops_count_one_trip_each(device, fallbacks):
    a = blaze.tensor(A, device=device)
    blaze.det(a), blaze.inverse(a), blaze.linalg.svd(a), blaze.matrix_exp(a), blaze.cummax(a, 0)
    assert {k: fallbacks[k] for k in ("det", "inverse", "svd", "matrix_exp", "cummax")} == \
        {"det": 1, "inverse": 1, "svd": 1, "matrix_exp": 1, "cummax": 1}


def test_composed_ops_make_no_host_trip(device, fallbacks):
    x = blaze.tensor(X, device=device)
    blaze.kron(x, x[:2, :2]), blaze.cdist(x, x), blaze.diff(x), blaze.rot90(x), x.unfold(1, 2, 2)
    blaze.trapezoid(x), blaze.cov(x), blaze.nansum(x), blaze.diag_embed(x), blaze.block_diag(x, x)
    blaze.stft(x.reshape(-1), 8, 2, window=blaze.hann_window(8, device=device, dtype=x.dtype), return_complex=False)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)


def test_cuda_matches_cpu_with_gradients(device):
    _both(lambda a: blaze.inverse(a) * blaze.det(a), A)
    _both(lambda a: blaze.linalg.solve(a, a[:, :2]), A)
    _both(lambda a: blaze.cholesky(a @ a.mT), A)
    _both(lambda a: blaze.quantile(a, 0.3, dim=1), X)
    _both(lambda a: blaze.logcumsumexp(a, 1), X)
    _both(lambda a: blaze.diagonal_scatter(a, a[:, 0] * 2, 1), X)
    _both(lambda a: blaze.stft(a.reshape(-1), 8, 3, return_complex=False), X)
