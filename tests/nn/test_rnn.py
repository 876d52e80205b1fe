"""RNN / LSTM / GRU (and cells) vs a step-by-step float64 NumPy reference with PyTorch's gate equations;
gradients vs finite differences; parameter names and init as PyTorch's."""
import math

import numpy as np
import pytest

import blaze
import blaze.nn as nn
from tests.nn.test_conv_pool import T, num_grad

RNG = np.random.default_rng(2)


def sig(x):
    return 1 / (1 + np.exp(-x))


def step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One time step, written from PyTorch's documentation of each layer."""
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c
    if mode == "GRU":
        ir, iz, in_ = np.split(gi, 3, axis=-1)
        hr, hz, hn = np.split(gh, 3, axis=-1)
        r, z = sig(ir + hr), sig(iz + hz)
        n = np.tanh(in_ + r * hn)
        return (1 - z) * n + z * h, None
    a = gi + gh
    return (np.tanh(a) if mode == "RNN_TANH" else np.maximum(a, 0)), None


def ref_rnn(m, x, h0=None, c0=None):
    """x (T, B, I) float64; returns (out, h_n, c_n) of module m (dropout off)."""
    L, D, H = m.num_layers, 2 if m.bidirectional else 1, m.hidden_size
    T_, B = x.shape[:2]
    h0 = np.zeros((L * D, B, H)) if h0 is None else h0
    c0 = np.zeros((L * D, B, H)) if c0 is None else c0
    hn, cn = [], []
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            p = [getattr(m, f"{n}_l{layer}{sfx}").detach().numpy() for n in ("weight_ih", "weight_hh")]
            p += [getattr(m, f"{n}_l{layer}{sfx}").detach().numpy() if m.bias else 0.0
                  for n in ("bias_ih", "bias_hh")]
            h, c = h0[layer * D + d], c0[layer * D + d]
            seq = [None] * T_
            for t in (range(T_ - 1, -1, -1) if d else range(T_)):
                h, c = step(m.mode, x[t], h, c, *p)
                seq[t] = h
            outs.append(np.stack(seq))
            hn.append(h)
            cn.append(c)
        x = np.concatenate(outs, axis=-1)
    return x, np.stack(hn), (np.stack(cn) if m.mode == "LSTM" else None)


CASES = [("LSTM", dict(num_layers=2, bidirectional=True)), ("LSTM", dict(batch_first=True, bias=False)),
         ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)), ("GRU", dict()),
         ("RNN", dict(nonlinearity="relu", num_layers=2)), ("RNN", dict(bidirectional=True))]


def make(kind, **kw):
    blaze.manual_seed(0)
    return getattr(nn, kind)(3, 4, dtype=blaze.float64, **kw)


@pytest.mark.parametrize("kind,kw", CASES)
def test_forward_vs_reference(kind, kw):
    m = make(kind, **kw)
    x = RNG.standard_normal((5, 2, 3))
    D = 2 if m.bidirectional else 1
    h0 = RNG.standard_normal((m.num_layers * D, 2, 4))
    c0 = RNG.standard_normal((m.num_layers * D, 2, 4))
    hx = (T(h0, False), T(c0, False)) if kind == "LSTM" else T(h0, False)
    xin = x.transpose(1, 0, 2) if m.batch_first else x
    out, hn = m(T(xin, False), hx)
    ref, rh, rc = ref_rnn(m, x, h0, c0)
    np.testing.assert_allclose(out.detach().numpy(), ref.transpose(1, 0, 2) if m.batch_first else ref, atol=1e-12)
    if kind == "LSTM":
        np.testing.assert_allclose(hn[0].detach().numpy(), rh, atol=1e-12)
        np.testing.assert_allclose(hn[1].detach().numpy(), rc, atol=1e-12)
    else:
        np.testing.assert_allclose(hn.detach().numpy(), rh, atol=1e-12)
    out0, _ = m(T(xin, False))                        # default zero states
    np.testing.assert_allclose(out0.detach().numpy(), (lambda r: r.transpose(1, 0, 2) if m.batch_first else r)(
        ref_rnn(m, x)[0]), atol=1e-12)


def test_lstm_saturated_gates_float32():
    """Pre-activations far past exp's float32 range saturate every gate to exactly 0 or 1 (the cpu
    forward computes sigmoid as 1 / (1 + exp(-x)) and tanh as 2 sigmoid(2x) - 1) with no warning,
    and small ones stay accurate: the float64 reference on both."""
    m = make("LSTM")
    with blaze.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0"):
            getattr(m, name).mul_(60.0)
    x = np.concatenate([RNG.standard_normal((3, 2, 3)) * 40, RNG.standard_normal((3, 2, 3)) * 1e-3])
    with np.errstate(over="ignore"):
        ref, rh, rc = ref_rnn(m, x)
    m.to(blaze.float32)
    with np.errstate(all="raise"):
        out, (h, c) = m(blaze.tensor(x.astype(np.float32)))
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=2e-6)
    np.testing.assert_allclose(c.detach().numpy(), rc, atol=2e-5, rtol=1e-6)
    gates = np.abs(x[:3] @ m.weight_ih_l0.detach().numpy().T)
    assert gates.max() > 200                              # exp(200) overflows float32: the saturated path ran


@pytest.mark.parametrize("kind,kw", [CASES[0], CASES[2], CASES[4]])
def test_gradients_vs_finite_differences(kind, kw):
    m = make(kind, **kw)
    x = RNG.standard_normal((3, 2, 3))
    D = 2 if m.bidirectional else 1
    h0 = RNG.standard_normal((m.num_layers * D, 2, 4))
    wo = RNG.standard_normal((3, 2, 4 * D))
    wh = RNG.standard_normal(h0.shape)

    def loss(xa, ha, grad=False):
        xt, ht = T(xa, grad), T(ha, grad)
        out, hn = m(xt.transpose(0, 1) if m.batch_first else xt, (ht, ht * 0.5) if kind == "LSTM" else ht)
        out = out.transpose(0, 1) if m.batch_first else out
        hh = hn[1] if kind == "LSTM" else hn
        return xt, ht, (out * T(wo, False)).sum() + (hh * T(wh, False)).sum()
    xt, ht, lo = loss(x, h0, True)
    m.zero_grad()
    lo.backward()
    f = lambda xa, ha: float(loss(xa, ha)[2].detach().numpy())     # noqa: E731
    np.testing.assert_allclose(xt.grad.numpy(), num_grad(f, [x.copy(), h0.copy()], 0), atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(ht.grad.numpy(), num_grad(f, [x.copy(), h0.copy()], 1), atol=1e-6, rtol=1e-5)
    for name in ("weight_hh_l0", "weight_ih_l1" if m.num_layers > 1 else "weight_ih_l0",
                 "bias_hh_l0_reverse" if m.bidirectional else "bias_hh_l0"):
        p = getattr(m, name)
        orig = p.detach().numpy().copy()

        def fp(pa):
            p.data = T(pa, False)
            r = float(loss(x, h0)[2].detach().numpy())
            p.data = T(orig, False)
            return r
        np.testing.assert_allclose(p.grad.numpy(), num_grad(fp, [orig.copy()], 0), atol=1e-6, rtol=1e-5,
                                   err_msg=name)


def test_cells_match_one_step():
    blaze.manual_seed(0)
    x, h, c = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))
    for cls, mode in ((nn.LSTMCell, "LSTM"), (nn.GRUCell, "GRU"), (nn.RNNCell, "RNN_TANH")):
        cell = cls(3, 4, dtype=blaze.float64)
        p = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
        rh, rc = step(mode, x, h, c, *[q.detach().numpy() for q in p])
        out = cell(T(x, False), (T(h, False), T(c, False)) if mode == "LSTM" else T(h, False))
        if mode == "LSTM":
            np.testing.assert_allclose(out[0].detach().numpy(), rh, atol=1e-12)
            np.testing.assert_allclose(out[1].detach().numpy(), rc, atol=1e-12)
        else:
            np.testing.assert_allclose(out.detach().numpy(), rh, atol=1e-12)
        assert [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    hu = nn.GRUCell(3, 4)(blaze.randn(3))            # unbatched
    assert tuple(hu.shape) == (4,)


def test_state_dict_names_shapes_and_init():
    lstm = nn.LSTM(10, 20, 2, bidirectional=True)
    expected = []
    for layer in range(2):
        for sfx in ("", "_reverse"):
            expected += [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}", f"bias_ih_l{layer}{sfx}",
                         f"bias_hh_l{layer}{sfx}"]
    assert list(lstm.state_dict()) == expected
    assert tuple(lstm.weight_ih_l0.shape) == (80, 10) and tuple(lstm.weight_ih_l1.shape) == (80, 40)
    assert tuple(lstm.weight_hh_l1_reverse.shape) == (80, 20) and tuple(lstm.bias_hh_l0.shape) == (80,)
    bound = 1 / math.sqrt(20)
    for p in lstm.parameters():
        assert p.abs().max().item() <= bound
    assert max(p.abs().max().item() for p in lstm.parameters()) > 0.9 * bound
    gru = nn.GRU(10, 20, batch_first=True, bias=False)
    assert list(gru.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(gru.weight_hh_l0.shape) == (60, 20)
    assert repr(lstm) == "LSTM(10, 20, num_layers=2, bidirectional=True)"
    rnn = nn.RNN(10, 20, 1, "relu")
    assert rnn.nonlinearity == "relu" and tuple(rnn.weight_ih_l0.shape) == (20, 10)


def test_dropout_between_layers_unbatched_and_errors():
    blaze.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = blaze.randn(6, 2, 3)
    m.eval()
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(m(x)[0].detach().numpy(), a)
    out, (h, c) = m(blaze.randn(6, 3))                 # unbatched (T, I)
    assert tuple(out.shape) == (6, 4) and tuple(h.shape) == (2, 4) and tuple(c.shape) == (2, 4)
    with pytest.raises(RuntimeError, match="input_size"):
        m(blaze.randn(6, 2, 5))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(x, (blaze.zeros(1, 2, 4), blaze.zeros(1, 2, 4)))
    x.requires_grad_()
    with pytest.raises(RuntimeError, match="double backward"):
        blaze.autograd.grad(nn.GRU(3, 4)(x)[0].sum(), (x,), create_graph=True)


def test_lstm_language_model_learns():
    """Embedding-free char-style task: predict the previous input class; loss falls by half."""
    blaze.manual_seed(0)
    lstm, head = nn.LSTM(4, 16, batch_first=True), nn.Linear(16, 4)
    idx = RNG.integers(0, 4, (8, 10))
    x = blaze.tensor(np.eye(4, dtype=np.float32)[idx])
    y = blaze.tensor(np.roll(idx, 1, axis=1)).reshape(-1)
    opt = blaze.optim.Adam(list(lstm.parameters()) + list(head.parameters()), lr=0.05)
    losses = []
    for _ in range(40):
        loss = nn.functional.cross_entropy(head(lstm(x)[0]).reshape(-1, 4), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
