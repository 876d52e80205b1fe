"""In-place families for torch_parity.py: every in-place op x value kind x target, vs PyTorch.

Each case writes into ``y = a * 1`` (a non-leaf), into a view of it, or into a view of a view,
then returns ``y``: the forward value and the gradient reaching ``a`` (and a value that
requires grad) must match PyTorch, so a write the graph misses shows as a gradient mismatch.
Values come as a Python scalar, a 0-d tensor (a leaf that requires grad) and a tensor (a leaf
that broadcasts over the target's last dim).
"""
from __future__ import annotations

import numpy as np
import torch

import blaze
from perf.torch_parity import fcase

R = np.random.default_rng(11)
A = R.standard_normal((4, 5))
# where each target sits in y (4, 5); value tensors broadcast over the target's last dim
TARGETS = {
    "nonleaf": (lambda y: y, 5),
    "view": (lambda y: y[:, 1:4], 3),
    "view-of-view": (lambda y: y[1:][:, ::2], 3),
}
# op(target, value) for each value kind ("num": Python scalar, "0d": 0-d tensor, "t": tensor)
OPS = {
    "setitem-int": (lambda t, v: t.__setitem__(1, v), "num 0d t"),
    "setitem-slice": (lambda t, v: t.__setitem__((slice(None), 1), v if not hasattr(v, "ndim") or v.ndim == 0
                                                 else v[..., :1].squeeze(-1).expand(t.shape[0])), "num 0d t"),
    "setitem-mask": (lambda t, v: t.__setitem__(t > 0, v if not hasattr(v, "ndim") or v.ndim == 0 else v.sum()),
                     "num 0d"),
    "setitem-array": (lambda t, v: t.__setitem__(([0, 2], [1, 0]), v), "num 0d"),
    "fill_": (lambda t, v: t.fill_(v), "num 0d"),
    "zero_": (lambda t, v: t.zero_(), "num"),
    "copy_": (lambda t, v: t.copy_(v), "t"),
    "add_": (lambda t, v: t.add_(v), "num 0d t"),
    "add_-alpha": (lambda t, v: t.add_(v, alpha=0.5), "num 0d t"),
    "sub_": (lambda t, v: t.sub_(v), "num 0d t"),
    "mul_": (lambda t, v: t.mul_(v), "num 0d t"),
    "div_": (lambda t, v: t.div_(v), "num 0d t"),
    "pow_": (lambda t, v: t.abs_().add_(0.5).pow_(v), "num 0d"),
    "clamp_": (lambda t, v: t.clamp_(-0.5, 0.5), "num"),
    "clamp_min_": (lambda t, v: t.clamp_min_(v), "num 0d"),
    "lerp_": (lambda t, v: t.lerp_(v.expand(t.shape) if v.ndim == 0 else v, 0.3), "0d t"),
    "addcmul_": (lambda t, v: t.addcmul_(v, v, value=0.5), "0d t"),
    "masked_fill_": (lambda t, v: t.masked_fill_(t < 0, v), "num 0d"),
    "index_fill_": (lambda t, v: t.index_fill_(1, t.new_tensor([0, 2, 0]).long(), v), "num 0d"),
    "index_put_": (lambda t, v: t.index_put_((t.new_tensor([0, 2]).long(), t.new_tensor([1, 0]).long()),
                                             v if v.ndim == 0 else v[:2]), "0d t"),
    "scatter_-value": (lambda t, v: t.scatter_(1, t.new_tensor([[0], [2]]).long(), v), "num"),
    "scatter_add_": (lambda t, v: t.scatter_add_(1, t.new_tensor([[0], [2]]).long(), v[:1].reshape(1, 1).expand(2, 1)),
                     "t"),
    "index_add_": (lambda t, v: t.index_add_(1, t.new_tensor([0, 2, 0]).long(), v[:3].expand(t.shape[0], 3)), "t"),
    "t_": (lambda t, v: t.t_()[0].mul_(v), "num 0d"),
    "unsqueeze_": (lambda t, v: t.unsqueeze_(0)[0, 1].fill_(v), "num"),
    "exp_": (lambda t, v: t.exp_(), "num"),
    "sigmoid_": (lambda t, v: t.sigmoid_(), "num"),
    "abs_": (lambda t, v: t.abs_(), "num"),
    "iadd": (lambda t, v: t.__iadd__(v), "num 0d t"),
    "imul": (lambda t, v: t.__imul__(v), "num 0d t"),
    "itruediv": (lambda t, v: t.__itruediv__(v), "num 0d t"),
}
# random fills: the values differ between libraries, so the case returns y - y.detach() (zeros):
# its gradient is 1 where the fill did not write and 0 where it did
RANDOM = {"uniform_": lambda t: t.uniform_(), "normal_": lambda t: t.normal_(), "bernoulli_": lambda t: t.bernoulli_(),
          "random_": lambda t: t.random_(0, 5), "exponential_": lambda t: t.exponential_()}
FUNCTIONAL = ("relu", "silu", "elu", "leaky_relu", "hardtanh", "hardswish", "mish")


def _value(kind, n):
    return np.array(0.75) if kind == "0d" else R.standard_normal(n)


def _written(target, op):
    def fn(T, F, a, *v):
        y = a * 1
        op(target(y), v[0] if v else 0.75)
        return y
    return fn


def register(cases):
    """Add the in-place cases (they register through fcase)."""
    for tname, (target, n) in TARGETS.items():
        for oname, (op, kinds) in OPS.items():
            for kind in kinds.split():
                args = () if kind == "num" else (_value(kind, n),)
                fcase(f"inplace/{oname}/{kind}/{tname}", _written(target, op), A, *args)
        for rname, fill in RANDOM.items():
            fcase(f"inplace/{rname}/num/{tname}",
                  lambda T, F, a, target=target, fill=fill: (lambda y: (fill(target(y)), y - y.detach())[1])(a * 1), A)
        for f in FUNCTIONAL:
            fcase(f"inplace/F.{f}(inplace=True)/{tname}",
                  _written(target, lambda t, _v, f=f: getattr(_lib_functional(t), f)(t, inplace=True)), A)
    fcase("inplace/index_fill-out-of-place", lambda T, F, a, v: (a.index_fill(0, T.tensor([1, 3, 1]), v),
                                                                  a.index_fill(1, T.tensor(2), -1.0)), A, np.array(2.0))
    fcase("inplace/Tensor.softmax-log_softmax", lambda T, F, a: (a.softmax(0), a.log_softmax(-1), a.softmax(1)), A)
    fcase("inplace/no_grad-leaf", _no_grad_leaf, A)
    cases.append(("inplace/leaf-error-message", _leaf_errors))


def _lib_functional(t):
    return (torch if isinstance(t, torch.Tensor) else blaze).nn.functional


def _no_grad_leaf(T, F, a):
    with T.no_grad():
        a.mul_(2.0)[0].fill_(1.0)
    return a * 1


def _leaf_errors():
    """In-place on a leaf that requires grad (or a view of one) raises PyTorch's message."""
    from perf.torch_parity import Mismatch
    for write in (lambda x: x.add_(1), lambda x: x.fill_(0), lambda x: x.__setitem__(0, 1.0),
                  lambda x: x[0].zero_(), lambda x: x.index_fill_(0, x.new_tensor([0]).long(), 1.0)):
        msgs = []
        for T in (blaze, torch):
            x = T.ones(2, 3, requires_grad=True)
            try:
                write(x)
                msgs.append(None)
            except RuntimeError as e:
                msgs.append(str(e).split("\n")[0])
        if msgs[0] != msgs[1]:
            raise Mismatch(f"error blaze {msgs[0]!r} vs torch {msgs[1]!r}")
