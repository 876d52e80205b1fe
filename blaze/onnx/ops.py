"""The ONNX translation table: one small function per traced op, keyed by the op's name.

Keys are Function class names (``_Linear``, ``Reshape``), ``unary.<op>`` / ``binary.<op>``
for the pointwise families, and ``nn.<Module>`` for the modules the tracer captures whole
(``CAPTURED``). Each function reads the traced record (``rec.args`` as the op received
them, ``rec.outs`` the tensors it made) and returns one ONNX value name per output (None for
an output the graph cannot use). An op not in ``TABLE`` raises UnsupportedOperatorError.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes as _dt
from .._tensor import Tensor
from .tracer import SymDim, UnsupportedOperatorError

_I64_MAX, _I64_MIN = 2**63 - 1, -2**63

CAPTURED = {"LSTM", "GRU", "RNN", "BatchNorm1d", "BatchNorm2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
            "AdaptiveAvgPool1d", "AdaptiveAvgPool2d"}


def _np(dtype):
    return np.dtype(np.float32) if dtype is _dt.bfloat16 else dtype.np


def _refuse(rec, why):
    raise UnsupportedOperatorError(f"blaze.onnx.export: {rec.key} {why} (at {rec.path})")


def _cast(g, name, src, dst):
    if src is dst:
        return name
    return g.node("Cast", [name], to=g.h.np_dtype_to_tensor_dtype(_np(dst)))


def _operand(g, x, dtype):
    """An input as a value of ``dtype``: tensors are cast when they differ, Python numbers become constants."""
    if isinstance(x, Tensor):
        return _cast(g, g.value(x), x.dtype, dtype)
    return g.scalar(x, _np(dtype))


# ----------------------------------------------------------------------------- pointwise
_UNARY = {"neg": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "sin": "Sin", "cos": "Cos",
          "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh",
          "tanh": "Tanh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh", "sigmoid": "Sigmoid",
          "relu": "Relu", "erf": "Erf", "reciprocal": "Reciprocal", "sign": "Sign", "floor": "Floor",
          "ceil": "Ceil", "round": "Round", "logical_not": "Not", "isnan": "IsNaN", "isinf": "IsInf"}
_COMPOSED_UNARY = {
    "rsqrt": lambda g, x, dt: g.node("Reciprocal", [g.node("Sqrt", [x])]),
    "square": lambda g, x, dt: g.node("Mul", [x, x]),
    "expm1": lambda g, x, dt: g.node("Sub", [g.node("Exp", [x]), g.scalar(1, dt)]),
    "log1p": lambda g, x, dt: g.node("Log", [g.node("Add", [x, g.scalar(1, dt)])]),
    "exp2": lambda g, x, dt: g.node("Pow", [g.scalar(2, dt), x]),
    "log2": lambda g, x, dt: g.node("Div", [g.node("Log", [x]), g.scalar(math.log(2.0), dt)]),
    "log10": lambda g, x, dt: g.node("Div", [g.node("Log", [x]), g.scalar(math.log(10.0), dt)]),
    "logit": lambda g, x, dt: g.node("Log", [g.node("Div", [x, g.node("Sub", [g.scalar(1, dt), x])])]),
    "silu": lambda g, x, dt: g.node("Mul", [x, g.node("Sigmoid", [x])]),
    # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as F.gelu(approximate="tanh")
    "gelu_tanh": lambda g, x, dt: g.node("Mul", [g.node("Mul", [x, g.scalar(0.5, dt)]), g.node("Add", [
        g.scalar(1, dt), g.node("Tanh", [g.node("Mul", [g.scalar(math.sqrt(2 / math.pi), dt), g.node("Add", [
            x, g.node("Mul", [g.scalar(0.044715, dt), g.node("Mul", [x, g.node("Mul", [x, x])])])])])])])]),
}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
           "minimum": "Min", "eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
           "ge": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
           "bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr", "bitwise_xor": "BitwiseXor"}


def _unary(op):
    def fn(g, rec):
        (x,), out = rec.args, rec.outs[0]
        name = _cast(g, g.value(x), x.dtype, out.dtype) if op not in ("logical_not",) else \
            _cast(g, g.value(x), x.dtype, _dt.bool_)
        if op in _COMPOSED_UNARY:
            return [_COMPOSED_UNARY[op](g, name, _np(out.dtype))]
        return [g.node(_UNARY[op], [name])]
    return fn


def _compute_dtype(a, b, out):
    if out.dtype is not _dt.bool_:
        return out.dtype
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        return _dt.promote_types(a.dtype, b.dtype)
    t, s = (a, b) if ta else (b, a)
    if isinstance(s, float) and not t.dtype.is_floating_point:
        return _dt.get_default_dtype()
    return t.dtype


def _binary(op):
    def fn(g, rec):
        a, b = rec.args
        dt = _compute_dtype(a, b, rec.outs[0])
        if op.startswith("logical"):
            dt = _dt.bool_
        x, y = _operand(g, a, dt), _operand(g, b, dt)
        if dt is _dt.bool_ and op.startswith("bitwise"):  # ONNX's Bitwise* take integers only
            return [g.node({"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}[op], [x, y])]
        return [g.node(_BINARY[op], [x, y])]
    return fn


def _ne(g, rec):
    a, b = rec.args
    dt = _compute_dtype(a, b, rec.outs[0])
    return [g.node("Not", [g.node("Equal", [_operand(g, a, dt), _operand(g, b, dt)])])]


def _where(g, rec):
    c, a, b = rec.args
    dt = rec.outs[0].dtype
    return [g.node("Where", [_operand(g, c, _dt.bool_), _operand(g, a, dt), _operand(g, b, dt)])]


def _clamp(g, rec):
    x, lo, hi = rec.args
    dt = rec.outs[0].dtype
    y = _operand(g, x, dt)
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        if lo is not None:
            y = g.node("Max", [y, _operand(g, lo, dt)])
        return [y if hi is None else g.node("Min", [y, _operand(g, hi, dt)])]
    return [g.node("Clip", [y, None if lo is None else g.scalar(lo, _np(dt)),
                            None if hi is None else g.scalar(hi, _np(dt))])]


def _gelu_value(g, x, dt):  # exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); ONNX's Gelu op needs opset 20
    erf = g.node("Erf", [g.node("Mul", [x, g.scalar(1 / math.sqrt(2.0), dt)])])
    return g.node("Mul", [g.node("Mul", [x, g.scalar(0.5, dt)]), g.node("Add", [erf, g.scalar(1.0, dt)])])


def _gelu(g, rec):
    return [_gelu_value(g, g.value(rec.args[0]), _np(rec.outs[0].dtype))]


# ----------------------------------------------------------------------------- shape and movement
def _reshape(g, rec):
    x, shape = rec.args
    return [g.node("Reshape", [g.value(x), g.shape(list(shape))])]


def _permute(g, rec):
    x, dims = rec.args
    return [g.node("Transpose", [g.value(x)], perm=[int(d) for d in dims])]


def _expand(g, rec):
    x, shape = rec.args
    shape = [1 if (not isinstance(s, SymDim) and s == -1) else s for s in shape]  # -1 keeps: ONNX's 1 broadcasts
    return [g.node("Expand", [g.value(x), g.shape(shape)])]


def _slice(g, rec):
    x, key = rec.args
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        _refuse(rec, "with more than one Ellipsis")
    n_real = sum(k is not None and k is not Ellipsis for k in key)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - n_real) + key[i + 1:]
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    dim = out_dim = 0
    for k in key:
        if k is None:
            unsqueeze.append(out_dim)
            out_dim += 1
            continue
        if isinstance(k, slice):
            step = 1 if k.step is None else k.step
            start = k.start if k.start is not None else (0 if step > 0 else _I64_MAX)
            stop = k.stop if k.stop is not None else (_I64_MAX if step > 0 else _I64_MIN)
            out_dim += 1
        elif isinstance(k, (int, np.integer)):
            start, stop, step = int(k), (int(k) + 1) or _I64_MAX, 1
            squeeze.append(dim)
        else:
            _refuse(rec, f"with index {type(k).__name__} (only ints, slices, None and ... are exported)")
        if not (k == slice(None) if isinstance(k, slice) else False):
            starts.append(start), ends.append(stop), axes.append(dim), steps.append(step)
        dim += 1
    y = g.value(x)
    if axes:
        y = g.node("Slice", [y, g.shape(starts), g.shape(ends), g.ints(axes), g.ints(steps)])
    if squeeze:
        y = g.node("Squeeze", [y, g.ints(squeeze)])
    if unsqueeze:
        y = g.node("Unsqueeze", [y, g.ints(unsqueeze)])
    return [y if (axes or squeeze or unsqueeze) else g.node("Identity", [y])]


def _index_get(g, rec):
    """``x[..., idx, ...]`` with one integer index array among full slices: a Gather (reflect padding)."""
    x, key = rec.args
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - len(key) + 1) + key[i + 1:]
    arrays = [i for i, k in enumerate(key) if isinstance(k, (Tensor, np.ndarray))]
    if len(arrays) != 1 or any(not isinstance(k, slice) or k != slice(None) for i, k in enumerate(key)
                               if i != arrays[0]):
        _refuse(rec, "with this advanced index (only one integer index array among full slices is exported)")
    idx = key[arrays[0]]
    if isinstance(idx, Tensor):
        if idx.dtype.category != 1:
            _refuse(rec, f"with a {idx.dtype} index (only integer indices are exported)")
        name = _cast(g, g.value(idx), idx.dtype, _dt.int64)
    else:
        if idx.dtype.kind not in "iu":
            _refuse(rec, f"with a {idx.dtype} index (only integer indices are exported)")
        name = g.ints(idx)
    return [g.node("Gather", [g.value(x), name], axis=arrays[0])]


def _identity(g, rec):
    return [g.node("Identity", [g.value(rec.args[0])])]


def _to_dtype(g, rec):
    x, dtype = rec.args
    return [_cast(g, g.value(x), x.dtype, dtype) if x.dtype is not dtype else g.node("Identity", [g.value(x)])]


def _cat(g, rec):
    axis, *xs = rec.args
    dt = rec.outs[0].dtype
    return [g.node("Concat", [_operand(g, x, dt) for x in xs], axis=int(axis))]


def _flip(g, rec):
    x, dims = rec.args
    n = len(dims)
    return [g.node("Slice", [g.value(x), g.ints([-1] * n), g.ints([_I64_MIN] * n), g.ints(list(dims)),
                             g.ints([-1] * n)])]


def _tri(g, rec):
    x, k, upper = rec.args
    return [g.node("Trilu", [g.value(x), g.ints(int(k))], upper=int(bool(upper)))]


def _pad(g, rec):
    x, width, value = rec.args
    lo, hi = [w[0] for w in width], [w[1] for w in width]
    return [g.node("Pad", [g.value(x), g.shape(lo + hi), g.scalar(value, _np(x.dtype))], mode="constant")]


def _repeat(g, rec):
    x, reps = rec.args
    if len(reps) != x.ndim:
        _refuse(rec, "with more repeats than dimensions")
    return [g.node("Tile", [g.value(x), g.shape(list(reps))])]


# ----------------------------------------------------------------------------- reductions
def _reduce(onnx_op):
    def fn(g, rec):
        x, axes, keepdim = rec.args[:3]
        y = g.value(x)
        if onnx_op == "ReduceSum" and rec.args[3] is not None:
            y = _cast(g, y, x.dtype, rec.args[3])
        axes = list(range(x.ndim)) if axes is None else [int(a) for a in axes]
        if not axes:
            return [g.node("Identity", [y])]
        if onnx_op == "ReduceSum" or g.opset >= 18:  # axes became an input in opset 13 (Sum), 18 (the rest)
            return [g.node(onnx_op, [y, g.ints(axes)], keepdims=int(bool(keepdim)))]
        return [g.node(onnx_op, [y], axes=axes, keepdims=int(bool(keepdim)))]
    return fn


def _var(g, rec):  # sum((x - mean)^2) / (n - correction), n read from the shape so it follows dynamic axes
    x, axes, correction, keepdim = rec.args
    axes = list(range(x.ndim)) if axes is None else [int(a) for a in axes]
    xv, dt = g.value(x), _np(x.dtype)
    reduce = (lambda op, v, keep: g.node(op, [v, g.ints(axes)], keepdims=keep) if op == "ReduceSum" or
              g.opset >= 18 else g.node(op, [v], axes=axes, keepdims=keep))
    d = g.node("Sub", [xv, reduce("ReduceMean", xv, 1)])
    ss = reduce("ReduceSum", g.node("Mul", [d, d]), int(bool(keepdim)))
    n = g.node("ReduceProd", [g.node("Gather", [g.node("Shape", [xv]), g.ints(axes)], axis=0)], keepdims=0)
    n = g.node("Sub", [g.node("Cast", [n], to=g.h.np_dtype_to_tensor_dtype(dt)), g.scalar(correction, dt)])
    return [g.node("Div", [ss, n])]


def _cumsum(g, rec):
    x, axis, dtype = rec.args
    y = g.value(x) if dtype is None else _cast(g, g.value(x), x.dtype, dtype)
    return [g.node("CumSum", [y, g.ints(int(axis))])]


def _arg_reduce(onnx_op):
    def fn(g, rec):
        x, dim, keepdim = rec.args
        if dim is None:  # over the flattened tensor
            y = g.node(onnx_op, [g.node("Reshape", [g.value(x), g.ints([-1])])], axis=0, keepdims=0)
            return [g.node("Reshape", [y, g.ints([1] * x.ndim)]) if keepdim else y]
        return [g.node(onnx_op, [g.value(x)], axis=int(dim), keepdims=int(bool(keepdim)))]
    return fn


def _gather(g, rec):
    x, dim, index = rec.args
    return [g.node("GatherElements", [g.value(x), _cast(g, g.value(index), index.dtype, _dt.int64)], axis=int(dim))]


# ----------------------------------------------------------------------------- nn functions
def _linear_rows(g, x, w, b):
    y = g.node("MatMul", [g.value(x), g.node("Transpose", [g.value(w)], perm=[1, 0])])
    return y if b is None else g.node("Add", [y, g.value(b)])


def _linear(g, rec):
    return [_linear_rows(g, *rec.args)]


def _linear_act(g, rec):  # F.linear_act: act(x @ w.T + b) + residual
    x, w, b, residual, act = rec.args
    y = _linear_rows(g, x, w, b)
    dt = _np(rec.outs[0].dtype)
    if act == "gelu":
        y = _gelu_value(g, y, dt)
    elif act in _UNARY:
        y = g.node(_UNARY[act], [y])
    elif act is not None:
        y = _COMPOSED_UNARY[act](g, y, dt)
    return [y if residual is None else g.node("Add", [y, g.value(residual)])]


def _matmul(g, rec):
    a, b = rec.args[:2]
    return [g.node("MatMul", [g.value(a), g.value(b)])]


def _softmax(g, rec):
    x, log = rec.args
    return [g.node("LogSoftmax" if log else "Softmax", [g.value(x)], axis=-1)]


def _trailing(x, w, n):
    """How many trailing dims a norm over ``n`` elements covers (the weight's rank when there is one)."""
    if w is not None:
        return w.ndim
    k, size = 1, x.shape[-1]
    while size != int(n) and k < x.ndim:
        k += 1
        size *= x.shape[-k]
    return k


def _layer_norm(g, rec):
    x, w, b, n, eps = rec.args
    n = _trailing(x, w, n)
    shape = list(x.shape[-n:])
    dt = _np(x.dtype)
    w = g.value(w) if w is not None else g.const(np.ones(shape, dt), "ones")
    b = g.value(b) if b is not None else g.const(np.zeros(shape, dt), "zeros")
    return [g.node("LayerNormalization", [g.value(x), w, b], axis=-int(n), epsilon=float(eps))]


def _add_layer_norm(g, rec):  # F.add_layer_norm: (layer_norm(x + residual), x + residual)
    x, residual, w, b, n, eps = rec.args
    h = g.node("Add", [g.value(x), g.value(residual)])
    n = _trailing(x, w, n)
    shape, dt = list(x.shape[-n:]), _np(x.dtype)
    w = g.value(w) if w is not None else g.const(np.ones(shape, dt), "ones")
    b = g.value(b) if b is not None else g.const(np.zeros(shape, dt), "zeros")
    return [g.node("LayerNormalization", [h, w, b], axis=-int(n), epsilon=float(eps)), h]


def _bias_dropout_add(g, rec):  # F.bias_dropout_add with dropout idle: residual + (x + bias)
    x, b, residual, p, _ = rec.args
    if p > 0:
        _refuse(rec, "with dropout in training mode: export runs the model in eval mode")
    y = g.value(x) if b is None else g.node("Add", [g.value(x), g.value(b)])
    return [g.node("Add", [g.value(residual), y])]


def _rms_norm(g, rec):
    x, w, n, eps = rec.args
    n, dt = _trailing(x, w, n), _np(x.dtype)
    xv = g.value(x)
    ms = g.node("ReduceMean", [g.node("Mul", [xv, xv])], axes=list(range(-int(n), 0)), keepdims=1) \
        if g.opset < 18 else g.node("ReduceMean", [g.node("Mul", [xv, xv]), g.ints(list(range(-int(n), 0)))])
    y = g.node("Div", [xv, g.node("Sqrt", [g.node("Add", [ms, g.scalar(eps, dt)])])])
    return [y if w is None else g.node("Mul", [y, g.value(w)])]


def _embedding(g, rec):
    w, idx = rec.args[:2]
    return [g.node("Gather", [g.value(w), _cast(g, g.value(idx), idx.dtype, _dt.int64)], axis=0)]


def _conv(g, rec):
    x, w, b, (stride, padding, dilation, groups) = rec.args
    ins = [g.value(x), g.value(w)] + ([g.value(b)] if b is not None else [])
    return [g.node("Conv", ins, strides=list(stride), pads=list(padding) * 2, dilations=list(dilation),
                   group=int(groups), kernel_shape=list(w.shape[2:]))]


def _conv_transpose(g, rec):
    x, w, shape, (stride, padding, dilation, groups) = rec.args
    k = w.shape[2:]
    natural = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k[i] - 1) + 1 for i in range(2)]
    out_pad = [int(shape[2 + i]) - natural[i] for i in range(2)]
    return [g.node("ConvTranspose", [g.value(x), g.value(w)], strides=list(stride), pads=list(padding) * 2,
                   dilations=list(dilation), group=int(groups), kernel_shape=list(k), output_padding=out_pad)]


def _max_pool_fn(g, rec):
    x, (k, s, p, d, ceil) = rec.args
    y = g.node("MaxPool", [g.value(x)], kernel_shape=list(k), strides=list(s), pads=list(p) * 2,
               dilations=list(d), ceil_mode=int(bool(ceil)))
    g.refused[id(rec.outs[1])] = "max_pool2d's indices"
    return [y, None]


def _attention(g, rec):
    q, k, v, mask, kpm, causal, scale = rec.args
    dt = _np(q.dtype)
    nd = q.ndim
    kt = g.node("Transpose", [g.value(k)], perm=list(range(nd - 2)) + [nd - 1, nd - 2])
    s = g.node("MatMul", [g.node("Mul", [g.value(q), g.scalar(scale, dt)]), kt])      # (B, H, L, S)
    neg = g.scalar(-np.inf, dt) if (causal or mask is not None or kpm is not None) else None
    if causal:  # top-left aligned lower triangle of an (L, S) block of ones, as PyTorch's is_causal
        ls = g.node("Concat", [g.node("Gather", [g.node("Shape", [g.value(t)]), g.ints([-2])], axis=0)
                               for t in (q, k)], axis=0)
        ones = g.node("ConstantOfShape", [ls], value=g.h.make_tensor("one", 1, [1], [1.0]))
        keep = g.node("Cast", [g.node("Trilu", [ones], upper=0)], to=9)
        s = g.node("Where", [keep, s, neg])
    if mask is not None:
        s = g.node("Where", [g.value(mask), s, neg]) if mask.dtype is _dt.bool_ else \
            g.node("Add", [s, _operand(g, mask, q.dtype)])
    if kpm is not None:  # (N, S), True = masked out
        s = g.node("Where", [g.node("Unsqueeze", [g.value(kpm), g.ints([1, 2])]), neg, s])
    return [g.node("MatMul", [g.node("Softmax", [s], axis=-1), g.value(v)])]


# ----------------------------------------------------------------------------- captured modules
def _tup(v, n):
    return [int(i) for i in v] if isinstance(v, (tuple, list)) else [int(v)] * n


def _pool_module(onnx_op, n):
    def fn(g, rec):
        m, x = rec.obj, rec.args[0]
        if getattr(m, "return_indices", False) or getattr(m, "divisor_override", None):
            _refuse(rec, "with return_indices or divisor_override")
        k, s, p = _tup(m.kernel_size, n), _tup(m.stride, n), _tup(m.padding, n)
        y, attrs = g.value(x), dict(kernel_shape=k, strides=s, pads=p * 2, ceil_mode=int(bool(m.ceil_mode)))
        if onnx_op == "MaxPool":
            attrs["dilations"] = _tup(m.dilation, n)
        else:
            attrs["count_include_pad"] = int(bool(m.count_include_pad))
        return [g.node(onnx_op, [y], **attrs)]
    return fn


def _adaptive_avg(n):
    def fn(g, rec):
        m, x = rec.obj, rec.args[0]
        osz = [x.shape[-n + i] if o is None else o for i, o in enumerate(_tup_none(m.output_size, n))]
        if all(o == 1 for o in osz):
            return [g.node("GlobalAveragePool", [g.value(x)])]
        ins = list(x.shape[-n:])
        if any(isinstance(i, SymDim) for i in ins) or any(i % o for i, o in zip(ins, osz)):
            _refuse(rec, f"from {ins} to {osz}: only output sizes that divide the input are exported")
        k = [i // o for i, o in zip(ins, osz)]
        return [g.node("AveragePool", [g.value(x)], kernel_shape=k, strides=k)]
    return fn


def _tup_none(v, n):
    return list(v) if isinstance(v, (tuple, list)) else [v] * n


def _batch_norm(g, rec):
    m, x = rec.obj, rec.args[0]
    if m.running_mean is None:
        _refuse(rec, "without running statistics (track_running_stats=False) uses batch statistics")
    C, dt = m.num_features, _np(x.dtype)
    w = g.value(m.weight) if m.weight is not None else g.const(np.ones(C, dt), "ones")
    b = g.value(m.bias) if m.bias is not None else g.const(np.zeros(C, dt), "zeros")
    return [g.node("BatchNormalization", [g.value(x), w, b, g.value(m.running_mean), g.value(m.running_var)],
                   epsilon=float(m.eps))]


_GATES = {"LSTM": ("LSTM", [0, 3, 1, 2]), "GRU": ("GRU", [1, 0, 2]), "RNN_TANH": ("RNN", [0]),
          "RNN_RELU": ("RNN", [0])}


def _rnn(g, rec):
    """nn.LSTM / GRU / RNN as ONNX's own ops, one per layer; PyTorch's gate order is permuted to ONNX's."""
    m, x = rec.obj, rec.args[0]
    hx = rec.args[1] if len(rec.args) > 1 else None
    if x.ndim != 3:
        _refuse(rec, "on an unbatched (2-D) input")
    op, order = _GATES[m.mode]
    D, H, G = (2 if m.bidirectional else 1), m.hidden_size, len(order)
    states = [] if hx is None else ([g.value(s) for s in hx] if isinstance(hx, (tuple, list)) else [g.value(hx)])
    X = g.value(x)
    if m.batch_first:
        X = g.node("Transpose", [X], perm=[1, 0, 2])                                   # (T, B, I)
    per = 4 if m.bias else 2
    finals = [[] for _ in range(2 if op == "LSTM" else 1)]
    attrs = dict(hidden_size=H, direction="bidirectional" if D == 2 else "forward")
    if op == "GRU":
        attrs["linear_before_reset"] = 1  # PyTorch applies r to (W_hn h + b_hn)
    if op == "RNN":
        attrs["activations"] = ["Tanh" if m.mode == "RNN_TANH" else "Relu"] * D
    for layer in range(m.num_layers):
        Ws, Rs, Bs = [], [], []
        for d in range(D):
            k = layer * D + d
            p = [getattr(m, n).detach().cpu()._data for n in m._flat_weights_names[k * per:(k + 1) * per]]
            reorder = (lambda a: np.concatenate([a[i * H:(i + 1) * H] for i in order]))
            Ws.append(reorder(p[0]))
            Rs.append(reorder(p[1]))
            Bs.append(np.concatenate([reorder(p[2]), reorder(p[3])]) if m.bias else np.zeros(2 * G * H, p[0].dtype))
        ins = [X, g.const(np.stack(Ws), "W"), g.const(np.stack(Rs), "R"), g.const(np.stack(Bs), "B"), None]
        for s in states:
            ins.append(g.node("Slice", [s, g.ints([layer * D]), g.ints([(layer + 1) * D]), g.ints([0])]))
        outs = g.node(op, ins, n_out=1 + len(finals), **attrs)                          # Y (T, D, B, H)
        for i, f in enumerate(finals):
            f.append(outs[1 + i])
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])                           # (T, B, D, H)
        X = g.node("Reshape", [y, g.ints([0, 0, D * H])])                               # (T, B, D*H)
    if m.batch_first:
        X = g.node("Transpose", [X], perm=[1, 0, 2])
    return [X] + [f[0] if len(f) == 1 else g.node("Concat", f, axis=0) for f in finals]


TABLE = {
    **{f"unary.{op}": _unary(op) for op in list(_UNARY) + list(_COMPOSED_UNARY)},
    **{f"binary.{op}": _binary(op) for op in _BINARY},
    "binary.ne": _ne, "Where": _where, "Clamp": _clamp, "_Gelu": _gelu,
    "Reshape": _reshape, "Permute": _permute, "Expand": _expand, "Slice": _slice, "IndexGet": _index_get, "Contiguous": _identity,
    "Cast": _to_dtype, "Cat": _cat, "Flip": _flip, "Tri": _tri, "Pad": _pad, "Repeat": _repeat,
    "Sum": _reduce("ReduceSum"), "AMax": _reduce("ReduceMax"), "AMin": _reduce("ReduceMin"),
    "Prod": _reduce("ReduceProd"), "LogSumExp": _reduce("ReduceLogSumExp"), "Norm2": _reduce("ReduceL2"),
    "Var": _var, "CumSum": _cumsum, "argmax": _arg_reduce("ArgMax"), "argmin": _arg_reduce("ArgMin"),
    "Gather": _gather,
    "_Linear": _linear, "_LinearAct": _linear_act, "MatMul": _matmul, "_Softmax": _softmax, "_LayerNorm": _layer_norm, "_RMSNorm": _rms_norm,
    "_AddLayerNorm": _add_layer_norm, "_BiasDropoutAdd": _bias_dropout_add,
    "_Embedding": _embedding, "_Conv2d": _conv, "_ConvGradInput": _conv_transpose, "_MaxPool2d": _max_pool_fn,
    "_FusedAttention": _attention,
    "nn.LSTM": _rnn, "nn.GRU": _rnn, "nn.RNN": _rnn, "nn.BatchNorm1d": _batch_norm, "nn.BatchNorm2d": _batch_norm,
    "nn.MaxPool1d": _pool_module("MaxPool", 1), "nn.MaxPool2d": _pool_module("MaxPool", 2),
    "nn.AvgPool1d": _pool_module("AveragePool", 1), "nn.AvgPool2d": _pool_module("AveragePool", 2),
    "nn.AdaptiveAvgPool1d": _adaptive_avg(1), "nn.AdaptiveAvgPool2d": _adaptive_avg(2),
}


# what users meet most among the ops left out, and what to do instead
_HINTS = {
    "_Apply": "functional avg_pool / adaptive_avg_pool / interpolate: use nn.AvgPool2d or nn.AdaptiveAvgPool2d",
    "_Dropout": "dropout in training mode: export runs the model in eval mode; call F.dropout with "
                "training=self.training",
    "_BatchNormTrain": "batch norm with batch statistics (training=True or no running stats)",
    "_CrossEntropy": "a loss: export the model without its loss", "_BCE": "a loss: export the model without its loss",
}


def translate(g, rec):
    """Emit the ONNX nodes of one record and name its outputs (or fold it into a constant)."""
    if rec.key == "inplace":  # the target now holds the result's value
        (result,), target = rec.args, rec.outs[0]
        g.names[id(target)] = g.value(result)
        (g.live.add if id(result) in g.live else g.live.discard)(id(target))
        return
    fn = TABLE.get(rec.key)
    if fn is None:
        hint = f" ({_HINTS[rec.key]})" if rec.key in _HINTS else ""
        raise UnsupportedOperatorError(f"blaze.onnx.export: the op {rec.key}{hint} has no ONNX translation (at "
                                       f"{rec.path})")
    tensors = rec.tensors()
    for t in tensors:  # constants made in forward must not hide a dependence on the inputs
        g.check_constant(t)
    if g.fold and not any(id(t) in g.live for t in tensors) and _static(rec):
        for o in rec.outs:
            if isinstance(o, Tensor):
                g.consts[id(o)] = o
        return
    names = fn(g, rec)
    for o, n in zip(rec.outs, names):
        if isinstance(o, Tensor) and n is not None:
            g.names[id(o)] = n
            g.live.add(id(o))


def _static(rec):
    """No size in the op depends on the inputs (so its traced output is valid for every input size)."""
    from .tracer import _leaves, flat_tensors
    if any(isinstance(a, SymDim) for a in _leaves(rec.args)) or any(
            isinstance(a, slice) and any(isinstance(v, SymDim) for v in (a.start, a.stop, a.step))
            for a in _leaves(rec.args)):
        return False
    return rec.twin is None or all(a.shape == b.shape for a, b in zip(flat_tensors(rec.args), flat_tensors(rec.twin)))
