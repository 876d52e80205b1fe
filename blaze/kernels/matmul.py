"""Matrix multiply: a tiled GEMM with a fused epilogue ``act(A @ B + bias) + residual``, and its backward.

Transposed operands are only strides (the kernel never needs a contiguous copy); a batch
dimension with stride 0 broadcasts one operand over the other's batch. Backward reuses the
same GEMM: ``dA = dZ @ B^T`` and ``dB = A^T @ dZ`` swap strides, and a gradient for an
operand that was broadcast over the batch sums over it inside the K loop (``KB``).
"""
from __future__ import annotations

import numpy as np
import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.launcher import launch
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOAT_DTYPES = ("float32", "float16", "bfloat16")

# Activation name -> the constexpr id the kernels branch on at compile time (one compiled
# variant per activation, no runtime branch in the epilogue).
ACTIVATIONS = {None: 0, "none": 0, "relu": 1, "gelu": 2, "gelu_tanh": 3, "silu": 4, "tanh": 5}

# CUDA caps grid dims 1 and 2 at 65535 programs.
_MAX_GRID_YZ = 65535


@triton.jit
def _tanh(x):
    # tl has no portable tanh (libdevice is backend-specific); exp(-2|x|) <= 1 never overflows.
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x >= 0, t, -t)


@triton.jit
def dot_acc(a, b, acc, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """acc + a @ b in fp32. UPCAST: Triton's interpreter (3.9) keeps bfloat16 as uint16 bits
    and np.matmul's the integers, so under the interpreter bf16 tiles are widened to fp32
    first; exact (8-bit mantissa products fit fp32), like the GPU's bf16 MMA."""
    if UPCAST:
        acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    else:
        acc = tl.dot(a, b, acc, input_precision=PRECISION)
    return acc


def upcast_dot(dtype) -> bool:
    """Whether kernels must widen ``dtype`` tiles before tl.dot (bf16 under the interpreter)."""
    return interpret() and str(dtype) == "bfloat16"


@triton.jit
def _act(x, ACT: tl.constexpr):
    """act(x) on an fp32 tile; ACT is an id from ACTIVATIONS."""
    if ACT == 1:  # relu
        x = tl.maximum(x, 0.0)
    elif ACT == 2:  # gelu (erf): x * Phi(x), 1/sqrt(2) = 0.70710678
        x = 0.5 * x * (1.0 + tl.math.erf(x * 0.7071067811865476))
    elif ACT == 3:  # gelu (tanh approximation), sqrt(2/pi) = 0.79788456
        x = 0.5 * x * (1.0 + _tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    elif ACT == 4:  # silu: x * sigmoid(x); exp(-x) -> inf for x < -88 gives x / inf = -0, the limit
        x = x / (1.0 + tl.exp(-x))
    elif ACT == 5:  # tanh
        x = _tanh(x)
    return x


@triton.jit
def _act_grad(x, ACT: tl.constexpr):
    """d act(x) / dx on an fp32 tile of pre-activations."""
    if ACT == 1:
        d = tl.where(x > 0, 1.0, 0.0)
    elif ACT == 2:  # Phi(x) + x * phi(x), 1/sqrt(2 pi) = 0.39894228
        d = 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)
    elif ACT == 3:  # u = c (x + 0.044715 x^3); d = (1 + t)/2 + x (1 - t^2) c (1 + 3 * 0.044715 x^2) / 2
        x2 = x * x
        t = _tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x2))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 0.134145 * x2)
    elif ACT == 4:  # s (1 + x (1 - s))
        s = 1.0 / (1.0 + tl.exp(-x))
        d = s * (1.0 + x * (1.0 - s))
    elif ACT == 5:
        t = _tanh(x)
        d = 1.0 - t * t
    else:
        d = tl.full(x.shape, 1.0, tl.float32)
    return d


@triton.jit
def _matmul_kernel(
    a_ptr, b_ptr, c_ptr, bias_ptr, res_ptr, pre_ptr,
    M, N, K, KB,
    stride_az, stride_akb, stride_am, stride_ak,
    stride_bz, stride_bkb, stride_bk, stride_bn,
    stride_cz, stride_cm, stride_cn,
    stride_bias,
    stride_rz, stride_rm, stride_rn,
    stride_pz, stride_pm, stride_pn,
    ACT: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_RES: tl.constexpr, SAVE_PRE: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    """C[z] = act(sum_kb A[z, kb] @ B[z, kb] + bias) + R[z]; grid (tiles of M x N, Z).

    Traffic per program: reads KB*K*(BLOCK_M + BLOCK_N) elements of A and B, writes
    BLOCK_M*BLOCK_N of C (x2 with SAVE_PRE, +1 read with HAS_RES). GROUP_M tiles in a
    column share the same B panel while it is still in L2.
    """
    pid = tl.program_id(0)
    pid_z = tl.program_id(1).to(tl.int64)  # batch offsets can pass 2^31 elements
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # Tail rows/cols wrap to valid ones (never stored), so only the K tail needs a load mask.
    # Row/col offsets go to int64 once per tile: an operand of 65536 x 32768 is past 2^31 elements.
    offs_am = (offs_m % M).to(tl.int64)
    offs_bn = (offs_n % N).to(tl.int64)
    a_kb = a_ptr + pid_z * stride_az + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_kb = b_ptr + pid_z * stride_bz + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for _kb in range(0, KB):
        a_ptrs = a_kb
        b_ptrs = b_kb
        for k0 in range(0, K, BLOCK_K):
            k_ok = offs_k < K - k0
            a = tl.load(a_ptrs, mask=k_ok[None, :], other=0.0)
            b = tl.load(b_ptrs, mask=k_ok[:, None], other=0.0)
            acc = dot_acc(a, b, acc, PRECISION, UPCAST)
            # pointer increments stay 64-bit, where k0 * stride would be an int32 product
            a_ptrs += BLOCK_K * stride_ak
            b_ptrs += BLOCK_K * stride_bk
        a_kb += stride_akb
        b_kb += stride_bkb

    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    offs_m = offs_m.to(tl.int64)
    offs_n = offs_n.to(tl.int64)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_n * stride_bias, mask=offs_n < N, other=0.0)
        acc += bias[None, :].to(tl.float32)
    if SAVE_PRE:
        p_ptrs = pre_ptr + pid_z * stride_pz + offs_m[:, None] * stride_pm + offs_n[None, :] * stride_pn
        tl.store(p_ptrs, acc.to(pre_ptr.dtype.element_ty), mask=mask)
    acc = _act(acc, ACT)
    if HAS_RES:
        r_ptrs = res_ptr + pid_z * stride_rz + offs_m[:, None] * stride_rm + offs_n[None, :] * stride_rn
        acc += tl.load(r_ptrs, mask=mask, other=0.0).to(tl.float32)
    c_ptrs = c_ptr + pid_z * stride_cz + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _act_grad_kernel(
    g_ptr, p_ptr, dz_ptr,
    M, N,
    stride_gz, stride_gm, stride_gn,
    stride_pz, stride_pm, stride_pn,
    stride_dz, stride_dm, stride_dn,
    ACT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """dZ = grad_out * act'(preact); grid (M tiles, N tiles, Z). Reads 2MN, writes MN."""
    pid_z = tl.program_id(2).to(tl.int64)
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    g = tl.load(g_ptr + pid_z * stride_gz + offs_m[:, None] * stride_gm + offs_n[None, :] * stride_gn,
                mask=mask, other=0.0).to(tl.float32)
    p = tl.load(p_ptr + pid_z * stride_pz + offs_m[:, None] * stride_pm + offs_n[None, :] * stride_pn,
                mask=mask, other=0.0).to(tl.float32)
    dz = g * _act_grad(p, ACT)
    tl.store(dz_ptr + pid_z * stride_dz + offs_m[:, None] * stride_dm + offs_n[None, :] * stride_dn,
             dz.to(dz_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _sum_rows_kernel(
    x_ptr, y_ptr,
    Z, R, N,
    stride_xz, stride_xr, stride_xn,
    stride_y,
    BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """y[n] = sum over z, r of x[z, r, n] in fp32; grid (N tiles,). Reads Z*R*N, writes N.

    One program owns a column strip and sums it in a fixed order, so the result is
    deterministic (no atomics).
    """
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_r = tl.arange(0, BLOCK_R)
    n_ok = offs_n < N
    acc = tl.zeros((BLOCK_R, BLOCK_N), dtype=tl.float32)
    x_z = x_ptr + offs_r[:, None] * stride_xr + offs_n[None, :] * stride_xn
    for _z in range(0, Z):
        x_ptrs = x_z
        for r0 in range(0, R, BLOCK_R):
            ok = (offs_r[:, None] < R - r0) & n_ok[None, :]
            acc += tl.load(x_ptrs, mask=ok, other=0.0).to(tl.float32)
            x_ptrs += BLOCK_R * stride_xr
        x_z += stride_xz
    tl.store(y_ptr + offs_n * stride_y, tl.sum(acc, axis=0).to(y_ptr.dtype.element_ty), mask=n_ok)


# ---------------------------------------------------------------------------------------
# launchers
# ---------------------------------------------------------------------------------------
def _act_id(activation) -> int:
    if activation not in ACTIVATIONS:
        names = ", ".join(repr(k) for k in ACTIVATIONS if k is not None)
        raise ValueError(f"matmul: unknown activation {activation!r} (supported: None, {names})")
    return ACTIVATIONS[activation]


def _broadcast_strides(buf, shape) -> list:
    """Strides of ``buf`` broadcast to ``shape`` (0 along broadcast dims), in elements."""
    pad = len(shape) - len(buf.shape)
    return [0 if i < pad or buf.shape[i - pad] == 1 else buf.strides[i - pad] for i in range(len(shape))]


def _batch_strides(buf, batch_shape) -> list:
    """Strides of a matrix operand's batch dims broadcast to ``batch_shape``."""
    return _broadcast_strides(buf, tuple(batch_shape) + tuple(buf.shape[-2:]))[:-2]


def _collapse(batch_shape, strides_list, what="matmul") -> tuple[int, list]:
    """Merge all batch dims into one: (Z, one batch stride per operand), or raise.

    Dims merge when every operand steps through them as one (stride[i] == stride[i+1] *
    size[i+1]); contiguous and fully broadcast operands always do.
    """
    dims = [(size, [st[i] for st in strides_list]) for i, size in enumerate(batch_shape) if size != 1]
    if not dims:
        return 1, [0] * len(strides_list)
    z, inner = dims[-1]
    for size, outer in reversed(dims[:-1]):
        if any(o != i * z for o, i in zip(outer, inner)):
            raise ValueError(f"{what}: batch dims {tuple(batch_shape)} cannot be merged into one batch "
                             f"stride (a partially broadcast or permuted batch); make the operands contiguous")
        z *= size
    if z > _MAX_GRID_YZ:
        raise ValueError(f"{what}: batch of {z} exceeds the {_MAX_GRID_YZ} programs a grid dim may hold")
    return z, inner


def _check_out(name, buf, shape, dtype):
    check_buffer(name, buf)
    if tuple(buf.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(buf.shape)}")
    if str(buf.dtype) != str(dtype):
        raise TypeError(f"{name}: expected dtype {dtype}, got {buf.dtype}")


def _config(name: str, problem: dict, config) -> tuple[dict, dict]:
    cfg = config_for(name, problem) if config is None else config
    return launch_options(cfg)


def _gemm(a, sa, b, sb, c, sc, M, N, K, Z, KB, *, bias=None, res=None, sr=(0, 0, 0), pre=None,
          sp=(0, 0, 0), act=0, allow_tf32=False, config=None):
    """Launch the GEMM on strided views: sa = A strides (z, kb, m, k), sb = B (z, kb, k, n), sc = C (z, m, n)."""
    dtype = str(a.dtype)
    meta, opts = _config("matmul", dict(M=M, N=N, K=K * KB, Z=Z, dtype=dtype), config)
    # fp32 inputs: "ieee" keeps ~1e-6 relative error; "tf32" rounds inputs to 10 mantissa bits
    # (~3e-4) for up to 8x the tensor-core rate. 16-bit inputs ignore the choice.
    precision = "tf32" if (allow_tf32 or dtype != "float32") else "ieee"
    grid = (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]), Z)
    launch(_matmul_kernel, grid,
        a, b, c, a if bias is None else bias, a if res is None else res, c if pre is None else pre,
        M, N, K, KB,
        *sa, *sb, *sc,
        0 if bias is None else bias.strides[0],
        *sr, *sp,
        ACT=act, HAS_BIAS=bias is not None, HAS_RES=res is not None, SAVE_PRE=pre is not None,
        PRECISION=precision, UPCAST=upcast_dot(dtype), **meta, **opts,
    )
    return c


def _operands(a, b, what):
    check_buffer("a", a, dtypes=FLOAT_DTYPES)
    check_buffer("b", b, dtypes=FLOAT_DTYPES)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ValueError(f"{what}: a and b need at least 2 dims, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if str(a.dtype) != str(b.dtype):
        raise TypeError(f"{what}: a and b must have the same dtype, got {a.dtype} and {b.dtype}")
    (M, K), (K2, N) = a.shape[-2:], b.shape[-2:]
    if K != K2:
        raise ValueError(f"{what}: inner dims differ: a {tuple(a.shape)} has K={K}, b {tuple(b.shape)} has K={K2}")
    try:
        batch = tuple(np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    except ValueError:
        raise ValueError(f"{what}: batch dims of a {tuple(a.shape)} and b {tuple(b.shape)} do not broadcast") from None
    return M, N, K, batch


def matmul(a, b, bias=None, residual=None, activation=None, allow_tf32=False, save_preact=False,
           out=None, preact_out=None, config=None):
    """``act(a @ b + bias) + residual`` in one kernel, accumulating in fp32.

    Args:
        a: (..., M, K) buffer; b: (..., K, N), batch dims broadcast (any strides: pass a
            transposed view instead of copying).
        bias: (N,) or None. residual: broadcastable to (..., M, N) or None.
        activation: None, "relu", "gelu", "gelu_tanh", "silu" or "tanh".
        allow_tf32: fp32 inputs multiply in tf32 (~3e-4 relative error, much faster).
        save_preact: also return ``a @ b + bias`` (what the activation's backward needs).
        out / preact_out: preallocated outputs of shape (..., M, N) and a's dtype.
        config: override the registry's config (BLOCK_M/N/K, GROUP_M, num_warps, num_stages).

    Returns:
        out, or (out, preact) when ``save_preact``.
    """
    M, N, K, batch = _operands(a, b, "matmul")
    act = _act_id(activation)
    shape = batch + (M, N)
    if out is None:
        out = a.new(shape, a.dtype)
    _check_out("out", out, shape, a.dtype)
    pre = None
    if save_preact:
        pre = a.new(shape, a.dtype) if preact_out is None else preact_out
        _check_out("preact_out", pre, shape, a.dtype)
    if bias is not None:
        check_buffer("bias", bias, ndim=1, dtypes=FLOAT_DTYPES)
        if tuple(bias.shape) != (N,):
            raise ValueError(f"matmul: bias must have shape ({N},) for output {shape}, got {tuple(bias.shape)}")
    views = [a, b, out] + ([pre] if pre is not None else [])
    if residual is not None:
        check_buffer("residual", residual, dtypes=FLOAT_DTYPES)
        try:
            if np.broadcast_shapes(tuple(residual.shape), shape) != shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"matmul: residual {tuple(residual.shape)} does not broadcast to {shape}") from None
    if 0 in shape:
        return (out, pre) if save_preact else out
    strides = [_batch_strides(v, batch) for v in views]
    if residual is not None:
        rs = _broadcast_strides(residual, shape)
        strides.append(rs[:-2])
    Z, zs = _collapse(batch, strides)
    sr = sp = (0, 0, 0)
    if residual is not None:
        sr = (zs[-1], rs[-2], rs[-1])
    if pre is not None:
        sp = (zs[3], *pre.strides[-2:])
    _gemm(a, (zs[0], 0, *a.strides[-2:]), b, (zs[1], 0, *b.strides[-2:]), out, (zs[2], *out.strides[-2:]),
          M, N, K, Z, 1, bias=bias, res=residual, sr=sr, pre=pre, sp=sp, act=act,
          allow_tf32=allow_tf32, config=config)
    return (out, pre) if save_preact else out



def _pow2(n: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(int(n), 1))))


def _elementwise_blocks(R: int, N: int) -> tuple[int, int]:
    """(BLOCK_R, BLOCK_N) for the act-grad and row-sum kernels."""
    if interpret():  # the interpreter pays per program, not per element: few, large tiles
        return _pow2(R, 1, 256), _pow2(N, 1, 256)
    return _pow2(R, 1, 32), _pow2(N, 16, 128)  # 32x128 fp32 = 16 KiB live per program


def sum_rows(x, Z, R, N, sx, out):
    """out[n] = sum over (z, r) of x at z*sx[0] + r*sx[1] + n*sx[2]; the reduction behind bias grads."""
    block_r, block_n = _elementwise_blocks(R, N)
    _sum_rows_kernel[(triton.cdiv(N, block_n),)](x, out, Z, R, N, *sx, out.strides[0],
                                                   BLOCK_R=block_r, BLOCK_N=block_n)
    return out


def _grad_gemm(x, sx, y, sy, out, so, rows, cols, inner, Z, reduce_batch, allow_tf32, config):
    """out[z] = x[z] @ y[z] on (z, row, col) strides; ``reduce_batch`` sums over z into one matrix
    (the gradient of an operand that was broadcast over the batch)."""
    if rows * cols == 0 or (Z == 0 and not reduce_batch):
        return
    if reduce_batch:
        _gemm(x, (0, *sx), y, (0, *sy), out, (0, *so[1:]), rows, cols, inner, 1, Z,
              allow_tf32=allow_tf32, config=config)
    else:
        _gemm(x, (sx[0], 0, *sx[1:]), y, (sy[0], 0, *sy[1:]), out, so, rows, cols, inner, Z, 1,
              allow_tf32=allow_tf32, config=config)


def matmul_backward(grad_out, a, b, preact=None, activation=None, need_a=True, need_b=True, need_bias=False,
                    allow_tf32=False, out_a=None, out_b=None, out_bias=None, config=None):
    """Gradients of ``out = act(a @ b + bias) + residual`` (residual's gradient is grad_out itself).

    Args:
        grad_out: (..., M, N), a's dtype. a, b: the forward operands (any strides).
        preact: the forward's saved ``a @ b + bias``; required unless activation is None.
        need_a / need_b / need_bias: which gradients to compute.
        out_a / out_b / out_bias: optional preallocated gradient buffers.

    Returns:
        (da, db, dbias), each None when not asked for; da has a's shape (summed over the
        batch dims a was broadcast along), db has b's shape, dbias has shape (N,).
    """
    M, N, K, batch = _operands(a, b, "matmul_backward")
    act = _act_id(activation)
    shape = batch + (M, N)
    check_buffer("grad_out", grad_out, dtypes=FLOAT_DTYPES)
    if tuple(grad_out.shape) != shape:
        raise ValueError(f"matmul_backward: grad_out has shape {tuple(grad_out.shape)}, expected {shape}")
    if str(grad_out.dtype) != str(a.dtype):
        raise TypeError(f"matmul_backward: grad_out dtype {grad_out.dtype} differs from a's {a.dtype}")
    views = [a, b, grad_out]
    if act:
        if preact is None:
            raise ValueError(f"matmul_backward: activation {activation!r} needs preact (matmul(save_preact=True))")
        check_buffer("preact", preact, dtypes=FLOAT_DTYPES)
        if tuple(preact.shape) != shape:
            raise ValueError(f"matmul_backward: preact has shape {tuple(preact.shape)}, expected {shape}")
        views.append(preact)
    da = db = dbias = None
    if need_a:
        da = a.new(a.shape, a.dtype) if out_a is None else out_a
        _check_out("out_a", da, a.shape, a.dtype)
    if need_b:
        db = b.new(b.shape, b.dtype) if out_b is None else out_b
        _check_out("out_b", db, b.shape, b.dtype)
    if need_bias:
        dbias = a.new((N,), grad_out.dtype) if out_bias is None else out_bias
        _check_out("out_bias", dbias, (N,), grad_out.dtype)
    # an absent gradient stands in as its operand (already in views: no extra constraint)
    grads = [a if da is None else da, b if db is None else db]
    Z, zs = _collapse(batch, [_batch_strides(v, batch) for v in views + grads], "matmul_backward")
    za, zb, zg = zs[:3]
    zda, zdb = zs[-2:]
    if Z == 0 or M * N == 0:  # empty dZ: gradients are sums over nothing, hence zeros
        dz, sdz = grad_out, (0, 0, 0)
    elif act:
        dz = a.new(shape, a.dtype)  # contiguous (Z, M, N)
        sdz = (M * N, N, 1)
        block_m, block_n = _elementwise_blocks(M, N)
        grid = (triton.cdiv(M, block_m), triton.cdiv(N, block_n), Z)
        launch(_act_grad_kernel, grid, grad_out, preact, dz, M, N, zg, *grad_out.strides[-2:],
               zs[3], *preact.strides[-2:], *sdz, ACT=act, BLOCK_M=block_m, BLOCK_N=block_n)
    else:
        dz, sdz = grad_out, (zg, *grad_out.strides[-2:])
    # A gradient buffer with batch stride 0 belongs to an operand broadcast over the batch:
    # its GEMM sums over the batch (KB) instead of writing one matrix per batch entry.
    if da is not None:  # dA = dZ @ B^T: (M, N) @ (N, K), B^T by swapping b's strides
        sbt = (zb, b.strides[-1], b.strides[-2])
        _grad_gemm(dz, sdz, b, sbt, da, (zda, *da.strides[-2:]), M, K, N, Z, zda == 0 and Z != 1,
                   allow_tf32, config)
    if db is not None:  # dB = A^T @ dZ: (K, M) @ (M, N)
        sat = (za, a.strides[-1], a.strides[-2])
        _grad_gemm(a, sat, dz, sdz, db, (zdb, *db.strides[-2:]), K, N, M, Z, zdb == 0 and Z != 1,
                   allow_tf32, config)
    if dbias is not None and N > 0:  # sum of dZ over every row of every batch
        sum_rows(dz, Z, M, N, sdz, dbias)
    return da, db, dbias


# ---------------------------------------------------------------------------------------
# configs: the space the tuner searches, and the default when nothing is tuned
# ---------------------------------------------------------------------------------------
def _cfg(bm, bn, bk, gm, warps, stages):
    return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=gm, num_warps=warps, num_stages=stages)


MATMUL_CONFIGS = [
    _cfg(128, 256, 64, 8, 8, 3), _cfg(256, 128, 64, 8, 8, 3), _cfg(128, 128, 64, 8, 8, 4),
    _cfg(128, 128, 32, 8, 4, 4), _cfg(128, 64, 64, 8, 4, 4), _cfg(64, 128, 64, 8, 4, 4),
    _cfg(128, 64, 32, 8, 4, 4), _cfg(64, 64, 64, 8, 4, 4), _cfg(64, 64, 32, 8, 4, 5),
    _cfg(32, 64, 64, 8, 4, 5), _cfg(64, 32, 64, 8, 4, 5), _cfg(32, 32, 64, 8, 2, 5),
    _cfg(16, 64, 128, 8, 4, 4), _cfg(64, 16, 128, 8, 4, 4),
]


# perf/sass_report.py --configs (sm_90a, Triton 3.9, 4096^3): the configs of MATMUL_CONFIGS
# that spill registers. fp32 keeps a 128x256 / 256x128 accumulator (128 a thread on 8 warps)
# that cannot fit beside its operands; 16-bit operands spill only the 16x64x128 sliver.
_SPILLS = {
    "float32": [_cfg(128, 256, 64, 8, 8, 3), _cfg(256, 128, 64, 8, 8, 3), _cfg(128, 128, 32, 8, 4, 4),
                _cfg(128, 64, 64, 8, 4, 4), _cfg(64, 64, 32, 8, 4, 5)],
    "16-bit": [_cfg(16, 64, 128, 8, 4, 4)],
}


def matmul_spills(problem: dict) -> list:
    """The configs of MATMUL_CONFIGS that spill on sm_90 for ``problem``'s dtype."""
    return _SPILLS["float32" if problem["dtype"] == "float32" else "16-bit"]


def matmul_heuristic(problem: dict) -> dict:
    """Default tile for ``problem`` = dict(M, N, K, Z, dtype); cheap, no benchmarking."""
    M, N, K, Z = problem["M"], problem["N"], problem["K"], problem.get("Z", 1)
    if interpret():
        # The interpreter runs each program as NumPy calls (~50 us each regardless of tile
        # size), so the fewest, largest tiles win: 128^3 fp32 tiles are 64 KiB per operand.
        return _cfg(_pow2(M, 16, 128), _pow2(N, 16, 128), _pow2(K, 16, 128), 8, 4, 1)
    wide = problem["dtype"] != "float32"
    # 16-bit: 128x128x64 tiles, 3 x 32 KiB of smem stages; fp32 operands are twice as big, so
    # BLOCK_K halves. Small M or N (decode-style GEMMs) shrink the tile so it is not mostly tail.
    bm, bn = _pow2(M, 16, 128), _pow2(N, 16, 128)
    bk = 64 if wide else 32
    # Too few tiles to fill ~100 SMs: halve the larger side (down to 64) to get more programs.
    while Z * triton.cdiv(M, bm) * triton.cdiv(N, bn) < 64 and max(bm, bn) > 64:
        if bm >= bn:
            bm //= 2
        else:
            bn //= 2
    # 128x128 tiles take 8 warps in every dtype: fp32 on 4 warps needed 255 registers and
    # spilled 148 B a thread on sm_90; on 8 it is 190 (FMA) / 198 (tf32 wgmma), no spills.
    warps = 8 if bm * bn >= 128 * 128 else 4
    return _cfg(bm, bn, bk, 8, warps, 3 if bm * bn >= 128 * 128 else 4)


def _make_matmul_problem(problem: dict, new_buffer):
    dtype = problem["dtype"]
    Z, M, N, K = problem.get("Z", 1), problem["M"], problem["N"], problem["K"]
    a = new_buffer((Z, M, K) if Z > 1 else (M, K), dtype)
    b = new_buffer((K, N), dtype)
    out = a.new((Z, M, N) if Z > 1 else (M, N), a.dtype)

    def run(config):
        matmul(a, b, out=out, config=config)
    return run


MATMUL = register(Tunable(
    name="matmul",
    configs=MATMUL_CONFIGS,
    heuristic=matmul_heuristic,
    make_problem=_make_matmul_problem,
    doc="tiled GEMM with fused bias/activation/residual epilogue (also backs the matmul backward)",
    problem_keys=("M", "N", "K", "Z", "dtype"),
    spills=matmul_spills,
))
