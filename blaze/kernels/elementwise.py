"""Strided, broadcasting elementwise kernels: unary / binary / ternary ops, cast, copy, fill.

One Triton kernel serves every op: the op is a constexpr id resolved by a static if-chain in
``_apply``, so each (op, dtypes, rank) pair compiles to straight-line code. Operands may have
any strides (0 = broadcast, negative = reversed views) and so may the output, which lets an
in-place op on a view write through the view. Python numbers are passed as kernel scalars.

The launcher collapses dims first (drops size-1 dims, merges neighbours that are contiguous
with each other in every operand) so that e.g. a contiguous 4-D add becomes a 1-D kernel with
no index arithmetic; at most ``MAX_RANK`` dims remain.
"""
from __future__ import annotations

import itertools
import numbers
import operator
import struct
from typing import NamedTuple

import numpy as np
import triton
import triton.language as tl

from blaze import _optable
from blaze import dtypes as _dt
from blaze._env import interpret
from blaze.kernels.launcher import launch_static as _launch
from blaze.kernels.ew_math import (_SQRT1_2, _SQRT_2_OVER_PI, _atan2, _expm1, _floordiv, _log1p, _max_nan,
                                   _min_nan, _pow, _remainder, _rint, _tanh)

MAX_RANK = 6

# -- op ids: blaze/_optable.py's rows, bound to the constexpr names _apply branches on ----------
def _ids(table, names):
    return (tl.constexpr(table[n].kernel_id) for n in names.split())


U, B, T = _optable.UNARY, _optable.BINARY, _optable.TERNARY
OP_IDENTITY, OP_NEG, OP_ABS, OP_EXP, OP_LOG = _ids(U, "identity neg abs exp log")
OP_SQRT, OP_RSQRT, OP_SIN, OP_COS, OP_TANH = _ids(U, "sqrt rsqrt sin cos tanh")
OP_SIGMOID, OP_RELU, OP_GELU, OP_GELU_TANH, OP_SILU = _ids(U, "sigmoid relu gelu gelu_tanh silu")
OP_SIGN, OP_FLOOR, OP_CEIL, OP_ROUND, OP_RECIPROCAL = _ids(U, "sign floor ceil round reciprocal")
OP_LOG1P, OP_EXPM1, OP_ERF, OP_LOGICAL_NOT, OP_SQUARE = _ids(U, "log1p expm1 erf logical_not square")
OP_BITWISE_NOT, OP_LOGIT = _ids(U, "bitwise_not logit")
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOOR_DIVIDE = _ids(B, "add sub mul div floor_divide")
OP_REMAINDER, OP_POW, OP_MAXIMUM, OP_MINIMUM, OP_ATAN2 = _ids(B, "remainder pow maximum minimum atan2")
OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT = _ids(B, "eq ne lt le gt")
OP_GE, OP_LOGICAL_AND, OP_LOGICAL_OR, OP_LOGICAL_XOR = _ids(B, "ge logical_and logical_or logical_xor")
OP_BITWISE_AND, OP_BITWISE_OR, OP_BITWISE_XOR, OP_XLOGY = _ids(B, "bitwise_and bitwise_or bitwise_xor xlogy")
OP_WHERE, OP_CLAMP = _ids(T, "where clamp")
# name -> (row, arity) for every row the kernel has an instruction for
ROWS = {n: (row, arity) for arity, table in ((1, U), (2, B), (3, T))
        for n, row in table.items() if row.kernel_id is not None}


@triton.jit
def _apply(x, y, z, OP: tl.constexpr, FLOAT: tl.constexpr):
    """The op table: a static if-chain on the constexpr id (only the taken branch compiles)."""
    # unary
    if OP == OP_IDENTITY:
        r = x
    elif OP == OP_NEG:
        r = -x
    elif OP == OP_ABS:
        r = tl.abs(x)
    elif OP == OP_EXP:
        r = tl.exp(x)
    elif OP == OP_LOG:
        r = tl.log(x)
    elif OP == OP_SQRT:
        r = tl.sqrt(x)
    elif OP == OP_RSQRT:
        r = tl.rsqrt(x)
    elif OP == OP_SIN:
        r = tl.sin(x)
    elif OP == OP_COS:
        r = tl.cos(x)
    elif OP == OP_TANH:
        r = _tanh(x)
    elif OP == OP_SIGMOID:
        r = 1.0 / (1.0 + tl.exp(-x))
    elif OP == OP_RELU:
        r = tl.where(x < 0, 0, x)  # NaN stays NaN like torch.relu
    elif OP == OP_GELU:
        r = 0.5 * x * (1.0 + tl.erf(x * _SQRT1_2))
    elif OP == OP_GELU_TANH:
        r = 0.5 * x * (1.0 + _tanh((x + 0.044715 * x * x * x) * _SQRT_2_OVER_PI))
    elif OP == OP_SILU:
        r = x / (1.0 + tl.exp(-x))
    elif OP == OP_SIGN:
        r = tl.where(x > 0, 1, tl.where(x < 0, -1, x * 0))  # x * 0 keeps NaN
    elif OP == OP_FLOOR:
        r = x
        if FLOAT:
            r = tl.floor(x)
    elif OP == OP_CEIL:
        r = x
        if FLOAT:
            r = tl.ceil(x)
    elif OP == OP_ROUND:
        r = x
        if FLOAT:
            r = _rint(x)
    elif OP == OP_RECIPROCAL:
        r = 1.0 / x
    elif OP == OP_LOG1P:
        r = _log1p(x)
    elif OP == OP_EXPM1:
        r = _expm1(x)
    elif OP == OP_ERF:
        r = tl.erf(x)
    elif OP == OP_LOGICAL_NOT:
        r = x == 0
    elif OP == OP_SQUARE:
        r = x * x
    elif OP == OP_BITWISE_NOT:
        if x.dtype.is_int_unsigned() and x.dtype.primitive_bitwidth > 1:  # not bool
            # Same bits as ~x (wrapping). Triton 3.6's interpreter builds ~x's all-ones mask with
            # np.full(shape, -1, uint8), which NumPy 2 rejects (OverflowError); 3.9 is fixed.
            r = (0 - x) - 1
        else:
            r = ~x
    elif OP == OP_LOGIT:
        r = tl.log(x / (1.0 - x))
    # binary
    elif OP == OP_ADD:
        r = x + y
    elif OP == OP_SUB:
        r = x - y
    elif OP == OP_MUL:
        r = x * y
    elif OP == OP_DIV:
        r = x / y
    elif OP == OP_FLOOR_DIVIDE:
        r = _floordiv(x, y, FLOAT)
    elif OP == OP_REMAINDER:
        r = _remainder(x, y, FLOAT)
    elif OP == OP_POW:
        r = _pow(x, y, FLOAT)
    elif OP == OP_MAXIMUM:
        r = _max_nan(x, y)
    elif OP == OP_MINIMUM:
        r = _min_nan(x, y)
    elif OP == OP_ATAN2:
        r = _atan2(x, y)
    elif OP == OP_EQ:
        r = x == y
    elif OP == OP_NE:
        r = x != y
    elif OP == OP_LT:
        r = x < y
    elif OP == OP_LE:
        r = x <= y
    elif OP == OP_GT:
        r = x > y
    elif OP == OP_GE:
        r = x >= y
    elif OP == OP_LOGICAL_AND:
        r = x & y
    elif OP == OP_LOGICAL_OR:
        r = x | y
    elif OP == OP_LOGICAL_XOR:
        r = x ^ y
    elif OP == OP_BITWISE_AND:
        r = x & y
    elif OP == OP_BITWISE_OR:
        r = x | y
    elif OP == OP_BITWISE_XOR:
        r = x ^ y
    elif OP == OP_XLOGY:
        r = tl.where(y != y, y, tl.where(x == 0, 0.0, x * tl.log(y)))  # NaN in y wins even where x == 0
    # ternary
    elif OP == OP_WHERE:
        r = tl.where(x, y, z)
    else:  # OP_CLAMP
        r = _min_nan(_max_nan(x, y), z)
    return r


@triton.jit
def _operand(ptr, s, off, mask, TY: tl.constexpr, SCALAR: tl.constexpr, BLOCK: tl.constexpr):
    # A scalar operand arrives as a kernel argument. Python floats are passed as fp32, so a
    # float64 scalar travels as its int64 bit pattern and is bitcast back (exact).
    if SCALAR:
        if TY == tl.float64:
            v = tl.full((BLOCK,), s, tl.int64).to(tl.float64, bitcast=True)
        else:
            v = tl.full((BLOCK,), s, TY)
        return v
    else:
        return tl.load(ptr + off, mask=mask).to(TY)


@triton.jit
def _dot(i0, i1, i2, i3, i4, i5, t0, t1, t2, t3, t4, t5, RANK: tl.constexpr):
    off = i0 * t0
    if RANK > 1:
        off += i1 * t1
    if RANK > 2:
        off += i2 * t2
    if RANK > 3:
        off += i3 * t3
    if RANK > 4:
        off += i4 * t4
    if RANK > 5:
        off += i5 * t5
    return off


@triton.jit(do_not_specialize=["a_s", "b_s", "c_s"])  # scalar values must not recompile
def _ew_kernel(out_ptr, a_ptr, b_ptr, c_ptr, a_s, b_s, c_s, N,
               n0, n1, n2, n3, n4, n5,
               o0, o1, o2, o3, o4, o5,
               a0, a1, a2, a3, a4, a5,
               b0, b1, b2, b3, b4, b5,
               c0, c1, c2, c3, c4, c5,
               OP: tl.constexpr, FLOAT: tl.constexpr, A_TY: tl.constexpr, B_TY: tl.constexpr,
               C_TY: tl.constexpr, NIN: tl.constexpr, A_SCALAR: tl.constexpr,
               B_SCALAR: tl.constexpr, C_SCALAR: tl.constexpr, RANK: tl.constexpr,
               INT64: tl.constexpr, VIA_F32: tl.constexpr, BLOCK: tl.constexpr):
    # Reads NIN * N elements (fewer for broadcast / scalar operands), writes N elements.
    # Dim 0 is the innermost (fastest varying) dim after collapsing; n*, o*, a*, b*, c* are
    # sizes and per-operand strides in elements, padded to MAX_RANK.
    pid = tl.program_id(0)
    if INT64:
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    else:
        offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    # decompose the linear index into coordinates, innermost first
    rem = offs
    i0 = rem
    i1 = rem
    i2 = rem
    i3 = rem
    i4 = rem
    i5 = rem
    if RANK > 1:
        i0 = rem % n0
        rem = rem // n0
        i1 = rem
    if RANK > 2:
        i1 = rem % n1
        rem = rem // n1
        i2 = rem
    if RANK > 3:
        i2 = rem % n2
        rem = rem // n2
        i3 = rem
    if RANK > 4:
        i3 = rem % n3
        rem = rem // n3
        i4 = rem
    if RANK > 5:
        i4 = rem % n4
        rem = rem // n4
        i5 = rem
    x = _operand(a_ptr, a_s, _dot(i0, i1, i2, i3, i4, i5, a0, a1, a2, a3, a4, a5, RANK),
                 mask, A_TY, A_SCALAR, BLOCK)
    y = x
    z = x
    if NIN > 1:
        y = _operand(b_ptr, b_s, _dot(i0, i1, i2, i3, i4, i5, b0, b1, b2, b3, b4, b5, RANK),
                     mask, B_TY, B_SCALAR, BLOCK)
    if NIN > 2:
        z = _operand(c_ptr, c_s, _dot(i0, i1, i2, i3, i4, i5, c0, c1, c2, c3, c4, c5, RANK),
                     mask, C_TY, C_SCALAR, BLOCK)
    r = _apply(x, y, z, OP, FLOAT)
    if VIA_F32:  # the interpreter mis-converts int/f64 -> bf16; via fp32 is exact on both
        r = r.to(tl.float32)
    o_off = _dot(i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5, RANK)
    tl.store(out_ptr + o_off, r.to(out_ptr.dtype.element_ty), mask=mask)


# -- dtypes (decided by the caller or blaze.dtypes.result_type; the kernel only converts) ---------
_TL = {"bool": tl.int1, "uint8": tl.uint8, "int8": tl.int8, "int16": tl.int16, "int32": tl.int32,
       "int64": tl.int64, "float16": tl.float16, "bfloat16": tl.bfloat16, "float32": tl.float32,
       "float64": tl.float64}
SUPPORTED_DTYPES = tuple(_TL)


def _is_float(name: str) -> bool:
    return name in ("float16", "bfloat16", "float32", "float64")


def _np_dtype(d) -> np.dtype:
    if str(d) == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(d)


def check_dtype(name: str, dtype) -> str:
    """The dtype's name if kernels support it, else a TypeError naming ``name``."""
    s = dtype.name if isinstance(dtype, _dt.dtype) else str(dtype)
    if s not in _TL:
        raise TypeError(f"{name}: dtype {s} is not supported (supported: {', '.join(SUPPORTED_DTYPES)})")
    return s


class _Operand(NamedTuple):  # what blaze.dtypes.result_type reads of a buffer
    ndim: int
    dtype: _dt.dtype


# -- shapes, strides, collapsing -------------------------------------------------------------
def broadcast_shapes(*shapes) -> tuple:
    """numpy broadcasting of shapes; ValueError naming every shape if they don't broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(ndim):
        sizes = {s[len(s) - ndim + d] for s in shapes if len(s) - ndim + d >= 0} - {1}
        if len(sizes) > 1:
            raise ValueError("shapes " + " and ".join(str(tuple(s)) for s in shapes)
                             + " cannot be broadcast together")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_strides(shape, strides, target) -> tuple:
    """Strides (elements) of a ``shape`` operand viewed as ``target``: 0 where broadcast."""
    lead = len(target) - len(shape)
    return tuple(0 if d < lead or shape[d - lead] == 1 else strides[d - lead] for d in range(len(target)))


def collapse(shape, *strides_list):
    """Drop size-1 dims and merge neighbours contiguous in every operand.

    Returns (shape, [strides per operand]), outermost first, at least one dim.
    """
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    sh = [shape[d] for d in dims]
    st = [[s[d] for d in dims] for s in strides_list]
    i = len(sh) - 1
    while i > 0:  # merge dim i-1 (outer) into dim i when stride[i-1] == stride[i] * size[i]
        if all(s[i - 1] == s[i] * sh[i] for s in st):
            sh[i - 1] *= sh[i]
            for s in st:
                s[i - 1] = s[i]
            del sh[i]
            for s in st:
                del s[i]
        i -= 1
    if not sh:
        return (1,), [(0,) for _ in strides_list]
    return tuple(sh), [tuple(s) for s in st]


def _span(shape, strides) -> int:
    return sum((n - 1) * abs(s) for n, s in zip(shape, strides))


def _is_buffer(x) -> bool:
    return hasattr(x, "data_ptr") and hasattr(x, "shape")


def _scalar(x):
    if isinstance(x, (bool, np.bool_)):
        return int(bool(x))
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"expected a device buffer or a Python number, got {type(x).__name__}")


def _scalar_arg(v, ty: str):
    """Kernel argument for scalar ``v`` read as dtype ``ty`` (float64: its int64 bits)."""
    if ty == "float64":
        return _F64_BITS.unpack(_F64.pack(float(v)))[0]
    return float(v) if _is_float(ty) else int(v)


_F64, _F64_BITS = struct.Struct("<d"), struct.Struct("<q")


# -- heuristic ---------------------------------------------------------------------------------
def elementwise_heuristic(problem: dict) -> dict:
    """BLOCK per program: 1024 x 4 warps on a GPU; one big block in the interpreter, which
    pays per program, not per element."""
    if interpret():
        return dict(BLOCK=min(triton.next_power_of_2(max(problem["N"], 1)), 1 << 16), num_warps=4)
    return dict(BLOCK=1024 if problem["N"] >= 1 << 16 else 512, num_warps=4)


# -- the generic launcher ----------------------------------------------------------------------
class _Plan(NamedTuple):
    """Everything ``launch`` decides from the op, dtypes, shapes and strides: made once per key."""
    shape: tuple       # the output's shape when ``launch`` allocates it
    out_dtype: np.dtype
    n: int             # elements; 0: nothing to launch
    first: int         # the first buffer input (``launch`` allocates the output like it)
    ptrs: tuple        # per kernel slot: the input index, or -1 (the output: a scalar's unused pointer)
    scalars: tuple     # (slot, input index, dtype name) per Python-number operand
    grid: tuple
    args: tuple        # N, sizes, strides: the kernel's non-constexpr arguments after the scalars
    meta: dict         # constexprs, BLOCK, num_warps
    token: int | None = None  # unique per cached plan: keys the direct launch of all but the 7 operands


_PLANS: dict = {}
_PLANS_MAX = 4096      # distinct (op, dtypes, shapes, strides) keys; a training step uses a few hundred
_NUMBERS = (bool, int, float)
_TOKENS = itertools.count(1)
_BUFFERS: set = set()  # classes seen to be device buffers (data_ptr, shape): one hasattr per class


def launch(op: str, inputs, out=None, out_dtype=None, dtype=None, config=None):
    """Run elementwise ``op`` (a row of ``blaze._optable``) over buffers / Python numbers ``inputs``.

    ``dtype`` is the operands' common dtype and ``out_dtype`` the result's, as the caller decided
    them; when not given, ``blaze.dtypes.result_type`` decides (the one promotion engine). The
    operands are converted to ``blaze.dtypes.compute_dtype(dtype)`` in the kernel. Broadcasts
    the inputs (numpy rules), allocates ``out`` (contiguous, broadcast shape) if not given and
    returns it. The launch plan is cached per (op, dtypes, shapes, strides): a repeated call
    costs a dict lookup and the kernel call.
    """
    sig = [op, out_dtype, dtype]
    for x in inputs:
        c = x.__class__
        if c in _BUFFERS or c not in _NUMBERS and _is_buffer(x) and not _BUFFERS.add(c):
            sig.append((x.shape, x.strides, x.dtype))
        elif c in _NUMBERS:
            sig.append(c)
        elif isinstance(x, np.generic):
            return launch(op, [v.item() if isinstance(v, np.generic) else v for v in inputs], out, out_dtype,
                          dtype, config)
        else:
            sig.append(c)  # _plan raises the TypeError (the class: hashable whatever x is)
    if out is not None:
        sig.append((out.shape, out.strides, out.dtype))
    key = tuple(sig)
    plan = _PLANS.get(key) if config is None else None
    if plan is None:
        plan = _plan(op, inputs, out, out_dtype, dtype, config)
        if config is None:
            if len(_PLANS) >= _PLANS_MAX:
                _PLANS.clear()
            _PLANS[key] = plan = plan._replace(token=next(_TOKENS))
    if out is None:
        out = inputs[plan.first].new(plan.shape, plan.out_dtype)
    if plan.n == 0:
        return out
    s = [0, 0, 0]
    if plan.scalars:
        for slot, i, ty in plan.scalars:
            s[slot] = _scalar_arg(inputs[i], ty)
    p0, p1, p2 = plan.ptrs
    _launch(_ew_kernel, plan.grid, plan.token, 7, out, out if p0 < 0 else inputs[p0],
            out if p1 < 0 else inputs[p1], out if p2 < 0 else inputs[p2], s[0], s[1], s[2], *plan.args, **plan.meta)
    return out


def _plan(op, inputs, out, out_dtype, dtype, config) -> _Plan:
    """The launch plan: argument checks, dtypes, broadcast, collapsed strides, grid (run once per key)."""
    entry = ROWS.get(op)
    if entry is None:
        raise ValueError(f"unknown elementwise op {op!r}; known: {', '.join(sorted(ROWS))}")
    row, arity = entry
    rule = row.rule
    if len(inputs) != arity:
        raise ValueError(f"{op} takes {arity} inputs, got {len(inputs)}")
    is_buf = [_is_buffer(x) for x in inputs]
    if not any(is_buf) and out is None:
        raise ValueError(f"{op}: at least one input must be a device buffer when out is not given")
    names = [check_dtype(f"{op} input {i}", x.dtype) if b else None for i, (x, b) in enumerate(zip(inputs, is_buf))]
    for x, b in zip(inputs, is_buf):
        if not b:
            _scalar(x)  # a TypeError for what is neither a buffer nor a number
    shape = broadcast_shapes(*[tuple(x.shape) for x, b in zip(inputs, is_buf) if b])
    if out is not None:
        check_dtype(f"{op} out", out.dtype)
        try:
            ok = broadcast_shapes(shape, tuple(out.shape)) == tuple(out.shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: out has shape {tuple(out.shape)}, inputs broadcast to {shape}")
        shape = tuple(out.shape)
        if any(s == 0 and n > 1 for s, n in zip(out.strides, out.shape)):
            raise ValueError(f"{op}: out has a stride-0 (broadcast) dim; writes would overlap")

    values = [i for i in range(arity) if not (rule == "where" and i == 0)]
    if dtype is not None:
        common = check_dtype(f"{op} dtype", dtype)
    elif op == "identity":  # cast/copy/fill: convert straight from the source (no double rounding)
        common = names[0]
    else:
        common = _dt.result_type(*[_Operand(len(inputs[i].shape), _dt.to_dtype(names[i])) if is_buf[i]
                                   else inputs[i] for i in values]).name
    if rule == "int" and _is_float(common):
        raise TypeError(f"{op}: needs integer or bool inputs, got {common}")
    if rule == "float" and not _is_float(common):
        want = check_dtype(f"{op} out", out.dtype) if out is not None else \
            check_dtype(f"{op} out_dtype", out_dtype) if out_dtype is not None else "float32"
        common = want if _is_float(want) else "float32"
    if out_dtype is None:
        out_dtype = out.dtype if out is not None else "bool" if rule in ("cmp", "logical", "bool") else common
    out_name = check_dtype(f"{op} out_dtype", out_dtype)
    if out is not None and check_dtype(f"{op} out", out.dtype) != out_name:
        raise TypeError(f"{op}: out has dtype {out.dtype}, out_dtype is {out_name}")
    if common is None:  # fill: a number into out
        comp = _dt.compute_dtype(_dt.to_dtype(out_name)).name
    elif op == "identity" or (rule == "int" and common == "bool"):
        comp = common
    else:
        comp = _dt.compute_dtype(_dt.to_dtype(common)).name
    tys = ["bool" if rule in ("logical", "bool") or (rule == "where" and i == 0) else comp for i in range(arity)]

    n = 1
    for d in shape:
        n *= d
    meta_cfg = config or elementwise_heuristic(dict(N=n))
    empty = _Plan(shape, _np_dtype(out_name), 0, is_buf.index(True) if any(is_buf) else -1, (), (), (), (), {})
    if n == 0:
        return empty
    strides = [tuple(out.strides) if out is not None else _contig(shape)] + [
        broadcast_strides(tuple(x.shape), tuple(x.strides), shape) for x, b in zip(inputs, is_buf) if b]
    cshape, cstrides = collapse(shape, *strides)
    if len(cshape) > MAX_RANK:
        raise ValueError(f"{op}: {len(cshape)} dims remain after collapsing shape {shape} "
                         f"(kernel handles {MAX_RANK})")
    int64 = n >= 2**31 or max(_span(cshape, s) for s in cstrides) >= 2**31

    def pad(t, fill):  # MAX_RANK entries, innermost first
        return list(reversed(t)) + [fill] * (MAX_RANK - len(t))
    it = iter(cstrides[1:])
    ptrs, scalars, sstr = [], [], []
    for slot in range(3):
        if slot < arity and is_buf[slot]:
            ptrs.append(slot)
            sstr += pad(next(it), 0)
        else:
            ptrs.append(-1)
            if slot < arity:
                scalars.append((slot, slot, tys[slot]))
            sstr += [0] * MAX_RANK
    meta = {k: v for k, v in meta_cfg.items() if k not in ("num_warps", "num_stages")}
    grid = (triton.cdiv(n, meta["BLOCK"]),)
    meta.update(OP=row.kernel_id, FLOAT=_is_float(comp), A_TY=_TL[tys[0]], B_TY=_TL[tys[min(1, arity - 1)]],
                C_TY=_TL[tys[arity - 1]], NIN=arity, A_SCALAR=not is_buf[0],
                B_SCALAR=arity < 2 or not is_buf[1], C_SCALAR=arity < 3 or not is_buf[2],
                RANK=len(cshape), INT64=int64,
                VIA_F32=out_name == "bfloat16" and comp not in ("float32", "bfloat16"),
                num_warps=meta_cfg.get("num_warps", 4))
    return empty._replace(n=n, ptrs=tuple(ptrs), scalars=tuple(scalars), grid=grid,
                          args=(n, *pad(cshape, 1), *pad(cstrides[0], 0), *sstr), meta=meta)


def _contig(shape):
    """Row-major strides (elements) of ``shape``: those of the output ``launch`` allocates."""
    if not shape:
        return ()
    return tuple(itertools.accumulate((max(s, 1) for s in shape[:0:-1]), operator.mul, initial=1))[::-1]


def _check_table(op, table, kind):
    if op not in table or table[op].kernel_id is None:
        raise ValueError(f"unknown {kind} op {op!r}; known: "
                         + ", ".join(n for n, r in table.items() if r.kernel_id is not None))


def unary(op: str, x, out=None, out_dtype=None, config=None):
    """``out = op(x)``; e.g. ``unary("exp", x)``. The ops: ``blaze._optable.UNARY``'s rows with a kernel id."""
    _check_table(op, U, "unary")
    return launch(op, [x], out, out_dtype, config=config)


def binary(op: str, a, b, out=None, out_dtype=None, dtype=None, config=None):
    """``out = op(a, b)`` with numpy broadcasting; either input may be a Python number."""
    _check_table(op, B, "binary")
    return launch(op, [a, b], out, out_dtype, dtype, config)


def ternary(op: str, a, b, c, out=None, out_dtype=None, dtype=None, config=None):
    """``where(a, b, c)`` (``a`` a bool condition) or ``clamp(x, lo, hi)``."""
    _check_table(op, T, "ternary")
    return launch(op, [a, b, c], out, out_dtype, dtype, config)


def cast(x, dtype, out=None, config=None):
    """``x`` converted to ``dtype`` (float -> int truncates, anything -> bool is ``!= 0``)."""
    return launch("identity", [x], out, dtype if out is None else out.dtype, config=config)


def copy(src, dst, config=None):
    """Strided copy ``dst[...] = src`` (broadcasting ``src``, converting its dtype); returns dst."""
    if not _is_buffer(dst):
        raise TypeError(f"copy: dst must be a device buffer, got {type(dst).__name__}")
    if _is_buffer(src):
        try:
            ok = broadcast_shapes(tuple(src.shape), tuple(dst.shape)) == tuple(dst.shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"copy: source shape {tuple(src.shape)} cannot be broadcast to {tuple(dst.shape)}")
    return launch("identity", [src], dst, dst.dtype, config=config)


def fill(dst, value, config=None):
    """``dst[...] = value`` for a Python number; returns dst."""
    return launch("identity", [_scalar(value)], dst, dst.dtype, config=config)
