"""Elementwise ops: unary math, binary arithmetic with broadcasting and type promotion, where, clamp.

Each differentiable op is one table row: the backend primitive's name and the backward
as a formula over Tensors (so it can itself be differentiated). Comparisons and logical
ops produce bool tensors and record nothing.
"""
from __future__ import annotations

import builtins

from .. import _optable
from .. import dtypes as _dt
from ..autograd.function import _TRACING, Function
from ._util import Tensor, broadcast_error, broadcast_shapes_error, make, unbroadcast

# ---------------------------------------------------------------------------- unary
# name -> (backward(g, x, y), what it saves, promotes ints to float), from blaze/_optable.py
UNARY = {n: (op.grad, op.saves, op.rule == "float") for n, op in _optable.UNARY.items()
         if op.public and op.grad is not None}
_BOOL_UNARY = tuple(n for n, op in _optable.UNARY.items() if op.public and op.rule == "bool")
# not differentiable, dtype kept (bitwise_not)
_PLAIN_UNARY = tuple(n for n, op in _optable.UNARY.items() if op.public and op.grad is None and op.rule != "bool")
# Rows with a kernel instruction but no torch.* name (F.gelu(approximate="tanh"), F.silu): kept
# out of blaze.* and Tensor's methods.
ACTIVATIONS = {n: (op.grad, op.saves, op.rule == "float") for n, op in _optable.UNARY.items()
               if not op.public and op.grad is not None}
_ROWS = {**UNARY, **ACTIVATIONS}


class _Unary(Function):
    _internal = True
    op = ""

    @staticmethod
    def forward(ctx, x):
        op = ctx.op
        bwd, saves, to_float = _ROWS[op]
        data, dt = x._data, x._dtype
        be = x._device.backend
        if to_float and not dt.is_floating_point:
            dt = _dt.get_default_dtype()
            data = be.cast(data, dt)
        y = make(be.unary(op, data), x._device, dt)
        if not ctx.needs_input_grad[0]:  # no graph recorded: nothing will read what is saved
            return y
        if saves:
            ctx.save_for_backward(*[x if k == "x" else y for k in saves])
        return y

    @staticmethod
    def backward(ctx, g):
        bwd, saves, _ = _ROWS[ctx.op]
        saved = dict(zip(saves, ctx.saved_tensors))
        return bwd(g, saved.get("x"), saved.get("y"))


def _unary_fn(op):
    cls = type(op.capitalize(), (_Unary,), {"op": op})

    def fn(input, *, out=None):
        r = cls.apply(input)
        return r if out is None else out.copy_(r)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}``, as ``torch.{op}``."
    return fn


def _bool_unary_fn(op):
    bool_out = _optable.UNARY[op].rule == "bool"

    def fn(input):
        r = make(input._device.backend.unary(op, input._data), input._device, _dt.bool_ if bool_out else input._dtype)
        if _TRACING[0] is not None:  # not a Function: tell blaze.onnx's tracer directly
            _TRACING[0].op("unary." + op, (input,), r)
        return r
    fn.__name__ = op
    return fn


for _op in UNARY:
    globals()[_op] = _unary_fn(_op)
for _op in _BOOL_UNARY + _PLAIN_UNARY:
    globals()[_op] = _bool_unary_fn(_op)
_logit = logit  # noqa: F821
_gelu_tanh, _silu, _i1 = _unary_fn("gelu_tanh"), _unary_fn("silu"), _unary_fn("i1")


def logit(input, eps=None, *, out=None):
    """``torch.logit``: log(p / (1 - p)); with ``eps``, p is clamped to [eps, 1 - eps] first,
    so the gradient is 0 outside that range (as PyTorch's)."""
    return _logit(input if eps is None else input.clamp(eps, 1 - eps), out=out)


# ---------------------------------------------------------------------------- binary
# Differentiable rows of blaze/_optable.py (gradients over (g, a, b, y), what each reads); the
# rest record nothing. Only what the needed gradients read is saved: ``x.mul_(3)`` saves nothing of x.
BINARY = {n: row for n, row in _optable.BINARY.items() if row.grad_a is not None}
_NONDIFF_BINARY = tuple(n for n, row in _optable.BINARY.items() if row.grad_a is None)
_BOOL_RESULT = tuple(n for n, row in _optable.BINARY.items() if row.rule in ("cmp", "logical"))


def _scalar_category(s) -> int:
    return 0 if isinstance(s, bool) else 1 if isinstance(s, int) else 2


def _prep(op, a, b):
    """Operands as backend arrays (or raw scalars) in the promoted dtype, plus device and dtype."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        dev = a._device
        if b._device is not dev:
            if b._data.ndim == 0 and b._device.type == "cpu":
                b = b.to(dev)
            elif a._data.ndim == 0 and a._device.type == "cpu":
                a = a.to(b._device)
                dev = b._device
            else:
                raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                                   f"{a._device} and {b._device}!")
        dt = a._dtype if a._dtype is b._dtype else _dt.result_type(a, b)
    elif ta:
        dev, b = a._device, _as_scalar(b)
        c = _scalar_category(b)
        dt = a._dtype if c <= a._dtype.category else (_dt.get_default_dtype() if c == 2 else _dt.int64)
    elif tb:
        dev, a = b._device, _as_scalar(a)
        c = _scalar_category(a)
        dt = b._dtype if c <= b._dtype.category else (_dt.get_default_dtype() if c == 2 else _dt.int64)
    else:
        raise TypeError(f"{op}(): expected at least one Tensor argument")
    if op in _TO_FLOAT and not dt.is_floating_point:
        dt = _dt.get_default_dtype()
    elif op in _INT_DIVISION and not dt.is_floating_point:
        _check_int_divisor(b)
    be = dev.backend
    x = (a._data if a._dtype is dt else be.cast(a._data, dt)) if ta else a
    y = (b._data if b._dtype is dt else be.cast(b._data, dt)) if tb else b
    return x, y, dt, dev, be


_INT_DIVISION = ("floor_divide", "remainder", "fmod")
_TO_FLOAT = tuple(n for n, row in _optable.BINARY.items() if row.rule == "float")  # div, atan2


def _check_int_divisor(b) -> None:
    """Integer division by zero raises, as PyTorch's CPU kernels do (NumPy would return 0 silently).

    A tensor divisor costs one reduction and, on the cuda device, one host sync."""
    zero = b == 0
    if zero if not isinstance(zero, Tensor) else zero.any().item():
        raise RuntimeError("ZeroDivisionError")


def _as_scalar(s):
    if isinstance(s, (bool, int, float)):
        return s
    if hasattr(s, "item") and getattr(s, "ndim", 1) == 0:  # numpy scalars
        return s.item()
    raise TypeError(f"unsupported operand type: {type(s).__name__}")


def _run_binary(op, x, y, be, a, b):
    try:
        return be.binary(op, x, y)
    except ValueError:
        raise broadcast_error(getattr(a, "shape", ()), getattr(b, "shape", ())) from None


class _Binary(Function):
    _internal = True
    op = ""

    @staticmethod
    def forward(ctx, a, b):
        op = ctx.op
        x, y, dt, dev, be = _prep(op, a, b)
        try:
            out = make(be.binary(op, x, y), dev, dt)
        except ValueError:
            raise broadcast_error(getattr(a, "shape", ()), getattr(b, "shape", ())) from None
        na, nb = ctx.needs_input_grad
        if na or nb:  # bookkeeping only when a graph is recorded
            row = BINARY[op]
            needs = (row.saves_a if na else "") + (row.saves_b if nb else "")
            ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
            sa, sb = (a if ta and "a" in needs else None), (b if tb and "b" in needs else None)
            sy = out if "y" in needs else None
            if sa is not None or sb is not None or sy is not None:  # x * 3 saves no tensor, as PyTorch
                ctx.save_for_backward(sa, sb, sy)
            ctx.scalars = (None if ta else a, None if tb else b)
            ctx.shapes = (a._data.shape if ta else None, b._data.shape if tb else None)
        return out

    @staticmethod
    def backward(ctx, g):
        row = BINARY[ctx.op]
        fa, fb = row.grad_a, row.grad_b
        sa, sb, y = ctx.saved_tensors if ctx._saved is not None or ctx._freed else (None, None, None)
        a = sa if sa is not None else ctx.scalars[0]
        b = sb if sb is not None else ctx.scalars[1]
        na, nb = ctx.needs_input_grad
        sha, shb = ctx.shapes
        return (unbroadcast(fa(g, a, b, y), sha) if na else None, unbroadcast(fb(g, a, b, y), shb) if nb else None)


def _binary_fn(op):
    cls = type(op.capitalize(), (_Binary,), {"op": op})

    def fn(input, other, *, out=None):
        r = cls.apply(input, other)
        return r if out is None else out.copy_(r)
    fn.__name__ = op
    fn.__doc__ = f"Elementwise ``{op}`` with broadcasting and type promotion, as ``torch.{op}``."
    fn._cls = cls
    return fn


def _nondiff_binary_fn(op):
    def fn(input, other, *, out=None):
        x, y, dt, dev, be = _prep(op, input, other)
        r = make(_run_binary(op, x, y, be, input, other), dev, _dt.bool_ if op in _BOOL_RESULT else dt)
        if _TRACING[0] is not None:  # not a Function: tell blaze.onnx's tracer directly
            _TRACING[0].op("binary." + op, (input, other), r)
        return r if out is None else out.copy_(r)
    fn.__name__ = op
    return fn


for _op in BINARY:
    globals()[_op] = _binary_fn(_op)
for _op in _NONDIFF_BINARY:
    globals()[_op] = _nondiff_binary_fn(_op)

_round_unary = round  # noqa: F821 - defined by the loop above


def round(input, *, decimals=0, out=None):  # noqa: A001, F811 - adds decimals to the table's round
    """Round half to even, optionally to ``decimals`` places, as ``torch.round``."""
    if decimals == 0:
        r = _round_unary(input)
    else:
        scale = 10.0 ** decimals
        r = _round_unary(input * scale) / scale
    return r if out is None else out.copy_(r)


_add_cls = add._cls  # noqa: F821 - defined by the loop above
_sub_cls = sub._cls  # noqa: F821
_mul_cls = mul._cls  # noqa: F821


def _scalar_first(name, scalar, rest, n_tensors):
    """PyTorch's deprecated overloads that put the scalar first (``add(input, alpha, other)``,
    ``addcmul(input, value, t1, t2)``): PyTorch 2.13 still accepts them with a warning, and published
    programs use them (word_language_model's ``p.data.add_(-lr, p.grad.data)``). Returns the tensors."""
    import numbers
    import warnings
    if len(rest) != n_tensors or not isinstance(scalar, numbers.Number) or isinstance(scalar, bool) \
            or not all(isinstance(t, Tensor) for t in rest):
        raise TypeError(f"{name}() received an invalid combination of arguments")
    warnings.warn(f"This overload of {name} is deprecated: {name}(Number, Tensor...) - use the keyword "
                  f"argument ({'alpha' if n_tensors == 1 else 'value'}=...) instead", UserWarning, stacklevel=3)
    return rest


def add(input, other, *args, alpha=1, out=None):  # noqa: F811 - adds alpha to the table's add
    """``input + alpha * other``, as ``torch.add``."""
    if args:
        alpha, (other,) = other, _scalar_first("add", other, args, 1)
    if alpha != 1:
        other = other * alpha
    r = _add_cls.apply(input, other)
    return r if out is None else out.copy_(r)


def sub(input, other, *args, alpha=1, out=None):  # noqa: F811
    if args:
        alpha, (other,) = other, _scalar_first("sub", other, args, 1)
    if alpha != 1:
        other = other * alpha
    r = _sub_cls.apply(input, other)
    return r if out is None else out.copy_(r)


subtract, multiply, divide, true_divide = sub, mul, div, div  # noqa: F821
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne  # noqa: F821
# torch's NumPy-style names
absolute, negative, fix, sgn, arctan2 = abs, neg, trunc, sign, atan2  # noqa: F821 - sgn: sign for real dtypes
arccos, arcsin, arctan, arccosh, arcsinh, arctanh = acos, asin, atan, acosh, asinh, atanh  # noqa: F821
ALIASES = ("absolute", "negative", "fix", "sgn", "arctan2", "arccos", "arcsin", "arctan", "arccosh", "arcsinh",
           "arctanh")


def positive(input):
    """``input`` itself, as ``torch.positive`` (which refuses bool)."""
    if input.dtype is _dt.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


def float_power(input, exponent):
    return pow(input.to(_dt.float64), exponent)  # noqa: F821


def div_mode(input, other, rounding_mode=None):
    if rounding_mode is None:
        return div(input, other)  # noqa: F821
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    integer = isinstance(input, Tensor) and not input.dtype.is_floating_point and \
        not (isinstance(other, Tensor) and other.dtype.is_floating_point) and not isinstance(other, float)
    if integer:
        _check_int_divisor(other)
    q = div(input, other)  # noqa: F821
    r = q.trunc() if rounding_mode == "trunc" else q.floor()
    return r.to(_dt.result_type(input, other)) if integer else r


# ---------------------------------------------------------------------------- where / clamp
class Where(Function):
    _internal = True

    @staticmethod
    def forward(ctx, cond, a, b):
        x, y, dt, dev, be = _prep("where", a, b)
        c = cond._data if cond._dtype is _dt.bool_ else be.cast(cond._data, _dt.bool_)
        try:
            out = be.where(c, x, y)
        except ValueError:
            raise broadcast_shapes_error(cond.shape, getattr(a, "shape", ()), getattr(b, "shape", ())) from None
        ctx.save_for_backward(cond)
        ctx.shapes = (getattr(a, "shape", None), getattr(b, "shape", None))
        return make(out, dev, dt)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        _, na, nb = ctx.needs_input_grad
        ga = unbroadcast(where(cond, g, 0.0), ctx.shapes[0]) if na else None
        gb = unbroadcast(where(cond, 0.0, g), ctx.shapes[1]) if nb else None
        return None, ga, gb


def where(condition, input=None, other=None):
    """Pick ``input`` where ``condition`` else ``other`` (broadcasting), as ``torch.where``."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    return Where.apply(condition, input, other)


class Clamp(Function):
    """``clamp(x, lo, hi)``: each bound None, a number or a Tensor; one device primitive (on cuda,
    one fused launch when both bounds are given)."""
    _internal = True

    @staticmethod
    def forward(ctx, x, lo, hi):
        tensors = isinstance(lo, Tensor) or isinstance(hi, Tensor)
        if tensors:
            dt = _dt.result_type(*[v for v in (x, lo, hi) if v is not None])
        else:
            dt = x._dtype
            for v in (lo, hi):
                if isinstance(v, float) and not dt.is_floating_point:
                    dt = _dt.get_default_dtype()
        be = x._device.backend
        data, lod, hid = ((v._data if v._dtype is dt else be.cast(v._data, dt)) if isinstance(v, Tensor) else v
                          for v in (x, lo, hi))
        ctx.save_for_backward(x, lo if isinstance(lo, Tensor) else None, hi if isinstance(hi, Tensor) else None)
        ctx.lo, ctx.hi = (None if isinstance(v, Tensor) else v for v in (lo, hi))
        try:
            r = be.clamp(data, lod, hid)
        except ValueError:
            raise broadcast_shapes_error(*[getattr(v, "shape", ()) for v in (x, lo, hi) if v is not None]) from None
        if _dt.from_numpy_dtype(r.dtype) is not dt:  # bool with int bounds promotes to int64 in the backends
            r = be.cast(r, dt)
        return make(r, x._device, dt)

    @staticmethod
    def backward(ctx, g):
        # PyTorch's clamp_backward_min_max: x where lo <= x <= hi; a tensor lo where x < lo (and
        # lo < hi), a tensor hi where x > hi (or hi < lo, where hi wins)
        x, tlo, thi = ctx.saved_tensors
        lo = tlo if tlo is not None else ctx.lo
        hi = thi if thi is not None else ctx.hi
        nx, nlo, nhi = ctx.needs_input_grad
        gx = glo = ghi = None
        if nx:
            keep = None
            if lo is not None:
                keep = x >= lo
            if hi is not None:
                k = x <= hi
                keep = k if keep is None else keep.logical_and(k)
            gx = unbroadcast(where(keep, g, 0.0), x.shape)
        if nlo and tlo is not None:
            m = x < tlo
            glo = unbroadcast(where(m if hi is None else m.logical_and(tlo < hi), g, 0.0), tlo.shape)
        if nhi and thi is not None:
            m = x > thi
            ghi = unbroadcast(where(m if lo is None else m.logical_or(thi < lo), g, 0.0), thi.shape)
        return gx, glo, ghi


def clamp(input, min=None, max=None, *, out=None):
    """Limit values to [min, max], as ``torch.clamp``; bounds may be numbers or tensors."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    r = Clamp.apply(input, min, max)
    return r if out is None else out.copy_(r)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def lerp(input, end, weight):
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *args, value=1):
    if args:
        value, (tensor1, tensor2) = tensor1, _scalar_first("addcmul", tensor1, (tensor2, *args), 2)
    return input + value * tensor1 * tensor2


def addcdiv(input, tensor1, tensor2, *args, value=1):
    if args:
        value, (tensor1, tensor2) = tensor1, _scalar_first("addcdiv", tensor1, (tensor2, *args), 2)
    return input + value * tensor1 / tensor2


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    diff = (input - other).abs()
    close = diff <= atol + rtol * (other.abs() if isinstance(other, Tensor) else builtins.abs(other))
    close = close.logical_or(eq(input, other))  # noqa: F821 - infinities of the same sign
    if equal_nan:
        close = close.logical_or(isnan(input).logical_and(isnan(other)))  # noqa: F821
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input, other) -> bool:
    return input.shape == other.shape and bool(eq(input, other).all())  # noqa: F821


__all__ = list(UNARY) + list(_BOOL_UNARY) + list(_PLAIN_UNARY) + list(ALIASES) + ["positive"] + list(BINARY) + list(_NONDIFF_BINARY) + [
    "subtract", "multiply", "divide", "true_divide", "greater", "greater_equal", "less", "less_equal", "not_equal",
    "rsub", "float_power", "where", "clamp", "clip", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv",
    "isclose", "allclose", "equal"]
