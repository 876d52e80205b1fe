"""Defaults of the ``rnn`` group over the core tier: whole-sequence LSTM, GRU and Elman RNN with BPTT.

One call per layer and direction, as the cpu reference (blaze/devices/cpu/conv.py): the input
projection gx = x W_ih^T + b arrives precomputed for all steps, so each step is one GEMM against
W_hh and a few elementwise ops; the weight gradient is one GEMM over all steps at the end.
"""
from __future__ import annotations

from ._util import dtype_of

_ALL = slice(None)


def _cols(be, a, lo, hi):
    return be.getitem(a, (_ALL, slice(lo, hi)))


def _rows_gemm(be, d, h_prev):
    """sum over steps of d_t^T h_{t-1}: (T, B, G) x (T, B, H) -> (G, H) as one GEMM."""
    T, B, G = d.shape
    return be.matmul(be.permute(be.reshape(d, (T * B, G)), (1, 0)), be.reshape(h_prev, (T * B, h_prev.shape[-1])))


def _prev(be, h0, hs):
    """(T, B, H): h0, h_0 .. h_{T-2}."""
    return be.cat([be.expand_dims(h0, 0), be.getitem(hs, (slice(0, hs.shape[0] - 1),))], 0)


def _one_minus(be, a):
    return be.binary("sub", 1.0, a)


def _sigmoid_grad(be, y):
    """sigmoid' from the sigmoid's output y: y (1 - y)."""
    return be.binary("mul", y, _one_minus(be, y))


class RNNDefaults:
    def lstm_forward(self, gx, h0, c0, w_hh):
        """gx (T, B, 4H) gates i, f, g, o. Returns (hs, cs (T, B, H), gates (T, B, 4H) after activation)."""
        H = gx.shape[2] // 4
        wt = self.permute(w_hh, (1, 0))
        h, c, hs, cs, gates = h0, c0, [], [], []
        for t in range(gx.shape[0]):
            a = self.binary("add", self.matmul(h, wt), self.getitem(gx, (t,)))
            sig = self.unary("sigmoid", a)
            i, f, o = _cols(self, sig, 0, H), _cols(self, sig, H, 2 * H), _cols(self, sig, 3 * H, 4 * H)
            g = self.unary("tanh", _cols(self, a, 2 * H, 3 * H))
            c = self.binary("add", self.binary("mul", f, c), self.binary("mul", i, g))
            h = self.binary("mul", o, self.unary("tanh", c))
            hs.append(h)
            cs.append(c)
            gates.append(self.cat([i, f, g, o], 1))
        return self.stack(hs, 0), self.stack(cs, 0), self.stack(gates, 0)

    def lstm_backward(self, dhs, dh_n, dc_n, gates, hs, cs, h0, c0, w_hh):
        """(dgx (T, B, 4H), dh0, dc0, dw_hh (4H, H)) of :meth:`lstm_forward`."""
        T, B, H4 = gates.shape
        H = H4 // 4
        dh, dc, dgates = dh_n, dc_n, [None] * T
        for t in range(T - 1, -1, -1):
            gt = self.getitem(gates, (t,))
            i, f, g, o = (_cols(self, gt, k * H, (k + 1) * H) for k in range(4))
            tc = self.unary("tanh", self.getitem(cs, (t,)))
            c_prev = c0 if t == 0 else self.getitem(cs, (t - 1,))
            dh = self.binary("add", dh, self.getitem(dhs, (t,)))
            dc = self.binary("add", dc, self.binary("mul", self.binary("mul", dh, o), _one_minus(self, self.binary(
                "mul", tc, tc))))
            di = self.binary("mul", self.binary("mul", dc, g), _sigmoid_grad(self, i))
            df = self.binary("mul", self.binary("mul", dc, c_prev), _sigmoid_grad(self, f))
            dg = self.binary("mul", self.binary("mul", dc, i), _one_minus(self, self.binary("mul", g, g)))
            do = self.binary("mul", self.binary("mul", dh, tc), _sigmoid_grad(self, o))
            dgates[t] = self.cat([di, df, dg, do], 1)
            dc = self.binary("mul", dc, f)
            dh = self.matmul(dgates[t], w_hh)
        dgates = self.stack(dgates, 0)
        return dgates, dh, dc, _rows_gemm(self, dgates, _prev(self, h0, hs))

    def gru_forward(self, gx, h0, w_hh, b_hh):
        """gx (T, B, 3H) gates r, z, n; n = tanh(gx_n + r * (h W_hn^T + b_hn)), h' = (1 - z) * n + z * h.
        Returns (hs (T, B, H), gates (T, B, 3H) = r, z, n, hn (T, B, H) = h W_hn^T + b_hn)."""
        H = gx.shape[2] // 3
        wt = self.permute(w_hh, (1, 0))
        h, hs, gates, hns = h0, [], [], []
        for t in range(gx.shape[0]):
            a = self.matmul(h, wt)
            if b_hh is not None:
                a = self.binary("add", a, b_hh)
            x = self.getitem(gx, (t,))
            rz = self.unary("sigmoid", self.binary("add", _cols(self, x, 0, 2 * H), _cols(self, a, 0, 2 * H)))
            r, z = _cols(self, rz, 0, H), _cols(self, rz, H, 2 * H)
            hn = _cols(self, a, 2 * H, 3 * H)
            n = self.unary("tanh", self.binary("add", _cols(self, x, 2 * H, 3 * H), self.binary("mul", r, hn)))
            h = self.binary("add", n, self.binary("mul", z, self.binary("sub", h, n)))
            hs.append(h)
            gates.append(self.cat([rz, n], 1))
            hns.append(self.contiguous(hn))
        return self.stack(hs, 0), self.stack(gates, 0), self.stack(hns, 0)

    def gru_backward(self, dhs, dh_n, gates, hn, hs, h0, w_hh):
        """(dgx (T, B, 3H), dh0, dw_hh (3H, H), db_hh (3H,)) of :meth:`gru_forward`."""
        T, B, H3 = gates.shape
        H = H3 // 3
        dh, dgx, da = dh_n, [None] * T, [None] * T
        for t in range(T - 1, -1, -1):
            gt = self.getitem(gates, (t,))
            r, z, n = (_cols(self, gt, k * H, (k + 1) * H) for k in range(3))
            h_prev = h0 if t == 0 else self.getitem(hs, (t - 1,))
            dh = self.binary("add", dh, self.getitem(dhs, (t,)))
            dn = self.binary("mul", self.binary("mul", dh, _one_minus(self, z)), _one_minus(self, self.binary("mul", n, n)))
            dz = self.binary("mul", self.binary("mul", dh, self.binary("sub", h_prev, n)),
                             self.binary("mul", z, _one_minus(self, z)))
            dr = self.binary("mul", self.binary("mul", dn, self.getitem(hn, (t,))),
                             self.binary("mul", r, _one_minus(self, r)))
            dgx[t] = self.cat([dr, dz, dn], 1)
            da[t] = self.cat([dr, dz, self.binary("mul", dn, r)], 1)
            dh = self.binary("add", self.binary("mul", dh, z), self.matmul(da[t], w_hh))
        dgx, da = self.stack(dgx, 0), self.stack(da, 0)
        return dgx, dh, _rows_gemm(self, da, _prev(self, h0, hs)), self.reduce("sum", da, (0, 1), False)

    def rnn_forward(self, gx, h0, w_hh, nonlinearity):
        """Elman RNN: h' = act(gx + h W_hh^T), act tanh or relu."""
        wt = self.permute(w_hh, (1, 0))
        h, hs = h0, []
        for t in range(gx.shape[0]):
            h = self.unary(nonlinearity, self.binary("add", self.matmul(h, wt), self.getitem(gx, (t,))))
            hs.append(h)
        return self.stack(hs, 0)

    def rnn_backward(self, dhs, dh_n, hs, h0, w_hh, nonlinearity):
        """(dgx (T, B, H), dh0, dw_hh) of :meth:`rnn_forward`."""
        T = hs.shape[0]
        dh, da = dh_n, [None] * T
        for t in range(T - 1, -1, -1):
            ht = self.getitem(hs, (t,))
            dh = self.binary("add", dh, self.getitem(dhs, (t,)))
            if nonlinearity == "tanh":
                da[t] = self.binary("mul", dh, _one_minus(self, self.binary("mul", ht, ht)))
            else:
                da[t] = self.binary("mul", dh, self.cast(self.binary("gt", ht, 0.0), dtype_of(ht)))
            dh = self.matmul(da[t], w_hh)
        da = self.stack(da, 0)
        return da, dh, _rows_gemm(self, da, _prev(self, h0, hs))

