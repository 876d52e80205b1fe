"""Softmax / log-softmax kernels against a float64 NumPy reference."""
import numpy as np
import pytest

from blaze.kernels import registry
from blaze.kernels.buffer import HostBuffer
from blaze.kernels.softmax import softmax, softmax_backward
from tests.kernels.helpers import BF16, RTOL, rel_err

# masked lanes (rows past M, all -inf rows) compute exp(-inf)/0 in the interpreter's NumPy
pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value|overflow):RuntimeWarning")

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
SMALL_LOOP = dict(BLOCK_M=2, BLOCK_N=256, num_warps=4)  # forces the online loop for N > 256


def poisoned(dev, shape, dtype):
    """dev.poisoned, also for bfloat16 (helpers' POISON table keys on dtype.kind, 'V' for bf16)."""
    if np.dtype(dtype) == BF16:
        return dev.put(np.full(shape, np.nan, dtype=BF16))
    return dev.poisoned(shape, dtype)


def ref_softmax(x, log):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = m + np.log(np.exp(x - m).sum(-1, keepdims=True))
        return x - lse if log else np.exp(x - lse)


def ref_softmax_bwd(dy, y, log):
    dy, y = np.asarray(dy, np.float64), np.asarray(y, np.float64)
    if log:
        return dy - np.exp(y) * dy.sum(-1, keepdims=True)
    return y * (dy - (dy * y).sum(-1, keepdims=True))


def check(dev, x_np, log, config=None, dtype=None):
    """Forward then backward into NaN-poisoned outputs; both against float64."""
    dtype = x_np.dtype if dtype is None else dtype
    rng = np.random.default_rng(1)
    x = dev.put(x_np)
    y = softmax(x, log=log, out=poisoned(dev, x_np.shape, dtype), config=config)
    y_np = dev.get(y)
    assert y_np.dtype == dtype
    assert rel_err(y_np, ref_softmax(x_np, log)) < RTOL[str(dtype)]
    dy_np = rng.standard_normal(x_np.shape).astype(dtype)
    dx = softmax_backward(dev.put(dy_np), y, log=log, out=poisoned(dev, x_np.shape, dtype), config=config)
    assert rel_err(dev.get(dx), ref_softmax_bwd(dy_np, y_np, log)) < RTOL[str(dtype)]


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_one_pass(dev, dtype, log):
    x = (3 * np.random.default_rng(0).standard_normal((37, 77))).astype(dtype)
    check(dev, x, log)


def test_odd_shape_1823x781(dev):
    x = np.random.default_rng(2).standard_normal((1823, 781)).astype(np.float32)
    check(dev, x, log=False)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_online_loop(dev, dtype, log):
    # 1000 cols = 3 full 256-col chunks + a partial one; 5 rows leave a half-empty row tile
    x = (4 * np.random.default_rng(3).standard_normal((5, 1000))).astype(dtype)
    check(dev, x, log, config=SMALL_LOOP)


def test_long_rows_log_softmax(dev):
    # 70000 cols in 4096-col chunks: 18 trips of the online loop
    x = (5 * np.random.default_rng(4).standard_normal((3, 70000))).astype(np.float32)
    check(dev, x, log=True, config=dict(BLOCK_M=1, BLOCK_N=4096, num_warps=8))


@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_pass", "loop"])
def test_minus_inf(dev, config):
    # masked logits: a leading run of -inf longer than one chunk must not poison the running
    # sum; a row of all -inf gives NaN, as in NumPy and PyTorch
    x = np.random.default_rng(5).standard_normal((3, 600)).astype(np.float32)
    x[0, :300] = -np.inf
    x[1, 7] = -np.inf
    x[2] = -np.inf
    for log in (False, True):
        y = dev.get(softmax(dev.put(x), log=log, out=poisoned(dev, x.shape, x.dtype), config=config))
        ref = ref_softmax(x, log)
        np.testing.assert_allclose(y[:2], ref[:2], rtol=1e-5, atol=1e-7)
        assert np.all(np.isnan(y[2]))
        assert np.all(y[0, :300] == (-np.inf if log else 0.0))


def cols_view(dev, wide_np, n):
    """The first n cols of a wider (M, n + pad) buffer: rows strided apart by n + pad."""
    buf = dev.put(wide_np)
    if isinstance(buf, HostBuffer):
        return HostBuffer(buf.array[:, :n])

    class View:  # a device buffer seen through a narrower window, same base pointer
        shape, strides, dtype = (wide_np.shape[0], n), buf.strides, buf.dtype
        data_ptr, new = buf.data_ptr, buf.new
    return View()


@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_pass", "loop"])
def test_strided_rows(dev, config):
    rng = np.random.default_rng(6)
    wide = rng.standard_normal((9, 700)).astype(np.float32)
    x = cols_view(dev, wide, 613)
    assert x.strides == (700, 1)
    y = softmax(x, log=False, out=poisoned(dev, (9, 613), np.float32), config=config)
    assert rel_err(dev.get(y), ref_softmax(wide[:, :613], False)) < 1e-5
    dy_wide = rng.standard_normal((9, 700)).astype(np.float32)
    dx = softmax_backward(cols_view(dev, dy_wide, 613), y, out=poisoned(dev, (9, 613), np.float32),
                          config=config)
    assert rel_err(dev.get(dx), ref_softmax_bwd(dy_wide[:, :613], dev.get(y), False)) < 1e-5


def test_errors(dev):
    x = dev.put(np.zeros((4, 8), np.float32))
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        softmax(dev.put(np.zeros(8, np.float32)))
    with pytest.raises(TypeError, match="dtype int32 is not supported"):
        softmax(dev.put(np.zeros((4, 8), np.int32)))
    with pytest.raises(TypeError, match="expected a device buffer"):
        softmax(np.zeros((4, 8), np.float32))
    class Transposed:  # a (4, 8) view of x's memory with cols 4 apart; never launched
        shape, strides, dtype = (4, 8), (1, 4), x.dtype
        data_ptr, new = x.data_ptr, x.new
    with pytest.raises(ValueError, match=r"x: the last dim must be contiguous \(stride 1\), got strides \(1, 4\)"):
        softmax(Transposed())
    with pytest.raises(ValueError, match=r"out: expected shape \(4, 8\), got \(4, 7\)"):
        softmax(x, out=poisoned(dev, (4, 7), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32, got float16"):
        softmax(x, out=poisoned(dev, (4, 8), np.float16))
    with pytest.raises(ValueError, match=r"grad_out shape \(4, 8\) and y shape \(3, 8\) differ"):
        softmax_backward(x, dev.put(np.zeros((3, 8), np.float32)))


def test_registry_and_tuner_problem(dev):
    t = registry.tunables()["softmax"]
    assert t.configs and all({"BLOCK_M", "BLOCK_N", "num_warps"} <= set(c) for c in t.configs)
    for n in (1, 77, 781, 8192, 70000):
        cfg = registry.config_for("softmax", {"M": 1823, "N": n, "dtype": "float16"})
        assert cfg["BLOCK_N"] & (cfg["BLOCK_N"] - 1) == 0 and cfg["BLOCK_N"] <= 8192
        assert cfg["BLOCK_N"] >= min(n, 8192)
    rng = np.random.default_rng(7)
    run = t.make_problem({"M": 5, "N": 300, "dtype": "float32", "log": True},
                         lambda shape, dt: dev.put(rng.standard_normal(shape).astype(dt)))
    for cfg in (t.configs[0], t.configs[-1]):
        run(cfg)
