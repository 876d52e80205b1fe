"""The core oracle table rerun on the cuda device: float32 on cuda vs float64 on cpu.

Each case runs on the CPU in float64 (the reference, itself checked against NumPy and
finite differences by tests/core) and on cuda in float32; forward values and the
gradients of sum(out * w) must agree to float32 accuracy. This is device parity of every
op's forward *and* backward through the Triton backend.
"""
import numpy as np
import pytest

import blaze
from tests.core import test_ops_oracle as T
from tests.core.oracle import RNG

RTOL, ATOL = 2e-4, 2e-5


def _outs(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def run(fn, inputs, dev, dtype):
    ts = []
    for x in inputs:
        t = blaze.tensor(np.asarray(x), dtype=dtype).to(dev)
        ts.append(t.requires_grad_() if dtype.is_floating_point else t)
    out = _outs(fn(*ts))
    return ts, out


def parity(fn, *inputs, grad=True):
    ts_c, out_c = run(fn, inputs, "cpu", blaze.float64)
    ts_g, out_g = run(fn, inputs, "cuda", blaze.float32)
    assert len(out_c) == len(out_g)
    for c, g in zip(out_c, out_g):
        assert g.device.type == "cuda", "result left the device"
        assert tuple(c.shape) == tuple(g.shape)
        cn, gn = c.detach().cpu().numpy(), g.detach().cpu().numpy()
        if cn.dtype.kind == "f":
            np.testing.assert_allclose(gn.astype(np.float64), cn, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(gn, cn)
    if not grad:
        return
    idx = [k for k, o in enumerate(out_c) if o.requires_grad]
    if not idx:
        return
    ws = [RNG.standard_normal(tuple(out_c[k].shape)) for k in idx]
    lc = sum((out_c[k] * blaze.tensor(w, dtype=blaze.float64)).sum() for k, w in zip(idx, ws))
    lg = sum((out_g[k] * blaze.tensor(w, dtype=blaze.float32).to("cuda")).sum() for k, w in zip(idx, ws))
    gc = blaze.autograd.grad(lc, ts_c, allow_unused=True)
    gg = blaze.autograd.grad(lg, ts_g, allow_unused=True)
    for a, b in zip(gc, gg):
        if a is None:
            assert b is None or not b.cpu().numpy().any()
            continue
        assert b.device.type == "cuda"
        np.testing.assert_allclose(b.cpu().numpy().astype(np.float64), a.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name,fn,ref,x", T.UNARY, ids=[u[0] for u in T.UNARY])
def test_unary(name, fn, ref, x):
    parity(fn, x)


@pytest.mark.parametrize("name,fn,ref,a,b", T.BINARY, ids=[b[0] for b in T.BINARY])
def test_binary(name, fn, ref, a, b):
    parity(fn, a, b)


@pytest.mark.parametrize("name,fn,ref", T.REDUCE, ids=[r[0] for r in T.REDUCE])
def test_reduce(name, fn, ref):
    parity(fn, T.X)


@pytest.mark.parametrize("name,fn,ref,a,b", T.LINALG, ids=[r[0] for r in T.LINALG])
def test_linalg(name, fn, ref, a, b):
    parity(fn, a, b)


@pytest.mark.parametrize("name,fn,ref", T.SHAPE, ids=[r[0] for r in T.SHAPE])
def test_shape(name, fn, ref):
    parity(fn, T.S)


# scatter_add's case builds its destination with blaze.zeros on the cpu: its cuda twin is below
INDEXING = [r for r in T.INDEXING if r[0] != "scatter_add"]


@pytest.mark.parametrize("name,fn,ref", INDEXING, ids=[r[0] for r in INDEXING])
def test_indexing(name, fn, ref):
    parity(fn, T.I)


def test_scatter_add():
    idx = T.IDX[:, :4]
    parity(lambda x: blaze.zeros(5, 5, dtype=x.dtype, device=x.device).scatter_add(
        0, blaze.tensor(idx, device=x.device), x[:2, :4]), T.I)


def test_setitem_and_inplace_views():
    def fn(x):
        buf = blaze.zeros(4, 5, dtype=x.dtype, device=x.device)
        buf[1:3] = x[:2] * 2
        buf[blaze.tensor([0, 3], device=x.device), 0] = x[3, :2]
        y = buf * x
        y[:, 1].mul_(3.0)
        y[0].add_(x[1])
        return y
    parity(fn, T.I)


@pytest.mark.parametrize("name,fn,ref,vals", T.INPLACE, ids=[r[0] for r in T.INPLACE])
def test_inplace(name, fn, ref, vals):
    parity(fn, T.I, *vals)
