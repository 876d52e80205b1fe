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

import numbers
from collections import namedtuple

import numpy as np
import triton
import triton.language as tl

from blaze import _optable
from blaze._env import interpret
from blaze.kernels.ew_math import (_SQRT1_2, _SQRT_2_OVER_PI, _atan2, _expm1, _floordiv, _log1p, _max_nan,
                                   _min_nan, _pow, _remainder, _rint, _tanh)

MAX_RANK = 6

# -- op table: name -> (constexpr id, arity, dtype rule) ---------------------------------------
# Dtype rules: "same" out = promoted inputs; "float" out = promoted, ints -> float32;
# "cmp" out bool; "logical" out bool, operands read as bool; "int" ints/bool only;
# "where" operand 0 is a bool condition.
Op = namedtuple("Op", "id arity rule")
# Unary instruction ids come from blaze/_optable.py (one row per op); binary and ternary ones are
# fixed here. Ids are values, not list positions: adding an op renumbers nothing.
_BINARY = {"add": 100, "sub": 101, "mul": 102, "div": 103, "floordiv": 104, "remainder": 105, "pow": 106,
           "maximum": 107, "minimum": 108, "atan2": 109, "eq": 110, "ne": 111, "lt": 112, "le": 113, "gt": 114,
           "ge": 115, "logical_and": 116, "logical_or": 117, "logical_xor": 118, "bitwise_and": 119,
           "bitwise_or": 120, "bitwise_xor": 121}
_TERNARY = {"where": 200, "lerp": 201, "clamp": 202, "addcmul": 203}
_UNARY_RULE = {"float": "float", "bool": "logical", "int": "int"}  # the table's rules, as the kernel reads them
_RULE = {**{n: "cmp" for n in ("eq", "ne", "lt", "le", "gt", "ge")},
         **{n: "logical" for n in ("logical_and", "logical_or", "logical_xor")},
         **{n: "int" for n in ("bitwise_and", "bitwise_or", "bitwise_xor")},
         "div": "float", "atan2": "float", "lerp": "float", "where": "where"}
UNARY_OPS = {n: Op(op.kernel_id, 1, _UNARY_RULE.get(op.rule, "same"))
             for n, op in _optable.UNARY.items() if op.kernel_id is not None}
BINARY_OPS = {n: Op(i, 2, _RULE.get(n, "same")) for n, i in _BINARY.items()}
TERNARY_OPS = {n: Op(i, 3, _RULE.get(n, "same")) for n, i in _TERNARY.items()}
_ID = {n: op.id for table in (UNARY_OPS, BINARY_OPS, TERNARY_OPS) for n, op in table.items()}

# The instruction ids as the constexpr names _apply branches on.
def _ids(table, names):
    return (tl.constexpr(table[n].id) for n in names.split())


OP_IDENTITY, OP_NEG, OP_ABS, OP_EXP, OP_LOG = _ids(UNARY_OPS, "identity neg abs exp log")
OP_SQRT, OP_RSQRT, OP_SIN, OP_COS, OP_TANH = _ids(UNARY_OPS, "sqrt rsqrt sin cos tanh")
OP_SIGMOID, OP_RELU, OP_GELU, OP_GELU_TANH, OP_SILU = _ids(UNARY_OPS, "sigmoid relu gelu gelu_tanh silu")
OP_SIGN, OP_FLOOR, OP_CEIL, OP_ROUND, OP_RECIPROCAL = _ids(UNARY_OPS, "sign floor ceil round reciprocal")
OP_LOG1P, OP_EXPM1, OP_ERF, OP_LOGICAL_NOT, OP_SQUARE = _ids(UNARY_OPS, "log1p expm1 erf logical_not square")
OP_BITWISE_NOT, OP_LOGIT = _ids(UNARY_OPS, "bitwise_not logit")
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV = _ids(BINARY_OPS, "add sub mul div floordiv")
OP_REMAINDER, OP_POW, OP_MAXIMUM, OP_MINIMUM, OP_ATAN2 = _ids(BINARY_OPS, "remainder pow maximum minimum atan2")
OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT = _ids(BINARY_OPS, "eq ne lt le gt")
OP_GE, OP_LOGICAL_AND, OP_LOGICAL_OR, OP_LOGICAL_XOR = _ids(BINARY_OPS, "ge logical_and logical_or logical_xor")
OP_BITWISE_AND, OP_BITWISE_OR, OP_BITWISE_XOR = _ids(BINARY_OPS, "bitwise_and bitwise_or bitwise_xor")
OP_WHERE, OP_LERP, OP_CLAMP, OP_ADDCMUL = _ids(TERNARY_OPS, "where lerp clamp addcmul")


@triton.jit
def _apply(x, y, z, alpha, OP: tl.constexpr, FLOAT: tl.constexpr):
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
    elif OP == OP_FLOORDIV:
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
    # ternary
    elif OP == OP_WHERE:
        r = tl.where(x, y, z)
    elif OP == OP_LERP:
        # torch.lerp: from whichever end is nearer, so lerp(a, b, 1) == b exactly.
        r = tl.where(z < 0.5, x + z * (y - x), y - (y - x) * (1.0 - z))
    elif OP == OP_CLAMP:
        r = _min_nan(_max_nan(x, y), z)
    else:  # OP_ADDCMUL
        r = x + alpha * y * z
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
def _ew_kernel(out_ptr, a_ptr, b_ptr, c_ptr, a_s, b_s, c_s, alpha, N,
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
    r = _apply(x, y, z, alpha, OP, FLOAT)
    if VIA_F32:  # the interpreter mis-converts int/f64 -> bf16; via fp32 is exact on both
        r = r.to(tl.float32)
    o_off = _dot(i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5, RANK)
    tl.store(out_ptr + o_off, r.to(out_ptr.dtype.element_ty), mask=mask)


# -- dtypes ----------------------------------------------------------------------------------
_TL = {"bool": tl.int1, "uint8": tl.uint8, "int8": tl.int8, "int16": tl.int16, "int32": tl.int32,
       "int64": tl.int64, "float16": tl.float16, "bfloat16": tl.bfloat16, "float32": tl.float32,
       "float64": tl.float64}
SUPPORTED_DTYPES = tuple(_TL)
_FLOAT_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def _is_float(name: str) -> bool:
    return name in _FLOAT_RANK


def _np_dtype(d) -> np.dtype:
    if str(d) == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(d)


def check_dtype(name: str, dtype) -> str:
    """The dtype's name if kernels support it, else a TypeError naming ``name``."""
    s = str(dtype)
    if s not in _TL:
        raise TypeError(f"{name}: dtype {s} is not supported (supported: {', '.join(SUPPORTED_DTYPES)})")
    return s


def promote(dtypes, scalars=()) -> str:
    """torch-like result dtype of tensor dtypes and Python scalars (names in, name out).

    Floats beat ints beat bool; fp16 with bf16 gives float32; a Python scalar only matters
    when it is of a higher category than every tensor (float scalar + int tensor -> float32).
    """
    names = [str(d) for d in dtypes]
    floats = [n for n in names if _is_float(n)]
    if floats:
        top = max(_FLOAT_RANK[n] for n in floats)
        tops = {n for n in floats if _FLOAT_RANK[n] == top}
        return tops.pop() if len(tops) == 1 else "float32"
    if any(isinstance(s, float) for s in scalars):
        return "float32"
    ints = [n for n in names if n != "bool"]
    if ints:
        return str(np.result_type(*[np.dtype(n) for n in ints]))
    if names and not any(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in scalars):
        return "bool"
    return "int64"


def _compute(name: str) -> str:
    # fp16/bf16 compute in fp32 (one rounding at the store); bool arithmetic in int32
    return {"float16": "float32", "bfloat16": "float32", "bool": "int32"}.get(name, name)


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
        return int(np.array(float(v), np.float64).view(np.int64))
    return float(v) if _is_float(ty) else v


# -- heuristic ---------------------------------------------------------------------------------
def elementwise_heuristic(problem: dict) -> dict:
    """BLOCK per program: 1024 x 4 warps on a GPU; one big block in the interpreter, which
    pays per program, not per element."""
    if interpret():
        return dict(BLOCK=min(triton.next_power_of_2(max(problem["N"], 1)), 1 << 16), num_warps=4)
    return dict(BLOCK=1024 if problem["N"] >= 1 << 16 else 512, num_warps=4)


# -- the generic launcher ----------------------------------------------------------------------
def launch(op: str, inputs, out=None, out_dtype=None, alpha=1.0, config=None):
    """Run elementwise ``op`` over buffers / Python numbers ``inputs`` into ``out``.

    Broadcasts the inputs (numpy rules), allocates ``out`` (contiguous, broadcast shape) if
    not given, computes fp16/bf16 in fp32 and returns ``out``.
    """
    spec = {**UNARY_OPS, **BINARY_OPS, **TERNARY_OPS}.get(op)
    if spec is None:
        raise ValueError(f"unknown elementwise op {op!r}; known: "
                         + ", ".join(sorted({**UNARY_OPS, **BINARY_OPS, **TERNARY_OPS})))
    if len(inputs) != spec.arity:
        raise ValueError(f"{op} takes {spec.arity} inputs, got {len(inputs)}")
    bufs = [x for x in inputs if _is_buffer(x)]
    if not bufs and out is None:
        raise ValueError(f"{op}: at least one input must be a device buffer when out is not given")
    names = [check_dtype(f"{op} input {i}", x.dtype) if _is_buffer(x) else None for i, x in enumerate(inputs)]
    scal = [None if _is_buffer(x) else _scalar(x) for x in inputs]
    shape = broadcast_shapes(*[tuple(x.shape) for x in bufs])
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

    # dtype rules (tables keyed by spec.rule)
    value_idx = [i for i in range(spec.arity) if not (spec.rule == "where" and i == 0)]
    # promotion sees a bool scalar as bool (scal holds it as the int the kernel takes): where(m, b, False)
    # on a bool b stays bool
    pscal = [inputs[i] if isinstance(inputs[i], (bool, np.bool_)) else scal[i] for i in range(spec.arity)]
    prom = promote([names[i] for i in value_idx if names[i]], [bool(pscal[i]) if isinstance(pscal[i], np.bool_)
                                                              else pscal[i] for i in value_idx if names[i] is None])
    if spec.rule == "int" and _is_float(prom):
        raise TypeError(f"{op}: needs integer or bool inputs, got {prom}")
    if spec.rule == "float" and not _is_float(prom):
        want = str(out.dtype) if out is not None else str(out_dtype) if out_dtype is not None else "float32"
        prom = want if _is_float(want) else "float32"
    if out_dtype is None:
        out_dtype = out.dtype if out is not None else ("bool" if spec.rule in ("cmp", "logical") else prom)
    out_name = check_dtype(f"{op} out_dtype", out_dtype)
    if out is not None and str(out.dtype) != out_name:
        raise TypeError(f"{op}: out has dtype {out.dtype}, out_dtype is {out_name}")
    comp = _compute(prom)
    if op == "identity":  # cast/copy/fill: convert straight from the source (no double rounding)
        comp = names[0] or _compute(out_name)
    if spec.rule == "int" and prom == "bool":
        comp = "bool"
    tys = ["bool" if spec.rule == "logical" or (spec.rule == "where" and i == 0) else comp
           for i in range(spec.arity)]

    if out is None:
        out = bufs[0].new(shape, _np_dtype(out_name))
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return out
    strides = [tuple(out.strides)] + [broadcast_strides(tuple(x.shape), tuple(x.strides), shape)
                                      for x in inputs if _is_buffer(x)]
    cshape, cstrides = collapse(shape, *strides)
    if len(cshape) > MAX_RANK:
        raise ValueError(f"{op}: {len(cshape)} dims remain after collapsing shape {shape} "
                         f"(kernel handles {MAX_RANK})")
    int64 = n >= 2**31 or max(_span(cshape, s) for s in cstrides) >= 2**31
    # pad to MAX_RANK, innermost first
    pad = lambda t, fill: list(reversed(t)) + [fill] * (MAX_RANK - len(t))  # noqa: E731
    sizes = pad(cshape, 1)
    it = iter(cstrides[1:])
    ptrs, sargs, sstr = [], [], []
    for i in range(3):
        if i < spec.arity and names[i] is not None:
            ptrs.append(inputs[i])
            sargs.append(0)
            sstr += pad(next(it), 0)
        else:
            ptrs.append(out)
            v = scal[i] if i < spec.arity else 0
            sargs.append(_scalar_arg(v, tys[i] if i < spec.arity else "int32"))
            sstr += [0] * MAX_RANK
    cfg = config or elementwise_heuristic(dict(N=n))
    meta = {k: v for k, v in cfg.items() if k not in ("num_warps", "num_stages")}
    grid = (triton.cdiv(n, meta["BLOCK"]),)
    _ew_kernel[grid](out, *ptrs, *sargs, float(alpha), n, *sizes, *pad(cstrides[0], 0), *sstr,
                     OP=spec.id, FLOAT=_is_float(comp),
                     A_TY=_TL[tys[0]], B_TY=_TL[tys[min(1, spec.arity - 1)]], C_TY=_TL[tys[spec.arity - 1]],
                     NIN=spec.arity, A_SCALAR=names[0] is None,
                     B_SCALAR=spec.arity < 2 or names[1] is None, C_SCALAR=spec.arity < 3 or names[2] is None,
                     RANK=len(cshape), INT64=int64,
                     VIA_F32=out_name == "bfloat16" and comp not in ("float32", "bfloat16"), num_warps=cfg.get("num_warps", 4), **meta)
    return out


def _check_table(op, table, kind):
    if op not in table:
        raise ValueError(f"unknown {kind} op {op!r}; known: {', '.join(table)}")


def unary(op: str, x, out=None, out_dtype=None, config=None):
    """``out = op(x)``; e.g. ``unary("exp", x)``. See ``UNARY_OPS``."""
    _check_table(op, UNARY_OPS, "unary")
    return launch(op, [x], out, out_dtype, config=config)


def binary(op: str, a, b, out=None, out_dtype=None, config=None):
    """``out = op(a, b)`` with numpy broadcasting; either input may be a Python number."""
    _check_table(op, BINARY_OPS, "binary")
    return launch(op, [a, b], out, out_dtype, config=config)


def ternary(op: str, a, b, c, out=None, out_dtype=None, alpha=1.0, config=None):
    """``where(a, b, c)``, ``lerp(a, b, w)``, ``clamp(x, lo, hi)``, ``addcmul: a + alpha*b*c``."""
    _check_table(op, TERNARY_OPS, "ternary")
    return launch(op, [a, b, c], out, out_dtype, alpha=alpha, config=config)


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
