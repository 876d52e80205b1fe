"""LayerNorm / RMSNorm kernels against a float64 NumPy reference."""
import numpy as np
import pytest

from blaze.kernels import registry
from blaze.kernels.layernorm import (add_layer_norm, add_layer_norm_backward, layer_norm, layer_norm_backward, rms_norm,
                                    rms_norm_backward)
from tests.kernels.helpers import BF16, RTOL, rel_err
from tests.kernels.test_softmax import cols_view, poisoned

pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value|overflow):RuntimeWarning")

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
F32 = np.dtype(np.float32)
# forces the looped (row longer than a tile) paths, 3 groups for the partial sums
SMALL_LOOP = dict(BLOCK_M=2, BLOCK_N=128, GROUPS=3, num_warps=4)


def ref_norm(x, w, b, eps, center):
    """float64 forward: (y, mean, rstd) and a backward closure (dy -> dx, dw, db)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True) if center else np.zeros((x.shape[0], 1))
    xc = x - mean
    rstd = 1.0 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xhat = xc * rstd
    w64 = np.ones(x.shape[1]) if w is None else np.asarray(w, np.float64)
    y = xhat * w64 + (0.0 if b is None else np.asarray(b, np.float64))

    def backward(dy):
        dy = np.asarray(dy, np.float64)
        g = dy * w64
        dx = g - xhat * (g * xhat).mean(-1, keepdims=True)
        if center:
            dx -= g.mean(-1, keepdims=True)
        return dx * rstd, (dy * xhat).sum(0), dy.sum(0)
    return y, mean[:, 0], rstd[:, 0], backward


def run_layer_norm(dev, M, N, dtype, has_w=True, has_b=True, config=None, scale=1.0, offset=0.0, tol=None):
    rng = np.random.default_rng(M * 1000 + N)
    x = (offset + scale * rng.standard_normal((M, N))).astype(dtype)
    w = (1 + 0.5 * rng.standard_normal(N)).astype(dtype) if has_w else None
    b = rng.standard_normal(N).astype(dtype) if has_b else None
    dy = rng.standard_normal((M, N)).astype(dtype)
    tol = tol or RTOL[str(dtype)]
    y_ref, mean_ref, rstd_ref, bwd = ref_norm(x, w, b, 1e-5, True)
    wb = None if w is None else dev.put(w)
    xb = dev.put(x)
    y, mean, rstd = layer_norm(xb, wb, None if b is None else dev.put(b), 1e-5,
                               out=poisoned(dev, (M, N), dtype), mean_out=poisoned(dev, (M,), F32),
                               rstd_out=poisoned(dev, (M,), F32), config=config)
    assert rel_err(dev.get(y), y_ref) < tol
    assert rel_err(dev.get(mean), mean_ref) < 1e-5 and rel_err(dev.get(rstd), rstd_ref) < max(tol, 1e-5)
    dx, dw, db = layer_norm_backward(dev.put(dy), xb, wb, mean, rstd, out=poisoned(dev, (M, N), dtype),
                                     config=config)
    dx_ref, dw_ref, db_ref = bwd(dy)
    assert dev.get(dx).dtype == dtype and rel_err(dev.get(dx), dx_ref) < tol
    assert rel_err(dev.get(db), db_ref) < tol
    if has_w:
        assert dev.get(dw).dtype == dtype and rel_err(dev.get(dw), dw_ref) < tol
    else:
        assert dw is None


def run_rms_norm(dev, M, N, dtype, has_w=True, config=None):
    rng = np.random.default_rng(M * 1000 + N + 1)
    x = rng.standard_normal((M, N)).astype(dtype)
    w = (1 + 0.5 * rng.standard_normal(N)).astype(dtype) if has_w else None
    dy = rng.standard_normal((M, N)).astype(dtype)
    tol = RTOL[str(dtype)]
    y_ref, _, rstd_ref, bwd = ref_norm(x, w, None, 1e-6, False)
    wb = None if w is None else dev.put(w)
    xb = dev.put(x)
    y, rstd = rms_norm(xb, wb, 1e-6, out=poisoned(dev, (M, N), dtype), rstd_out=poisoned(dev, (M,), F32),
                       config=config)
    assert rel_err(dev.get(y), y_ref) < tol and rel_err(dev.get(rstd), rstd_ref) < 1e-5
    dx, dw = rms_norm_backward(dev.put(dy), xb, wb, rstd, out=poisoned(dev, (M, N), dtype), config=config)
    dx_ref, dw_ref, _ = bwd(dy)
    assert rel_err(dev.get(dx), dx_ref) < tol
    if has_w:
        assert rel_err(dev.get(dw), dw_ref) < tol
    else:
        assert dw is None


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_layer_norm(dev, dtype):
    run_layer_norm(dev, 37, 77, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_rms_norm(dev, dtype):
    run_rms_norm(dev, 37, 77, dtype)


def test_layer_norm_odd_shape_1823x781(dev):
    run_layer_norm(dev, 1823, 781, np.dtype(np.float32))


@pytest.mark.parametrize("has_w,has_b", [(False, False), (True, False), (False, True)])
def test_layer_norm_optional_affine(dev, has_w, has_b):
    run_layer_norm(dev, 9, 33, np.dtype(np.float32), has_w=has_w, has_b=has_b)


def test_rms_norm_no_weight(dev):
    run_rms_norm(dev, 9, 33, np.dtype(np.float32), has_w=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_looped_rows(dev, dtype):
    # 300 features in 128-wide chunks (2 full + 1 partial), 11 rows = 6 row tiles over 3 groups
    run_layer_norm(dev, 11, 300, dtype, config=SMALL_LOOP)
    run_rms_norm(dev, 11, 300, dtype, config=SMALL_LOOP)


def test_looped_rows_no_affine(dev):
    run_layer_norm(dev, 5, 300, np.dtype(np.float32), has_w=False, has_b=False, config=SMALL_LOOP)


@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_pass", "loop"])
def test_large_mean_is_stable(dev, config):
    # |mean| = 1000 x std: fp32 inputs near 1000 carry ~6e-5 absolute rounding, so 1e-3 is
    # what is achievable; E[x^2] - E[x]^2 would be off by ~ulp(1e6) / var = 6e-2
    run_layer_norm(dev, 6, 200, np.dtype(np.float32), config=config, scale=1.0, offset=1000.0, tol=1e-3)


def test_strided_rows(dev):
    rng = np.random.default_rng(3)
    wide = rng.standard_normal((7, 96)).astype(np.float32)
    x = cols_view(dev, wide, 81)  # (7, 81) rows 96 apart
    y, mean, rstd = layer_norm(x, None, None, 1e-5, out=poisoned(dev, (7, 81), F32))
    y_ref, mean_ref, rstd_ref, bwd = ref_norm(wide[:, :81], None, None, 1e-5, True)
    assert rel_err(dev.get(y), y_ref) < 1e-5
    dy_wide = rng.standard_normal((7, 96)).astype(np.float32)
    dx, dw, db = layer_norm_backward(cols_view(dev, dy_wide, 81), x, None, mean, rstd)
    assert rel_err(dev.get(dx), bwd(dy_wide[:, :81])[0]) < 1e-5


def test_empty_batch_gives_zero_weight_grad(dev):
    x = dev.put(np.zeros((0, 5), np.float32))
    w = dev.put(np.ones(5, np.float32))
    y, mean, rstd = layer_norm(x, w, None, 1e-5)
    dx, dw, db = layer_norm_backward(x, x, w, mean, rstd)
    assert dev.get(dw).tolist() == [0.0] * 5 and dev.get(db).tolist() == [0.0] * 5


def test_need_weight_grad_false(dev):
    x = dev.put(np.ones((3, 5), np.float32))
    w = dev.put(np.ones(5, np.float32))
    y, mean, rstd = layer_norm(x, w, None, 1e-5)
    dx, dw, db = layer_norm_backward(x, x, w, mean, rstd, need_weight_grad=False)
    assert dw is None and db is None and dev.get(dx).shape == (3, 5)


def test_errors(dev):
    x = dev.put(np.zeros((4, 8), np.float32))
    w = dev.put(np.ones(8, np.float32))
    mean = dev.put(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"layer_norm: weight: expected shape \(8,\) to match the last dim of x, got \(7,\)"):
        layer_norm(x, dev.put(np.ones(7, np.float32)), None, 1e-5)
    with pytest.raises(ValueError, match=r"rms_norm: x: expected 2 dimensions, got shape \(8,\)"):
        rms_norm(w, None, 1e-6)
    with pytest.raises(TypeError, match="layer_norm: x: dtype int64 is not supported"):
        layer_norm(dev.put(np.zeros((4, 8), np.int64)), None, None, 1e-5)
    with pytest.raises(ValueError, match=r"layer_norm: out: expected shape \(4, 8\), got \(8, 4\)"):
        layer_norm(x, w, None, 1e-5, out=dev.put(np.zeros((8, 4), np.float32)))
    with pytest.raises(TypeError, match="layer_norm_backward: rstd: dtype float16 is not supported"):
        layer_norm_backward(x, x, w, mean, dev.put(np.zeros(4, np.float16)))
    with pytest.raises(ValueError, match=r"layer_norm_backward: mean: expected shape \(4,\) \(one per row of x\), got \(3,\)"):
        layer_norm_backward(x, x, w, dev.put(np.zeros(3, np.float32)), mean)
    with pytest.raises(ValueError, match=r"rms_norm_backward: dy shape \(4, 7\) and x shape \(4, 8\) differ"):
        rms_norm_backward(dev.put(np.zeros((4, 7), np.float32)), x, w, mean)
    with pytest.raises(ValueError, match="empty last dim"):
        layer_norm(dev.put(np.zeros((4, 0), np.float32)), None, None, 1e-5)


def run_add_layer_norm(dev, M, N, dtype, config=None, with_dh=True):
    rng = np.random.default_rng(M * 1000 + N + 2)
    x, r, dy, dh = (rng.standard_normal((M, N)).astype(dtype) for _ in range(4))
    w = (1 + 0.5 * rng.standard_normal(N)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    tol = RTOL[str(dtype)]
    wb, bb = dev.put(w), dev.put(b)
    y, h, mean, rstd = add_layer_norm(dev.put(x), dev.put(r), wb, bb, 1e-5, out=poisoned(dev, (M, N), dtype),
                                      h_out=poisoned(dev, (M, N), dtype), config=config)
    hh = dev.get(h)
    # h is the add rounded to the dtype (the interpreter rounds to bf16 toward zero: 1 ulp = 2**-7)
    h_ref = (x.astype(np.float64) + r.astype(np.float64)).astype(dtype)
    np.testing.assert_allclose(hh.astype(np.float64), h_ref.astype(np.float64), rtol=2 ** -7 if dtype == BF16 else 0)
    # y is layer_norm of that h, bit for bit, and the float64 reference's within the dtype's tolerance
    y2, mean2, rstd2 = layer_norm(dev.put(hh), wb, bb, 1e-5, config=config)
    np.testing.assert_array_equal(dev.get(y).astype(np.float64), dev.get(y2).astype(np.float64))
    np.testing.assert_array_equal(dev.get(rstd), dev.get(rstd2))
    y_ref, _, _, bwd = ref_norm(hh, w, b, 1e-5, True)
    assert rel_err(dev.get(y), y_ref) < tol
    dx, dw, db = add_layer_norm_backward(dev.put(dy), dev.put(dh) if with_dh else None, h, wb, mean, rstd,
                                         out=poisoned(dev, (M, N), dtype), config=config)
    dx_ref, dw_ref, db_ref = bwd(dy)
    if with_dh:
        dx_ref = dx_ref + dh.astype(np.float64)
    assert dev.get(dx).dtype == dtype and rel_err(dev.get(dx), dx_ref) < tol
    assert rel_err(dev.get(dw), dw_ref) < tol and rel_err(dev.get(db), db_ref) < tol


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_pass", "loop"])
def test_add_layer_norm(dev, dtype, config):
    # loop: 300 features in 128-wide chunks, so h is written in pass 1 and read back in passes 2-3
    run_add_layer_norm(dev, 11, 300 if config else 77, dtype, config=config)


def test_add_layer_norm_without_dh_is_layer_norm_backward(dev):
    run_add_layer_norm(dev, 9, 33, np.dtype(np.float32), with_dh=False)


def test_add_layer_norm_errors(dev):
    x = dev.put(np.zeros((4, 8), np.float32))
    with pytest.raises(ValueError, match=r"add_layer_norm: residual shape \(4, 7\) and x shape \(4, 8\) differ"):
        add_layer_norm(x, dev.put(np.zeros((4, 7), np.float32)), None, None)
    with pytest.raises(ValueError, match="add_layer_norm: residual dtype float16 differs from x's float32"):
        add_layer_norm(x, dev.put(np.zeros((4, 8), np.float16)), None, None)
    y, h, mean, rstd = add_layer_norm(x, x, None, None)
    with pytest.raises(ValueError, match=r"add_layer_norm_backward: dres shape \(3, 8\) and x shape \(4, 8\)"):
        add_layer_norm_backward(x, dev.put(np.zeros((3, 8), np.float32)), h, None, mean, rstd)


def test_registry_and_tuner_problem(dev):
    t = registry.tunables()["layer_norm"]
    assert all({"BLOCK_M", "BLOCK_N", "GROUPS", "num_warps"} <= set(c) for c in t.configs)
    for n in (1, 77, 4096, 20000):
        cfg = registry.config_for("layer_norm", {"M": 64, "N": n, "dtype": "bfloat16"})
        assert cfg["BLOCK_N"] >= min(n, 8192) and cfg["GROUPS"] >= 1
    rng = np.random.default_rng(7)
    run = t.make_problem({"M": 6, "N": 200, "dtype": "float32"},
                         lambda shape, dt: dev.put(rng.standard_normal(shape).astype(dt)))
    for cfg in (t.configs[0], t.configs[-1]):
        run(cfg)
