"""blaze.kernels.embedding vs NumPy: row gather forward, float32 scatter-add backward with
duplicate ids and padding_idx, vocab 1823 x sequence 77, strided ids and grads."""
import numpy as np
import pytest

from blaze.kernels import embedding as E
from blaze.kernels.registry import config_for
from tests.kernels.helpers import BF16, RTOL, rel_err, raises_device_error
from tests.kernels.test_index import poison, strided

RNG = np.random.default_rng(1)


def ref_backward(grad, ids, V, padding_idx=None):
    dw = np.zeros((V, grad.shape[-1]))
    np.add.at(dw, ids.reshape(-1), grad.reshape(-1, grad.shape[-1]).astype(np.float64))
    if padding_idx is not None:
        dw[padding_idx] = 0
    return dw


@pytest.mark.parametrize("dtype", ["float32", "float16", BF16])
def test_forward_backward(dev, dtype):
    V, D = 1823, 13
    w = RNG.standard_normal((V, D)).astype(dtype)
    ids = RNG.integers(0, V, (3, 77))
    ids[0, :5] = 7                                   # duplicates, also of the padding row
    out = E.embedding(dev.put(w), dev.put(ids), out=poison(dev, (3, 77, D), w.dtype))
    np.testing.assert_array_equal(dev.get(out).astype(np.float64), w[ids].astype(np.float64))

    g = RNG.standard_normal((3, 77, D)).astype(dtype)
    dw = E.embedding_backward(dev.put(g), dev.put(ids), V, padding_idx=7, out=poison(dev, (V, D), np.float32))
    ref = ref_backward(g, ids, V, padding_idx=7)
    assert rel_err(dev.get(dw), ref) < RTOL["float32"]
    assert np.all(dev.get(dw)[7] == 0)


def test_duplicates_accumulate_and_strided(dev):
    V, D = 5, 300                                    # D > one column block
    w = RNG.standard_normal((D, V)).astype(np.float32)
    wt = strided(dev, w, lambda a: a.T)             # (V, D) column-major table
    ids_base = RNG.integers(0, V, (4, 9))
    ids = strided(dev, ids_base, lambda a: a.T)     # (9, 4) strided ids, many duplicates
    out = E.embedding(wt, ids)
    np.testing.assert_array_equal(dev.get(out), w.T[ids_base.T])

    g_base = RNG.standard_normal((D, 9, 4)).astype(np.float32)
    g = strided(dev, g_base, lambda a: a.transpose(1, 2, 0))   # (9, 4, D), last dim strided
    dw = E.embedding_backward(g, ids, V, padding_idx=-1)
    ref = ref_backward(g_base.transpose(1, 2, 0), ids_base.T, V, padding_idx=V - 1)
    assert rel_err(dev.get(dw), ref) < RTOL["float32"]

    # accumulate=True adds into the existing buffer (micro-batch gradient accumulation)
    E.embedding_backward(g, ids, V, padding_idx=-1, out=dw, accumulate=True)
    assert rel_err(dev.get(dw), 2 * ref) < RTOL["float32"]


def test_out_of_range_ids_are_guarded(dev):
    w = RNG.standard_normal((6, 4)).astype(np.float32)
    ids = np.array([0, 6, -1, 5, 100])
    out = dev.get(E.embedding(dev.put(w), dev.put(ids), out=poison(dev, (5, 4), np.float32)))
    np.testing.assert_array_equal(out, np.stack([w[0], 0 * w[0], 0 * w[0], w[5], 0 * w[0]]))
    raises_device_error("embedding")
    dw = dev.get(E.embedding_backward(dev.put(np.ones((5, 4), np.float32)), dev.put(ids), 6))
    np.testing.assert_array_equal(dw.sum(1), [4, 0, 0, 0, 0, 4])


def test_config_and_errors(dev):
    cfg = config_for("embedding", dict(V=1823, D=13, n_ids=231, dtype="float32"))
    assert cfg["BLOCK_D"] == 16 and cfg["BLOCK_R"] * cfg["BLOCK_D"] <= 4096
    w = dev.put(np.zeros((6, 4), np.float32))
    with pytest.raises(TypeError, match="ids: dtype float32"):
        E.embedding(w, dev.put(np.zeros(3, np.float32)))
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        E.embedding(dev.put(np.zeros(6, np.float32)), dev.put(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match="grad shape"):
        E.embedding_backward(dev.put(np.zeros((3, 4), np.float32)), dev.put(np.zeros(2, np.int64)), 6)
    with pytest.raises(ValueError, match="padding_idx 6"):
        E.embedding_backward(dev.put(np.zeros((2, 4), np.float32)), dev.put(np.zeros(2, np.int64)), 6, padding_idx=6)
    with pytest.raises(TypeError, match="out: dtype float16"):
        E.embedding_backward(dev.put(np.zeros((2, 4), np.float32)), dev.put(np.zeros(2, np.int64)), 6,
                             out=dev.put(np.zeros((6, 4), np.float16)))


def test_make_problem_runs(dev):
    from blaze.kernels.registry import tunables
    t = tunables()["embedding"]
    run = t.make_problem(dict(V=50, D=24, n_ids=33, dtype="float32"),
                         lambda shape, dt: dev.put(np.zeros(shape, dt)))
    run(t.configs[0])
    run(t.heuristic(dict(V=50, D=24, n_ids=33)))
