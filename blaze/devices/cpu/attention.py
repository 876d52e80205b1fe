"""CPU attention (NumPy): blocked over query rows, heads spread over the cpu workers.

Semantics follow ``blaze/kernels/attention.py``: out = softmax(q k^T * scale + mask) v, the
log-sum-exp per query row is saved and the backward recomputes the probabilities from it,
so no (S_q, S_k) probability matrix outlives a call.

Blocking: the heads are cut into pieces (one worker each, ``parallel.py``) and each piece
walks its query rows in blocks, computing a block's scores against the keys it can see
into one reused buffer, so the working set is (heads, rows, S_k) within L2. Causal
attention (PyTorch's top-left aligned tril) lets block [i0, i1) stop at key i1: in 128-row
blocks only 53% of the score matrix is ever computed at T=2048, and only the diagonal tile
is masked. Each block still holds whole rows, so the softmax is the reference's (one max,
one sum per row), not an online rescaling: same numerics, fewer passes.

Kept probabilities: when the caller will run the backward (``keep_probs``), the forward keeps
the normalized probabilities of its leading blocks, up to ``_KEEP_BYTES`` per call, and the
backward reads them instead of recomputing them (one GEMM, the mask and the exp per block,
about a third of the backward). The rest is recomputed from the log-sum-exp as before. The
blocks ride on the returned lse (:class:`_LSE`), so they live exactly as long as autograd
keeps the lse.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from .parallel import chunks, num_workers, parallel_for

# Row block of causal attention: 128 query rows. B2 H4 D64 causal, forward + backward, 2 workers,
# medians of alternating runs (ms): T=256 / 512 / 1024 / 2048 take 8.3 / 21.7 / 78.7 / 310 in
# 64-row blocks, 8.3 / 21.0 / 73.9 / 276 in 128-row ones and 9.1 / 23.8 / 82 / 304 in 256-row
# ones (the longer blocks' GEMMs run faster than the extra masked tiles cost).
_ROWS = 128
# Score elements per piece (heads x rows x keys): 256K float32 = 1 MiB keeps the block's scores,
# their exp and the GEMM operands in L2. Short sequences stack several heads per NumPy call,
# so T=256 costs ~20 calls per block, not per head.
_PIECE_ELEMS = 1 << 18
# Probabilities kept per call for the backward: B2 H4 D64 causal keeps every block up to T=1024
# (19 MiB) and the first 10 of 16 blocks at T=2048 (29 of 71 MiB).
_KEEP_BYTES = 32 << 20
# Score bound below which the forward skips the row max: exp(s) cannot overflow or underflow when
# |s| <= 40 (exp(40) = 2.4e17), so the softmax needs no shift (two passes fewer per block).
_NO_SHIFT_BOUND = 40.0


class _LSE(np.ndarray):
    """The forward's log-sum-exp (an ndarray), carrying in ``probs`` the normalized probability
    blocks it kept for the backward: ``probs[b]`` is block b's (N, rows, k1) of every head."""
    probs = ()


@functools.lru_cache(maxsize=16)
def _causal_bias(S_q, S_k, dtype):
    """(S_q, S_k) additive mask, 0 where key j <= query i (PyTorch's top-left aligned tril), else -inf.

    Built once per shape: np.where(np.tri(...), s, -inf) made a bool matrix and a second full
    copy of the scores on every call (forward and backward)."""
    bias = np.zeros((S_q, S_k), dtype)
    bias[~np.tri(S_q, S_k, dtype=bool)] = -np.inf
    bias.flags.writeable = False
    return bias


def _blocks(S_q, S_k, causal, rows):
    """(i0, i1, k1) per query block: rows i0:i1 see keys :k1."""
    for i0 in range(0, S_q, rows):
        i1 = min(i0 + rows, S_q)
        yield i0, i1, min(i1, S_k) if causal else S_k


def _flat(a, lead):
    """(*lead, S, D) -> (N, S, D): a view, or a copy of an operand broadcast over heads (GQA)."""
    a = np.broadcast_to(a, lead + a.shape[-2:])
    return a.reshape((-1,) + a.shape[-2:])


class _Plan:
    """How one call is cut: N = prod(lead) heads into pieces of whole heads, rows per query block,
    and the masks as read-only views broadcast to (*lead, S_q, S_k), sliced per piece and block."""

    def __init__(self, lead, S_q, S_k, causal, attn_mask, key_padding_mask):
        self.lead, self.S_q, self.S_k, self.causal = lead, S_q, S_k, causal
        self.N = math.prod(lead)
        full = lead + (S_q, S_k)
        self.am = None if attn_mask is None else np.broadcast_to(attn_mask, full)
        self.kpm = None if key_padding_mask is None else \
            np.broadcast_to(key_padding_mask[:, None, None, :], full)      # (B, S_k) keys to ignore, per batch
        if causal:
            self.rows = _ROWS
        else:  # no tiles to skip: the largest row block whose scores fit the budget
            self.rows = max(_ROWS, _PIECE_ELEMS // max(1, S_k))
        per_head = self.rows * S_k
        workers = num_workers()
        # as many heads per piece as the budget allows, but enough pieces to keep every worker busy
        heads = max(1, min(_PIECE_ELEMS // max(1, per_head), -(-self.N // workers)))
        self.pieces = chunks(self.N, -(-self.N // heads))

    def blocks(self):
        return _blocks(self.S_q, self.S_k, self.causal, self.rows)

    def kept_blocks(self, itemsize):
        """How many leading blocks fit the keep budget (:data:`_KEEP_BYTES`) for all N heads."""
        n, total = 0, 0
        for i0, i1, k1 in self.blocks():
            total += self.N * (i1 - i0) * k1 * itemsize
            if total > _KEEP_BYTES:
                break
            n += 1
        return n

    def unshifted(self, qs, k):
        """Per head, whether every score is within +-_NO_SHIFT_BOUND: |q_i . k_j| <= max|q| max|k|
        (Cauchy-Schwarz; qs holds q * scale). Not with a float mask, which may add anything."""
        if self.am is not None and self.am.dtype != np.bool_:
            return np.zeros(self.N, bool)
        qn = np.sqrt(np.einsum("nsd,nsd->ns", qs, qs).max(axis=-1, initial=0.0))
        kn = np.sqrt(np.einsum("nsd,nsd->ns", k, k).max(axis=-1, initial=0.0))
        return qn * kn <= _NO_SHIFT_BOUND

    def _mask_block(self, view, n0, n1, i0, i1, k1):
        block = view[..., i0:i1, :k1]
        if not self.lead:
            return block[None]
        return block[np.unravel_index(np.arange(n0, n1), self.lead)]   # (n, rows, k1) copy of one block

    def mask(self, s, n0, n1, i0, i1, k1):
        """Masks applied in place to the scores s (n, i1-i0, k1) of heads n0:n1."""
        if self.am is not None:
            am = self._mask_block(self.am, n0, n1, i0, i1, k1)
            if am.dtype == np.bool_:
                np.copyto(s, -np.inf, where=~am)
            else:
                s += am.astype(s.dtype, copy=False)
        if self.kpm is not None:
            np.copyto(s, -np.inf, where=self._mask_block(self.kpm, n0, n1, i0, i1, k1))
        if self.causal and k1 > i0:  # only the diagonal tile holds masked entries: j > i for j in i0:k1
            s[..., i0:k1] += _causal_bias(i1 - i0, k1 - i0, s.dtype)


def _augment(a, col):
    """[a | col] along the last axis: a row term folded into a GEMM (x.y - c = [x, -c].[y, 1])."""
    out = np.empty(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype)
    out[..., :-1] = a
    out[..., -1] = col
    return out


def _compute(*arrays):
    """Arrays in the compute type: float64 stays, everything else float32."""
    ct = np.float64 if arrays[0].dtype == np.float64 else np.float32
    return ct, [a.astype(ct, copy=False) for a in arrays]


def _forward_piece(plan, qs, k, v, out, lse, kept, unshifted, n0, n1):
    """out and lse of heads n0:n1, one query block at a time, the block's scores in one buffer
    (or, for the blocks in ``kept``, in their kept arrays, normalized there)."""
    buf = np.empty((n1 - n0, plan.rows, plan.S_k), qs.dtype)
    kt = np.swapaxes(k[n0:n1], -1, -2)
    shift = not unshifted[n0:n1].all()
    m = 0.0                                                       # the row max, when the scores need a shift
    for b, (i0, i1, k1) in enumerate(plan.blocks()):
        keep = b < len(kept)
        s = np.matmul(qs[n0:n1, i0:i1], kt[..., :k1], out=kept[b][n0:n1] if keep else buf[:, :i1 - i0, :k1])
        plan.mask(s, n0, n1, i0, i1, k1)
        if shift:
            m = s.max(axis=-1, keepdims=True)
            m[~np.isfinite(m)] = 0.0                              # fully masked row: exp(-inf - 0) = 0
            s -= m
        np.exp(s, out=s)
        tot = s.sum(axis=-1, keepdims=True)                       # (n, rows, 1); 0 on fully masked rows
        with np.errstate(divide="ignore"):
            lse[n0:n1, i0:i1] = (np.log(tot) + m)[..., 0]
        tot[tot == 0] = 1.0                                       # those rows keep p = 0
        if keep:                                                  # the backward reads p itself
            s *= 1.0 / tot
            np.matmul(s, v[n0:n1, :k1], out=out[n0:n1, i0:i1])
        else:
            o = np.matmul(s, v[n0:n1, :k1], out=out[n0:n1, i0:i1])
            o /= tot                                              # normalize (rows, D), not (rows, k1)


def _backward_piece(plan, scale, do, q, k, v, out, lse, kept, dq, dk, dv, n0, n1):
    """dq, dk, dv of heads n0:n1; per block p is read from ``kept`` or recomputed as exp(s - lse)
    in place on the scores."""
    ct = q.dtype.type
    h = slice(n0, n1)
    delta = np.einsum("...d,...d->...", do[h], out[h])            # rowsum(do * out), (n, S_q)
    # s - lse and dp - delta come out of the GEMMs themselves through one extra column
    # (x.y - c = [x, -c].[y, 1]): two fewer passes over every (rows, k1) block
    qa = _augment(q[h] * ct(scale), -lse[h])                      # (n, S_q, D + 1)
    kat = np.swapaxes(_augment(k[h], 1.0), -1, -2)
    doa = _augment(do[h], -delta)                                 # (n, S_q, Dv + 1)
    vat = np.swapaxes(_augment(v[h], 1.0), -1, -2)
    pbuf = np.empty((n1 - n0, plan.rows, plan.S_k), ct)
    dbuf = np.empty_like(pbuf)
    tv = np.empty((n1 - n0, plan.S_k, v.shape[-1]), ct)           # the dv and dk terms of a block
    tk = np.empty((n1 - n0, plan.S_k, k.shape[-1]), ct)
    dk[h] = 0
    dv[h] = 0
    for b, (i0, i1, k1) in enumerate(plan.blocks()):
        r = slice(i0, i1)
        if b < len(kept):
            p = kept[b][n0:n1]
        else:
            p = np.matmul(qa[:, r], kat[..., :k1], out=pbuf[:, :i1 - i0, :k1])   # s - lse
            plan.mask(p, n0, n1, i0, i1, k1)
            np.exp(p, out=p)
        dv[h, :k1] += np.matmul(np.swapaxes(p, -1, -2), do[h, r], out=tv[:, :k1])
        ds = np.matmul(doa[:, r], vat[..., :k1], out=dbuf[:, :i1 - i0, :k1])  # dp - delta
        ds *= p
        dqb = np.matmul(ds, k[h, :k1], out=dq[h, r])
        dqb *= ct(scale)
        dk[h, :k1] += np.matmul(np.swapaxes(ds, -1, -2), qa[:, r, :-1], out=tk[:, :k1])   # qa holds q * scale


class NumpyAttentionPrimitives:
    """Fused scaled-dot-product attention primitives of the NumPy backend.

    The heads are cut into pieces run on the cpu device's workers (``parallel.py``); each
    piece walks its query blocks, so everything of a block (scores, softmax, both GEMMs)
    runs on one core with its data in that core's cache."""

    def attention(self, q, k, v, causal=False, scale=None, attn_mask=None, key_padding_mask=None,
                  keep_probs=False):
        """(out, lse) of softmax(q k^T * scale + mask) v; lse float32 (B, H, S_q), -inf on fully masked rows.

        ``keep_probs``: the backward will run, so keep probability blocks for it (on the lse)."""
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        ct, (q_, k_, v_) = _compute(q, k, v)
        S_q, S_k = q.shape[-2], k.shape[-2]
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        plan = _Plan(lead, S_q, S_k, causal, attn_mask, key_padding_mask)
        qs = _flat(q_, lead) * ct(scale)                          # scale (S_q, D) once, not every score
        k_, v_ = _flat(k_, lead), _flat(v_, lead)
        out = np.empty((plan.N, S_q, v.shape[-1]), ct)
        lse = np.empty((plan.N, S_q), ct)
        n_keep = plan.kept_blocks(np.dtype(ct).itemsize) if keep_probs else 0
        kept = [np.empty((plan.N, i1 - i0, k1), ct) for i0, i1, k1 in itertools.islice(plan.blocks(), n_keep)]
        unshifted = plan.unshifted(qs, k_)
        parallel_for(lambda j: _forward_piece(plan, qs, k_, v_, out, lse, kept, unshifted, *plan.pieces[j]),
                     len(plan.pieces))
        lse = lse.reshape(lead + (S_q,))
        if kept:
            lse = lse.view(_LSE)
            lse.probs = tuple(kept)
        return out.reshape(lead + out.shape[1:]).astype(q.dtype, copy=False), lse

    def attention_backward(self, do, q, k, v, out, lse, causal=False, scale=None, attn_mask=None,
                           key_padding_mask=None):
        """(dq, dk, dv); per block recomputes p = exp(s - lse) instead of storing it (in place on the scores)."""
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        ct, arrays = _compute(q, do, k, v, out)
        S_q, S_k = q.shape[-2], k.shape[-2]
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        plan = _Plan(lead, S_q, S_k, causal, attn_mask, key_padding_mask)
        q_, do_, k_, v_, out_ = (_flat(a, lead) for a in arrays)
        kept = getattr(lse, "probs", ())
        lse = np.broadcast_to(lse, lead + (S_q,)).reshape(plan.N, S_q).astype(ct)   # a copy
        lse[~np.isfinite(lse)] = np.inf                           # fully masked rows -> p = 0
        dq = np.empty(q_.shape, ct)
        dk = np.empty(q_.shape[:1] + k_.shape[1:], ct)            # per head, even when k is shared
        dv = np.empty(q_.shape[:1] + v_.shape[1:], ct)
        parallel_for(lambda j: _backward_piece(plan, scale, do_, q_, k_, v_, out_, lse, kept, dq, dk, dv,
                                               *plan.pieces[j]), len(plan.pieces))
        dk, dv = (_unflat(g, lead, a.shape) for g, a in ((dk, k), (dv, v)))
        return dq.reshape(q.shape).astype(q.dtype, copy=False), dk.astype(k.dtype, copy=False), \
            dv.astype(v.dtype, copy=False)


def _unflat(g, lead, shape):
    """(N, S, D) per-head gradient -> the operand's own shape, summed over the heads it was broadcast to."""
    g = g.reshape(lead + g.shape[1:])
    extra = len(lead) + 2 - len(shape)
    axes = tuple(range(extra)) + tuple(i for i, n in enumerate(shape[:-2], extra) if n == 1 and lead[i] != 1)
    return g.sum(axis=axes, keepdims=False).reshape(shape) if axes else g
