"""Issue 13 part A cases for perf/torch_parity.py: special and elementwise functions, NumPy-style
aliases, in-place forms, Tensor-only methods, lazy modules and the nn leftovers."""
from __future__ import annotations

import numpy as np

from perf.torch_parity import Const, fcase
from perf.torch_parity_nn import mcase

R = np.random.default_rng(13)


def rn(*shape, scale=1.0):
    return R.standard_normal(shape) * scale


def ru(lo, hi, *shape):
    return R.uniform(lo, hi, shape)


def _init(m, x):
    """A lazy module after one forward (its shapes then known on both sides)."""
    m(x)
    return m


def special_cases():
    x, p, u = rn(3, 5, scale=2), ru(0.2, 6, 3, 5), ru(-0.95, 0.95, 3, 5)
    for name, inp in [("erfc", x), ("erfinv", u), ("lgamma", x), ("lgamma", p * 20), ("digamma", x),
                      ("digamma", p * 20), ("i0", x * 3), ("sinc", x), ("deg2rad", x * 90), ("rad2deg", x),
                      ("absolute", x), ("negative", x), ("positive", x), ("fix", x * 3), ("sgn", x),
                      ("arccos", u), ("arcsin", u), ("arctan", x), ("arcsinh", x), ("arccosh", p + 1), ("arctanh", u)]:
        # torch's sgn gradient is a ZeroTensor it cannot hand to NumPy: forward only
        fcase(f"special/{name}", lambda T, F, a, name=name: getattr(T, name)(a), inp, grad=name != "sgn")
    fcase("special/lgamma-poles", lambda T, F: T.lgamma(T.tensor([0.0, -1.0, -2.5, 1.0, 2.0, float("inf")])),
          grad=False)
    fcase("special/digamma-poles", lambda T, F: T.digamma(T.tensor([0.0, -1.0, -2.5, 1.0])), grad=False)
    fcase("special/erfinv-ends", lambda T, F: T.erfinv(T.tensor([1.0, -1.0, 0.0, 1.5])), grad=False)
    for n in (1, 2, 4):
        fcase(f"special/polygamma-{n}", lambda T, F, a, n=n: T.polygamma(n, a), p)
    fcase("special/polygamma-method", lambda T, F, a: a.polygamma(1), p)
    fcase("special/mvlgamma", lambda T, F, a: (T.mvlgamma(a, 1), a.mvlgamma(3)), p + 1.5)
    fcase("special/frexp", lambda T, F, a: tuple(T.frexp(a)), np.array([8.0, 0.3, -5.0, 1e-310, 0.0, 1.0]),
          grad=False)
    fcase("special/frexp-grad", lambda T, F, a: T.frexp(a).mantissa, x * 40)
    fcase("special/ldexp", lambda T, F, a, b: T.ldexp(a, b), x, rn(5, scale=3))
    fcase("special/ldexp-int", lambda T, F: T.ldexp(T.tensor([3, -2]), T.tensor([2, 5])), grad=False, check_dtype=False)
    fcase("special/nan_to_num", lambda T, F, a: (T.nan_to_num(a), a.nan_to_num(1.0, 2.0, -3.0)),
          np.array([np.nan, np.inf, -np.inf, 1.5]))
    for name in ("logaddexp", "logaddexp2", "copysign", "fmax", "fmin", "heaviside", "xlogy", "arctan2"):
        grad = name != "heaviside"
        fcase(f"binary/{name}", lambda T, F, a, b, name=name: getattr(T, name)(a, b), rn(3, 4), rn(4), grad=grad)
    nan = np.array([np.nan, 1.0, -np.inf, 2.0, np.inf, 0.0])
    oth = np.array([1.0, np.nan, -np.inf, 2.0, np.inf, -0.0])
    for name in ("logaddexp", "fmax", "fmin", "copysign", "heaviside"):
        fcase(f"binary/{name}-edges", lambda T, F, a, b, name=name: getattr(T, name)(a, b), nan, oth, grad=False)
    fcase("binary/fmax-ties-grad", lambda T, F, a, b: (T.fmax(a, b), T.fmin(a, b)), np.array([1.0, 2.0]),
          np.array([1.0, 3.0]))
    ints = (np.array([0, 12, -12, 7, 1 << 30, 832040, -5]), np.array([9, -18, -8, 0, 6, 514229, 5]))
    for name in ("gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift", "bitwise_and"):
        fcase(f"int/{name}", lambda T, F, a, b, name=name: getattr(T, name)(T.tensor(a, dtype=T.int32),
                                                                           T.tensor(b % 40, dtype=T.int32)
                                                                           if "shift" in name else
                                                                           T.tensor(b, dtype=T.int32)),
              Const(ints[0]), Const(ints[1]), grad=False)
    fcase("int/bitwise_not", lambda T, F: T.bitwise_not(T.tensor([0, 5, -6])), grad=False)
    fcase("int/isposinf-isneginf", lambda T, F, a: (T.isposinf(a), T.isneginf(a)), nan, grad=False)


def inplace_cases():
    def ip(name, *args):
        return lambda T, F, a: getattr(a.detach().clone(), name)(*[T.tensor(v) if isinstance(v, np.ndarray) else v
                                                                  for v in args])
    x, u = rn(3, 4), ru(-0.9, 0.9, 3, 4)
    for name, args in [("absolute_", ()), ("negative_", ()), ("fix_", ()), ("sgn_", ()), ("arctan_", ()),
                       ("erfc_", ()), ("lgamma_", ()), ("digamma_", ()), ("sinc_", ()), ("i0_", ()),
                       ("deg2rad_", ()), ("nan_to_num_", ()), ("polygamma_", (1,)), ("subtract_", (rn(4),)),
                       ("multiply_", (rn(4),)), ("divide_", (rn(4),)), ("true_divide_", (rn(4),)),
                       ("greater_", (rn(4),)), ("less_equal_", (rn(4),)), ("not_equal_", (rn(4),)),
                       ("copysign_", (rn(4),)), ("hypot_", (rn(4),)), ("ldexp_", (rn(4),)),
                       ("arctan2_", (rn(4),)), ("float_power_", (2,)), ("tril_", ()), ("triu_", (1,)),
                       ("cumsum_", (0,)), ("cumprod_", (1,)), ("addmm_", (rn(3, 2), rn(2, 4))),
                       ("addr_", (rn(3), rn(4))), ("swapaxes_", (0, 1)), ("swapdims_", (1, 0))]:
        fcase(f"inplace/{name}", ip(name, *args), x if name not in ("arctan_",) else u, grad=False)
    fcase("inplace/erfinv_", ip("erfinv_"), u, grad=False)
    fcase("inplace/mvlgamma_", ip("mvlgamma_", 2), ru(1, 3, 4), grad=False)
    fcase("inplace/gcd_", lambda T, F: T.tensor([12, 18]).gcd_(T.tensor([8, 27])), grad=False)
    fcase("inplace/bitwise_left_shift_", lambda T, F: T.tensor([3, -2]).bitwise_left_shift_(T.tensor([2, 3])),
          grad=False)


def method_cases():
    fcase("blas/addmv", lambda T, F, i, m, v: (T.addmv(i, m, v), i.addmv(m, v, beta=0.5, alpha=2)),
          rn(3), rn(3, 4), rn(4))
    fcase("blas/addr", lambda T, F, i, a, b: T.addr(i, a, b, beta=2, alpha=0.5), rn(3, 2), rn(3), rn(2))
    fcase("blas/addbmm", lambda T, F, i, a, b: (T.addbmm(i, a, b), i.addbmm(a, b, alpha=3)), rn(2, 5), rn(3, 2, 4),
          rn(3, 4, 5))
    fcase("blas/addmv_", lambda T, F: T.ones(2).addmv_(T.ones(2, 3), T.arange(3.0)), grad=False)
    fcase("blas/addbmm_", lambda T, F: T.ones(2, 2).addbmm_(T.ones(3, 2, 4), T.ones(3, 4, 2)), grad=False)
    fcase("method/H-mH-adjoint", lambda T, F, a, b: (a.H, b.mH, b.adjoint()), rn(3, 4), rn(2, 3, 4))
    fcase("method/memory-facts", lambda T, F: T.tensor([
        T.arange(24.0).reshape(2, 3, 4)[1, 1:].storage_offset(), T.ones(3, dtype=T.float16).itemsize,
        T.ones(2, 3).nbytes, T.ones(1).get_device(), *T.ones(2, 3, 4).permute(2, 0, 1).dim_order()]), grad=False)
    fcase("method/sum_to_size", lambda T, F, a: (a.sum_to_size(3, 1), a.sum_to_size(1, 4)), rn(2, 3, 4))
    fcase("method/put", lambda T, F, a, s: a.put(T.tensor([0, 5, -1]), s), rn(3, 4), rn(3))
    fcase("method/put_-accumulate", lambda T, F: T.zeros(4).put_(T.tensor([1, 1, 3]), T.tensor([1.0, 2.0, 3.0]),
                                                                  accumulate=True), grad=False)
    fcase("method/index_copy", lambda T, F, a, s, s2: (T.index_copy(a, 1, T.tensor([3, 0]), s),
                                                     a.index_copy(0, T.tensor([2]), s2)),
          rn(3, 4), rn(3, 2), rn(1, 4))
    fcase("method/apply_-map_", lambda T, F: (
        T.tensor([1.0, 2.0]).apply_(lambda v: v * v + 1),
        T.tensor([1.0, 2.0]).map_(T.tensor([3.0]), lambda a, b: a * b)), grad=False)
    fcase("method/resize_", lambda T, F: T.arange(6.0).resize_(2, 2), grad=False)


def nn_special_cases(add):
    add(mcase("LazyLinear", lambda T, nn: _init(nn.LazyLinear(3), T.zeros(2, 5)), [rn(4, 5)]))
    add(mcase("LazyConv2d", lambda T, nn: _init(nn.LazyConv2d(4, 3, padding=1, groups=2), T.zeros(1, 2, 5, 5)),
              [rn(2, 2, 5, 5)]))
    add(mcase("LazyConv1d", lambda T, nn: _init(nn.LazyConv1d(4, 3), T.zeros(1, 3, 7)), [rn(2, 3, 7)]))
    add(mcase("LazyConvTranspose2d", lambda T, nn: _init(nn.LazyConvTranspose2d(3, 3, stride=2), T.zeros(1, 2, 4, 4)),
              [rn(2, 2, 4, 4)]))
    add(mcase("LazyConvTranspose1d", lambda T, nn: _init(nn.LazyConvTranspose1d(3, 2), T.zeros(1, 4, 5)),
              [rn(2, 4, 5)]))
    for d, shape in ((1, (4, 3, 5)), (2, (2, 3, 4, 4)), (3, (2, 3, 2, 3, 3))):
        add(mcase(f"LazyBatchNorm{d}d", lambda T, nn, d=d, shape=shape: _init(
            getattr(nn, f"LazyBatchNorm{d}d")(), T.zeros(*shape)), [rn(*shape)], train=True))
        add(mcase(f"LazyInstanceNorm{d}d", lambda T, nn, d=d, shape=shape: _init(
            getattr(nn, f"LazyInstanceNorm{d}d")(), T.zeros(*shape)), [rn(*shape)], train=True))
    add(mcase("InstanceNorm3d", lambda T, nn: nn.InstanceNorm3d(3, affine=True, track_running_stats=True),
              [rn(2, 3, 2, 3, 3)], train=True))
    add(mcase("RReLU-eval", lambda T, nn: nn.RReLU(0.1, 0.3), [rn(3, 4)]))
    add(mcase("FeatureAlphaDropout-eval", lambda T, nn: nn.FeatureAlphaDropout(0.3), [rn(2, 3, 4)]))
    add(mcase("NLLLoss2d", lambda T, nn: nn.NLLLoss2d(), [rn(2, 3, 4, 4), Const(R.integers(0, 3, (2, 4, 4)))]))
    for name, args in [("elu_", ()), ("celu_", (0.5,)), ("selu_", ()), ("hardtanh_", (-0.5, 0.5)),
                       ("threshold_", (0.1, 2.0)), ("rrelu_", ())]:
        fcase(f"F/{name}", lambda T, F, a, name=name, args=args: getattr(F, name)(a.detach().clone(), *args),
              rn(3, 4), grad=False)
    for name, args in [("relu_", ()), ("selu_", ()), ("celu_", (0.5,)), ("threshold_", (0.1, 2.0)), ("rrelu_", ())]:
        fcase(f"torch/{name}", lambda T, F, a, name=name, args=args: getattr(T, name)(a.detach().clone(), *args),
              rn(3, 4), grad=False)
    fcase("init/eye-dirac", lambda T, F: (T.nn.init.eye(T.empty(2, 3)), T.nn.init.dirac(T.empty(2, 2, 3))), grad=False)


def register(cases):
    special_cases()
    inplace_cases()
    method_cases()
    nn_special_cases(cases.append)

