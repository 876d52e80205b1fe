"""All tensor ops, and the binding of them as ``Tensor`` methods and operators."""
from . import conversion, creation, indexing, linalg, movement, pointwise, reduction, shape, special  # noqa: F401
from . import arrange, decomp, lowrank, products, scatter_views, spectral, stats, tensor_info  # noqa: F401
from .. import _debug, _optable
from .._tensor import Tensor


def _bind():
    P, R, S, I, L, C = pointwise, reduction, shape, indexing, linalg, conversion
    methods = {}
    for name in list(P.UNARY) + list(P._BOOL_UNARY) + list(P._PLAIN_UNARY) + list(P.ALIASES) + ["positive"]:
        methods[name] = getattr(P, name)
    methods["_i1"] = P._i1  # i0's gradient (torch.special.i1 has no torch.* name)
    methods["polygamma"] = lambda self, n: special.polygamma(n, self)
    methods["mvlgamma"] = lambda self, p: special.mvlgamma(self, p)
    methods["ldexp"], methods["frexp"], methods["float_power_"] = special.ldexp, special.frexp, special.float_power_
    for name in [*_optable.BINARY, "clamp", "clip", "clamp_min", "clamp_max", "lerp",
                 "addcmul", "addcdiv", "isclose", "allclose", "equal", "subtract", "multiply", "divide",
                 "true_divide", "greater", "greater_equal", "less", "less_equal", "not_equal", "float_power"]:
        methods[name] = getattr(P, name)
    methods["div"] = lambda self, other, *, rounding_mode=None: P.div_mode(self, other, rounding_mode)
    methods["divide"] = methods["div"]
    methods["where"] = lambda self, condition, other: P.where(condition, self, other)
    for name in ("sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "max", "min", "var", "std",
                 "logsumexp", "norm", "cumsum", "cumprod", "all", "any", "count_nonzero", "aminmax", "median",
                 "var_mean", "std_mean"):
        methods[name] = getattr(R, name)
    for name in ("reshape", "view", "permute", "transpose", "swapaxes", "swapdims", "t", "movedim", "expand",
                 "expand_as", "broadcast_to", "squeeze", "unsqueeze", "flatten", "unflatten", "ravel", "narrow",
                 "select", "split", "tensor_split", "chunk", "unbind", "diagonal"):
        methods[name] = getattr(S, name)
    for name in ("contiguous", "clone", "flip", "fliplr", "flipud", "roll", "tril", "triu", "repeat", "tile",
                 "repeat_interleave"):
        methods[name] = getattr(movement, name)
    methods["view_as"] = lambda self, other: S.view(self, other.shape)
    methods["reshape_as"] = lambda self, other: S.reshape(self, other.shape)
    for name in ("gather", "scatter", "scatter_add", "scatter_", "scatter_add_", "index_select", "index_add",
                 "index_add_", "index_fill", "index_fill_", "index_put", "index_put_", "masked_fill", "masked_fill_",
                 "masked_select", "nonzero", "argwhere", "sort", "argsort", "topk", "kthvalue", "take_along_dim",
                 "multinomial", "msort", "scatter_reduce", "scatter_reduce_"):
        methods[name] = getattr(I, name)
    for name in ("matmul", "mm", "bmm", "mv", "dot", "inner", "outer", "ger", "addmm", "baddbmm"):
        methods[name] = getattr(L, name)
    for name in ("to", "cpu", "cuda", "double", "half", "bfloat16", "long", "short", "char", "byte", "type_as",
                 "copy_", "fill_", "zero_", "uniform_", "normal_", "random_", "bernoulli_", "exponential_"):
        methods[name] = getattr(C, name)
    methods["float"], methods["int"], methods["bool"] = C.float_, C.int_, C.bool_
    methods["bernoulli"] = lambda self, p=None, *, generator=None: creation.bernoulli(self, p, generator=generator)
    methods["new_zeros"] = lambda self, *size, dtype=None, device=None, requires_grad=False: creation.zeros(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    methods["new_ones"] = lambda self, *size, dtype=None, device=None, requires_grad=False: creation.ones(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    methods["new_empty"] = lambda self, *size, dtype=None, device=None, requires_grad=False: creation.empty(
        *size, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    methods["new_full"] = lambda self, size, fill_value, *, dtype=None, device=None, requires_grad=False: \
        creation.full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)
    methods["new_tensor"] = lambda self, data, *, dtype=None, device=None, requires_grad=False: creation.tensor(
        data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)
    methods["softmax"] = lambda self, dim, dtype=None: _functional().softmax(self, dim, dtype=dtype)
    methods["log_softmax"] = lambda self, dim, dtype=None: _functional().log_softmax(self, dim, dtype=dtype)
    methods["hardshrink"] = lambda self, lambd=0.5: _functional().hardshrink(self, lambd)
    methods["__getitem__"] = I.getitem
    methods["__setitem__"] = I.setitem
    for name in ("addmv", "addr", "addbmm"):
        methods[name] = getattr(L, name)
    methods["nan_to_num"] = special.nan_to_num
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    _bind_operators()
    _bind_inplace()


def _functional():
    from ..nn import functional  # nn imports the ops: resolve on first use
    return functional


def _bind_operators():
    P, L = pointwise, linalg
    ops = {
        "__add__": P.add, "__sub__": P.sub, "__mul__": P.mul, "__truediv__": P.div, "__pow__": P.pow,
        "__matmul__": L.matmul, "__floordiv__": P.floor_divide, "__mod__": P.remainder,
        "__eq__": P.eq, "__ne__": P.ne, "__lt__": P.lt, "__le__": P.le, "__gt__": P.gt, "__ge__": P.ge,
        "__and__": P.bitwise_and, "__or__": P.bitwise_or, "__xor__": P.bitwise_xor,
    }
    for name, fn in ops.items():
        setattr(Tensor, name, fn)
    reflected = {
        "__radd__": P.add, "__rsub__": P.sub, "__rmul__": P.mul, "__rtruediv__": P.div, "__rpow__": P.pow,
        "__rmatmul__": L.matmul, "__rfloordiv__": P.floor_divide, "__rmod__": P.remainder,
        "__rand__": P.bitwise_and, "__ror__": P.bitwise_or, "__rxor__": P.bitwise_xor,
    }
    for name, fn in reflected.items():
        setattr(Tensor, name, (lambda f: lambda self, other: f(other, self))(fn))
    Tensor.__neg__ = P.neg
    Tensor.__pos__ = lambda self: self
    Tensor.__abs__ = P.abs
    Tensor.__invert__ = lambda self: P.logical_not(self) if self.dtype.name == "bool" else P.bitwise_xor(self, -1)
    Tensor.T = property(lambda self: self.permute(*reversed(range(self.ndim))))
    Tensor.mT = property(lambda self: self.transpose(-2, -1))


def _inplace_method(fn):
    def method(self, *args, **kwargs):
        return self._inplace_apply(fn, *args, **kwargs)
    method.__name__ = fn.__name__ + "_"
    return method


_NO_INPLACE = ("logaddexp", "logaddexp2", "fmax", "fmin")


def _bind_inplace():
    P = pointwise
    # arithmetic rows (not comparisons, logical or bitwise ones: those keep their own list below)
    # (torch has no logaddexp_, logaddexp2_, fmax_ or fmin_)
    names = [n for n, row in _optable.BINARY.items() if row.rule in ("same", "float") and n not in _NO_INPLACE]
    names += ["clamp", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv", "clip"] + list(P.UNARY)
    for name in names:
        fn = getattr(Tensor, name)
        setattr(Tensor, name + "_", _inplace_method(fn))
    for n in [n for n, row in _optable.BINARY.items() if row.rule in ("cmp", "logical")] + ["logical_not"]:
        setattr(Tensor, n + "_", _inplace_method(getattr(Tensor, n)))
    # aliases, integer-only rows and the ops with a parameter
    for name in [*P.ALIASES, *P._PLAIN_UNARY, "subtract", "multiply", "divide", "true_divide", "greater",
                 "greater_equal", "less", "less_equal", "not_equal", "polygamma", "mvlgamma", "ldexp",
                 *[n for n, row in _optable.BINARY.items() if row.rule == "int"]]:
        setattr(Tensor, name + "_", _inplace_method(getattr(Tensor, name)))
    for name in ("tril", "triu", "cumsum", "cumprod", "addmm", "baddbmm", "addmv", "addr", "addbmm", "nan_to_num"):
        setattr(Tensor, name + "_", _inplace_method(getattr(Tensor, name)))
    for name in ("squeeze", "unsqueeze", "transpose", "t", "swapaxes", "swapdims"):
        setattr(Tensor, name + "_", _inplace_view(getattr(Tensor, name)))
    dunder = {"__iadd__": "add_", "__isub__": "sub_", "__imul__": "mul_", "__itruediv__": "div_",
              "__ipow__": "pow_", "__imod__": "remainder_", "__ifloordiv__": "floor_divide_"}
    for d, m in dunder.items():
        setattr(Tensor, d, getattr(Tensor, m))
    Tensor.__iand__ = _inplace_method(P.bitwise_and)
    Tensor.__ior__ = _inplace_method(P.bitwise_or)
    Tensor.__ixor__ = _inplace_method(P.bitwise_xor)


def _inplace_view(fn):
    """``t_``, ``transpose_``, ``(un)squeeze_``: ``self`` becomes its own view, graph included."""
    def method(self, *args):
        self._check_inplace()
        r = fn(self, *args)
        self._data = r._data
        if r._rg and self._grad_fn is not None:
            self._set_grad_fn(r._grad_fn, r._out_idx)
        if self._base is not None:  # later in-place writes rebuild this view from its base
            parent_op = self._view_op
            self._view_op = lambda t: fn(parent_op(t), *args)
        if _debug.ON:
            _debug.check(self)
        return self
    return method


def _bind_coverage():
    """Tensor methods of the linear-algebra, statistics, scatter and spectral modules (PyTorch's names)."""
    D, PR, ST, A, SV = decomp, products, stats, arrange, scatter_views
    methods = {n: getattr(D, n) for n in ("det", "logdet", "slogdet", "inverse", "pinverse", "svd", "qr",
                                          "cholesky", "cholesky_inverse", "lu_solve", "matrix_exp", "geqrf",
                                          "orgqr", "ormqr", "triangular_solve")}
    methods["cholesky_solve"] = lambda self, input2, upper=False: D.cholesky_solve(self, input2, upper)
    methods["lu"] = lambda self, pivot=True, get_infos=False: D.lu(self, pivot, get_infos)
    methods.update({n: getattr(PR, n) for n in ("matrix_power", "kron", "cross", "trace", "vdot", "dist",
                                                "renorm", "renorm_")})
    methods.update({n: getattr(ST, n) for n in ("nansum", "nanmean", "nanmedian", "nanquantile", "quantile", "mode",
                                                "cummax", "cummin", "logcumsumexp", "histc", "histogram",
                                                "bincount", "unique", "unique_consecutive", "cov", "corrcoef",
                                                "diff")})
    methods.update({n: getattr(A, n) for n in ("adjoint", "rot90", "hsplit", "vsplit", "dsplit", "moveaxis", "diag",
                                               "diag_embed", "diagflat", "unsafe_chunk", "unsafe_split",
                                               "split_with_sizes")})
    methods["narrow_copy"] = A.COPIES["narrow_copy"]
    methods["new_empty_strided"] = lambda self, size, stride, *, dtype=None, device=None, requires_grad=False: \
        A.empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                        requires_grad=requires_grad)
    methods.update({n: getattr(SV, n) for n in ("diagonal_scatter", "select_scatter", "slice_scatter", "as_strided",
                                                "as_strided_scatter", "take", "put", "put_", "index_copy",
                                                "index_copy_", "masked_scatter", "masked_scatter_", "unfold",
                                                "nonzero_static", "fill_diagonal_")})
    methods["stft"], methods["istft"] = spectral.stft, spectral.istft
    methods["is_inference"] = lambda self: False  # inference_mode makes no separate inference tensors (README)
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    for name in ("addmm", "baddbmm"):
        setattr(Tensor, name + "_", _inplace_method(getattr(linalg, name)))
    Tensor.mH = property(A.adjoint)

    def _H(self):
        if self.ndim != 2:
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
        return self.transpose(0, 1)
    Tensor.H = property(_H)
    Tensor.as_strided_ = _inplace_view(SV.as_strided)


_bind()
_bind_coverage()
tensor_info.bind()
