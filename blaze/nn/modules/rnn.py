"""Recurrent layers: RNN, LSTM, GRU and their cells, with PyTorch's parameters, gate order and init.

Speed: the input projection of all time steps is one GEMM (x @ W_ih^T for (T*B, I)), and the
recurrence of one layer and direction is ONE autograd Function whose forward and hand-written
backward (BPTT) loop over time inside the backend (``lstm_forward`` / ``lstm_backward`` etc.):
per step one (B, H) x (H, G) GEMM plus fused gate math, and W_hh's gradient is a single
(G, T*B) x (T*B, H) GEMM after the loop instead of T small ones. No autograd node per step.
"""
from __future__ import annotations

import math

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...ops._util import make
from ...ops.creation import empty, zeros
from ...ops.movement import cat, stack
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _no_double_backward(name, *ts):
    if is_grad_enabled() and any(t is not None and t.requires_grad for t in ts):
        raise RuntimeError(f"double backward through the fused {name} recurrence is not supported")


class _LSTMSeq(Function):
    """(hs (T, B, H), h_n, c_n) of an LSTM layer from gx = x W_ih^T + b_ih + b_hh (T, B, 4H)."""
    _internal = True

    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh):
        be, dev, dt = gx._device.backend, gx._device, gx._dtype
        hs, cs, gates = be.lstm_forward(gx._data, h0._data, c0._data, w_hh._data)
        ctx.save_for_backward(h0, c0, w_hh)
        ctx.arrays = (gates, hs, cs)
        return make(hs, dev, dt), make(be.copy(hs[-1]), dev, dt), make(be.copy(cs[-1]), dev, dt)

    @staticmethod
    def backward(ctx, dhs, dh_n, dc_n):
        h0, c0, w_hh = ctx.saved_tensors
        _no_double_backward("LSTM", dhs, dh_n, dc_n, w_hh)
        gates, hs, cs = ctx.arrays
        dgx, dh0, dc0, dw = h0._device.backend.lstm_backward(dhs._data, dh_n._data, dc_n._data, gates, hs, cs,
                                                             h0._data, c0._data, w_hh._data)
        dev, dt = h0._device, h0._dtype
        return make(dgx, dev, dt), make(dh0, dev, dt), make(dc0, dev, dt), make(dw, dev, dt)


class _GRUSeq(Function):
    """(hs (T, B, H), h_n) of a GRU layer from gx = x W_ih^T + b_ih (T, B, 3H); b_hh stays inside r * (.)."""
    _internal = True

    @staticmethod
    def forward(ctx, gx, h0, w_hh, b_hh):
        be, dev, dt = gx._device.backend, gx._device, gx._dtype
        hs, gates, hn = be.gru_forward(gx._data, h0._data, w_hh._data, None if b_hh is None else b_hh._data)
        ctx.save_for_backward(h0, w_hh)
        ctx.arrays = (gates, hn, hs)
        return make(hs, dev, dt), make(be.copy(hs[-1]), dev, dt)

    @staticmethod
    def backward(ctx, dhs, dh_n):
        h0, w_hh = ctx.saved_tensors
        _no_double_backward("GRU", dhs, dh_n, w_hh)
        gates, hn, hs = ctx.arrays
        dgx, dh0, dw, db = h0._device.backend.gru_backward(dhs._data, dh_n._data, gates, hn, hs, h0._data,
                                                           w_hh._data)
        dev, dt = h0._device, h0._dtype
        return make(dgx, dev, dt), make(dh0, dev, dt), make(dw, dev, dt), make(db, dev, dt)


class _RNNSeq(Function):
    """(hs (T, B, H), h_n) of an Elman layer from gx = x W_ih^T + b_ih + b_hh; act tanh | relu."""
    _internal = True

    @staticmethod
    def forward(ctx, gx, h0, w_hh, nonlinearity):
        be, dev, dt = gx._device.backend, gx._device, gx._dtype
        hs = be.rnn_forward(gx._data, h0._data, w_hh._data, nonlinearity)
        ctx.save_for_backward(h0, w_hh)
        ctx.arrays, ctx.nonlinearity = hs, nonlinearity
        return make(hs, dev, dt), make(be.copy(hs[-1]), dev, dt)

    @staticmethod
    def backward(ctx, dhs, dh_n):
        h0, w_hh = ctx.saved_tensors
        _no_double_backward("RNN", dhs, dh_n, w_hh)
        dgx, dh0, dw = h0._device.backend.rnn_backward(dhs._data, dh_n._data, ctx.arrays, h0._data, w_hh._data,
                                                       ctx.nonlinearity)
        dev, dt = h0._device, h0._dtype
        return make(dgx, dev, dt), make(dh0, dev, dt), make(dw, dev, dt), None


def _run_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    b = None if b_ih is None else b_ih + b_hh
    hs, h, c = _LSTMSeq.apply(F.linear(x, w_ih, b), h0, c0, w_hh)       # (T, B, 4H) gates in one GEMM
    return hs, (h, c)


def _run_gru(x, h0, w_ih, w_hh, b_ih, b_hh):
    hs, h = _GRUSeq.apply(F.linear(x, w_ih, b_ih), h0, w_hh, b_hh)
    return hs, (h,)


def _run_rnn(nonlinearity):
    def run(x, h0, w_ih, w_hh, b_ih, b_hh):
        b = None if b_ih is None else b_ih + b_hh
        hs, h = _RNNSeq.apply(F.linear(x, w_ih, b), h0, w_hh, nonlinearity)
        return hs, (h,)
    return run


def _packed_direction(run, x, segs, init, weights, reverse):
    """One layer and direction over packed rows ``x`` (N, I); segs = (row0, row1, steps, batch) with
    batch decreasing. Returns (out (N, H), final states (B, H) per state)."""
    order = segs[::-1] if reverse else segs
    outs, ended, cur = [None] * len(segs), [[] for _ in init], None
    for j, (r0, r1, steps, n) in enumerate(order):
        xs = x[r0:r1].reshape(steps, n, x.shape[-1])        # (steps, n, I)
        if cur is None:
            h0 = [s[:n] for s in init]
        elif reverse:                                        # shorter sequences join at their last step
            h0 = [c if c.shape[0] == n else cat([c, s[c.shape[0]:n]]) for c, s in zip(cur, init)]
        else:
            h0 = [c[:n] for c in cur]
        hs, cur = run(xs.flip(0) if reverse else xs, *h0, *weights)
        hs = hs.flip(0) if reverse else hs
        outs[len(segs) - 1 - j if reverse else j] = hs.reshape(steps * n, hs.shape[-1])
        if not reverse:                                      # rows past the next stretch's batch end here
            n_next = order[j + 1][3] if j + 1 < len(order) else 0
            for i, c in enumerate(cur):
                ended[i].append(c[n_next:])
    finals = cur if reverse else [cat(p[::-1]) if len(p) > 1 else p[0] for p in ended]
    return cat(outs) if len(outs) > 1 else outs[0], list(finals)


# mode -> number of gates (gate_size = gates * hidden_size), number of states (h or h, c)
_MODES = {"LSTM": (4, 2), "GRU": (3, 1), "RNN_TANH": (1, 1), "RNN_RELU": (1, 1)}


class RNNBase(Module):
    """Shared parameters and the layer/direction loop of RNN, LSTM and GRU (PyTorch's RNNBase).

    Parameters per layer k and direction: weight_ih_l{k}[_reverse] (G*H, in), weight_hh_l{k}[_reverse]
    (G*H, H), bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse], all ~ U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError("hidden_size and num_layers must be greater than zero")
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gates = _MODES[mode][0] * hidden_size
        kw = dict(device=device, dtype=dtype)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for suffix in ("", "_reverse")[:2 if bidirectional else 1]:
                in_size = input_size if layer == 0 else hidden_size * (2 if bidirectional else 1)
                names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
                setattr(self, names[0], Parameter(empty(gates, in_size, **kw)))
                setattr(self, names[1], Parameter(empty(gates, hidden_size, **kw)))
                if bias:
                    names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
                    setattr(self, names[2], Parameter(empty(gates, **kw)))
                    setattr(self, names[3], Parameter(empty(gates, **kw)))
                self._flat_weights_names += names
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op: kept for PyTorch compatibility (cuDNN weight packing has no meaning here)."""

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in self._flat_weights_names[i:i + (4 if self.bias else 2)]]
                for i in range(0, len(self._flat_weights_names), 4 if self.bias else 2)]

    def _runner(self):
        return {"LSTM": _run_lstm, "GRU": _run_gru, "RNN_TANH": _run_rnn("tanh"),
                "RNN_RELU": _run_rnn("relu")}[self.mode]

    def _initial_states(self, hx, B, x, unbatched=False):
        n_states, D = _MODES[self.mode][1], 2 if self.bidirectional else 1
        if hx is None:
            return [zeros(self.num_layers * D, B, self.hidden_size, dtype=x.dtype, device=x.device)] * n_states
        states = list(hx) if n_states == 2 else [hx]
        if len(states) != n_states:
            raise RuntimeError(f"{type(self).__name__}: expected {n_states} initial states")
        states = [s.unsqueeze(1) if unbatched else s for s in states]
        for s in states:
            if tuple(s.shape) != (self.num_layers * D, B, self.hidden_size):
                raise RuntimeError(f"Expected hidden size {(self.num_layers * D, B, self.hidden_size)}, got "
                                   f"{list(s.shape)}")
        return states

    def _layer_weights(self, k):
        per = 4 if self.bias else 2
        w = [getattr(self, n) for n in self._flat_weights_names[k * per:(k + 1) * per]]
        return (w + [None, None])[:4]

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        n_states = _MODES[self.mode][1]
        unbatched = input.ndim == 2
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{input.shape[-1]}")
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)  # (T, B, I)
        D = 2 if self.bidirectional else 1
        states = self._initial_states(hx, x.shape[1], x, unbatched)
        run = self._runner()
        finals = [[] for _ in range(n_states)]
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                w_ih, w_hh, b_ih, b_hh = self._layer_weights(k)
                xin = x if d == 0 else x.flip(0)            # the reverse direction reads time backwards
                hs, last = run(xin, *[s[k] for s in states], w_ih, w_hh, b_ih, b_hh)
                outs.append(hs if d == 0 else hs.flip(0))
                for i, s in enumerate(last):
                    finals[i].append(s)
            x = outs[0] if D == 1 else cat(outs, dim=2)     # (T, B, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        out = x.squeeze(1) if unbatched else (x.transpose(0, 1) if self.batch_first else x)
        hn = [stack(f, dim=0) for f in finals]              # (L*D, B, H)
        if unbatched:
            hn = [h.squeeze(1) for h in hn]
        return out, (tuple(hn) if n_states == 2 else hn[0])

    def _forward_packed(self, packed, hx):
        """Each constant-batch-size stretch of time is one fused run over its active (longest) rows,
        chained through the state: T steps in all, as unpacked, and no padding enters the recurrence."""
        data, bs_t, sorted_idx, unsorted_idx = packed
        if data.ndim != 2 or data.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{data.shape[-1]}")
        bs = bs_t.cpu().numpy().astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(bs)])
        cuts = [0, *(np.flatnonzero(np.diff(bs)) + 1).tolist(), len(bs)]
        segs = [(int(offsets[a]), int(offsets[b]), b - a, int(bs[a])) for a, b in zip(cuts[:-1], cuts[1:])]
        states = self._initial_states(hx, int(bs[0]), data)
        if hx is not None and sorted_idx is not None:
            states = [s.index_select(1, sorted_idx) for s in states]    # hx comes in the caller's batch order
        D, run, x = 2 if self.bidirectional else 1, self._runner(), data
        finals = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                out, last = _packed_direction(run, x, segs, [s[k] for s in states], self._layer_weights(k), d == 1)
                outs.append(out)
                for i, s in enumerate(last):
                    finals[i].append(s)
            x = outs[0] if D == 1 else cat(outs, dim=1)     # (N, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        hn = [stack(f, dim=0) for f in finals]              # (L*D, B, H), sorted batch order
        if unsorted_idx is not None:
            hn = [h.index_select(1, unsorted_idx) for h in hn]
        return PackedSequence(x, bs_t, sorted_idx, unsorted_idx), (tuple(hn) if len(hn) == 2 else hn[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _rnn_args(args, kwargs, names):
    """PyTorch's RNN classes take their options positionally too: map them to keywords."""
    if len(args) > len(names):
        raise TypeError(f"expected at most {len(names)} positional arguments, got {len(args)}")
    for n, v in zip(names, args):
        if n in kwargs:
            raise TypeError(f"got multiple values for argument '{n}'")
        kwargs[n] = v
    return kwargs


class RNN(RNNBase):
    """Elman RNN, h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act 'tanh' | 'relu', as ``torch.nn.RNN``.

    forward(input (T, B, I) | (B, T, I) batch_first | (T, I), h0 (L*D, B, H) = zeros)
    -> (output (T, B, D*H), h_n (L*D, B, H)).
    """

    def __init__(self, *args, **kwargs):
        kw = _rnn_args(args, kwargs, ["input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
                                      "batch_first", "dropout", "bidirectional"])
        nl = kw.pop("nonlinearity", "tanh")
        if nl not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nl}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nl
        super().__init__("RNN_TANH" if nl == "tanh" else "RNN_RELU", **kw)


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order i, f, g, o (rows of weight_ih/weight_hh in that order).

    c' = f*c + i*g, h' = o*tanh(c'). forward(input, (h0, c0)=zeros) -> (output, (h_n, c_n)).

    Example::

        lstm = nn.LSTM(32, 64, num_layers=2, batch_first=True)
        out, (h, c) = lstm(x)          # x (B, T, 32) -> out (B, T, 64), h, c (2, B, 64)
    """

    def __init__(self, *args, **kwargs):
        kw = _rnn_args(args, kwargs, ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                                      "bidirectional", "proj_size"])
        super().__init__("LSTM", **kw)


class GRU(RNNBase):
    """GRU with PyTorch's gate order r, z, n: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
    h' = (1 - z) * n + z * h. forward(input, h0=zeros) -> (output, h_n)."""

    def __init__(self, *args, **kwargs):
        kw = _rnn_args(args, kwargs, ["input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                                      "bidirectional"])
        super().__init__("GRU", **kw)


class RNNCellBase(Module):
    """One time step; parameters weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh."""

    _gates = 1

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G = self._gates * hidden_size
        kw = dict(device=device, dtype=dtype)
        self.weight_ih = Parameter(empty(G, input_size, **kw))
        self.weight_hh = Parameter(empty(G, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(empty(G, **kw))
            self.bias_hh = Parameter(empty(G, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _prep(self, input, hx):
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        unbatched = input.ndim == 1
        x = input.unsqueeze(0) if unbatched else input
        if hx is None:
            hx = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        elif unbatched:
            hx = hx.unsqueeze(0)
        return x.unsqueeze(0), hx, unbatched       # x (1, B, I): a one-step sequence

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); forward(input (B, I), hx (B, H)=zeros) -> h'."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input, hx=None):
        x, h, unbatched = self._prep(input, hx)
        _, (h,) = _run_rnn(self.nonlinearity)(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h


class LSTMCell(RNNCellBase):
    """One LSTM step; forward(input (B, I), (h, c)=zeros) -> (h', c')."""

    _gates = 4

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        x, h, unbatched = self._prep(input, h0)
        c = zeros(*h.shape, dtype=h.dtype, device=h.device) if c0 is None else (c0.unsqueeze(0) if unbatched
                                                                                  else c0)
        _, (h, c) = _run_lstm(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(RNNCellBase):
    """One GRU step; forward(input (B, I), hx (B, H)=zeros) -> h'."""

    _gates = 3

    def forward(self, input, hx=None):
        x, h, unbatched = self._prep(input, hx)
        _, (h,) = _run_gru(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.squeeze(0) if unbatched else h
