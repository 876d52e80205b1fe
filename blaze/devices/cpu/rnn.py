"""CPU recurrent layers (NumPy): LSTM, GRU and Elman RNN, one call per layer and direction.

The forward loops over time with one (B, H) x (H, G) GEMM per step into a preallocated gate
buffer and gate math in place; the hand-written backward (BPTT) keeps the serial loop to one
GEMM and a few elementwise ops per step, and W_hh's gradient is ONE (G, T*B) x (T*B, H) GEMM
after the loop instead of T small ones.
"""
from __future__ import annotations

import numpy as np

from .parallel import chunks, matmul, num_workers, parallel_for

# Rows per worker below which the batch is not split: each piece packs W_hh again per step.
_MIN_ROWS = 8


def _batch_parts(B):
    """(b0, b1) batch slices, one per worker: the recurrence is independent per batch row, so each
    worker runs the whole time loop on its rows, with no synchronisation between steps. LSTM
    forward, H512 B32 T32, 2 cores, medians of 15 alternating runs (2026-12-03): 27.6 ms in two
    pieces, 30.2 ms in one piece on 2 BLAS threads, 53 ms split over hidden units in lockstep with
    a lock barrier per step, a tie (25.4 vs 25.7 ms) with a semaphore pair as the barrier (see
    docs/design.md, "Devices and memory")."""
    return chunks(B, min(num_workers(), max(1, B // _MIN_ROWS)))


def _lstm_steps(gx, wt, neg, h0, c0, hs, cs, gates, b0, b1):
    """The forward time loop over batch rows b0:b1 (see :meth:`NumpyRNNPrimitives.lstm_forward`)."""
    T, B, H4 = gates.shape
    H = H4 // 4
    rows = slice(b0, b1)
    tmp = np.empty((b1 - b0, H), gates.dtype)                     # i * g, then tanh(c): no per-step allocation
    h, c = h0[rows], c0[rows]
    with np.errstate(over="ignore", under="ignore"):              # exp(-x) = inf or 0: sigmoid exactly 0 or 1
        for t in range(T):
            a = gates[t, rows]
            np.matmul(h, wt, out=a)
            a += gx[t, rows]
            a *= neg                                              # -x on i, f, o; -2x on g
            np.exp(a, out=a)
            a += 1
            np.divide(1, a, out=a)                                # sigmoid(x) on i, f, o; sigmoid(2x) on g
            g = a[:, 2 * H:3 * H]
            g *= 2                                                # tanh(x) = 2 sigmoid(2x) - 1
            g -= 1
            c_new = cs[t, rows]
            np.multiply(a[:, H:2 * H], c, out=c_new)
            np.multiply(a[:, :H], g, out=tmp)
            c_new += tmp
            np.tanh(c_new, out=tmp)
            h = hs[t, rows]
            np.multiply(a[:, 3 * H:], tmp, out=h)
            c = c_new


def _lstm_back_factors(gates, cs, c0, fac, dc_dh, t0, t1):
    """Steps t0:t1 of the backward's recurrence-free factors, in place (no temporaries):
    fac[t, :, k] = d gate_pre_k / d(c_t or h_t) per gate, dc_dh[t] = d c_t / d h_t through tanh(c)."""
    H = cs.shape[-1]
    i, f, g, o = (gates[t0:t1, :, k * H:(k + 1) * H] for k in range(4))
    fc = fac[t0:t1]
    f0, f1, f2, f3 = (fc[:, :, k] for k in range(4))
    np.subtract(1, i, out=f0)                                     # g * i * (1 - i)
    f0 *= i
    f0 *= g
    np.subtract(1, f, out=f1)                                     # c_{t-1} * f * (1 - f)
    f1 *= f
    f1[1:] *= cs[t0:t1 - 1]
    f1[:1] *= c0[None] if t0 == 0 else cs[t0 - 1:t0]
    np.multiply(g, g, out=f2)                                     # i * (1 - g^2)
    np.subtract(1, f2, out=f2)
    f2 *= i
    tc = dc_dh[t0:t1]
    np.tanh(cs[t0:t1], out=tc)
    np.subtract(1, o, out=f3)                                     # tanh(c) * o * (1 - o)
    f3 *= o
    f3 *= tc
    np.multiply(tc, tc, out=tc)                                   # o * (1 - tanh(c)^2)
    np.subtract(1, tc, out=tc)
    tc *= o


def _lstm_back_steps(dhs, dh_n, dc_n, gates, fac, dc_dh, w_hh, dgates, dh_out, dc_out, b0, b1):
    """The backward time loop over batch rows b0:b1, one GEMM and four elementwise ops per step;
    writes their dgates, dh0 and dc0."""
    T, B, H4 = gates.shape
    H = H4 // 4
    rows = slice(b0, b1)
    dh, dh_next = dh_n[rows].copy(), np.empty_like(dh_n[rows])    # ping-pong: the GEMM writes the other one
    dc = dc_n[rows].copy()
    tmp = np.empty_like(dc)
    for t in range(T - 1, -1, -1):
        dh += dhs[t, rows]
        np.multiply(dh, dc_dh[t, rows], out=tmp)
        dc += tmp
        d = dgates[t, rows]
        np.multiply(fac[t, rows, :3], dc[:, None, :], out=d[:, :3])
        np.multiply(fac[t, rows, 3], dh, out=d[:, 3])
        dc *= gates[t, rows, H:2 * H]
        np.matmul(d.reshape(b1 - b0, H4), w_hh, out=dh_next)
        dh, dh_next = dh_next, dh
    dh_out[rows] = dh
    dc_out[rows] = dc


def _gru_steps(gx, wt, b_hh, h0, hs, gates, hn, b0, b1):
    """The GRU forward time loop over batch rows b0:b1 (see :meth:`NumpyRNNPrimitives.gru_forward`)."""
    T, B, H3 = gates.shape
    H = H3 // 3
    rows = slice(b0, b1)
    a = np.empty((b1 - b0, H3), gates.dtype)                      # h W_hh^T + b_hh, reused every step
    h = h0[rows]
    for t in range(T):
        np.matmul(h, wt, out=a)
        if b_hh is not None:
            a += b_hh
        gt = gates[t, rows]
        rz = gt[:, :2 * H]                                        # sigmoid in place: 0.5 * (tanh(x / 2) + 1)
        np.add(gx[t, rows, :2 * H], a[:, :2 * H], out=rz)
        rz *= 0.5
        np.tanh(rz, out=rz)
        rz += 1
        rz *= 0.5
        hn_t = hn[t, rows]
        hn_t[...] = a[:, 2 * H:]
        r, z, n = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:]
        np.multiply(r, hn_t, out=n)
        n += gx[t, rows, 2 * H:]
        np.tanh(n, out=n)
        h_t = hs[t, rows]
        np.subtract(h, n, out=h_t)                               # h' = n + z * (h - n)
        h_t *= z
        h_t += n
        h = h_t


def _gru_back_steps(dhs, dh_n, gates, hn, hs, h0, w_hh, dgx, da, dh_out, b0, b1):
    """The GRU backward time loop over batch rows b0:b1; writes their dgx, da and dh0.

    The gate derivatives that do not depend on the recurrence are one (T, rows, 3, H) factor
    computed up front, so a step is two multiplies, a copy, one GEMM and an update of dh, with
    no allocation (the old loop made 10 temporaries a step)."""
    T, B, H3 = gates.shape
    H = H3 // 3
    rows = slice(b0, b1)
    r, z, n = (gates[:, rows, k * H:(k + 1) * H] for k in range(3))
    h_prev = np.concatenate([h0[None, rows], hs[:-1, rows]], axis=0)
    fac = np.empty((T, b1 - b0, 3, H), gates.dtype)               # d gate_pre / d h, per gate
    np.multiply(1 - z, 1 - n * n, out=fac[:, :, 2])               # n
    np.multiply(fac[:, :, 2] * hn[:, rows], r * (1 - r), out=fac[:, :, 0])   # r, through n
    np.multiply((h_prev - n) * z, 1 - z, out=fac[:, :, 1])        # z
    dh = dh_n[rows].copy()
    tmp = np.empty_like(dh)
    for t in range(T - 1, -1, -1):
        dh += dhs[t, rows]
        d = dgx[t, rows]
        np.multiply(fac[t], dh[:, None, :], out=d.reshape(b1 - b0, 3, H))
        a = da[t, rows]
        a[:, :2 * H] = d[:, :2 * H]
        np.multiply(d[:, 2 * H:], r[t], out=a[:, 2 * H:])         # n's pre-activation sees r * (h W_hn + b_hn)
        np.matmul(a, w_hh, out=tmp)
        dh *= z[t]
        dh += tmp
    dh_out[rows] = dh


def _weight_grad(dgates, h0, hs):
    """dW_hh = sum_t dgates[t]^T h_{t-1} of the LSTM, GRU and Elman layers: one GEMM over steps
    1..T-1 (hs[:-1] as is) plus step 0's against h0, instead of concatenating [h0, hs[:-1]]
    (a (T, B, H) copy) for a single GEMM."""
    T, B, G = dgates.shape
    H = hs.shape[-1]
    flat = dgates.reshape(T * B, G)
    dw = matmul(flat[:B].T, h0)                                   # not np.matmul: BLAS threads would spin after
    if T > 1:
        dw += matmul(flat[B:].T, hs[:-1].reshape((T - 1) * B, H))
    return dw


class NumpyRNNPrimitives:
    """Recurrent-layer primitives of the NumPy backend (hand-written BPTT)."""

    def lstm_forward(self, gx, h0, c0, w_hh):
        """Whole-sequence LSTM. gx (T, B, 4H) = x W_ih^T + b_ih + b_hh, gate order i, f, g, o.

        Returns (hs (T, B, H), cs (T, B, H), gates (T, B, 4H) after their nonlinearities).
        """
        T, B, H4 = gx.shape
        H = H4 // 4
        # All four gates from ONE exp over the (rows, 4H) gate buffer: sigmoid(x) = 1 / (1 + exp(-x)) on
        # i, f, o and tanh(x) = 2 sigmoid(2x) - 1 on g. NumPy's float32 exp costs half its tanh (1.3 vs
        # 2.6 ns an element here); the step's forward went 26.4 -> 24.0 ms (H512 B32 T32, 2 workers,
        # minimum of 60 alternating runs) against one tanh with sigmoid = 0.5 tanh(x / 2) + 0.5.
        neg = np.full(H4, -1, gx.dtype)
        neg[2 * H:3 * H] = -2
        wt = w_hh.T                                               # (H, 4H): BLAS reads the transpose as is;
        # a contiguous copy costs a strided 4 MiB transpose (5 ms at H512) for ~2% faster GEMMs
        hs = np.empty((T, B, H), gx.dtype)
        cs = np.empty((T, B, H), gx.dtype)
        gates = np.empty_like(gx)                                 # the step's GEMM writes here directly
        parts = _batch_parts(B)
        parallel_for(lambda j: _lstm_steps(gx, wt, neg, h0, c0, hs, cs, gates, *parts[j]), len(parts))
        return hs, cs, gates

    def lstm_backward(self, dhs, dh_n, dc_n, gates, hs, cs, h0, c0, w_hh):
        """(dgx (T, B, 4H), dh0, dc0, dw_hh (4H, H)) of :meth:`lstm_forward`.

        The factors that do not depend on the recurrence are computed for all steps up front,
        split over the workers by time, then the time loop runs split by batch rows."""
        T, B, H4 = gates.shape
        H = H4 // 4
        fac = np.empty((T, B, 4, H), gates.dtype)
        dc_dh = np.empty((T, B, H), gates.dtype)
        spans = chunks(T, num_workers())
        parallel_for(lambda j: _lstm_back_factors(gates, cs, c0, fac, dc_dh, *spans[j]), len(spans))
        dgates = np.empty((T, B, 4, H), gates.dtype)
        dh, dc = np.empty_like(dh_n), np.empty_like(dc_n)
        parts = _batch_parts(B)
        parallel_for(lambda j: _lstm_back_steps(dhs, dh_n, dc_n, gates, fac, dc_dh, w_hh, dgates, dh, dc,
                                                *parts[j]), len(parts))
        dgates = dgates.reshape(T, B, H4)
        dw = _weight_grad(dgates, h0, hs)
        return dgates, dh, dc, dw

    def gru_forward(self, gx, h0, w_hh, b_hh):
        """Whole-sequence GRU. gx (T, B, 3H) = x W_ih^T + b_ih, gate order r, z, n;
        n = tanh(gx_n + r * (h W_hn^T + b_hn)), h' = (1 - z) * n + z * h.

        Returns (hs (T, B, H), gates (T, B, 3H) = r, z, n, hn (T, B, H) = h W_hn^T + b_hn).
        """
        T, B, H3 = gx.shape
        H = H3 // 3
        hs = np.empty((T, B, H), gx.dtype)
        gates = np.empty_like(gx)
        hn = np.empty((T, B, H), gx.dtype)
        parts = _batch_parts(B)
        parallel_for(lambda j: _gru_steps(gx, w_hh.T, b_hh, h0, hs, gates, hn, *parts[j]), len(parts))
        return hs, gates, hn

    def gru_backward(self, dhs, dh_n, gates, hn, hs, h0, w_hh):
        """(dgx (T, B, 3H), dh0, dw_hh (3H, H), db_hh (3H,)) of :meth:`gru_forward`."""
        T, B, H3 = gates.shape
        H = H3 // 3
        dgx = np.empty_like(gates)
        da = np.empty_like(gates)                            # grad of h W_hh^T + b_hh
        dh = np.empty_like(dh_n)
        parts = _batch_parts(B)
        parallel_for(lambda j: _gru_back_steps(dhs, dh_n, gates, hn, hs, h0, w_hh, dgx, da, dh, *parts[j]),
                     len(parts))
        return dgx, dh, _weight_grad(da, h0, hs), da.sum(axis=(0, 1))

    def rnn_forward(self, gx, h0, w_hh, nonlinearity):
        """Elman RNN: h' = act(gx + h W_hh^T), gx = x W_ih^T + b_ih + b_hh; act tanh or relu."""
        T, B, H = gx.shape
        hs = np.empty_like(gx)
        wt = np.ascontiguousarray(w_hh.T)
        h = h0
        for t in range(T):
            a = h @ wt + gx[t]
            hs[t] = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
            h = hs[t]
        return hs

    def rnn_backward(self, dhs, dh_n, hs, h0, w_hh, nonlinearity):
        """(dgx (T, B, H), dh0, dw_hh) of :meth:`rnn_forward`."""
        T, B, H = hs.shape
        da = np.empty_like(hs)
        dh = dh_n.copy()
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            da[t] = dh * (1 - hs[t] * hs[t]) if nonlinearity == "tanh" else dh * (hs[t] > 0)
            dh = da[t] @ w_hh
        return da, dh, _weight_grad(da, h0, hs)
