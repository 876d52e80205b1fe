"""Differential checker: the same inputs through blaze and PyTorch, outputs AND gradients compared.

Run::

    PYTHONPATH=/work/main /tmp/tv/bin/python perf/torch_parity.py [--filter TEXT] [-v]

One line per case (ok / MISMATCH <what> err=<max abs error> / ERROR <exception>) and a summary;
the exit status is 1 when any case mismatches or errors. torch is imported only here (perf/),
never by blaze or its tests.

A case is ``fn(T, F, *xs)`` with ``T`` the library (blaze or torch) and ``F`` its
``nn.functional``; NumPy array inputs become float64 leaves with ``requires_grad`` (int / bool
arrays stay plain). Outputs (tensors, tuples, scalars) are compared elementwise; then
sum(out_i * w_i) with fixed random weights w_i is back-propagated and every input gradient
compared, so the whole Jacobian is exercised, not only its column sums. Module cases
(torch_parity_nn.py) copy torch's state_dict into blaze and compare parameter gradients and
buffers too; optimizer / scheduler cases live in torch_parity_optim.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings

import numpy as np

if __package__ in (None, ""):  # `python perf/torch_parity.py` from the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import blaze  # noqa: E402

LIBS = {"blaze": blaze, "torch": torch}
ATOL, RTOL = 1e-7, 1e-6  # float64 on both sides: only summation-order noise is allowed
CASES: list = []  # (name, thunk returning None or raising Mismatch)


class Mismatch(Exception):
    """Raised by a comparison; the message says what differs and the max abs error."""


# ----------------------------------------------------------------------------- conversion
def is_tensor(x) -> bool:
    return isinstance(x, (torch.Tensor, blaze.Tensor))


def to_np(x):
    """NumPy copy of a blaze / torch tensor (or a Python scalar / bool)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, blaze.Tensor):
        return np.asarray(x.detach().numpy())
    return np.asarray(x)


def dname(dt) -> str:
    """'float64' for torch.float64 and blaze.float64 alike."""
    return str(dt).split(".")[-1]


def lib_tensor(T, a, grad: bool):
    """A leaf in library ``T`` from NumPy ``a``; float arrays get requires_grad when ``grad``."""
    t = T.tensor(a.copy())
    if grad and a.dtype.kind == "f":
        t.requires_grad_(True)
    return t


class Const:
    """A NumPy input that becomes a tensor without requires_grad (masks, float targets)."""

    def __init__(self, a):
        self.a = np.asarray(a)


def convert(T, a, grad: bool):
    """Library-``T`` form of a case input: arrays become leaves, Const plain tensors, rest as is."""
    if isinstance(a, Const):
        return T.tensor(a.a.copy())
    return lib_tensor(T, a, grad) if isinstance(a, np.ndarray) else a


def flat(out) -> list:
    """Tensors / scalars of a (nested) output, None kept as a placeholder."""
    if isinstance(out, (tuple, list)):
        return [y for o in out for y in flat(o)]
    if hasattr(out, "_fields") or type(out).__name__ in ("return_types", "torch.return_types"):
        return [y for o in tuple(out) for y in flat(o)]
    return [out]


def compare(tag: str, b, t, atol=ATOL, rtol=RTOL, check_dtype=True) -> float:
    """Raise Mismatch unless blaze value ``b`` equals torch value ``t``; return the max abs error."""
    if (b is None) != (t is None):
        raise Mismatch(f"{tag}: blaze {'None' if b is None else 'value'} vs torch {'None' if t is None else 'value'}")
    if b is None:
        return 0.0
    if check_dtype and is_tensor(t):
        if not is_tensor(b):
            raise Mismatch(f"{tag}: blaze returned {type(b).__name__}, torch a tensor")
        if dname(b.dtype) != dname(t.dtype):
            raise Mismatch(f"{tag}: dtype blaze {dname(b.dtype)} vs torch {dname(t.dtype)}")
    bn, tn = to_np(b), to_np(t)
    if bn.shape != tn.shape:
        raise Mismatch(f"{tag}: shape blaze {bn.shape} vs torch {tn.shape}")
    if bn.size == 0:
        return 0.0
    if tn.dtype.kind in "biu" and bn.dtype.kind in "biu":
        if not np.array_equal(bn, tn):
            k = int(np.argmax(bn != tn))
            raise Mismatch(f"{tag}: values differ ({int((bn != tn).sum())} of {bn.size}); first at flat {k}: "
                           f"blaze {bn.ravel()[k]} vs torch {tn.ravel()[k]}")
        return 0.0
    bf, tf = bn.astype(np.float64), tn.astype(np.float64)
    same_nan = np.isnan(bf) == np.isnan(tf)
    fin = ~np.isnan(tf) & ~np.isnan(bf)
    err = np.where(fin, np.abs(np.where(fin, bf, 0) - np.where(fin, tf, 0)), 0.0)
    err = np.where(np.isinf(bf) | np.isinf(tf), np.where(bf == tf, 0.0, np.inf), err)
    bad = ~same_nan | (err > atol + rtol * np.abs(np.where(fin, tf, 0)))
    if bad.any():
        k = int(np.argmax(bad.ravel()))
        raise Mismatch(f"{tag}: err={float(np.max(np.where(same_nan, err, np.inf))):.3g} ({int(bad.sum())} of "
                       f"{bad.size}); first at {np.unravel_index(k, bad.shape)}: blaze {bf.ravel()[k]!r} vs torch "
                       f"{tf.ravel()[k]!r}")
    return float(err.max())


def weights_for(outs, seed=1):
    """Fixed random cotangents, one per float output that carries a graph."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(o.shape)) if is_tensor(o) and o.dtype.is_floating_point else None
            for o in outs]


def backward(T, outs, ws) -> bool:
    """Back-propagate sum(out_i * w_i); False when no output needs a gradient."""
    total = None
    for o, w in zip(outs, ws):
        if w is None or not o.requires_grad:
            continue
        term = (o * T.tensor(w, dtype=o.dtype)).sum()
        total = term if total is None else total + term
    if total is None:
        return False
    total.backward()
    return True


def grad_or_zero(x):
    return None if x.grad is None else x.grad


def check_grads(tag, bx, tx, atol, rtol):
    """Compare .grad of paired leaves; a missing grad counts as zeros on either side."""
    for i, (b, t) in enumerate(zip(bx, tx)):
        if not (is_tensor(t) and t.requires_grad):
            continue
        gb, gt = b.grad, t.grad
        if gb is None and gt is None:
            continue
        gb = np.zeros(tuple(b.shape)) if gb is None else gb
        gt = np.zeros(tuple(t.shape)) if gt is None else gt
        compare(f"{tag}[{i}]", gb, gt, atol, rtol, check_dtype=False)


# ----------------------------------------------------------------------------- case makers
def fcase(name, fn, *inputs, grad=True, atol=ATOL, rtol=RTOL, check_dtype=True):
    """Register a functional case ``fn(T, F, *xs)``; NumPy inputs become leaves in each library."""
    def run():
        res = {}
        for lname, T in LIBS.items():
            xs = [convert(T, a, grad) for a in inputs]
            out = fn(T, T.nn.functional, *xs)
            res[lname] = (xs, flat(out))
        (bx, bo), (tx, to) = res["blaze"], res["torch"]
        if len(bo) != len(to):
            raise Mismatch(f"output count blaze {len(bo)} vs torch {len(to)}")
        for i, (b, t) in enumerate(zip(bo, to)):
            compare(f"out[{i}]", b, t, atol, rtol, check_dtype)
        if grad:
            ws = weights_for(to)
            if backward(torch, to, ws):
                backward(blaze, bo, ws)
                check_grads("grad", bx, tx, atol * 10, rtol * 10)
    CASES.append((name, run))


# ----------------------------------------------------------------------------- core cases
R = np.random.default_rng(0)


def rn(*shape, scale=1.0):
    return R.standard_normal(shape) * scale


def core_cases():
    # type promotion: tensor x tensor, tensor x scalar, 0-d tensor x tensor
    dts = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"]
    for a in dts:
        for b in dts:
            fcase(f"promote/{a}+{b}", lambda T, F, a=a, b=b: T.ones(2, dtype=getattr(T, a)) + T.ones(2, dtype=getattr(T, b)),
                  grad=False)
        for s in (True, 3, 2.5):
            fcase(f"promote/{a}*scalar({type(s).__name__})",
                  lambda T, F, a=a, s=s: T.ones(2, dtype=getattr(T, a)) * s, grad=False)
        fcase(f"promote/{a}+0d-float64", lambda T, F, a=a: T.ones(2, dtype=getattr(T, a)) + T.tensor(1.5, dtype=T.float64),
              grad=False)
        fcase(f"promote/{a}+0d-int64", lambda T, F, a=a: T.ones(2, dtype=getattr(T, a)) + T.tensor(2), grad=False)
    for op in ("div", "floor_divide", "remainder", "pow", "true_divide"):
        fcase(f"promote/int-{op}", lambda T, F, op=op: getattr(T, op)(T.tensor([7, -7, 5]), T.tensor([2, 2, 3])),
              grad=False)
        fcase(f"promote/int-{op}-scalar-float", lambda T, F, op=op: getattr(T, op)(T.tensor([7, -7, 5]), 2.0), grad=False)
    fcase("promote/int32-sum", lambda T, F: T.ones(3, dtype=T.int32).sum(), grad=False)
    fcase("promote/bool-sum", lambda T, F: T.ones(3, dtype=T.bool).sum(), grad=False)
    fcase("promote/int-mean-err-or-float", lambda T, F: T.ones(3, dtype=T.float32).mean(), grad=False)
    fcase("promote/uint8-cumsum", lambda T, F: T.ones(3, dtype=T.uint8).cumsum(0), grad=False)
    fcase("promote/int-prod", lambda T, F: T.tensor([2, 3], dtype=T.int16).prod(), grad=False)
    fcase("promote/where-scalar", lambda T, F: T.where(T.tensor([True, False]), T.ones(2, dtype=T.float32), 0.0),
          grad=False)
    fcase("promote/rsub-int-float", lambda T, F: 1.5 - T.tensor([1, 2]), grad=False)
    fcase("promote/int-neg-pow", lambda T, F: T.tensor([2, 4]) ** 0.5, grad=False)
    fcase("promote/result_type", lambda T, F: T.tensor(int(T.result_type(T.ones(1, dtype=T.int8), 1.0) == T.float32)),
          grad=False)

    # broadcasting binary ops
    binops = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
              "div": lambda a, b: a / b, "pow": lambda a, b: a.abs() ** b, "maximum": None, "minimum": None,
              "atan2": None, "hypot": None}
    for name, f in binops.items():
        f = f or (lambda a, b, name=name: None)
        fn = (lambda T, F, a, b, f=f: f(a, b)) if binops[name] else (lambda T, F, a, b, name=name: getattr(T, name)(a, b))
        fcase(f"broadcast/{name}", fn, rn(3, 1, 4), rn(5, 1) + 0.1)
    fcase("broadcast/ties-maximum", lambda T, F, a, b: T.maximum(a, b), np.array([1.0, 2, 3]), np.array([1.0, 1, 3]))
    fcase("broadcast/fmod-remainder", lambda T, F, a: (T.fmod(a, 1.5), T.remainder(a, -1.5), a % 2), rn(7, scale=4))
    fcase("broadcast/clamp-tensor", lambda T, F, a, lo: T.clamp(a, min=lo, max=T.tensor(0.5)), rn(3, 4), rn(4))
    fcase("broadcast/lerp-addcmul", lambda T, F, a, b, c: (T.lerp(a, b, 0.3), T.addcmul(a, b, c, value=0.5),
                                                          T.addcdiv(a, b, c.abs() + 1, value=2)), rn(2, 3), rn(3), rn(2, 1))
    fcase("broadcast/inplace", lambda T, F, a, b: a.clone().add_(b, alpha=2).mul_(2).sub_(b), rn(2, 3), rn(3))

    # reductions
    x = rn(3, 4, 5)
    for dim in (None, 0, -1, (0, 2)):
        for kd in (False, True):
            if dim is None and kd:
                continue
            kw = {} if dim is None else {"dim": dim, "keepdim": kd}
            for red in ("sum", "mean", "amax", "amin", "logsumexp", "prod"):
                if (red == "logsumexp" and dim is None) or (red == "prod" and isinstance(dim, tuple)):
                    continue
                fcase(f"reduce/{red}/dim={dim}/keepdim={kd}", lambda T, F, a, red=red, kw=kw: getattr(a, red)(**kw), x)
            for corr in (0, 1, 2):
                for red in ("var", "std"):
                    fcase(f"reduce/{red}/corr={corr}/dim={dim}/keepdim={kd}",
                          lambda T, F, a, red=red, kw=kw, corr=corr: getattr(a, red)(correction=corr, **kw), x)
    fcase("reduce/var-unbiased-False", lambda T, F, a: (a.var(1, unbiased=False), a.std(unbiased=True)), x)
    fcase("reduce/var_mean", lambda T, F, a: T.var_mean(a, dim=1, keepdim=True), x)
    fcase("reduce/std_mean", lambda T, F, a: T.std_mean(a, dim=(0, 1), correction=0), x)
    ties = np.array([[1.0, 3, 3, 0], [2, 2, 2, 2], [5, -1, 5, -1]])
    for red in ("max", "min"):
        fcase(f"reduce/{red}-ties-dim1", lambda T, F, a, red=red: getattr(a, red)(dim=1), ties)
        fcase(f"reduce/{red}-ties-keepdim", lambda T, F, a, red=red: getattr(a, red)(0, keepdim=True), ties)
        fcase(f"reduce/{red}-all-ties", lambda T, F, a, red=red: getattr(a, red)(), ties)
        fcase(f"reduce/a{red}-ties-all-grad", lambda T, F, a, red=red: getattr(a, "a" + red)(1), ties)
    for red in ("argmax", "argmin"):
        fcase(f"reduce/{red}-ties", lambda T, F, a, red=red: (getattr(a, red)(1), getattr(a, red)(), getattr(a, red)(0, keepdim=True)),
              ties, grad=False)
    fcase("reduce/median-even", lambda T, F, a: (a.median(), a.median(dim=1), a.median(0, keepdim=True)), ties)
    fcase("reduce/median-rand", lambda T, F, a: a.median(dim=-1), rn(3, 6))
    fcase("reduce/kthvalue", lambda T, F, a: T.kthvalue(a, 2, dim=1), rn(3, 6))
    fcase("reduce/logsumexp-inf", lambda T, F, a: a.logsumexp(1), np.array([[-np.inf, -np.inf], [0.0, 1e3]]))
    for p in (1, 2, float("inf"), 3, "fro"):
        fcase(f"reduce/norm-p={p}", lambda T, F, a, p=p: (a.norm(p=p), a.norm(p=p, dim=1, keepdim=True) if p != "fro"
                                                         else a.norm(p=p, dim=(0, 1))), rn(3, 4))
    fcase("reduce/norm-inf-ties", lambda T, F, a: a.norm(p=float("inf"), dim=1), np.array([[1.0, -3, 3], [2, 0, 1]]))
    fcase("reduce/cumsum", lambda T, F, a: (a.cumsum(0), a.cumsum(-1)), x)
    fcase("reduce/cumprod", lambda T, F, a: (a.cumprod(1), T.cumprod(a, dim=-1)), x)
    fcase("reduce/cumprod-zeros", lambda T, F, a: a.cumprod(1), np.array([[2.0, 0, 3, 4], [0, 0, 1, 2]]))
    fcase("reduce/all-any", lambda T, F, a: ((a > 0).all(1), (a > 0).any(), (a > 0).sum(0)), x, grad=False)
    fcase("reduce/count_nonzero-aminmax", lambda T, F, a: (T.count_nonzero(a > 0, dim=1), T.aminmax(a, dim=0)), x,
          grad=False)

    # indexing
    a = rn(6, 5)
    fcase("index/neg-step-slice", lambda T, F, a: a.flip(0)[::2, 1:4], a)
    fcase("index/slice-neg", lambda T, F, a: a[-3:, :-1], a)
    fcase("index/int-dup", lambda T, F, a: a[[0, 2, 2, 5]], a)
    fcase("index/int-array-2d", lambda T, F, a, i, j: a[i, j], a, np.array([[0, 1], [1, 1]]), np.array([[4, 4], [0, 4]]))
    fcase("index/int-array-broadcast", lambda T, F, a, i: a[i[:, None], i[None, :2]], a, np.array([0, 3, 3]))
    fcase("index/bool-mask", lambda T, F, a: a[a > 0.2], a)
    fcase("index/bool-rows", lambda T, F, a, m: a[m], a, np.array([True, False, True, True, False, False]))
    fcase("index/ellipsis-none", lambda T, F, a: a[None, ..., 1], a)
    fcase("index/mixed-slice-array", lambda T, F, a: a[1:, [0, 0, 3]], a)
    fcase("index/nonadjacent-arrays", lambda T, F, a: a[[0, 1], :, [2, 2]], rn(3, 4, 5))

    def setitem(T, F, a, v, key):
        y = a.clone()
        y[key] = v
        return y
    fcase("setitem/broadcast-row", lambda T, F, a, v: setitem(T, F, a, v, slice(1, 3)), a, rn(5))
    fcase("setitem/scalar-mask", lambda T, F, a: setitem(T, F, a, 0.0, a > 0), a)
    fcase("setitem/dup-index", lambda T, F, a, v: setitem(T, F, a, v, ([0, 0, 1], [2, 2, 3])), a, np.array([1.0, 2, 3]))
    fcase("setitem/step", lambda T, F, a, v: setitem(T, F, a, v, (slice(None, None, 2), 0)), a, rn(3))
    fcase("setitem/col-broadcast", lambda T, F, a, v: setitem(T, F, a, v, (slice(None), [1, 3])), a, rn(6, 1))
    idx = np.array([[0, 1, 0], [2, 2, 1]])
    g = rn(3, 4)
    fcase("gather/dim1", lambda T, F, a, i: T.gather(a, 1, i), g, idx)
    fcase("gather/dim0", lambda T, F, a, i: a.gather(0, i), g, idx)
    fcase("scatter/dim1", lambda T, F, a, i, s: a.scatter(1, i, s), g, np.array([[0, 1, 3], [2, 0, 1]]), rn(2, 3))
    fcase("scatter/value", lambda T, F, a, i: a.scatter(1, i, 7.0), g, np.array([[0, 1], [2, 3]]))
    fcase("scatter_add/dup", lambda T, F, a, i, s: a.scatter_add(1, i, s), g, idx, rn(2, 3))
    fcase("scatter/reduce-sum", lambda T, F, a, i, s: a.scatter_reduce(1, i, s, reduce="sum"), g, idx, rn(2, 3))
    fcase("index_add/dup", lambda T, F, a, s: a.index_add(0, T.tensor([0, 2, 0]), s, alpha=2.0), g, rn(3, 4))
    fcase("index_select", lambda T, F, a: (T.index_select(a, 1, T.tensor([3, 0, 3])), a.index_select(0, T.tensor([2]))), g)
    fcase("masked_fill", lambda T, F, a: (a.masked_fill(a > 0, -1.0), a.masked_fill(T.tensor([True, False, False, True]), 2.0)), g)
    fcase("masked_fill-tensor-value", lambda T, F, a: a.masked_fill(a < 0, T.tensor(3.0)), g)
    tt = np.array([[3.0, 1, 3, 2, 1], [0, 0, 0, 0, 0], [5, 4, 5, 4, 3]])
    # torch leaves the order of tied indices unspecified: compare values and what the indices pick
    fcase("topk/ties", lambda T, F, a: (lambda r: (r[0], a.gather(1, r[1])))(a.topk(2, dim=1)), tt, grad=False)
    fcase("topk/smallest-unsorted-dim0", lambda T, F, a: T.topk(a, 2, dim=0, largest=False), rn(5, 3))
    fcase("sort/stable-ties", lambda T, F, a: a.sort(dim=1, stable=True), tt)
    fcase("sort/stable-desc-ties", lambda T, F, a: T.sort(a, dim=1, descending=True, stable=True), tt)
    fcase("sort/argsort-stable", lambda T, F, a: a.argsort(dim=0, stable=True), tt, grad=False)
    fcase("take_along_dim", lambda T, F, a: T.take_along_dim(a, a.argsort(1), 1), g)
    fcase("where-grad", lambda T, F, a, b: T.where(a > 0, a, b), g, rn(4))
    fcase("masked_select", lambda T, F, a: T.masked_select(a, a > 0), g)

    # shape ops
    s = rn(2, 3, 4)
    shape_ops = {
        "reshape": lambda T, a: a.reshape(4, -1), "view": lambda T, a: a.view(-1, 4),
        "permute": lambda T, a: a.permute(2, 0, 1), "transpose": lambda T, a: a.transpose(0, 2),
        "mT": lambda T, a: a.mT, "flatten": lambda T, a: a.flatten(1), "unflatten": lambda T, a: a.unflatten(2, (2, 2)),
        "squeeze-unsqueeze": lambda T, a: a.unsqueeze(1).squeeze(1).unsqueeze(-1),
        "expand": lambda T, a: a[:, :1].expand(2, 5, 4), "repeat": lambda T, a: a.repeat(2, 1, 1, 2),
        "tile": lambda T, a: T.tile(a, (2,)), "cat": lambda T, a: T.cat([a, a * 2], dim=-1),
        "stack": lambda T, a: T.stack([a, -a], dim=1), "split": lambda T, a: T.split(a, [1, 3], dim=2),
        "chunk": lambda T, a: a.chunk(3, dim=1), "unbind": lambda T, a: a.unbind(1),
        "tensor_split": lambda T, a: T.tensor_split(a, 3, dim=2), "narrow": lambda T, a: a.narrow(2, 1, 2),
        "flip": lambda T, a: a.flip(0, 2), "roll": lambda T, a: T.roll(a, shifts=(1, -1), dims=(1, 2)),
        "roll-flat": lambda T, a: T.roll(a, 5), "movedim": lambda T, a: T.movedim(a, 0, -1),
        "diagonal": lambda T, a: T.diagonal(a, offset=1, dim1=1, dim2=2), "tril": lambda T, a: T.tril(a, -1),
        "triu": lambda T, a: a.triu(1), "repeat_interleave": lambda T, a: a.repeat_interleave(2, dim=1),
        "select": lambda T, a: a.select(1, -1), "swapaxes": lambda T, a: T.swapaxes(a, 0, 1),
        "contiguous-T": lambda T, a: a.transpose(1, 2).contiguous().view(2, -1),
        "hstack-vstack": lambda T, a: (T.hstack([a, a]), T.vstack([a, a])),
        "broadcast_to": lambda T, a: T.broadcast_to(a[:, :1, :], (2, 3, 4)),
    }
    for name, f in shape_ops.items():
        fcase(f"shape/{name}", lambda T, F, a, f=f: f(T, a), s)
    fcase("shape/pad-neg", lambda T, F, a: F.pad(a, (-1, 2)), s)

    # matmul / einsum
    mm = {"1dx1d": ((4,), (4,)), "2dx1d": ((3, 4), (4,)), "1dx2d": ((4,), (4, 5)), "batched-bcast": ((2, 1, 3, 4), (5, 4, 2)),
          "3dx2d": ((2, 3, 4), (4, 5)), "1dx3d": ((4,), (2, 4, 5))}
    for name, (sa, sb) in mm.items():
        fcase(f"matmul/{name}", lambda T, F, a, b: T.matmul(a, b), rn(*sa), rn(*sb))
    fcase("matmul/@-bmm-mm-mv", lambda T, F, a, b, v: (a @ b, T.bmm(a, b), T.mm(a[0], b[0]), T.mv(a[0], v)),
          rn(2, 3, 4), rn(2, 4, 5), rn(4))
    fcase("matmul/addmm-baddbmm", lambda T, F, c, a, b: (T.addmm(c, a[0], b[0], beta=0.5, alpha=2),
                                                        T.baddbmm(c, a, b, beta=2, alpha=0.5)), rn(3, 5), rn(2, 3, 4), rn(2, 4, 5))
    fcase("matmul/outer-dot-inner", lambda T, F, a, b: (T.outer(a, b), T.dot(a, b), T.inner(a, b)), rn(4), rn(4))
    fcase("matmul/tensordot", lambda T, F, a, b: T.tensordot(a, b, dims=([1, 2], [0, 1])), rn(2, 3, 4), rn(3, 4, 5))
    for eq, shapes in {"ij,jk->ik": ((3, 4), (4, 5)), "bij,bjk->bik": ((2, 3, 4), (2, 4, 5)), "ii->i": ((4, 4),),
                       "ij->": ((3, 4),), "i,j->ij": ((3,), (4,)), "...ij,...jk": ((2, 3, 4), (4, 2)),
                       "bhqd,bhkd->bhqk": ((2, 2, 3, 4), (2, 2, 5, 4)), "ij,ij->i": ((3, 4), (3, 4)),
                       "iij->j": ((3, 3, 2),), "ijk->kji": ((2, 3, 4),)}.items():
        fcase(f"einsum/{eq}", lambda T, F, *xs, eq=eq: T.einsum(eq, *xs), *[rn(*sh) for sh in shapes])

    # pointwise unary (values + gradient)
    u = rn(3, 4)
    for name in ("exp", "log", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh", "sigmoid", "erf", "expm1", "log1p",
                 "log2", "log10", "abs", "sign", "floor", "ceil", "round", "trunc", "frac", "reciprocal", "asin", "acos",
                 "atan", "sinh", "cosh", "asinh", "square", "neg", "exp2", "relu"):
        pos = name in ("log", "sqrt", "rsqrt", "log2", "log10")
        arg = np.abs(u) + 0.1 if pos else (np.tanh(u) * 0.9 if name in ("asin", "acos") else u)
        fcase(f"unary/{name}", lambda T, F, a, name=name: getattr(T, name)(a), arg)
    fcase("unary/round-half-even", lambda T, F, a: (T.round(a), T.round(a, decimals=1)), np.array([0.5, 1.5, 2.5, -0.5, 0.25]))
    fcase("unary/abs-at-zero-grad", lambda T, F, a: (a.abs(), a.clamp(0, 1), T.relu(a)), np.array([0.0, 1.0, -1.0]))
    fcase("unary/sqrt-at-zero", lambda T, F, a: a.sqrt(), np.array([0.0, 4.0]))
    fcase("unary/pow-0-grad", lambda T, F, a: (a ** 2, a ** 0.5, T.pow(2.0, a)), np.array([0.0, 2.0]))
    fcase("unary/float_power", lambda T, F, a: T.float_power(a, 2), np.array([1.5, -2.0]))


# ----------------------------------------------------------------------------- driver
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", default="", help="run only cases whose name contains TEXT")
    ap.add_argument("-q", "--quiet", action="store_true", help="print only failing cases and the summary")
    ap.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of ERROR cases")
    args = ap.parse_args(argv)
    np.seterr(all="ignore")  # edge-case inputs (log 0, inf - inf) are intended
    warnings.simplefilter("ignore")
    torch.set_default_dtype(torch.float64)
    blaze.set_default_dtype(blaze.float64)
    core_cases()
    from perf import torch_parity_api, torch_parity_inplace, torch_parity_nn, torch_parity_optim, torch_parity_special
    torch_parity_api.register(CASES)
    torch_parity_inplace.register(CASES)
    torch_parity_special.register(CASES)
    torch_parity_nn.register(CASES)
    torch_parity_optim.register(CASES)
    counts = {"ok": 0, "MISMATCH": 0, "ERROR": 0, "UNSUPPORTED": 0}
    for name, run in CASES:
        if args.filter not in name:
            continue
        try:
            run()
            status, msg = "ok", ""
        except Mismatch as e:
            status, msg = "MISMATCH", str(e)
        except NotImplementedError as e:  # blaze says plainly it lacks the feature: listed, not failed
            status, msg = "UNSUPPORTED", str(e).splitlines()[0][:200]
        except Exception as e:  # noqa: BLE001 -- any exception is a finding to report, not a crash
            status, msg = "ERROR", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            if args.verbose:
                traceback.print_exc()
        counts[status] += 1
        if status != "ok" or not args.quiet:
            print(f"{status:8s} {name}  {msg}".rstrip(), flush=True)
    total = sum(counts.values())
    print(f"\n{total} cases: {counts['ok']} ok, {counts['MISMATCH']} mismatch, {counts['ERROR']} error, "
          f"{counts['UNSUPPORTED']} unsupported (NotImplementedError)")
    return 0 if counts["MISMATCH"] + counts["ERROR"] == 0 else 1


if __name__ == "__main__":
    # run through the package module so every file shares one Mismatch class and CASES list
    from perf import torch_parity as _self
    sys.exit(_self.main())
