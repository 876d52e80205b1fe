"""Recurrent layers and the RMSprop / Adagrad steps on cuda: same numbers as cpu, no host round trip."""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze import nn

RNN_CASES = {
    "lstm": lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True),
    "gru": lambda: nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True),
    "rnn_tanh": lambda: nn.RNN(4, 5, num_layers=2, bidirectional=True, batch_first=True),
    "rnn_relu": lambda: nn.RNN(4, 5, num_layers=2, bidirectional=True, batch_first=True, nonlinearity="relu",
                               bias=False),
}


def _rnn_run(factory, dev):
    rng = np.random.default_rng(0)
    blaze.manual_seed(0)
    m = factory().to(dev)
    x = blaze.tensor(rng.standard_normal((3, 6, 4)).astype(np.float32)).to(dev).requires_grad_()  # (B, T, I)
    states = [blaze.tensor(rng.standard_normal((4, 3, 5)).astype(np.float32)).to(dev).requires_grad_()
              for _ in range(2 if isinstance(m, nn.LSTM) else 1)]
    out, hn = m(x, tuple(states) if isinstance(m, nn.LSTM) else states[0])
    hn = hn if isinstance(hn, tuple) else (hn,)
    w = blaze.tensor(rng.standard_normal(tuple(out.shape)).astype(np.float32)).to(dev)
    loss = (out * w).sum() + sum((h * h).sum() for h in hn)          # every output gets a gradient
    loss.backward()
    res = {"out": out, "x.grad": x.grad, **{f"h{i}": h for i, h in enumerate(hn)},
           **{f"state{i}.grad": s.grad for i, s in enumerate(states)},
           **{n: p.grad for n, p in m.named_parameters()}}
    return {k: v.detach().cpu().numpy() for k, v in res.items()}


@pytest.mark.parametrize("name", list(RNN_CASES))
def test_recurrent_layers_match_cpu_on_device(name, device, fallbacks):
    ref = _rnn_run(RNN_CASES[name], "cpu")
    got = _rnn_run(RNN_CASES[name], device)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-4, err_msg=k)


class LSTMLM(nn.Module):
    def __init__(self, vocab=13, dim=8, hidden=12):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, targets):
        h, _ = self.lstm(self.emb(idx))
        logits = self.head(h)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _train_lm(dev, steps=2):
    blaze.manual_seed(0)
    model = LSTMLM().to(dev)
    opt = blaze.optim.Adam(model.parameters(), lr=1e-2)
    idx = np.random.default_rng(1).integers(0, 13, (2, 7))
    x, y = blaze.tensor(idx).to(dev), blaze.tensor(np.roll(idx, -1, 1)).to(dev)
    losses = []
    for _ in range(steps):
        loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def test_lstm_lm_training_step_stays_on_device(device, fallbacks):
    l_cpu, s_cpu = _train_lm("cpu")
    l_gpu, s_gpu = _train_lm(device)
    assert sum(fallbacks.values()) == 0, f"host round trips on cuda: {dict(fallbacks)}"
    np.testing.assert_allclose(l_gpu, l_cpu, rtol=1e-4, atol=1e-5)
    for k in s_cpu:
        np.testing.assert_allclose(s_gpu[k], s_cpu[k], rtol=1e-4, atol=2e-5, err_msg=k)


OPTIMS = {
    "rmsprop": lambda ps: blaze.optim.RMSprop(ps, lr=1e-2),
    "rmsprop_centered_momentum": lambda ps: blaze.optim.RMSprop(ps, lr=1e-2, alpha=0.9, momentum=0.8, centered=True,
                                                                weight_decay=1e-2),
    "rmsprop_maximize": lambda ps: blaze.optim.RMSprop(ps, lr=1e-3, momentum=0.5, maximize=True),
    "adagrad": lambda ps: blaze.optim.Adagrad(ps, lr=1e-1),
    "adagrad_decay": lambda ps: blaze.optim.Adagrad(ps, lr=1e-1, lr_decay=0.1, weight_decay=1e-2,
                                                    initial_accumulator_value=0.3, maximize=True),
}


def _optimize(make, dev, dtype=np.float32, steps=3):
    rng = np.random.default_rng(3)
    w = blaze.tensor(rng.standard_normal((7, 5)).astype(dtype)).to(dev).requires_grad_()
    b = blaze.tensor(rng.standard_normal(5).astype(dtype)).to(dev).requires_grad_()
    x = blaze.tensor(rng.standard_normal((4, 7)).astype(dtype)).to(dev)
    opt = make([w, b])
    for _ in range(steps):
        opt.zero_grad()
        ((x @ w + b) ** 2).sum().backward()
        opt.step()
    state = {f"{i}.{k}": v.detach().cpu().numpy() for i, st in opt.state_dict()["state"].items()
             for k, v in st.items() if k != "step"}
    return {"w": w.detach().cpu().numpy(), "b": b.detach().cpu().numpy(), **state}


@pytest.mark.parametrize("name", list(OPTIMS))
def test_rmsprop_adagrad_steps_match_cpu_on_device(name, device, fallbacks):
    ref = _optimize(OPTIMS[name], "cpu")
    got = _optimize(OPTIMS[name], device)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


HALF_OPTIMS = {
    **OPTIMS,
    "sgd_nesterov": lambda ps: blaze.optim.SGD(ps, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adamw_amsgrad": lambda ps: blaze.optim.AdamW(ps, lr=1e-2, amsgrad=True),
}


@pytest.mark.parametrize("name", list(HALF_OPTIMS))
def test_half_params_update_on_device(name, device, fallbacks):
    # float16 parameters, float32 state (README: deliberate difference), updated on the device by
    # the multi-tensor kernels with no host round trip; cpu runs the same rule
    got = _optimize(HALF_OPTIMS[name], device, np.float16, steps=2)
    ref = _optimize(HALF_OPTIMS[name], "cpu", np.float16, steps=2)
    assert sum(fallbacks.values()) == 0, dict(fallbacks)
    for k in ref:
        assert got[k].dtype == ref[k].dtype == (np.float16 if k in ("w", "b") else np.float32), k
        np.testing.assert_allclose(got[k].astype(np.float32), ref[k].astype(np.float32), rtol=2e-3, atol=1e-3,
                                   err_msg=k)
