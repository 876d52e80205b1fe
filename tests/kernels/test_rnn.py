"""blaze.kernels.rnn (one time step of LSTM / GRU / RNN, forward and backward) vs float64 NumPy
transcriptions of PyTorch's equations, every dtype, odd sizes, NaN-poisoned outputs."""
import numpy as np
import pytest

from blaze.kernels import rnn as R
from blaze.kernels.registry import tunables
from tests.kernels.helpers import BF16, RTOL, rel_err
from tests.kernels.test_index import strided

DTYPES = [np.float32, np.float16, BF16]
SIZES = [(5, 37), (13, 77)]     # (B, H): odd, one tile-straddling


def sig(x):
    return 1 / (1 + np.exp(-x))


# -- float64 references of one step ----------------------------------------------------------
def ref_lstm(pre, cp):
    i, f, g, o = np.split(pre, 4, axis=1)
    i, f, g, o = sig(i), sig(f), np.tanh(g), sig(o)
    c = f * cp + i * g
    return np.concatenate([i, f, g, o], 1), c, o * np.tanh(c)


def ref_lstm_bwd(dh, dc, gates, c, cp):
    i, f, g, o = np.split(gates, 4, axis=1)
    tc = np.tanh(c)
    dc = dc + dh * o * (1 - tc ** 2)
    dpre = np.concatenate([dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], 1)
    return dpre, dc * f


def ref_gru(gx, a, hp):
    H = hp.shape[1]
    r = sig(gx[:, :H] + a[:, :H])
    z = sig(gx[:, H:2 * H] + a[:, H:2 * H])
    hn = a[:, 2 * H:]
    n = np.tanh(gx[:, 2 * H:] + r * hn)
    return np.concatenate([r, z, n], 1), hn, (1 - z) * n + z * hp


def ref_gru_bwd(dh, gates, hn, hp):
    r, z, n = np.split(gates, 3, axis=1)
    dn = dh * (1 - z) * (1 - n * n)
    dz = dh * (hp - n) * z * (1 - z)
    dr = dn * hn * r * (1 - r)
    return np.concatenate([dr, dz, dn], 1), np.concatenate([dr, dz, dn * r], 1), dh * z


def rnd(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def f64(*xs):
    return [x.astype(np.float64) for x in xs]


def check(out, ref, dtype):
    assert rel_err(out, ref) < RTOL[str(np.dtype(dtype))] * 2, rel_err(out, ref)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("B,H", SIZES)
def test_lstm_step(dev, dtype, B, H):
    rng = np.random.default_rng(0)
    pre, cp = rnd(rng, (B, 4 * H), dtype, 2.0), rnd(rng, (B, H), dtype)
    outs = dev.poisoned((B, 4 * H), dtype), dev.poisoned((B, H), dtype), dev.poisoned((B, H), dtype)
    g, c, h = R.lstm_step(dev.put(pre), dev.put(cp), *outs)
    assert g is outs[0] and c is outs[1] and h is outs[2]
    for out, ref in zip((g, c, h), ref_lstm(*f64(pre, cp))):
        check(dev.get(out), ref, dtype)
    # backward from the stored (rounded) gates and c, with the output's own gradient added
    gates, cc = dev.get(g), dev.get(c)
    dh, dhx, dc = rnd(rng, (B, H), dtype), rnd(rng, (B, H), dtype), rnd(rng, (B, H), dtype)
    dpre, dcp = R.lstm_step_backward(dev.put(dh), dev.put(dc), g, c, dev.put(cp), dh_extra=dev.put(dhx),
                                     dgates_out=dev.poisoned((B, 4 * H), dtype), dc_out=dev.poisoned((B, H), dtype))
    rdh = dh.astype(np.float64) + dhx.astype(np.float64)
    for out, ref in zip((dpre, dcp), ref_lstm_bwd(rdh, *f64(dc, gates, cc, cp))):
        check(dev.get(out), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("B,H", SIZES)
def test_gru_step(dev, dtype, B, H):
    rng = np.random.default_rng(1)
    gx, a, hp = rnd(rng, (B, 3 * H), dtype, 2.0), rnd(rng, (B, 3 * H), dtype), rnd(rng, (B, H), dtype)
    outs = dev.poisoned((B, 3 * H), dtype), dev.poisoned((B, H), dtype), dev.poisoned((B, H), dtype)
    g, hn, h = R.gru_step(dev.put(gx), dev.put(a), dev.put(hp), *outs)
    for out, ref in zip((g, hn, h), ref_gru(*f64(gx, a, hp))):
        check(dev.get(out), ref, dtype)
    gates, hnn = dev.get(g), dev.get(hn)
    dh, dhx = rnd(rng, (B, H), dtype), rnd(rng, (B, H), dtype)
    res = R.gru_step_backward(dev.put(dh), g, hn, dev.put(hp), dh_extra=dev.put(dhx),
                              dgx_out=dev.poisoned((B, 3 * H), dtype), da_out=dev.poisoned((B, 3 * H), dtype),
                              dhz_out=dev.poisoned((B, H), dtype))
    rdh = dh.astype(np.float64) + dhx.astype(np.float64)
    for out, ref in zip(res, ref_gru_bwd(rdh, *f64(gates, hnn, hp))):
        check(dev.get(out), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_rnn_step(dev, dtype, act):
    rng = np.random.default_rng(2)
    B, H = SIZES[1]
    pre = rnd(rng, (B, H), dtype, 2.0)
    h = R.rnn_step(dev.put(pre), act, out=dev.poisoned((B, H), dtype))
    p64 = pre.astype(np.float64)
    ref = np.tanh(p64) if act == "tanh" else np.maximum(p64, 0)
    check(dev.get(h), ref, dtype)
    hh = dev.get(h).astype(np.float64)
    dh, dhx = rnd(rng, (B, H), dtype), rnd(rng, (B, H), dtype)
    da = R.rnn_step_backward(dev.put(dh), h, act, dh_extra=dev.put(dhx), out=dev.poisoned((B, H), dtype))
    d = dh.astype(np.float64) + dhx.astype(np.float64)
    check(dev.get(da), d * (1 - hh * hh) if act == "tanh" else d * (hh > 0), dtype)
    # without dh_extra
    da = R.rnn_step_backward(dev.put(dh), h, act)
    check(dev.get(da), dh.astype(np.float64) * (1 - hh * hh) if act == "tanh" else dh * (hh > 0), dtype)


def test_in_place_and_strided(dev):
    """gates over pre, dc_prev over dc, dh*z over dh (what the device loop does), and views
    with a column stride (a transposed matrix) as inputs."""
    rng = np.random.default_rng(3)
    B, H = 6, 19
    pre, cp = rnd(rng, (B, 4 * H), np.float32), rnd(rng, (B, H), np.float32)
    pb = dev.put(pre)
    cpv = strided(dev, np.ascontiguousarray(cp.T), lambda a: a.T)      # (B, H) view, strides (1, B)
    g, c, h = R.lstm_step(pb, cpv, gates_out=pb)
    assert g is pb
    for out, ref in zip((g, c, h), ref_lstm(*f64(pre, cp))):
        assert rel_err(dev.get(out), ref) < 1e-5
    dh, dc = rnd(rng, (B, H), np.float32), rnd(rng, (B, H), np.float32)
    dcb = dev.put(dc)
    gates, cc = dev.get(g), dev.get(c)
    _, dcp = R.lstm_step_backward(dev.put(dh), dcb, g, c, cpv, dc_out=dcb)
    assert dcp is dcb
    assert rel_err(dev.get(dcp), ref_lstm_bwd(*f64(dh, dc, gates, cc, cp))[1]) < 1e-5
    gx, a, hp = rnd(rng, (B, 3 * H), np.float32), rnd(rng, (B, 3 * H), np.float32), rnd(rng, (B, H), np.float32)
    ab = dev.put(a)
    g, hn, _ = R.gru_step(dev.put(gx), ab, dev.put(hp), gates_out=ab)
    assert rel_err(dev.get(g), ref_gru(*f64(gx, a, hp))[0]) < 1e-5
    dhb = dev.put(dh)
    _, _, dhz = R.gru_step_backward(dhb, g, hn, dev.put(hp), dhz_out=dhb)
    assert dhz is dhb and rel_err(dev.get(dhb), dh * dev.get(g)[:, H:2 * H]) < 1e-6


def test_make_problem_runs(dev):
    t = tunables()["rnn"]
    run = t.make_problem(dict(B=3, H=20, dtype="float32"), lambda shape, dt: dev.put(np.zeros(shape, dt)))
    run(t.configs[0])


def test_errors(dev):
    z = lambda *s, dt=np.float32: dev.put(np.zeros(s, dt))  # noqa: E731
    with pytest.raises(ValueError, match=r"pre: expected \(B, 4\*H\)"):
        R.lstm_step(z(2, 10), z(2, 2))
    with pytest.raises(ValueError, match=r"c_prev: expected shape \(2, 3\)"):
        R.lstm_step(z(2, 12), z(2, 4))
    with pytest.raises(TypeError, match="c_prev: dtype float16 differs"):
        R.lstm_step(z(2, 12), z(2, 3, dt=np.float16))
    with pytest.raises(ValueError, match=r"h_out: expected shape \(2, 3\)"):
        R.lstm_step(z(2, 12), z(2, 3), h_out=z(3, 3))
    with pytest.raises(TypeError, match="pre: dtype int32 is not supported"):
        R.lstm_step(z(2, 12, dt=np.int32), z(2, 3))
    with pytest.raises(ValueError, match=r"a: expected shape \(2, 9\)"):
        R.gru_step(z(2, 9), z(2, 6), z(2, 3))
    with pytest.raises(ValueError, match=r"dh_extra: expected shape"):
        R.gru_step_backward(z(2, 3), z(2, 9), z(2, 3), z(2, 3), dh_extra=z(2, 4))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        R.rnn_step(z(2, 3), "gelu")
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        R.rnn_step_backward(z(2, 3), z(2, 3, 1))
