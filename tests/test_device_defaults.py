"""The optional groups' defaults over the core tier (blaze/devices/defaults/) match the cpu device.

Two levels: every group primitive of a core-only device against the cpu reference on the same
arrays, and whole models (a CNN, a transformer block, recurrent layers, optimizer steps) trained
forward + backward on the core-only device against the same run on cpu.
"""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.device import CPU
from blaze.devices.cpu.backend import NumpyBackend
from blaze.devices.interface import GROUPS

from .test_device_interface import CoreOnly

REF, CORE = NumpyBackend(), CoreOnly()
rng = np.random.default_rng(0)


def _f(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _gen(seed=0):
    g = blaze.Generator()
    g.manual_seed(seed)
    return g


def _ids(n, high):
    return rng.integers(0, high, n).astype(np.int64)


# name -> argument builder; each runs on both devices with identical (copied) arguments
CASES = {
    "var": lambda: (_f(3, 5), (1,), 1, True),
    "sum_to_dtype": lambda: (_f(3, 5, dtype=np.float32), (0,), False, blaze.float64),
    "diagonal": lambda: (_f(4, 3, 5), -1, 0, 2),
    "flip": lambda: (_f(3, 4), (0, 1)),
    "roll": lambda: (_f(3, 4), (1, -5), (0, 1)),
    "tril": lambda: (_f(2, 4, 5), 1),
    "triu": lambda: (_f(4, 5), -1),
    "repeat": lambda: (_f(2, 3), (2, 1, 2)),
    "repeat_interleave": lambda: (_f(3, 2), np.array([1, 0, 3]), 0),
    "pad_mode": lambda: (_f(2, 5, 6), ((0, 0), (2, 1), (1, 3)), "reflect"),
    "topk": lambda: (_f(4, 7), 3, 1, True, True),
    "einsum": lambda: ("bii,bij->bj", _f(2, 3, 3), _f(2, 3, 4)),
    "logsumexp": lambda: (np.array([[-np.inf, -np.inf], [1.0, 2.0]]), 1, False),
    "softmax": lambda: (_f(4, 6, dtype=np.float16), True),
    "softmax_backward": lambda: (_f(4, 6), REF.softmax(_f(4, 6)), False),
    "gelu": lambda: (_f(3, 5),),
    "layer_norm": lambda: (_f(4, 6), _f(6), _f(6), 1e-5),
    "rms_norm": lambda: (_f(4, 6, dtype=np.float32), _f(6, dtype=np.float32), 1e-6),
    "batch_norm": lambda: (_f(3, 4, 5), _f(4), _f(4), 1e-5),
    "cross_entropy": lambda: (_f(5, 4), np.array([0, 3, -100, 2, 1]), -100, 0.1, np.abs(_f(4))),
    "embedding": lambda: (_f(7, 3), _ids(6, 7).reshape(2, 3)),
    "embedding_backward": lambda: (_f(2, 3, 4), np.array([[1, 1, 2], [0, 6, 1]]), 7, 1),
    "conv2d": lambda: (_f(2, 4, 7, 6), _f(6, 2, 3, 2), _f(6), (2, 1), (1, 2), (1, 2), 2),
    "conv2d_backward_input": lambda: (_f(2, 6, 4, 8), _f(6, 2, 3, 2), (2, 4, 7, 6), (2, 1), (1, 2), (1, 2), 2),
    "conv2d_backward_weight": lambda: (_f(2, 6, 4, 8), _f(2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    "conv2d_backward_bias": lambda: (_f(2, 6, 4, 5, dtype=np.float16),),
    "max_pool2d": lambda: (_f(2, 3, 7, 8), (3, 2), (2, 2), (1, 0), (1, 2), True),
    "max_pool2d_backward": lambda: (_f(2, 3, 3, 3), *REF.max_pool2d(_f(2, 3, 6, 6), (3, 3), (2, 2), (1, 1))[1:],
                                    (2, 3, 6, 6), (3, 3), (2, 2), (1, 1)),
    "avg_pool2d": lambda: (_f(2, 3, 7, 8), (3, 2), (2, 2), (1, 1), True, False, None),
    "avg_pool2d_backward": lambda: (_f(2, 3, 4, 5), (2, 3, 7, 8), (3, 2), (2, 2), (1, 1), True, False, None),
    "adaptive_avg_pool2d": lambda: (_f(2, 3, 7, 5), (3, 2)),
    "adaptive_avg_pool2d_backward": lambda: (_f(2, 3, 3, 2), (2, 3, 7, 5)),
    "interpolate2d": lambda: (_f(1, 2, 4, 5), (7, 3), "bilinear", False, None),
    "interpolate2d_backward": lambda: (_f(1, 2, 7, 3), (1, 2, 4, 5), "nearest", False, None),
    "attention": lambda: (_f(2, 2, 5, 4), _f(2, 2, 6, 4), _f(2, 2, 6, 4), False, None,
                          rng.random((5, 6)) > 0.3, np.array([[False] * 5 + [True], [True] * 6])),
    "lstm_forward": lambda: (_f(4, 2, 12), _f(2, 3), _f(2, 3), _f(12, 3)),
    "gru_forward": lambda: (_f(4, 2, 9), _f(2, 3), _f(9, 3), _f(9)),
    "rnn_forward": lambda: (_f(4, 2, 3), _f(2, 3), _f(3, 3), "relu"),
}


def _backward_case(fwd, fwd_args, make_bwd):
    """Arguments of a backward primitive built from the cpu forward's saved results."""
    def build():
        a = fwd_args()
        return make_bwd(a, getattr(REF, fwd)(*a))
    return build


CASES.update({
    "gelu_backward": _backward_case("gelu", CASES["gelu"], lambda a, r: (_f(3, 5), a[0], r[1])),
    "layer_norm_backward": _backward_case("layer_norm", CASES["layer_norm"],
                                          lambda a, r: (_f(4, 6), a[0], a[1], r[1], r[2], True)),
    "rms_norm_backward": _backward_case("rms_norm", CASES["rms_norm"],
                                        lambda a, r: (_f(4, 6, dtype=np.float32), a[0], a[1], r[1], True)),
    "batch_norm_backward": _backward_case("batch_norm", CASES["batch_norm"],
                                          lambda a, r: (_f(3, 4, 5), a[0], a[1], r[1], r[2], 1e-5, True)),
    "cross_entropy_backward": _backward_case("cross_entropy", CASES["cross_entropy"],
                                             lambda a, r: (_f(5), a[0], a[1], r[1], -100, 0.1, a[4])),
    "attention_backward": _backward_case("attention", lambda: (_f(2, 2, 5, 4), _f(2, 2, 6, 4), _f(2, 2, 6, 4), True),
                                         lambda a, r: (_f(2, 2, 5, 4), *a[:3], r[0], r[1], True)),
    "lstm_backward": _backward_case("lstm_forward", CASES["lstm_forward"], lambda a, r: (
        _f(4, 2, 3), _f(2, 3), _f(2, 3), r[2], r[0], r[1], a[1], a[2], a[3])),
    "gru_backward": _backward_case("gru_forward", CASES["gru_forward"], lambda a, r: (
        _f(4, 2, 3), _f(2, 3), r[1], r[2], r[0], a[1], a[2])),
    "rnn_backward": _backward_case("rnn_forward", lambda: (_f(4, 2, 3), _f(2, 3), _f(3, 3), "tanh"), lambda a, r: (
        _f(4, 2, 3), _f(2, 3), r, a[1], a[2], "tanh")),
})


def _rois():
    xy = rng.uniform(-2, 6, (3, 2))
    return np.concatenate([rng.integers(0, 2, (3, 1)), xy, xy + rng.uniform(0.5, 5, (3, 2))], 1)


_ROIS = _rois()
_BOXES = np.concatenate([_ROIS[:, 1:], _ROIS[:, 1:] + 0.5])
CASES.update({  # the vision group: detection primitives (blaze.vision.ops)
    "nms_sorted": lambda: (_BOXES.copy(), 0.3),
    "roi_align": lambda: (_f(2, 3, 6, 7), _ROIS.copy(), (2, 2), 1.0, 2, True),
    "roi_align_backward": lambda: (_f(3, 3, 2, 2), _ROIS.copy(), (2, 3, 6, 7), 0.5, -1, False),
    "roi_pool": lambda: (_f(2, 3, 6, 7), _ROIS.copy(), (2, 2), 1.0),
    "roi_pool_backward": lambda: (_f(3, 3, 2, 2), _ROIS.copy(), REF.roi_pool(_f(2, 3, 6, 7), _ROIS, (2, 2), 1.0)[1],
                                  (2, 3, 6, 7)),
})

_RANDOM = {"dropout", "dropout_backward", "dropout_mask"}          # tested with a generator below
_CREATION = {"arange", "linspace", "eye", "clamp", "stack", "expand_dims", "index_select", "linear"}
_OPTIM = set(GROUPS["optim"])
_FOREACH = set(GROUPS["foreach"])  # the cpu device runs these defaults: tests/optim/test_foreach.py checks them
_FUSED = set(GROUPS["fused"])  # the cpu device runs these defaults: tests/nn/test_linear_act.py checks them


def test_every_group_primitive_is_checked_here():
    declared = {n for names in GROUPS.values() for n in names}
    assert declared - set(CASES) - _RANDOM - _CREATION - _OPTIM - _FUSED - _FOREACH == set()


def _close(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
        return
    if a is None or b is None:
        assert a is b
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    tol = 2e-3 if a.dtype == np.float16 else 1e-5 if a.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(b.astype(np.float64), a.astype(np.float64), rtol=tol, atol=tol)


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("name", sorted(CASES))
def test_group_default_matches_the_cpu_device(name):
    args = CASES[name]()
    _close(getattr(REF, name)(*_copies(args)), getattr(CORE, name)(*_copies(args)))


def test_the_defaults_cover_the_creation_helpers():
    x, w, b = _f(3, 4), _f(5, 4), _f(5)
    _close(REF.linear(x, w, b), CORE.linear(x, w, b))
    _close(REF.stack([x, x], 1), CORE.stack([x, x], 1))
    _close(REF.clamp(x, -0.5, 0.5), CORE.clamp(x, -0.5, 0.5))
    _close(REF.index_select(x, 1, np.array([3, 0, 0])), CORE.index_select(x, 1, np.array([3, 0, 0])))
    for name, args in (("arange", (1, 7, 2, blaze.int64)), ("linspace", (0, 1, 5, blaze.float32)),
                       ("eye", (3, 4, blaze.float64))):
        _close(getattr(REF, name)(*args), getattr(CORE, name)(*args))


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_default_draws_the_cpu_mask(p):
    x = _f(4, 9, dtype=np.float32)
    (y_ref, keep_ref), (y, keep) = REF.dropout(x, p, _gen(3)), CORE.dropout(x, p, _gen(3))
    _close(y_ref, y)
    _close(keep_ref, keep)
    g = _f(4, 9, dtype=np.float32)
    _close(REF.dropout_backward(g, p, keep_ref), CORE.dropout_backward(g, p, keep))
    _close(REF.dropout_mask((3, 5), p, _gen(4)), CORE.dropout_mask((3, 5), p, _gen(4)))


_STEPS = [
    ("sgd_step", 1, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgd_step", 1, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "maximize": True, "first_step": True}),
    ("adam_step", 3, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "decoupled": True}),
    ("adam_step", 2, {"lr": 0.01, "weight_decay": 0.1}),
    ("rmsprop_step", 3, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    ("adagrad_step", 1, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
@pytest.mark.parametrize("name,n_state,kw", _STEPS)
def test_optimizer_step_defaults_match_the_cpu_device(name, n_state, kw, dtype):
    p, g = _f(3, 5, dtype=dtype), _f(3, 5, dtype=dtype)
    state = [np.abs(_f(3, 5, dtype=dtype)) * (0.1 if i else 1.0) for i in range(n_state)]  # centered: sq > avg^2
    if name == "adam_step":  # exp_avg, exp_avg_sq, step, max_exp_avg_sq
        args = [p, g, state[0], state[1], 4, state[2] if n_state > 2 else None]
    else:
        args = [p, g, *state] + ([4] if name == "adagrad_step" else [])
    ref, core = _copies(args), _copies(args)
    getattr(REF, name)(*ref, **kw)
    getattr(CORE, name)(*core, **kw)
    for a, b in zip(ref, core):  # param and every state array updated in place alike
        if isinstance(a, np.ndarray):
            _close(a, b)
    assert not np.array_equal(core[0], p)


# -------------------------------------------------------------------- whole models on a core-only device


def _on_core_only(fn):
    saved = CPU._backend
    object.__setattr__(CPU, "_backend", CoreOnly())
    try:
        return fn()
    finally:
        object.__setattr__(CPU, "_backend", saved)


def _train(build, batch, steps=2, opt=lambda ps: blaze.optim.Adam(ps, lr=1e-2, eps=1e-4, amsgrad=True)):
    """(losses, parameters) after ``steps`` optimizer steps of ``build()`` on ``batch()``.

    Adam's eps is raised from 1e-8 so that a parameter whose gradient is float32 rounding noise
    (~1e-9) is not moved by a full lr on one device and not the other: Adam divides by |g|."""
    blaze.manual_seed(0)
    model = build()
    o = opt(model.parameters())
    x, target = batch()
    losses = []
    for _ in range(steps):
        o.zero_grad()
        loss = model.loss(x, target) if hasattr(model, "loss") else F.cross_entropy(model(x), target)
        loss.backward()
        o.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _same_run(build, batch, **kw):
    from blaze._flags import FALLBACKS
    ref = _train(build, batch, **kw)
    before = FALLBACKS["optimizer_host_update"]
    core = _on_core_only(lambda: _train(build, batch, **kw))
    assert FALLBACKS["optimizer_host_update"] == before   # the optim group's default over the core, no host step
    np.testing.assert_allclose(core[0], ref[0], rtol=1e-5)
    assert len(core[1]) == len(ref[1])
    for a, b in zip(core[1], ref[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert ref[0][-1] != ref[0][0]


class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.GELU(), nn.AvgPool2d(2, ceil_mode=True),
                                  nn.Upsample(scale_factor=2, mode="bilinear"), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Dropout(0.2), nn.Linear(6, 5))

    def forward(self, x):
        return self.body(x)


def test_a_cnn_trains_alike_on_a_core_only_device():
    _same_run(_CNN, lambda: (blaze.randn(4, 3, 12, 12), blaze.tensor([0, 4, 2, 1])))


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 16, padding_idx=0)
        self.layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, dropout=0.1, batch_first=True,
                                                activation="gelu")
        self.norm = nn.RMSNorm(16)
        self.head = nn.Linear(16, 11)

    def loss(self, ids, target):
        mask = nn.Transformer.generate_square_subsequent_mask(ids.shape[1])
        h = self.norm(self.layer(self.emb(ids), src_mask=mask, is_causal=True))
        return F.cross_entropy(self.head(h).reshape(-1, 11), target.reshape(-1), label_smoothing=0.1,
                               ignore_index=0)


def test_a_transformer_block_trains_alike_on_a_core_only_device():
    _same_run(_Block, lambda: (blaze.randint(0, 11, (2, 7)), blaze.randint(0, 11, (2, 7))),
              opt=lambda ps: blaze.optim.AdamW(ps, lr=1e-2, eps=1e-4))


class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 6, num_layers=2, bidirectional=True)
        self.gru = nn.GRU(12, 4)
        self.rnn = nn.RNN(4, 3, nonlinearity="relu")

    def loss(self, x, target):
        y, (h, c) = self.lstm(x)
        y, _ = self.gru(y)
        y, _ = self.rnn(y)
        return F.mse_loss(y, target) + (h * h).mean() + (c * c).mean()


def test_recurrent_layers_train_alike_on_a_core_only_device():
    _same_run(_Recurrent, lambda: (blaze.randn(6, 2, 5), blaze.randn(6, 2, 3)),
              opt=lambda ps: blaze.optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True))


@pytest.mark.parametrize("eq", ["bii,bij->bj", "ii->", "ij,jk->ik", "ijk,ik->j"])
def test_cuda_einsum_is_the_default_composition_without_host_trips(eq):
    from blaze import _flags
    shapes = {"bii,bij->bj": [(2, 3, 3), (2, 3, 4)], "ii->": [(4, 4)], "ij,jk->ik": [(3, 5), (5, 2)],
              "ijk,ik->j": [(2, 3, 4), (2, 4)]}[eq]
    xs = [_f(*s, dtype=np.float32) for s in shapes]
    before = sum(_flags.FALLBACKS.values())
    y = blaze.einsum(eq, *[blaze.tensor(x, device="cuda") for x in xs])
    np.testing.assert_allclose(y.cpu().numpy(), np.einsum(eq, *xs), rtol=1e-5, atol=1e-5)
    assert sum(_flags.FALLBACKS.values()) == before
