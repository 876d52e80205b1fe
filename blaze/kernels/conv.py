"""2-D convolution as implicit GEMM: the im2col gather happens inside the GEMM's loads.

No column matrix is ever written: for NCHW input (N, C, H, W) and weight (O, C/g, KH, KW),
an explicit im2col would write N*P*Q*C*KH*KW elements (9x the input for a 3x3 kernel) and
read them back; here each program computes the input address of its tile from
(n, p, q) x (c, kh, kw) and masks the padding.

Three passes, two kernels:
  forward       y  = conv(x, w)        GEMM over (n, p, q) x o, contracting (c, kh, kw)
  grad input    dx = conv^T(dy, w)     the same kernel, gathering dy "transposed"
  grad weight   dw = dy^T @ im2col(x)  GEMM over o x (c, kh, kw), contracting (n, p, q)
conv_transpose2d's forward is the grad-input pass, so it shares that kernel.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.matmul import dot_acc, upcast_dot
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOAT_DTYPES = ("float32", "float16", "bfloat16")


@triton.jit
def _conv_kernel(
    x_ptr, w_ptr, y_ptr, bias_ptr,
    M, C, H, W, O, P, Q, KH, KW,
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_wc, stride_wo, stride_wh, stride_ww, stride_wg,
    stride_yn, stride_yc, stride_yh, stride_yw,
    stride_bias,
    SH, SW, PH, PW, DH, DW,
    TRANSPOSED: tl.constexpr, HAS_BIAS: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    """y[n, g*O + o, p, q] = sum_{kh, kw, c} x[n, g*C + c, ih, iw] * w(g, c, kh, kw, o) + bias.

    Grid (tiles of M = N*P*Q rows x O columns, groups). The contraction runs tap by tap
    (kh, kw) and, inside a tap, over BLOCK_K channels: the input row of a tap is one
    (BLOCK_M,) vector, so a channel step costs one add per gathered element. (Decoding the
    flat index (c, kh, kw) per element instead made 2-D ih/iw/mask tiles and spilled 2 KiB a
    thread at 128x64x64 on sm_90.) The price: a channel step is at least 16 wide (tl.dot's
    minimum), so convs with fewer than 16 channels per group (an RGB stem, depthwise) pad each
    tap's step, where the flat (c, kh, kw) index padded only once. Forward: ih = p*SH - PH + kh*DH.
    TRANSPOSED (grad input / conv_transpose): x is the conv's output, and p reads the ih
    with ih*SH - PH + kh*DH == p, i.e. only when SH divides p + PH - kh*DH; the other
    (SH*SW - 1)/(SH*SW) of the gathered taps are masked (a stride-2 dgrad does 4x the MACs
    it needs; phase-split kernels would not).
    Traffic per program: gathers BLOCK_M*K elements of x (L2-resident across the KH*KW
    taps that reread them) and K*BLOCK_N of w; writes BLOCK_M*BLOCK_N of y.
    """
    pid = tl.program_id(0)
    g = tl.program_id(1)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(O, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_o = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_c = tl.arange(0, BLOCK_K)
    m_ok = offs_m < M
    o_ok = offs_o < O
    # row m -> (n, p, q); n in int64: n * stride_xn passes 2^31 for inputs over 8 GiB of fp32
    n = (offs_m // (P * Q)).to(tl.int64)
    p = (offs_m // Q) % P
    q = offs_m % Q
    x_rows = x_ptr + n * stride_xn + g.to(tl.int64) * C * stride_xc
    w_cols = w_ptr + g.to(tl.int64) * stride_wg + offs_o * stride_wo
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for kh in range(0, KH):
        if TRANSPOSED:
            th = p + PH - kh * DH
            ih = th // SH
            # th >= 0 first: negative th makes // and % differ between the GPU and NumPy
            h_ok = (th >= 0) & (th % SH == 0) & (ih < H)
        else:
            ih = p * SH - PH + kh * DH
            h_ok = (ih >= 0) & (ih < H)
        for kw in range(0, KW):
            if TRANSPOSED:
                tw = q + PW - kw * DW
                iw = tw // SW
                row_ok = h_ok & (tw >= 0) & (tw % SW == 0) & (iw < W) & m_ok
            else:
                iw = q * SW - PW + kw * DW
                row_ok = h_ok & (iw >= 0) & (iw < W) & m_ok
            a_rows = x_rows + ih * stride_xh + iw * stride_xw
            b_cols = w_cols + kh * stride_wh + kw * stride_ww
            for c0 in range(0, C, BLOCK_K):
                c_ok = offs_c < C - c0
                aT = tl.load(a_rows[None, :] + offs_c[:, None] * stride_xc, mask=c_ok[:, None] & row_ok[None, :],
                             other=0.0)
                b = tl.load(b_cols[None, :] + offs_c[:, None] * stride_wc, mask=c_ok[:, None] & o_ok[None, :],
                            other=0.0)
                acc = dot_acc(tl.trans(aT), b, acc, PRECISION, UPCAST)
                # 64-bit pointer steps: c0 * stride_xc could pass 2^31 as an int32 product
                a_rows += BLOCK_K * stride_xc
                b_cols += BLOCK_K * stride_wc

    if HAS_BIAS:
        acc += tl.load(bias_ptr + (g * O + offs_o) * stride_bias, mask=o_ok, other=0.0).to(tl.float32)[None, :]
    y_ptrs = (y_ptr + (n * stride_yn + p * stride_yh + q * stride_yw)[:, None]
              + (g * O + offs_o).to(tl.int64)[None, :] * stride_yc)
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=m_ok[:, None] & o_ok[None, :])


@triton.jit
def _conv_wgrad_kernel(
    dy_ptr, x_ptr, dw_ptr,
    NB, C, H, W, O, P, Q, KH, KW,
    stride_dyn, stride_dyc, stride_dyh, stride_dyw,
    stride_xn, stride_xc, stride_xh, stride_xw,
    stride_wo, stride_wc, stride_wh, stride_ww,
    SH, SW, PH, PW, DH, DW,
    PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    """dw[g*O + o, c, kh, kw] = sum_{n, p, q} dy[n, g*O + o, p, q] * x[n, g*C + c, ih, iw].

    Grid (tap-major tiles of O rows x C columns, groups): one program per tap, so the gathered
    input column of a contraction step is one (BLOCK_K,) vector of (n, p, q) offsets plus a
    channel offset (flattening (c, kh, kw) into the columns made 2-D index tiles that spilled
    on sm_90), and KH*KW times the programs for the small O x C of deep layers. Contracts
    over N*P*Q with the forward's ih = p*SH - PH + kh*DH; reads N*P*Q*(BLOCK_M + BLOCK_N)
    per program, writes BLOCK_M*BLOCK_N.
    """
    g = tl.program_id(1).to(tl.int64)
    num_pid_m = tl.cdiv(O, BLOCK_M)
    num_pid_n = tl.cdiv(C, BLOCK_N)
    tap = tl.program_id(0) // (num_pid_m * num_pid_n)
    pid = tl.program_id(0) % (num_pid_m * num_pid_n)
    kh = tap // KW
    kw = tap % KW
    num_pid_in_group = GROUP_M * num_pid_n
    first_pid_m = (pid // num_pid_in_group) * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_o = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_c = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    o_ok = offs_o < O
    c_ok = offs_c < C
    dy_rows = dy_ptr + (g * O + offs_o) * stride_dyc
    x_cols = x_ptr + (g * C + offs_c) * stride_xc
    L = NB * P * Q
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_K):
        offs_l = l0 + tl.arange(0, BLOCK_K)
        n = (offs_l // (P * Q)).to(tl.int64)  # contraction index l -> (n, p, q)
        p = (offs_l // Q) % P
        q = offs_l % Q
        ih = p * SH - PH + kh * DH
        iw = q * SW - PW + kw * DW
        l_ok = offs_l < L
        x_ok = l_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        a = tl.load(dy_rows[:, None] + (n * stride_dyn + p * stride_dyh + q * stride_dyw)[None, :],
                    mask=o_ok[:, None] & l_ok[None, :], other=0.0)
        # gathered (channels, positions): threads run along the positions, contiguous in NCHW
        bT = tl.load(x_cols[:, None] + (n * stride_xn + ih * stride_xh + iw * stride_xw)[None, :],
                     mask=c_ok[:, None] & x_ok[None, :], other=0.0)
        acc = dot_acc(a, tl.trans(bT), acc, PRECISION, UPCAST)

    dw_ptrs = (dw_ptr + ((g * O + offs_o) * stride_wo)[:, None]
               + (offs_c * stride_wc + kh * stride_wh + kw * stride_ww)[None, :])
    tl.store(dw_ptrs, acc.to(dw_ptr.dtype.element_ty), mask=o_ok[:, None] & c_ok[None, :])


@triton.jit
def _bias_grad_kernel(
    dy_ptr, db_ptr,
    L, O, P, Q,
    stride_dyn, stride_dyc, stride_dyh, stride_dyw,
    stride_db,
    BLOCK_L: tl.constexpr, BLOCK_O: tl.constexpr,
):
    """db[o] = sum_{n, p, q} dy[n, o, p, q] in fp32, fixed order (deterministic); grid (O tiles,).

    Reads N*O*P*Q elements, writes O.
    """
    offs_o = tl.program_id(0) * BLOCK_O + tl.arange(0, BLOCK_O)
    o_ok = offs_o < O
    acc = tl.zeros((BLOCK_L, BLOCK_O), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        offs_l = l0 + tl.arange(0, BLOCK_L)
        n = (offs_l // (P * Q)).to(tl.int64)
        rows = n * stride_dyn + ((offs_l // Q) % P) * stride_dyh + (offs_l % Q) * stride_dyw
        ok = (offs_l < L)[:, None] & o_ok[None, :]
        acc += tl.load(dy_ptr + rows[:, None] + offs_o[None, :] * stride_dyc, mask=ok, other=0.0).to(tl.float32)
    tl.store(db_ptr + offs_o * stride_db, tl.sum(acc, axis=0).to(db_ptr.dtype.element_ty), mask=o_ok)


# ---------------------------------------------------------------------------------------
# launchers
# ---------------------------------------------------------------------------------------
def _pair(name: str, v, lo: int) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) and i >= lo for i in t):
        raise ValueError(f"conv2d: {name} must be an int or a pair of ints >= {lo}, got {v!r}")
    return t


def _geometry(stride, padding, dilation, groups) -> dict:
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    dh, dw = _pair("dilation", dilation, 1)
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    return dict(SH=sh, SW=sw, PH=ph, PW=pw, DH=dh, DW=dw, groups=groups)


def _out_hw(H, W, KH, KW, geo) -> tuple[int, int]:
    P = (H + 2 * geo["PH"] - geo["DH"] * (KH - 1) - 1) // geo["SH"] + 1
    Q = (W + 2 * geo["PW"] - geo["DW"] * (KW - 1) - 1) // geo["SW"] + 1
    if P < 1 or Q < 1:
        raise ValueError(f"conv2d: input {H}x{W} is smaller than the dilated {KH}x{KW} kernel "
                         f"(padding {geo['PH']},{geo['PW']}, dilation {geo['DH']},{geo['DW']}): output {P}x{Q}")
    return P, Q


def _check_shapes(x_shape, w_shape, groups, what):
    """Channels of input (N, C, H, W) against weight (O, C/groups, KH, KW)."""
    C, (O, Cg) = x_shape[1], w_shape[:2]
    if C % groups or O % groups:
        raise ValueError(f"{what}: groups={groups} must divide in_channels={C} and out_channels={O}")
    if Cg != C // groups:
        raise ValueError(f"{what}: weight {tuple(w_shape)} expects {Cg * groups} input channels "
                         f"(weight.shape[1] * groups), input has {C} (shape {tuple(x_shape)})")


def _check_4d(name, buf, dtype=None):
    check_buffer(name, buf, ndim=4, dtypes=FLOAT_DTYPES)
    if dtype is not None and str(buf.dtype) != str(dtype):
        raise TypeError(f"conv2d: {name} dtype {buf.dtype} differs from {dtype}")


def _output(name, out, like, shape, dtype):
    if out is None:
        return like.new(shape, dtype)
    check_buffer(name, out)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"conv2d: {name} must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if str(out.dtype) != str(dtype):
        raise TypeError(f"conv2d: {name} must have dtype {dtype}, got {out.dtype}")
    return out


def _precision(dtype, allow_tf32) -> str:
    # fp32 "ieee" keeps ~1e-6 relative error; tf32 ~3e-4 at up to 8x the rate.
    return "tf32" if (allow_tf32 or str(dtype) != "float32") else "ieee"


def _problem(which, x_shape, w_shape, geo, dtype) -> dict:
    N, C, H, W = x_shape
    O, _, KH, KW = w_shape
    return dict(which=which, batch=N, C=C, H=H, W=W, O=O, KH=KH, KW=KW, dtype=str(dtype), **geo)


def _launch_conv(x, w, y, bias, C, O, P, Q, KH, KW, w_strides, geo, transposed, config, problem, allow_tf32):
    """The implicit-GEMM kernel: gather from x (N, groups*C, H, W), write y (N, groups*O, P, Q)."""
    NB, _, H, W = x.shape
    M = NB * P * Q
    if M * O == 0:
        return y
    meta, opts = launch_options(config_for("conv2d", problem) if config is None else config)
    grid = (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(O, meta["BLOCK_N"]), geo["groups"])
    _conv_kernel[grid](
        x, w, y, x if bias is None else bias,
        M, C, H, W, O, P, Q, KH, KW,
        *x.strides, *w_strides, *y.strides, 0 if bias is None else bias.strides[0],
        geo["SH"], geo["SW"], geo["PH"], geo["PW"], geo["DH"], geo["DW"],
        TRANSPOSED=transposed, HAS_BIAS=bias is not None,
        PRECISION=_precision(x.dtype, allow_tf32), UPCAST=upcast_dot(x.dtype),
        **meta, **opts,
    )
    return y


def _check_bias(bias, channels, what):
    if bias is not None:
        check_buffer("bias", bias, ndim=1, dtypes=FLOAT_DTYPES)
        if tuple(bias.shape) != (channels,):
            raise ValueError(f"{what}: bias must have shape ({channels},), got {tuple(bias.shape)}")


def conv2d(x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1, out=None, config=None,
           allow_tf32=False):
    """2-D cross-correlation (PyTorch's conv2d), fp32 accumulation.

    Args:
        x: (N, C, H, W); w: (O, C/groups, KH, KW), same dtype; bias: (O,) or None.
        stride / padding / dilation: int or (h, w) pair.
        out: optional preallocated (N, O, P, Q) output.

    Returns:
        y: (N, O, P, Q) with P = (H + 2*pad - dil*(KH-1) - 1) // stride + 1 (same for Q).
    """
    _check_4d("x", x)
    _check_4d("weight", w, x.dtype)
    geo = _geometry(stride, padding, dilation, groups)
    _check_shapes(x.shape, w.shape, groups, "conv2d")
    NB, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    P, Q = _out_hw(H, W, KH, KW, geo)
    _check_bias(bias, O, "conv2d")
    y = _output("out", out, x, (NB, O, P, Q), x.dtype)
    sw = w.strides  # (O, C/g, KH, KW): gathered channel c is dim 1, output channel dim 0
    return _launch_conv(x, w, y, bias, Cg, O // groups, P, Q, KH, KW,
                        (sw[1], sw[0], sw[2], sw[3], (O // groups) * sw[0]), geo, False, config,
                        _problem("forward", x.shape, w.shape, geo, x.dtype), allow_tf32)


def _grad_input(grad_out, w, input_shape, geo, bias, out, config, allow_tf32, what):
    """dx = conv^T(dy, w): the conv kernel gathering dy, with weight dims 0 and 1 swapped."""
    _check_4d("grad_out", grad_out)
    _check_4d("weight", w, grad_out.dtype)
    NB, C, H, W = input_shape
    O, Cg, KH, KW = w.shape
    _check_shapes(input_shape, w.shape, geo["groups"], what)
    if tuple(grad_out.shape[:2]) != (NB, O):
        raise ValueError(f"{what}: grad_out {tuple(grad_out.shape)} does not match batch {NB} and "
                         f"out_channels {O} of weight {tuple(w.shape)}")
    dx = _output("out", out, grad_out, tuple(input_shape), grad_out.dtype)
    g = geo["groups"]
    sw = w.strides  # gathered channel = conv output channel (dim 0), written channel = dim 1
    return _launch_conv(grad_out, w, dx, bias, O // g, Cg, H, W, KH, KW,
                        (sw[0], sw[1], sw[2], sw[3], (O // g) * sw[0]), geo, True, config,
                        _problem("input", input_shape, w.shape, geo, grad_out.dtype), allow_tf32)


def conv2d_backward_input(grad_out, w, input_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                          out=None, config=None, allow_tf32=False):
    """Gradient of conv2d with respect to its input: (N, O, P, Q) -> ``input_shape`` (N, C, H, W)."""
    geo = _geometry(stride, padding, dilation, groups)
    _check_4d("grad_out", grad_out)
    _check_4d("weight", w, grad_out.dtype)
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"conv2d_backward_input: input_shape must be (N, C, H, W), got {input_shape}")
    P, Q = _out_hw(input_shape[2], input_shape[3], w.shape[2], w.shape[3], geo)
    if tuple(grad_out.shape[2:]) != (P, Q):
        raise ValueError(f"conv2d_backward_input: grad_out {tuple(grad_out.shape)} should be {P}x{Q} "
                         f"for input {input_shape}")
    return _grad_input(grad_out, w, input_shape, geo, None, out, config, allow_tf32, "conv2d_backward_input")


def conv2d_backward_weight(grad_out, x, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                           out=None, config=None, allow_tf32=False):
    """Gradient of conv2d with respect to its weight: returns ``weight_shape`` (O, C/groups, KH, KW)."""
    geo = _geometry(stride, padding, dilation, groups)
    _check_4d("x", x)
    _check_4d("grad_out", grad_out, x.dtype)
    weight_shape = tuple(int(s) for s in weight_shape)
    if len(weight_shape) != 4:
        raise ValueError(f"conv2d_backward_weight: weight_shape must be (O, C/groups, KH, KW), got {weight_shape}")
    _check_shapes(x.shape, weight_shape, groups, "conv2d_backward_weight")
    NB, C, H, W = x.shape
    O, Cg, KH, KW = weight_shape
    P, Q = _out_hw(H, W, KH, KW, geo)
    if tuple(grad_out.shape) != (NB, O, P, Q):
        raise ValueError(f"conv2d_backward_weight: grad_out {tuple(grad_out.shape)} should be {(NB, O, P, Q)}")
    dw = _output("out", out, x, weight_shape, x.dtype)
    Og = O // groups
    if Og * Cg * KH * KW == 0:
        return dw
    problem = _problem("weight", x.shape, weight_shape, geo, x.dtype)
    meta, opts = launch_options(config_for("conv2d", problem) if config is None else config)
    grid = (triton.cdiv(Og, meta["BLOCK_M"]) * triton.cdiv(Cg, meta["BLOCK_N"]) * KH * KW, groups)
    _conv_wgrad_kernel[grid](
        grad_out, x, dw, NB, Cg, H, W, Og, P, Q, KH, KW,
        *grad_out.strides, *x.strides, *dw.strides,
        geo["SH"], geo["SW"], geo["PH"], geo["PW"], geo["DH"], geo["DW"],
        PRECISION=_precision(x.dtype, allow_tf32), UPCAST=upcast_dot(x.dtype), **meta, **opts,
    )
    return dw


def conv2d_backward_bias(grad_out, out=None, config=None):
    """Gradient of the bias: sum of grad_out (N, O, P, Q) over N, P, Q -> (O,).

    ``config``: optional dict(BLOCK_L=..., BLOCK_O=...) overriding the tile.
    """
    _check_4d("grad_out", grad_out)
    NB, O, P, Q = grad_out.shape
    db = _output("out", out, grad_out, (O,), grad_out.dtype)
    if O == 0:
        return db
    if config is None:
        # the interpreter pays per program and per loop step, not per element: large tiles;
        # on a GPU 64 x 32 fp32 = 8 KiB of accumulator per program
        block_l = min(triton.next_power_of_2(max(NB * P * Q, 1)), 1024 if interpret() else 64)
        config = dict(BLOCK_L=block_l, BLOCK_O=min(triton.next_power_of_2(O), 64 if interpret() else 32))
    block_l, block_o = config["BLOCK_L"], config["BLOCK_O"]
    _bias_grad_kernel[(triton.cdiv(O, block_o),)](grad_out, db, NB * P * Q, O, P, Q, *grad_out.strides,
                                                   db.strides[0], BLOCK_L=block_l, BLOCK_O=block_o)
    return db


def _transpose_geometry(x, w, stride, padding, output_padding, groups, dilation, what):
    """Output shape of conv_transpose2d and the conv geometry it is the grad-input pass of."""
    _check_4d("x", x)
    _check_4d("weight", w, x.dtype)
    geo = _geometry(stride, padding, dilation, groups)
    oph, opw = _pair("output_padding", output_padding, 0)
    if oph >= geo["SH"] or opw >= geo["SW"]:
        raise ValueError(f"{what}: output_padding {(oph, opw)} must be smaller than stride {(geo['SH'], geo['SW'])}")
    NB, Cin, H, W = x.shape
    Cin_w, Cout_g, KH, KW = w.shape
    if Cin % groups or Cin_w != Cin:
        raise ValueError(f"{what}: weight {tuple(w.shape)} needs weight.shape[0] == in_channels {Cin} "
                         f"divisible by groups={groups}")
    Ho = (H - 1) * geo["SH"] - 2 * geo["PH"] + geo["DH"] * (KH - 1) + oph + 1
    Wo = (W - 1) * geo["SW"] - 2 * geo["PW"] + geo["DW"] * (KW - 1) + opw + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{what}: output would be {Ho}x{Wo}")
    return geo, (NB, Cout_g * groups, Ho, Wo)


def conv_transpose2d(x, w, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                     dilation=(1, 1), out=None, config=None, allow_tf32=False):
    """Transposed convolution (PyTorch's conv_transpose2d): conv2d's grad-input pass applied to x.

    Args:
        x: (N, Cin, H, W); w: (Cin, Cout/groups, KH, KW); bias: (Cout,) or None.
        output_padding: extra rows/cols on one side of the output, smaller than stride.

    Returns:
        (N, Cout, (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1, ...).
    """
    geo, shape = _transpose_geometry(x, w, stride, padding, output_padding, groups, dilation, "conv_transpose2d")
    _check_bias(bias, shape[1], "conv_transpose2d")
    return _grad_input(x, w, shape, geo, bias, out, config, allow_tf32, "conv_transpose2d")


def conv_transpose2d_backward(grad_out, x, w, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), groups=1,
                              dilation=(1, 1), need_input=True, need_weight=True, need_bias=False,
                              allow_tf32=False):
    """(dx, dw, dbias) of conv_transpose2d: dx is conv2d(grad_out, w), dw is conv2d's weight grad
    with the roles of input and output swapped."""
    geo, shape = _transpose_geometry(x, w, stride, padding, output_padding, groups, dilation,
                                     "conv_transpose2d_backward")
    if tuple(grad_out.shape) != shape:
        raise ValueError(f"conv_transpose2d_backward: grad_out {tuple(grad_out.shape)} should be {shape}")
    args = dict(stride=(geo["SH"], geo["SW"]), padding=(geo["PH"], geo["PW"]), dilation=(geo["DH"], geo["DW"]),
                groups=groups, allow_tf32=allow_tf32)
    dx = conv2d(grad_out, w, **args) if need_input else None
    dw = conv2d_backward_weight(x, grad_out, w.shape, **args) if need_weight else None
    db = conv2d_backward_bias(grad_out) if need_bias else None
    return dx, dw, db


# ---------------------------------------------------------------------------------------
# configs: the space the tuner searches, and the default when nothing is tuned
# ---------------------------------------------------------------------------------------
def _cfg(bm, bn, bk, gm, warps, stages):
    return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=gm, num_warps=warps, num_stages=stages)


CONV_CONFIGS = [
    _cfg(128, 64, 32, 8, 8, 3), _cfg(128, 128, 32, 8, 8, 3), _cfg(128, 64, 16, 8, 8, 3),
    _cfg(128, 128, 16, 8, 8, 3), _cfg(64, 128, 32, 8, 8, 3), _cfg(128, 32, 32, 8, 8, 3),
    _cfg(64, 64, 32, 8, 4, 3), _cfg(64, 64, 16, 8, 4, 3), _cfg(64, 128, 16, 8, 4, 3),
    _cfg(64, 32, 32, 8, 4, 3), _cfg(32, 64, 32, 8, 4, 3), _cfg(64, 16, 32, 8, 4, 3),
    # fp32 (FMA) heuristic tiles (see conv_heuristic): unpipelined ones spill on none of Triton
    # 3.4 / 3.6 / 3.9; the weight pass's 64x64x32 w8 s3 spills gathering on 3.4 / 3.6
    _cfg(64, 64, 32, 8, 8, 1), _cfg(128, 64, 16, 8, 8, 1), _cfg(128, 32, 16, 8, 8, 1), _cfg(64, 64, 32, 8, 8, 3),
]


def _c(bm, bn, bk, warps, stages=3):
    return _cfg(bm, bn, bk, 8, warps, stages)


# perf/sass_report.py --configs --filter conv2d (sm_90a, 32x64x56x56 3x3, every pass): the configs
# of CONV_CONFIGS that spill, by the ptxas the running Triton uses for sm_90 and by pass (the
# gathered forward / input passes, or weight). Triton 3.9 (ptxas 13.4): 16-bit spills nothing; fp32
# FMA tiles of 128 columns or 64x32 on 4 warps do. Triton 3.4 and 3.6 (ptxas 12.8; union of both):
# every fp32 gathered config at 3 stages (32-1460 B), the fp32 weight pass at 5 configs (4-108 B),
# and six 16-bit gathered ones (4-348 B; 128x64x32 w8 28 B on 3.4).
_FP32_SPILLS = [_c(128, 128, 32, 8), _c(128, 128, 16, 8), _c(64, 128, 16, 4), _c(64, 32, 32, 4)]
_SPILLS_PTXAS12 = {
    ("float32", "gathered"): [c for c in CONV_CONFIGS if c["num_stages"] == 3],
    ("float32", "weight"): [_c(64, 64, 32, 4), _c(64, 128, 16, 4), _c(128, 64, 16, 8), _c(128, 128, 32, 8),
                            _c(64, 64, 16, 4)],
    ("16-bit", "gathered"): [_c(64, 32, 32, 4), _c(64, 64, 32, 4), _c(64, 128, 16, 4), _c(64, 128, 32, 8),
                             _c(128, 64, 32, 8), _c(128, 128, 32, 8)],
    ("16-bit", "weight"): [],
}


def _ptxas12() -> bool:
    """Whether the running Triton compiles sm_90 with CUDA 12's ptxas (Triton < 3.9)."""
    return tuple(int(v) for v in triton.__version__.split(".")[:2]) < (3, 9)


def conv_spills(problem: dict) -> list:
    """The configs of CONV_CONFIGS that spill on sm_90 for ``problem``'s dtype and pass under the
    running Triton."""
    dtype = "float32" if problem["dtype"] == "float32" else "16-bit"
    if not _ptxas12():
        return _FP32_SPILLS if dtype == "float32" else []
    return _SPILLS_PTXAS12[dtype, "weight" if problem["which"] == "weight" else "gathered"]


def _pow2(n: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(int(n), 1))))


def conv_gemm_dims(problem: dict) -> tuple[int, int, int]:
    """(M, N, K) of the implicit GEMM behind ``problem['which']`` in forward / input / weight.

    The forward and input passes contract K = channels x taps, BLOCK_K channels of one tap at
    a time; the weight pass runs one (O, C) GEMM per tap.
    """
    g = problem["groups"]
    geo = {k: problem[k] for k in ("SH", "SW", "PH", "PW", "DH", "DW")}
    P, Q = _out_hw(problem["H"], problem["W"], problem["KH"], problem["KW"], geo)
    taps = problem["KH"] * problem["KW"]
    Cg, Og = problem["C"] // g, problem["O"] // g
    NB = problem["batch"]
    return {
        "forward": (NB * P * Q, Og, Cg * taps),
        "input": (NB * problem["H"] * problem["W"], Cg, Og * taps),
        "weight": (Og, Cg, NB * P * Q),  # one GEMM per tap (kh, kw)
    }[problem["which"]]


def conv_heuristic(problem: dict) -> dict:
    """Default tile for a conv pass; ``problem`` as built by the launchers (geometry + dtype)."""
    M, N, K = conv_gemm_dims(problem)
    if interpret():  # per-program NumPy overhead dominates: fewest, largest tiles
        return _cfg(_pow2(M, 16, 128), _pow2(N, 16, 128), _pow2(K, 16, 128), 8, 4, 1)
    # sm_90 (perf/sass_report.py), 32x64x56x56 3x3 64->64, registers on Triton 3.9 / 3.6 / 3.4:
    # the gathered tile's per-element addresses live in registers. 16-bit: 128x64 on 8 warps,
    # BLOCK_K 16 (189 / 180 / 185 regs, wgmma); BLOCK_K 32 spilled 28 B on 3.4 (255 regs).
    # fp32 runs on FMA, whose operand fragments hold a whole BLOCK_K slice a thread: 64x64 on 8
    # warps, and the gathered passes unpipelined (forward 64x64x32 s1: 126 / 186 / 188; 128x64x32
    # s3 spilled 516 B on 3.6 and 556 on 3.4, 64x64x32 s3 100 on 3.4); grad weight 64x64x32 s3
    # (164 / 115 / 109; on 4 warps it spilled 4 B on 3.4).
    channels = K // (1 if problem["which"] == "weight" else problem["KH"] * problem["KW"])
    gathered = problem["which"] != "weight"
    if problem["dtype"] == "float32":
        bm, bn, bk = _pow2(M, 16, 64), _pow2(N, 16, 64), _pow2(channels, 16, 32)
        return _cfg(bm, bn, bk, 8, 8 if bm * bn >= 64 * 64 else 4, 1 if gathered else 3)
    bm, bn, bk = _pow2(M, 16, 128), _pow2(N, 16, 64), _pow2(channels, 16, 16 if gathered else 32)
    return _cfg(bm, bn, bk, 8, 8 if bm * bn >= 128 * 64 else 4, 3)


def _make_conv_problem(problem: dict, new_buffer):
    g, dt = problem["groups"], problem["dtype"]
    args = dict(stride=(problem["SH"], problem["SW"]), padding=(problem["PH"], problem["PW"]),
                dilation=(problem["DH"], problem["DW"]), groups=g)
    x = new_buffer((problem["batch"], problem["C"], problem["H"], problem["W"]), dt)
    w = new_buffer((problem["O"], problem["C"] // g, problem["KH"], problem["KW"]), dt)
    P, Q = _out_hw(problem["H"], problem["W"], problem["KH"], problem["KW"], problem)
    dy = new_buffer((problem["batch"], problem["O"], P, Q), dt)
    y, dx, dw = dy.new(dy.shape, dy.dtype), x.new(x.shape, x.dtype), w.new(w.shape, w.dtype)
    runs = {
        "forward": lambda cfg: conv2d(x, w, out=y, config=cfg, **args),
        "input": lambda cfg: conv2d_backward_input(dy, w, x.shape, out=dx, config=cfg, **args),
        "weight": lambda cfg: conv2d_backward_weight(dy, x, w.shape, out=dw, config=cfg, **args),
    }
    return runs[problem["which"]]


CONV2D = register(Tunable(
    name="conv2d",
    configs=CONV_CONFIGS,
    heuristic=conv_heuristic,
    make_problem=_make_conv_problem,
    doc="implicit-GEMM conv2d: forward, grad-input (= conv_transpose2d) and grad-weight passes",
    problem_keys=("which", "batch", "C", "H", "W", "O", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW",
                  "groups", "dtype"),
    spills=conv_spills,
))
