"""Fused pointwise kernels of one time step of LSTM, GRU and the Elman RNN, forward and backward.

A recurrent layer on the device is a loop over time of (one GEMM, one of these kernels): the
GEMM ``h_{t-1} @ W_hh^T`` (blaze/kernels/matmul.py, its epilogue adds the input projection
``gx[t]`` as a residual for LSTM/RNN and ``b_hh`` as a bias for GRU) and then everything
elementwise of the step in ONE pass here: the gate nonlinearities, the cell update and what
backward needs saved. Backward is the mirror: one kernel turns (dh, dc, saved gates) into the
gate pre-activation gradients, and one GEMM ``dgates @ W_hh`` carries dh to the previous step.
Math is float32 whatever the storage dtype (float32, float16, bfloat16).

Every tensor is a (B, G*H) or (B, H) matrix with its own (row, col) strides, so per-step views
of (T, B, .) sequences (``seq[t]``) go in without copies. Gate k of a (B, G*H) matrix is the
column block [k*H, (k+1)*H). Equations are PyTorch's (torch.nn.LSTM / GRU / RNN docs).
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.matmul import _tanh
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")
NONLINEARITIES = {"tanh": 0, "relu": 1}   # rnn_step's ACT constexpr


@triton.jit
def _sigmoid(x):
    # exp(-x) overflows to inf for x < -88: 1 / inf = 0, the right limit
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _ld(ptr, rows, cols, sr, sc, k, H, mask):
    """Gate block k of a (B, G*H) matrix (k = 0 for a (B, H) one) as an fp32 tile."""
    return tl.load(ptr + rows[:, None] * sr + (cols[None, :] + k * H) * sc, mask=mask).to(tl.float32)


@triton.jit
def _st(ptr, rows, cols, sr, sc, k, H, mask, val):
    tl.store(ptr + rows[:, None] * sr + (cols[None, :] + k * H) * sc, val.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def _tile(B, H, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_H + tl.arange(0, BLOCK_H)
    return rows, cols, (rows[:, None] < B) & (cols[None, :] < H)


@triton.jit
def _lstm_fwd_kernel(pre_ptr, cp_ptr, g_ptr, c_ptr, h_ptr, B, H,
                     s_pre_b, s_pre_h, s_cp_b, s_cp_h, s_g_b, s_g_h, s_c_b, s_c_h, s_h_b, s_h_h,
                     BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads 4 pre-activations + c_{t-1}, writes 4 gates + c_t + h_t (11 elements)
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    i = _sigmoid(_ld(pre_ptr, rows, cols, s_pre_b, s_pre_h, 0, H, m))
    f = _sigmoid(_ld(pre_ptr, rows, cols, s_pre_b, s_pre_h, 1, H, m))
    g = _tanh(_ld(pre_ptr, rows, cols, s_pre_b, s_pre_h, 2, H, m))
    o = _sigmoid(_ld(pre_ptr, rows, cols, s_pre_b, s_pre_h, 3, H, m))
    c = f * _ld(cp_ptr, rows, cols, s_cp_b, s_cp_h, 0, H, m) + i * g
    # all loads of pre are done: gates may overwrite it in place (same elements, same program)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 0, H, m, i)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 1, H, m, f)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 2, H, m, g)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 3, H, m, o)
    _st(c_ptr, rows, cols, s_c_b, s_c_h, 0, H, m, c)
    _st(h_ptr, rows, cols, s_h_b, s_h_h, 0, H, m, o * _tanh(c))


@triton.jit
def _lstm_bwd_kernel(dh_ptr, dhx_ptr, dc_ptr, g_ptr, c_ptr, cp_ptr, dg_ptr, dcp_ptr, B, H,
                     s_dh_b, s_dh_h, s_dhx_b, s_dhx_h, s_dc_b, s_dc_h, s_g_b, s_g_h, s_c_b, s_c_h,
                     s_cp_b, s_cp_h, s_dg_b, s_dg_h, s_dcp_b, s_dcp_h,
                     HAS_DHX: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads dh (+ dhs[t]), dc, 4 gates, c_t, c_{t-1}; writes 4 dgates + dc_{t-1} (14)
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    dh = _ld(dh_ptr, rows, cols, s_dh_b, s_dh_h, 0, H, m)
    if HAS_DHX:
        dh += _ld(dhx_ptr, rows, cols, s_dhx_b, s_dhx_h, 0, H, m)
    i = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 0, H, m)
    f = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 1, H, m)
    g = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 2, H, m)
    o = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 3, H, m)
    tc = _tanh(_ld(c_ptr, rows, cols, s_c_b, s_c_h, 0, H, m))
    dc = _ld(dc_ptr, rows, cols, s_dc_b, s_dc_h, 0, H, m) + dh * o * (1.0 - tc * tc)
    cp = _ld(cp_ptr, rows, cols, s_cp_b, s_cp_h, 0, H, m)
    _st(dg_ptr, rows, cols, s_dg_b, s_dg_h, 0, H, m, dc * g * i * (1.0 - i))
    _st(dg_ptr, rows, cols, s_dg_b, s_dg_h, 1, H, m, dc * cp * f * (1.0 - f))
    _st(dg_ptr, rows, cols, s_dg_b, s_dg_h, 2, H, m, dc * i * (1.0 - g * g))
    _st(dg_ptr, rows, cols, s_dg_b, s_dg_h, 3, H, m, dh * tc * o * (1.0 - o))
    _st(dcp_ptr, rows, cols, s_dcp_b, s_dcp_h, 0, H, m, dc * f)   # dc_prev may overwrite dc in place


@triton.jit
def _gru_fwd_kernel(gx_ptr, a_ptr, hp_ptr, g_ptr, hn_ptr, h_ptr, B, H,
                    s_gx_b, s_gx_h, s_a_b, s_a_h, s_hp_b, s_hp_h, s_g_b, s_g_h, s_hn_b, s_hn_h, s_h_b, s_h_h,
                    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads 3 gx + 3 a + h_{t-1}, writes r, z, n, hn, h_t (12 elements)
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    r = _sigmoid(_ld(gx_ptr, rows, cols, s_gx_b, s_gx_h, 0, H, m) + _ld(a_ptr, rows, cols, s_a_b, s_a_h, 0, H, m))
    z = _sigmoid(_ld(gx_ptr, rows, cols, s_gx_b, s_gx_h, 1, H, m) + _ld(a_ptr, rows, cols, s_a_b, s_a_h, 1, H, m))
    hn = _ld(a_ptr, rows, cols, s_a_b, s_a_h, 2, H, m)                 # h W_hn^T + b_hn
    n = _tanh(_ld(gx_ptr, rows, cols, s_gx_b, s_gx_h, 2, H, m) + r * hn)
    hp = _ld(hp_ptr, rows, cols, s_hp_b, s_hp_h, 0, H, m)
    # all loads of a are done: gates may overwrite it in place
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 0, H, m, r)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 1, H, m, z)
    _st(g_ptr, rows, cols, s_g_b, s_g_h, 2, H, m, n)
    _st(hn_ptr, rows, cols, s_hn_b, s_hn_h, 0, H, m, hn)
    _st(h_ptr, rows, cols, s_h_b, s_h_h, 0, H, m, n + z * (hp - n))   # (1 - z) n + z h


@triton.jit
def _gru_bwd_kernel(dh_ptr, dhx_ptr, g_ptr, hn_ptr, hp_ptr, dgx_ptr, da_ptr, dhz_ptr, B, H,
                    s_dh_b, s_dh_h, s_dhx_b, s_dhx_h, s_g_b, s_g_h, s_hn_b, s_hn_h, s_hp_b, s_hp_h,
                    s_dgx_b, s_dgx_h, s_da_b, s_da_h, s_dhz_b, s_dhz_h,
                    HAS_DHX: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads dh (+ dhs[t]), r, z, n, hn, h_{t-1}; writes 3 dgx + 3 da + dh*z (13)
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    dh = _ld(dh_ptr, rows, cols, s_dh_b, s_dh_h, 0, H, m)
    if HAS_DHX:
        dh += _ld(dhx_ptr, rows, cols, s_dhx_b, s_dhx_h, 0, H, m)
    r = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 0, H, m)
    z = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 1, H, m)
    n = _ld(g_ptr, rows, cols, s_g_b, s_g_h, 2, H, m)
    hn = _ld(hn_ptr, rows, cols, s_hn_b, s_hn_h, 0, H, m)
    hp = _ld(hp_ptr, rows, cols, s_hp_b, s_hp_h, 0, H, m)
    dn = dh * (1.0 - z) * (1.0 - n * n)
    dz = dh * (hp - n) * z * (1.0 - z)
    dr = dn * hn * r * (1.0 - r)
    _st(dgx_ptr, rows, cols, s_dgx_b, s_dgx_h, 0, H, m, dr)
    _st(dgx_ptr, rows, cols, s_dgx_b, s_dgx_h, 1, H, m, dz)
    _st(dgx_ptr, rows, cols, s_dgx_b, s_dgx_h, 2, H, m, dn)
    _st(da_ptr, rows, cols, s_da_b, s_da_h, 0, H, m, dr)
    _st(da_ptr, rows, cols, s_da_b, s_da_h, 1, H, m, dz)
    _st(da_ptr, rows, cols, s_da_b, s_da_h, 2, H, m, dn * r)
    _st(dhz_ptr, rows, cols, s_dhz_b, s_dhz_h, 0, H, m, dh * z)       # may overwrite dh in place


@triton.jit
def _rnn_fwd_kernel(pre_ptr, h_ptr, B, H, s_pre_b, s_pre_h, s_h_b, s_h_h,
                    ACT: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads 1, writes 1
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    a = _ld(pre_ptr, rows, cols, s_pre_b, s_pre_h, 0, H, m)
    if ACT == 0:
        a = _tanh(a)
    else:
        a = tl.maximum(a, 0.0)
    _st(h_ptr, rows, cols, s_h_b, s_h_h, 0, H, m, a)


@triton.jit
def _rnn_bwd_kernel(dh_ptr, dhx_ptr, h_ptr, da_ptr, B, H, s_dh_b, s_dh_h, s_dhx_b, s_dhx_h, s_h_b, s_h_h,
                    s_da_b, s_da_h, HAS_DHX: tl.constexpr, ACT: tl.constexpr,
                    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    # per hidden unit: reads dh (+ dhs[t]) and h_t, writes da (3-4 elements)
    rows, cols, m = _tile(B, H, BLOCK_B, BLOCK_H)
    dh = _ld(dh_ptr, rows, cols, s_dh_b, s_dh_h, 0, H, m)
    if HAS_DHX:
        dh += _ld(dhx_ptr, rows, cols, s_dhx_b, s_dhx_h, 0, H, m)
    h = _ld(h_ptr, rows, cols, s_h_b, s_h_h, 0, H, m)
    if ACT == 0:
        d = dh * (1.0 - h * h)          # tanh' from the saved output
    else:
        d = tl.where(h > 0, dh, 0.0)    # relu' (0 at 0, as PyTorch)
    _st(da_ptr, rows, cols, s_da_b, s_da_h, 0, H, m, d)


# ---------------------------------------------------------------------------------------
# launchers
# ---------------------------------------------------------------------------------------
def _mat(name, buf, B, cols, dtype=None):
    """Check that ``buf`` is a (B, cols) float matrix (of ``dtype`` when given)."""
    check_buffer(name, buf, ndim=2, dtypes=FLOATS)
    if tuple(buf.shape) != (B, cols):
        raise ValueError(f"{name}: expected shape {(B, cols)}, got {tuple(buf.shape)}")
    if dtype is not None and str(buf.dtype) != str(dtype):
        raise TypeError(f"{name}: dtype {buf.dtype} differs from {dtype}")
    return buf


def _gated(name, buf, G):
    """(B, H) of a (B, G*H) gate matrix."""
    check_buffer(name, buf, ndim=2, dtypes=FLOATS)
    if buf.shape[1] % G:
        raise ValueError(f"{name}: expected (B, {G}*H) gate columns, got shape {tuple(buf.shape)}")
    return buf.shape[0], buf.shape[1] // G


def _out(name, buf, like, B, cols):
    if buf is None:
        return like.new((B, cols), like.dtype)
    return _mat(name, buf, B, cols, like.dtype)


def _st2(*bufs):
    return [s for b in bufs for s in b.strides]


def _launch(kernel, B, H, dtype, config, args, strides, **flags):
    if B * H == 0:
        return
    cfg = config or config_for("rnn", dict(B=B, H=H, dtype=str(dtype)))
    meta, opts = launch_options(cfg)
    grid = (triton.cdiv(B, meta["BLOCK_B"]), triton.cdiv(H, meta["BLOCK_H"]))
    kernel[grid](*args, B, H, *strides, **flags, **meta, **opts)


def lstm_step(pre, c_prev, gates_out=None, c_out=None, h_out=None, config=None):
    """One LSTM step after the GEMM: i, f, o = sigmoid, g = tanh of ``pre`` (B, 4H) = gx[t] +
    h_{t-1} W_hh^T (gate order i, f, g, o), c_t = f c_{t-1} + i g, h_t = o tanh(c_t).

    ``gates_out`` may be ``pre`` itself (activated in place).
    Returns (gates (B, 4H) after their nonlinearities, c_t (B, H), h_t (B, H)).
    """
    B, H = _gated("pre", pre, 4)
    _mat("c_prev", c_prev, B, H, pre.dtype)
    g, c, h = (_out("gates_out", gates_out, pre, B, 4 * H), _out("c_out", c_out, pre, B, H),
               _out("h_out", h_out, pre, B, H))
    _launch(_lstm_fwd_kernel, B, H, pre.dtype, config, (pre, c_prev, g, c, h), _st2(pre, c_prev, g, c, h))
    return g, c, h


def lstm_step_backward(dh, dc, gates, c, c_prev, dh_extra=None, dgates_out=None, dc_out=None, config=None):
    """Backward of :func:`lstm_step`: the total dh_t = ``dh`` (+ ``dh_extra``, the output's own
    gradient dhs[t]), dc_t = ``dc`` carried from step t+1.

    ``dc_out`` may be ``dc`` itself. Returns (d pre (B, 4H), dc_{t-1} (B, H)); the caller
    carries dh_{t-1} = d pre @ W_hh with one GEMM.
    """
    B, H = _gated("gates", gates, 4)
    for name, buf in (("dh", dh), ("dc", dc), ("c", c), ("c_prev", c_prev)) + \
            ((("dh_extra", dh_extra),) if dh_extra is not None else ()):
        _mat(name, buf, B, H, gates.dtype)
    dg, dcp = _out("dgates_out", dgates_out, gates, B, 4 * H), _out("dc_out", dc_out, gates, B, H)
    dhx = dh if dh_extra is None else dh_extra
    _launch(_lstm_bwd_kernel, B, H, gates.dtype, config, (dh, dhx, dc, gates, c, c_prev, dg, dcp),
            _st2(dh, dhx, dc, gates, c, c_prev, dg, dcp), HAS_DHX=dh_extra is not None)
    return dg, dcp


def gru_step(gx, a, h_prev, gates_out=None, hn_out=None, h_out=None, config=None):
    """One GRU step after the GEMM ``a`` (B, 3H) = h_{t-1} W_hh^T + b_hh, with ``gx`` (B, 3H) =
    x W_ih^T + b_ih (gate order r, z, n): r, z = sigmoid(gx + a), n = tanh(gx_n + r a_n),
    h_t = (1 - z) n + z h_{t-1}.

    ``gates_out`` may be ``a`` itself. Returns (gates r, z, n (B, 3H), hn = a_n (B, H), h_t (B, H)).
    """
    B, H = _gated("gx", gx, 3)
    _mat("a", a, B, 3 * H, gx.dtype)
    _mat("h_prev", h_prev, B, H, gx.dtype)
    g, hn, h = (_out("gates_out", gates_out, gx, B, 3 * H), _out("hn_out", hn_out, gx, B, H),
                _out("h_out", h_out, gx, B, H))
    _launch(_gru_fwd_kernel, B, H, gx.dtype, config, (gx, a, h_prev, g, hn, h), _st2(gx, a, h_prev, g, hn, h))
    return g, hn, h


def gru_step_backward(dh, gates, hn, h_prev, dh_extra=None, dgx_out=None, da_out=None, dhz_out=None, config=None):
    """Backward of :func:`gru_step` for the total dh_t = ``dh`` (+ ``dh_extra``).

    Returns (dgx (B, 3H), da (B, 3H): the gradient of h W_hh^T + b_hh, dh_t * z (B, H)); the
    caller carries dh_{t-1} = dh_t z + da @ W_hh (one GEMM with dh*z as its residual).
    ``dhz_out`` may be ``dh`` itself.
    """
    B, H = _gated("gates", gates, 3)
    for name, buf in (("dh", dh), ("hn", hn), ("h_prev", h_prev)) + \
            ((("dh_extra", dh_extra),) if dh_extra is not None else ()):
        _mat(name, buf, B, H, gates.dtype)
    dgx, da, dhz = (_out("dgx_out", dgx_out, gates, B, 3 * H), _out("da_out", da_out, gates, B, 3 * H),
                    _out("dhz_out", dhz_out, gates, B, H))
    dhx = dh if dh_extra is None else dh_extra
    _launch(_gru_bwd_kernel, B, H, gates.dtype, config, (dh, dhx, gates, hn, h_prev, dgx, da, dhz),
            _st2(dh, dhx, gates, hn, h_prev, dgx, da, dhz), HAS_DHX=dh_extra is not None)
    return dgx, da, dhz


def _act(nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    return NONLINEARITIES[nonlinearity]


def rnn_step(pre, nonlinearity="tanh", out=None, config=None):
    """h_t = act(pre), ``pre`` (B, H) = gx[t] + h_{t-1} W_hh^T, act tanh | relu; ``out`` may be ``pre``."""
    act = _act(nonlinearity)
    check_buffer("pre", pre, ndim=2, dtypes=FLOATS)
    B, H = pre.shape
    h = _out("out", out, pre, B, H)
    _launch(_rnn_fwd_kernel, B, H, pre.dtype, config, (pre, h), _st2(pre, h), ACT=act)
    return h


def rnn_step_backward(dh, h, nonlinearity="tanh", dh_extra=None, out=None, config=None):
    """d pre = (dh + dh_extra) * act'(pre) from the saved output ``h`` (B, H); ``out`` may be ``dh``."""
    act = _act(nonlinearity)
    check_buffer("h", h, ndim=2, dtypes=FLOATS)
    B, H = h.shape
    _mat("dh", dh, B, H, h.dtype)
    if dh_extra is not None:
        _mat("dh_extra", dh_extra, B, H, h.dtype)
    da = _out("out", out, h, B, H)
    dhx = dh if dh_extra is None else dh_extra
    _launch(_rnn_bwd_kernel, B, H, h.dtype, config, (dh, dhx, h, da), _st2(dh, dhx, h, da),
            HAS_DHX=dh_extra is not None, ACT=act)
    return da


# ---------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------
def _pow2(n: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(int(n), 1))))


def rnn_heuristic(problem: dict) -> dict:
    """(B, H) tile of the step kernels; problem = dict(B, H, dtype)."""
    B, H = problem["B"], problem["H"]
    if interpret():  # the interpreter pays per program: one or a few large tiles
        return dict(BLOCK_B=_pow2(B, 1, 64), BLOCK_H=_pow2(H, 16, 256), num_warps=4)
    # 8 x 128 fp32 tile x 4 gates = 16 KiB live per program; small B (decode-like) keeps rows few
    bb, bh = _pow2(B, 1, 8), _pow2(H, 32, 128)
    return dict(BLOCK_B=bb, BLOCK_H=bh, num_warps=4 if bb * bh >= 512 else 2)


def _make_rnn_problem(problem, new_buffer):
    B, H, dt = problem["B"], problem["H"], problem.get("dtype", "float32")
    pre, c = new_buffer((B, 4 * H), dt), new_buffer((B, H), dt)
    outs = (pre.new((B, 4 * H), pre.dtype), pre.new((B, H), pre.dtype), pre.new((B, H), pre.dtype))
    return lambda config: lstm_step(pre, c, *outs, config=config)


RNN = register(Tunable(
    name="rnn",
    configs=[dict(BLOCK_B=b, BLOCK_H=h, num_warps=w) for b in (1, 4, 8, 16) for h in (32, 64, 128, 256)
             for w in (2, 4)],
    heuristic=rnn_heuristic,
    make_problem=_make_rnn_problem,
    doc="fused pointwise time step of LSTM / GRU / RNN (forward and backward)",
    problem_keys=("B", "H", "dtype"),
))
