"""Fused cross-entropy kernels against a float64 NumPy reference (PyTorch's definition)."""
import numpy as np
import pytest

from blaze.kernels import registry
from blaze.kernels.buffer import HostBuffer
from blaze.kernels.loss import cross_entropy, cross_entropy_backward
from tests.kernels.helpers import BF16, RTOL, rel_err, raises_device_error
from tests.kernels.test_softmax import cols_view, poisoned

pytestmark = pytest.mark.filterwarnings("ignore:(divide by zero|invalid value|overflow):RuntimeWarning")

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), BF16]
F32 = np.dtype(np.float32)
SMALL_LOOP = dict(BLOCK_M=2, BLOCK_V=64, num_warps=4)  # 64-class chunks: the online loop runs


def ref_cross_entropy(x, t, ignore_index=-100, eps=0.0, w=None):
    """float64 (loss_rows, lse, row_weight, dloss/dlogits per unit grad) as PyTorch defines them."""
    x = np.asarray(x, np.float64)
    M, V = x.shape
    w = np.ones(V) if w is None else np.asarray(w, np.float64)
    m = x.max(1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(1, keepdims=True)))[:, 0]
    logp = x - lse[:, None]
    valid = t != ignore_index
    tt = np.where(valid, t, 0)
    w_t = np.where(valid, w[tt], 0.0)
    nll = -logp[np.arange(M), tt] * w_t
    loss = (1 - eps) * nll
    if eps:  # (masked -inf logits make the smoothing term infinite, as in PyTorch)
        loss = loss - eps / V * (logp * w).sum(1) * valid
    onehot = np.zeros((M, V))
    onehot[np.arange(M), tt] = 1.0
    p = np.exp(logp)
    grad = (1 - eps) * w_t[:, None] * (p - onehot) + eps / V * (w.sum() * p - w[None, :])
    return loss, lse, w_t, grad * valid[:, None]


def check(dev, M, V, dtype, ignore_index=-100, eps=0.0, weighted=False, config=None, n_ignored=0, seed=0):
    rng = np.random.default_rng(seed)
    x = (3 * rng.standard_normal((M, V))).astype(dtype)
    t = rng.integers(0, V, M).astype(np.int64)
    t[rng.permutation(M)[:n_ignored]] = ignore_index
    w = rng.uniform(0.2, 2.0, V).astype(dtype) if weighted else None
    wb = None if w is None else dev.put(w)
    xb, tb = dev.put(x), dev.put(t)
    loss, lse, roww = cross_entropy(xb, tb, ignore_index, eps, wb, loss_out=poisoned(dev, (M,), F32),
                                    lse_out=poisoned(dev, (M,), F32), row_weight_out=poisoned(dev, (M,), F32),
                                    config=config)
    loss_ref, lse_ref, w_ref, grad_ref = ref_cross_entropy(x, t, ignore_index, eps, w)
    # the loss and lse are fp32 from (rounded) inputs: fp32 accuracy whatever the logits dtype
    assert rel_err(dev.get(loss), loss_ref) < 1e-5
    assert rel_err(dev.get(lse), lse_ref) < 1e-5
    np.testing.assert_allclose(dev.get(roww), w_ref, rtol=1e-6)
    g = rng.uniform(0.5, 1.5, M).astype(F32)
    d = cross_entropy_backward(dev.put(g), xb, tb, lse, ignore_index, eps, wb, out=poisoned(dev, (M, V), dtype),
                               config=config)
    d_np = dev.get(d)
    assert d_np.dtype == dtype
    assert rel_err(d_np, grad_ref * g[:, None]) < RTOL[str(dtype)]
    assert np.all(d_np[t == ignore_index] == 0)
    return loss_ref, w_ref


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_one_chunk(dev, dtype):
    check(dev, 37, 77, dtype, n_ignored=5)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_online_loop(dev, dtype):
    # 301 classes = 4 full 64-class chunks + a partial one; 9 rows leave a half-empty tile
    check(dev, 9, 301, dtype, n_ignored=2, config=SMALL_LOOP)


def test_odd_shape_1823x781(dev):
    check(dev, 1823, 781, np.dtype(np.float32), n_ignored=100, eps=0.1)


def test_large_vocab_3x70000(dev):
    # 70000 classes in 4096-class chunks: 18 trips of the online log-sum-exp
    check(dev, 3, 70000, BF16, eps=0.1, weighted=True, config=dict(BLOCK_M=1, BLOCK_V=4096, num_warps=8))


@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_chunk", "loop"])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_class_weights_and_smoothing(dev, eps, config):
    loss_ref, w_ref = check(dev, 13, 150, np.dtype(np.float32), eps=eps, weighted=True, config=config, n_ignored=3)
    assert np.count_nonzero(w_ref) == 10  # ignored rows weigh 0 in the 'mean' denominator


@pytest.mark.parametrize("config", [None, SMALL_LOOP], ids=["one_chunk", "loop"])
def test_smoothing(dev, config):
    check(dev, 11, 200, np.dtype(np.float16), eps=0.3, config=config, n_ignored=2)


def test_custom_ignore_index_and_all_ignored(dev):
    check(dev, 6, 40, np.dtype(np.float32), ignore_index=3, n_ignored=2)
    check(dev, 4, 40, np.dtype(np.float32), n_ignored=4)


def test_mean_reduction_from_outputs(dev):
    # PyTorch: reduction='mean' with weights = sum(w[t] * nll) / sum(w[t]) over kept rows
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 10)).astype(np.float32)
    t = np.array([1, 2, -100, 4, 9, 0, -100, 3], np.int64)
    w = rng.uniform(0.5, 1.5, 10).astype(np.float32)
    loss, _, roww = cross_entropy(dev.put(x), dev.put(t), weight=dev.put(w))
    logp = x.astype(np.float64) - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True))
    keep = t != -100
    expected = -(w[t[keep]] * logp[keep, t[keep]]).sum() / w[t[keep]].sum()
    assert abs(dev.get(loss).sum() / dev.get(roww).sum() - expected) < 1e-6


def test_masked_logits(dev):
    # -inf logits (masked vocabulary), including a whole leading chunk, stay finite
    x = np.random.default_rng(4).standard_normal((3, 200)).astype(np.float32)
    x[:, :70] = -np.inf
    t = np.array([100, 150, 199], np.int64)
    for config in (None, SMALL_LOOP):
        loss, lse, _ = cross_entropy(dev.put(x), dev.put(t), config=config)
        loss_ref, lse_ref, _, grad_ref = ref_cross_entropy(x, t)
        assert rel_err(dev.get(loss), loss_ref) < 1e-5
        d = cross_entropy_backward(dev.put(np.ones(3, F32)), dev.put(x), dev.put(t), lse, config=config)
        assert rel_err(dev.get(d), grad_ref) < 1e-5


def test_out_of_range_target_gives_nan(dev):
    x = dev.put(np.zeros((3, 5), np.float32))
    loss, lse, _ = cross_entropy(x, dev.put(np.array([0, 5, -1], np.int64)))
    out = dev.get(loss)
    assert out[0] == pytest.approx(np.log(5)) and np.isnan(out[1]) and np.isnan(out[2])
    raises_device_error("cross_entropy")


def test_strided_logits_broadcast_grad_int32_target(dev):
    rng = np.random.default_rng(5)
    wide = rng.standard_normal((6, 64)).astype(np.float32)
    x = cols_view(dev, wide, 50)  # (6, 50) rows 64 apart
    t = rng.integers(0, 50, 6).astype(np.int32)
    loss, lse, _ = cross_entropy(x, dev.put(t))
    loss_ref, _, _, grad_ref = ref_cross_entropy(wide[:, :50], t)
    assert rel_err(dev.get(loss), loss_ref) < 1e-5
    # reduction='mean': one scalar 1/N broadcast to every row through stride 0
    d = cross_entropy_backward(broadcast_scalar(dev, 1 / 6, 6), x, dev.put(t), lse,
                               out=poisoned(dev, (6, 50), F32))
    assert rel_err(dev.get(d), grad_ref / 6) < 1e-5


def broadcast_scalar(dev, value, n):
    """A (n,) float32 buffer with stride 0: one value seen by every row."""
    buf = dev.put(np.full(1, value, F32))
    if isinstance(buf, HostBuffer):
        return HostBuffer(np.broadcast_to(buf.array, (n,)))

    class View:  # same base pointer, stride 0
        shape, strides, dtype = (n,), (0,), buf.dtype
        data_ptr, new = buf.data_ptr, buf.new
    return View()


def test_errors(dev):
    x = dev.put(np.zeros((4, 8), np.float32))
    t = dev.put(np.zeros(4, np.int64))
    lse = dev.put(np.zeros(4, np.float32))
    g = dev.put(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="cross_entropy: target: dtype float32 is not supported"):
        cross_entropy(x, dev.put(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match=r"target shape \(5,\) does not match logits rows \(4,\)"):
        cross_entropy(x, dev.put(np.zeros(5, np.int64)))
    with pytest.raises(ValueError, match=r"target: expected 1 dimensions, got shape \(4, 1\)"):
        cross_entropy(x, dev.put(np.zeros((4, 1), np.int64)))
    with pytest.raises(ValueError, match=r"weight shape \(7,\) does not match the number of classes \(8,\)"):
        cross_entropy(x, t, weight=dev.put(np.ones(7, np.float32)))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0, got 1.5"):
        cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"logits: expected 2 dimensions"):
        cross_entropy(dev.put(np.zeros((2, 2, 8), np.float32)), t)
    with pytest.raises(ValueError, match=r"loss_out: expected shape \(4,\), got \(3,\)"):
        cross_entropy(x, t, loss_out=dev.put(np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match="cross_entropy_backward: target: dtype float64 is not supported"):
        cross_entropy_backward(g, x, dev.put(np.zeros(4, np.float64)), lse)
    with pytest.raises(ValueError, match=r"grad_rows shape \(3,\) does not match logits rows \(4,\)"):
        cross_entropy_backward(dev.put(np.ones(3, np.float32)), x, t, lse)
    with pytest.raises(ValueError, match=r"out must be \(4, 8\) float32, got \(4, 8\) float16"):
        cross_entropy_backward(g, x, t, lse, out=dev.put(np.zeros((4, 8), np.float16)))


def test_registry_and_tuner_problem(dev):
    t = registry.tunables()["cross_entropy"]
    assert all({"BLOCK_M", "BLOCK_V", "num_warps"} <= set(c) for c in t.configs)
    cfg = registry.config_for("cross_entropy", {"M": 8, "V": 50257, "dtype": "bfloat16"})
    assert cfg["BLOCK_V"] & (cfg["BLOCK_V"] - 1) == 0
    rng = np.random.default_rng(7)

    def new_buffer(shape, dt):  # the tuner's random fill: integer targets may be anything
        return dev.put((100 * rng.standard_normal(shape)).astype(dt))
    run = t.make_problem({"M": 5, "V": 300, "dtype": "float32"}, new_buffer)
    for cfg in (t.configs[0], t.configs[-1]):
        run(cfg)
