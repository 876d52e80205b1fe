"""One oracle table for the core ops: forward vs NumPy float64, gradients vs finite differences."""
import math

import mpmath
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check

erf = np.vectorize(math.erf)


def _mp(f):  # an mpmath function (arbitrary precision: independent of blaze's series) as a float64 ufunc
    return np.vectorize(lambda v: float(f(v)), otypes=[np.float64])


def _mvlgamma3(x):
    lg = _mp(lambda v: mpmath.log(abs(mpmath.gamma(v))))
    return sum(lg(x - i / 2) for i in range(3)) + 1.5 * math.log(math.pi)


A = arr(3, 4)
P = arr(3, 4, positive=True)
U = arr(3, 4, low=-0.9, high=0.9)


def _sm(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


UNARY = [
    ("neg", lambda x: -x, lambda x: -x, A), ("abs", blaze.abs, np.abs, A), ("exp", blaze.exp, np.exp, A),
    ("exp2", blaze.exp2, np.exp2, A), ("expm1", blaze.expm1, np.expm1, A), ("log", blaze.log, np.log, P),
    ("log2", blaze.log2, np.log2, P), ("log10", blaze.log10, np.log10, P), ("log1p", blaze.log1p, np.log1p, P),
    ("sqrt", blaze.sqrt, np.sqrt, P), ("rsqrt", blaze.rsqrt, lambda x: 1 / np.sqrt(x), P),
    ("sin", blaze.sin, np.sin, A), ("cos", blaze.cos, np.cos, A), ("tan", blaze.tan, np.tan, A),
    ("asin", blaze.asin, np.arcsin, U), ("acos", blaze.acos, np.arccos, U), ("atan", blaze.atan, np.arctan, A),
    ("sinh", blaze.sinh, np.sinh, A), ("cosh", blaze.cosh, np.cosh, A), ("tanh", blaze.tanh, np.tanh, A),
    ("asinh", blaze.asinh, np.arcsinh, A), ("acosh", blaze.acosh, np.arccosh, P + 1),
    ("atanh", blaze.atanh, np.arctanh, U), ("sigmoid", blaze.sigmoid, lambda x: 1 / (1 + np.exp(-x)), A),
    ("relu", blaze.relu, lambda x: np.maximum(x, 0), A), ("erf", blaze.erf, erf, A),
    ("reciprocal", blaze.reciprocal, lambda x: 1 / x, P), ("square", blaze.square, np.square, A),
    ("sign", blaze.sign, np.sign, A), ("floor", blaze.floor, np.floor, A * 3), ("ceil", blaze.ceil, np.ceil, A * 3),
    ("round", blaze.round, np.round, A * 3), ("trunc", blaze.trunc, np.trunc, A * 3),
    ("frac", blaze.frac, lambda x: x - np.trunc(x), A * 3),
    ("pow_scalar", lambda x: x ** 3, lambda x: x ** 3, A), ("rpow", lambda x: 2 ** x, lambda x: 2 ** x, A),
    ("sqrt_method", lambda x: x.sqrt(), np.sqrt, P),
    ("clamp", lambda x: x.clamp(-0.5, 0.3), lambda x: np.clip(x, -0.5, 0.3), A),
    ("clamp_min", lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), A),
    ("logit", blaze.logit, lambda x: np.log(x / (1 - x)), arr(3, 4, low=0.05, high=0.95)),
    ("logit_eps", lambda x: x.logit(0.2), lambda x: np.log(np.clip(x, 0.2, 0.8) / (1 - np.clip(x, 0.2, 0.8))),
     arr(3, 4, low=0.03, high=0.97)),
    ("erfc", blaze.erfc, _mp(mpmath.erfc), A * 2), ("erfinv", blaze.erfinv, _mp(mpmath.erfinv), U),
    ("lgamma", blaze.lgamma, _mp(lambda v: mpmath.log(abs(mpmath.gamma(v)))), A * 3),
    ("lgamma_large", blaze.lgamma, _mp(mpmath.loggamma), P * 40),
    ("digamma", blaze.digamma, _mp(mpmath.digamma), A * 3), ("digamma_large", blaze.digamma, _mp(mpmath.digamma), P * 40),
    ("polygamma_1", lambda x: blaze.polygamma(1, x), _mp(lambda v: mpmath.polygamma(1, v)), P),
    ("polygamma_3", lambda x: x.polygamma(3), _mp(lambda v: mpmath.polygamma(3, v)), P + 0.5),
    ("mvlgamma", lambda x: x.mvlgamma(3), _mvlgamma3, P + 1.5),
    ("i0", blaze.i0, np.i0, A * 5), ("sinc", blaze.sinc, np.sinc, A * 2),
    ("deg2rad", blaze.deg2rad, np.deg2rad, A * 90), ("rad2deg", blaze.rad2deg, np.rad2deg, A),
    ("frexp_mantissa", lambda x: blaze.frexp(x).mantissa, lambda x: np.frexp(x)[0], A * 40),
]


@pytest.mark.parametrize("name,fn,ref,x", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, ref, x):
    check(fn, ref, x.copy())


B = arr(3, 4)
ROW = arr(4)
COL = arr(3, 1)
BINARY = [
    ("add", lambda a, b: a + b, np.add, A, B), ("add_bcast", lambda a, b: a + b, np.add, A, ROW),
    ("sub_bcast", lambda a, b: a - b, np.subtract, COL, A), ("mul", lambda a, b: a * b, np.multiply, A, ROW),
    ("div", lambda a, b: a / b, np.divide, A, P), ("pow", lambda a, b: a ** b, np.power, P, B),
    ("maximum", blaze.maximum, np.maximum, A, B), ("minimum", blaze.minimum, np.minimum, A, COL),
    ("atan2", blaze.atan2, np.arctan2, A, B), ("hypot", blaze.hypot, np.hypot, A, B),
    ("remainder", blaze.remainder, np.remainder, A * 3, P), ("fmod", blaze.fmod, np.fmod, A * 3, P),
    ("add_alpha", lambda a, b: blaze.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b, A, B),
    ("lerp", lambda a, b: blaze.lerp(a, b, 0.3), lambda a, b: a + 0.3 * (b - a), A, B),
    ("where", lambda a, b: blaze.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b), A, ROW),
    ("logaddexp", blaze.logaddexp, np.logaddexp, A * 3, B), ("logaddexp2", blaze.logaddexp2, np.logaddexp2, A, COL),
    ("copysign", blaze.copysign, np.copysign, A, B), ("fmax", blaze.fmax, np.fmax, A, B),
    ("fmin", blaze.fmin, np.fmin, A, ROW), ("ldexp", blaze.ldexp, lambda a, b: a * 2.0 ** b, A, B * 3),
    ("scalar_rsub", lambda a, b: 2.0 - a * b, lambda a, b: 2.0 - a * b, A, B),
    ("scalar_rdiv", lambda a, b: 1.0 / (a * a + b * b + 1), lambda a, b: 1.0 / (a * a + b * b + 1), A, B),
]


@pytest.mark.parametrize("name,fn,ref,a,b", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name, fn, ref, a, b):
    check(fn, ref, a.copy(), b.copy())


X = arr(3, 4, 5)
REDUCE = [
    ("sum_all", lambda x: x.sum(), lambda x: x.sum()),
    ("sum_dim", lambda x: x.sum(1), lambda x: x.sum(1)),
    ("sum_neg_keep", lambda x: x.sum(-1, keepdim=True), lambda x: x.sum(-1, keepdims=True)),
    ("sum_dims", lambda x: x.sum((0, 2)), lambda x: x.sum((0, 2))),
    ("mean", lambda x: x.mean(0), lambda x: x.mean(0)),
    ("mean_all", lambda x: blaze.mean(x), np.mean),
    ("prod", lambda x: x.prod(1), lambda x: x.prod(1)),
    ("amax", lambda x: x.amax(2), lambda x: x.max(2)),
    ("amin_keep", lambda x: x.amin((0, 1), keepdim=True), lambda x: x.min((0, 1), keepdims=True)),
    ("max_all", lambda x: x.max(), lambda x: x.max()),
    ("max_dim", lambda x: x.max(1), lambda x: (x.max(1), x.argmax(1))),
    ("min_dim_keep", lambda x: x.min(-1, keepdim=True), lambda x: (x.min(-1, keepdims=True),
                                                                     x.argmin(-1)[..., None])),
    ("var", lambda x: x.var(1), lambda x: x.var(1, ddof=1)),
    ("var_c0", lambda x: x.var(1, correction=0), lambda x: x.var(1)),
    ("std", lambda x: x.std((0, 2), keepdim=True), lambda x: x.std((0, 2), ddof=1, keepdims=True)),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: np.log(np.exp(x).sum(1))),
    ("norm", lambda x: x.norm(), lambda x: np.sqrt((x * x).sum())),
    ("norm_dim1", lambda x: x.norm(p=1, dim=2), lambda x: np.abs(x).sum(2)),
    ("norm_p3", lambda x: blaze.norm(x, p=3, dim=0), lambda x: (np.abs(x) ** 3).sum(0) ** (1 / 3)),
    ("cumsum", lambda x: x.cumsum(1), lambda x: x.cumsum(1)),
    ("cumsum_neg", lambda x: x.cumsum(-1), lambda x: x.cumsum(-1)),
]


@pytest.mark.parametrize("name,fn,ref", REDUCE, ids=[r[0] for r in REDUCE])
def test_reduce(name, fn, ref):
    check(fn, ref, X.copy())


def test_arg_and_bool_reductions():
    x = arr(4, 5)
    check(lambda t: t.argmax(1), lambda a: a.argmax(1), x, grad=False)
    check(lambda t: t.argmin(), lambda a: np.asarray(a.argmin()), x, grad=False)
    check(lambda t: (t > 0).all(1), lambda a: (a > 0).all(1), x, grad=False)
    check(lambda t: (t > 0).any(), lambda a: np.asarray((a > 0).any()), x, grad=False)


M1, M2 = arr(3, 4), arr(4, 5)
LINALG = [
    ("matmul", lambda a, b: a @ b, np.matmul, M1, M2),
    ("batch_bcast", lambda a, b: a @ b, np.matmul, arr(2, 1, 3, 4), arr(3, 4, 2)),
    ("vec_mat", lambda a, b: a @ b, np.matmul, arr(4), M2),
    ("mat_vec", lambda a, b: blaze.mv(a, b), np.matmul, M1, arr(4)),
    ("dot", blaze.dot, np.dot, arr(5), arr(5)),
    ("bmm", blaze.bmm, np.matmul, arr(2, 3, 4), arr(2, 4, 2)),
    ("outer", blaze.outer, np.outer, arr(3), arr(4)),
    ("einsum_bij", lambda a, b: blaze.einsum("bij,bjk->bik", a, b), lambda a, b: np.einsum("bij,bjk->bik", a, b),
     arr(2, 3, 4), arr(2, 4, 2)),
    ("einsum_reduce", lambda a, b: blaze.einsum("ij,kj->i", a, b), lambda a, b: np.einsum("ij,kj->i", a, b),
     arr(3, 4), arr(2, 4)),
    ("einsum_trans", lambda a, b: blaze.einsum("ij->ji", a) * b.sum(), lambda a, b: a.T * b.sum(), M1, arr(2)),
]


@pytest.mark.parametrize("name,fn,ref,a,b", LINALG, ids=[r[0] for r in LINALG])
def test_linalg(name, fn, ref, a, b):
    check(fn, ref, a.copy(), b.copy())


S = arr(2, 3, 4)
SHAPE = [
    ("reshape", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1)),
    ("view", lambda x: x.view(6, 4), lambda x: x.reshape(6, 4)),
    ("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, 12)),
    ("unflatten", lambda x: x.unflatten(2, (2, 2)), lambda x: x.reshape(2, 3, 2, 2)),
    ("squeeze_unsqueeze", lambda x: x.unsqueeze(1).unsqueeze(-1).squeeze(1), lambda x: x[..., None]),
    ("transpose", lambda x: x.transpose(0, 2), lambda x: x.transpose(2, 1, 0)),
    ("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
    ("T_2d", lambda x: x[0].T * 1, lambda x: x[0].T),
    ("expand", lambda x: x[:, :1].expand(2, 5, 4), lambda x: np.broadcast_to(x[:, :1], (2, 5, 4))),
    ("repeat", lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3))),
    ("contiguous_T", lambda x: x.transpose(1, 2).contiguous(), lambda x: x.transpose(0, 2, 1)),
    ("cat", lambda x: blaze.cat([x, x * 2], 1), lambda x: np.concatenate([x, x * 2], 1)),
    ("stack", lambda x: blaze.stack([x, -x], -1), lambda x: np.stack([x, -x], -1)),
    ("split", lambda x: x.split([1, 3], dim=2), lambda x: (x[..., :1], x[..., 1:])),
    ("chunk", lambda x: x.chunk(2, 2), lambda x: (x[..., :2], x[..., 2:])),
    ("unbind", lambda x: x.unbind(1), lambda x: (x[:, 0], x[:, 1], x[:, 2])),
    ("flip", lambda x: x.flip(0, 2), lambda x: x[::-1, :, ::-1]),
    ("roll", lambda x: x.roll(1, 2), lambda x: np.roll(x, 1, 2)),
    ("roll_multi", lambda x: x.roll((1, -1), (0, 1)), lambda x: np.roll(x, (1, -1), (0, 1))),
    ("narrow", lambda x: x.narrow(2, 1, 2), lambda x: x[:, :, 1:3]),
    ("tril", lambda x: x.tril(), lambda x: np.tril(x)),
    ("triu_k", lambda x: x.triu(1), lambda x: np.triu(x, 1)),
    ("pad", lambda x: blaze.nn.functional.pad(x, (1, 2, 0, 1)), lambda x: np.pad(x, ((0, 0), (0, 1), (1, 2)))),
    ("pad_reflect", lambda x: blaze.nn.functional.pad(x, (2, 1), mode="reflect"),
     lambda x: np.pad(x, ((0, 0), (0, 0), (2, 1)), mode="reflect")),
    ("movedim", lambda x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1)),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1), lambda x: np.repeat(x, 2, axis=1)),
]


@pytest.mark.parametrize("name,fn,ref", SHAPE, ids=[r[0] for r in SHAPE])
def test_shape(name, fn, ref):
    check(fn, ref, S.copy())


I = arr(4, 5)
IDX = np.array([[0, 2, 1, 0, 3], [3, 3, 0, 1, 2]])
INDEXING = [
    ("slice_step_neg", lambda x: x[1:, ::-2], lambda x: x[1:, ::-2]),
    ("int_ellipsis_none", lambda x: x[..., 2, None], lambda x: x[..., 2, None]),
    ("negative_int", lambda x: x[-1], lambda x: x[-1]),
    ("int_array_dup", lambda x: x[blaze.tensor([0, 2, 0])], lambda x: x[[0, 2, 0]]),
    ("int_array_2d", lambda x: x[blaze.tensor([[1, 3], [0, 0]]), 1:3], lambda x: x[np.array([[1, 3], [0, 0]]), 1:3]),
    ("bool_mask", lambda x: x[x > 0], lambda x: x[x > 0]),
    ("two_arrays", lambda x: x[blaze.tensor([0, 1]), blaze.tensor([4, 4])], lambda x: x[[0, 1], [4, 4]]),
    ("gather", lambda x: x.gather(0, blaze.tensor(IDX)), lambda x: np.take_along_axis(x, IDX, 0)),
    ("scatter_add", lambda x: blaze.zeros(5, 5, dtype=blaze.float64).scatter_add(0, blaze.tensor(IDX[:, :4]), x[:2, :4]),
     lambda x: _scatter_add_ref(x)),
    ("scatter", lambda x: x.scatter(1, blaze.tensor([[0], [1], [2], [3]]), -x[:, :1]),
     lambda x: _scatter_ref(x)),
    ("index_select", lambda x: x.index_select(1, blaze.tensor([4, 0, 4])), lambda x: x[:, [4, 0, 4]]),
    ("masked_fill", lambda x: x.masked_fill(x < 0, 0.5), lambda x: np.where(x < 0, 0.5, x)),
    ("topk", lambda x: x.topk(2, dim=1), lambda x: _topk_ref(x)),
    ("sort_desc", lambda x: x.sort(dim=0, descending=True),
     lambda x: (-np.sort(-x, 0), np.argsort(-x, 0, kind="stable"))),
    ("index_add", lambda x: x.index_add(0, blaze.tensor([1, 1]), x[:2] * 2), lambda x: _index_add_ref(x)),
]


def _scatter_add_ref(x):
    out = np.zeros((5, 5))
    for i in range(2):
        for j in range(4):
            out[IDX[i, j], j] += x[i, j]
    return out


def _scatter_ref(x):
    out = x.copy()
    for i in range(4):
        out[i, i] = -x[i, 0]
    return out


def _topk_ref(x):
    idx = np.argsort(-x, 1, kind="stable")[:, :2]
    return np.take_along_axis(x, idx, 1), idx


def _index_add_ref(x):
    out = x.copy()
    out[1] += 2 * x[0] + 2 * x[1]
    return out


@pytest.mark.parametrize("name,fn,ref", INDEXING, ids=[r[0] for r in INDEXING])
def test_indexing(name, fn, ref):
    check(fn, ref, I.copy())


# in-place writes: op x value kind x target, into y = x * 1 (a non-leaf), a view, a view of a view.
# A write the graph misses lets gradient through overwritten elements: the finite differences catch it.
def _sig(t):
    return 1 / (1 + np.exp(-t))


def _np_set(t, v):
    t[...] = v


def _idx(t):
    return blaze.tensor([0, 2, 0], device=t.device)


INPLACE_OPS = [  # name, value kinds, blaze op(t, v), NumPy op(t, v) on a view
    ("setitem_int", "num 0d t", lambda t, v: t.__setitem__(1, v), lambda t, v: t.__setitem__(1, v)),
    ("setitem_mask", "num 0d", lambda t, v: t.__setitem__(t > 0, v), lambda t, v: t.__setitem__(t > 0, v)),
    ("setitem_array", "num 0d", lambda t, v: t.__setitem__(([0, 2], [1, 0]), v),
     lambda t, v: t.__setitem__(([0, 2], [1, 0]), v)),
    ("fill_", "num 0d", lambda t, v: t.fill_(v), _np_set),
    ("zero_", "num", lambda t, v: t.zero_(), lambda t, v: _np_set(t, 0)),
    ("copy_", "t", lambda t, v: t.copy_(v), _np_set),
    ("add_", "num 0d t", lambda t, v: t.add_(v), lambda t, v: t.__iadd__(v)),
    ("mul_", "num 0d t", lambda t, v: t.mul_(v), lambda t, v: t.__imul__(v)),
    ("div_", "num 0d t", lambda t, v: t.div_(v), lambda t, v: t.__itruediv__(v)),
    ("clamp_", "num", lambda t, v: t.clamp_(-0.5, 0.5), lambda t, v: np.clip(t, -0.5, 0.5, out=t)),
    ("pow_", "num 0d", lambda t, v: t.abs_().add_(0.5).pow_(v),
     lambda t, v: _np_set(t, (np.abs(t) + 0.5) ** v)),
    ("masked_fill_", "num 0d", lambda t, v: t.masked_fill_(t < 0, v), lambda t, v: t.__setitem__(t < 0, v)),
    ("index_fill_", "num 0d", lambda t, v: t.index_fill_(1, _idx(t), v), lambda t, v: t.__setitem__(
        (slice(None), [0, 2]), v)),
    ("exp_", "num", lambda t, v: t.exp_(), lambda t, v: np.exp(t, out=t)),
    ("sigmoid_", "num", lambda t, v: t.sigmoid_(), lambda t, v: _np_set(t, _sig(t))),
    ("relu_inplace", "num", lambda t, v: blaze.nn.functional.relu(t, inplace=True),
     lambda t, v: np.maximum(t, 0, out=t)),
    ("silu_inplace", "num", lambda t, v: blaze.nn.functional.silu(t, inplace=True),
     lambda t, v: _np_set(t, t * _sig(t))),
]
INPLACE_TARGETS = [("nonleaf", lambda y: y, 5), ("view", lambda y: y[:, 1:4], 3),
                   ("view_of_view", lambda y: y[1:][:, ::2], 3)]


def _written(target, op, num):
    def fn(x, *v):
        y = x * 1
        op(target(y), v[0] if v else num)
        return y
    return fn


def _inplace_table():
    rows = []
    for op_name, kinds, op, np_op in INPLACE_OPS:
        for t_name, target, n in INPLACE_TARGETS:
            for kind in kinds.split():
                vals = {"num": (), "0d": (np.array(0.75),), "t": (arr(n, positive=True),)}[kind]
                rows.append((f"{op_name}-{kind}-{t_name}", _written(target, op, 0.75),
                             _written(target, np_op, 0.75), vals))
    return rows


INPLACE = _inplace_table()


@pytest.mark.parametrize("name,fn,ref,vals", INPLACE, ids=[r[0] for r in INPLACE])
def test_inplace(name, fn, ref, vals):
    check(fn, ref, I.copy(), *[v.copy() for v in vals])


def test_setitem_forward_and_grad():
    def fn(x):
        buf = blaze.zeros(4, 5, dtype=blaze.float64)
        buf[1:3] = x[:2] * 2
        buf[blaze.tensor([0, 3]), 0] = x[3, :2]
        return buf * x

    def ref(x):
        buf = np.zeros((4, 5))
        buf[1:3] = x[:2] * 2
        buf[[0, 3], 0] = x[3, :2]
        return buf * x
    check(fn, ref, I.copy())


def test_inplace_on_view_of_nonleaf_grad():
    def fn(x):
        y = x * 1.0
        y[:, 1].mul_(3.0)
        y[0].add_(x[1])
        return y

    def ref(x):
        y = x.copy()
        y[:, 1] *= 3
        y[0] += x[1]
        return y
    check(fn, ref, I.copy())


def test_creation_and_random():
    assert blaze.zeros(2, 3).shape == (2, 3) and blaze.ones((2,)).dtype is blaze.float32
    assert blaze.full((2,), 7).dtype is blaze.int64 and blaze.full((2,), 1.5).tolist() == [1.5, 1.5]
    assert blaze.arange(5).tolist() == [0, 1, 2, 3, 4] and blaze.arange(0, 1, 0.25).dtype is blaze.float32
    np.testing.assert_allclose(blaze.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    assert blaze.eye(3, 2).tolist() == [[1, 0], [0, 1], [0, 0]]
    blaze.manual_seed(3)
    a = blaze.rand(100)
    b = blaze.randn(100)
    blaze.manual_seed(3)
    assert blaze.equal(a, blaze.rand(100)) and blaze.equal(b, blaze.randn(100))
    assert 0 <= float(a.min()) and float(a.max()) < 1
    r = blaze.randint(3, 7, (1000,))
    assert r.dtype is blaze.int64 and int(r.min()) == 3 and int(r.max()) == 6
    assert sorted(blaze.randperm(10).tolist()) == list(range(10))
    g = blaze.Generator().manual_seed(1)
    assert blaze.equal(blaze.rand(4, generator=g), blaze.rand(4, generator=blaze.Generator().manual_seed(1)))
    p = blaze.tensor([0.0, 1.0, 3.0])
    s = blaze.multinomial(p, 400, replacement=True)
    assert (s != 0).all() and abs(float((s == 2).float().mean()) - 0.75) < 0.1
    assert blaze.zeros_like(a).shape == a.shape and blaze.full_like(a, 2).sum().item() == 200


def test_double_backward_gradient_penalty():
    x = blaze.tensor(arr(5, 3), requires_grad=True, dtype=blaze.float64)
    w = blaze.tensor(arr(3, 1), requires_grad=True, dtype=blaze.float64)
    out = (x @ w).tanh().sum()
    (g,) = blaze.autograd.grad(out, x, create_graph=True)
    penalty = ((g.norm(dim=1) - 1) ** 2).mean()
    penalty.backward()
    # finite differences of the penalty w.r.t. w
    def pen(wv):
        xv = x.detach().numpy()
        t = np.tanh(xv @ wv)
        gx = (1 - t ** 2) @ wv.T
        return ((np.linalg.norm(gx, axis=1) - 1) ** 2).mean()
    wv = w.detach().numpy()
    num = np.zeros_like(wv)
    for i in range(3):
        e = np.zeros_like(wv)
        e[i, 0] = 1e-6
        num[i, 0] = (pen(wv + e) - pen(wv - e)) / 2e-6
    np.testing.assert_allclose(w.grad.numpy(), num, atol=1e-6)
