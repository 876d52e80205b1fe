"""blaze/_optable.py is the one description of each elementwise op: every consumer agrees with its rows."""
import re

import numpy as np
import pytest

import blaze
from blaze import _optable
from blaze.ops import pointwise as P
from tests.core import test_ops_oracle as oracle
from tests.core.oracle import arr, check

ROWS = _optable.UNARY
RNG = np.random.default_rng(7)
DOMAIN = {  # inputs where the op is defined (and away from its poles)
    **dict.fromkeys(("log", "log2", "log10", "sqrt", "rsqrt", "reciprocal", "log1p"), (0.1, 3.0)),
    **dict.fromkeys(("asin", "acos", "atanh"), (-0.9, 0.9)),
    "acosh": (1.1, 4.0), "logit": (0.05, 0.95),
}


def _input(name, dtype=np.float32):
    if ROWS[name].rule == "int":
        return RNG.integers(-50, 50, (5, 7)).astype(np.int32)
    lo, hi = DOMAIN.get(name, (-3.0, 3.0))
    x = RNG.uniform(lo, hi, (5, 7))
    if name in ("floor", "ceil", "round", "trunc", "frac", "sign"):
        x[0, :4] = [0.5, -1.5, 2.0, -0.0]  # ties and signed zero
    if ROWS[name].rule == "bool" or name == "signbit":
        x[1, :4] = [np.inf, -np.inf, np.nan, -0.0]
    return x.astype(dtype)


TABLES = {1: _optable.UNARY, 2: _optable.BINARY, 3: _optable.TERNARY}


def test_ids_are_unique_and_public_names_exist():
    ids = [r.kernel_id for t in TABLES.values() for r in t.values() if r.kernel_id is not None]
    assert len(ids) == len(set(ids))
    for arity, table in TABLES.items():  # unary 0-99, binary 100-199, ternary 200-299
        assert all(r.kernel_id is None or (arity - 1) * 100 <= r.kernel_id < arity * 100 for r in table.values())
    for name, row in ROWS.items():
        assert row.kernel_id is not None or row.compose is not None, name  # the cuda device can run it
        if row.public:
            assert callable(getattr(blaze, name)) and callable(getattr(blaze.Tensor, name)), name
        else:
            assert not hasattr(blaze, name), name


def test_every_differentiable_public_row_has_an_oracle_row():
    have = {row[0] for row in oracle.UNARY}
    assert {n for n in P.UNARY} <= have


@pytest.mark.parametrize("name", sorted(ROWS))
def test_cpu_runs_the_rows_numpy_function(name):
    x = _input(name)
    got = blaze.devices.get_backend(blaze.device("cpu")).unary(name, x)
    np.testing.assert_array_equal(got, ROWS[name].numpy(x))


@pytest.mark.parametrize("name", sorted(ROWS))
def test_cuda_matches_the_rows_numpy_function(name):
    """Kernel instruction or composition, the cuda device agrees with the row's NumPy function."""
    pytest.importorskip("triton")
    from blaze.devices.cuda.backend import TritonBackend
    be = TritonBackend()
    x = _input(name)
    got = be.to_numpy(be.unary(name, be.from_numpy(x)))
    ref = ROWS[name].numpy(x.astype(np.float64) if x.dtype.kind == "f" else x)
    if ROWS[name].rule == "bool" or ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got.astype(np.float64), ref, rtol=2e-5, atol=2e-6)


def test_kernel_names_every_instruction_by_its_constant():
    """Each row with a kernel id has ``OP_<NAME>`` of that value in the kernel module, and ``_apply``
    branches on it: no instruction is reached by list position, none lacks a branch."""
    pytest.importorskip("triton")
    from blaze.kernels import elementwise as E
    import inspect
    apply_src = inspect.getsource(E._apply.fn)
    for table in TABLES.values():
        for name, row in table.items():
            if row.kernel_id is None:
                continue
            const = getattr(E, "OP_" + name.upper())
            assert getattr(const, "value", const) == row.kernel_id, name
            assert re.search(rf"\bOP_{name.upper()}\b", apply_src), name
    # and no branch is left for an id the table does not have
    used = set(re.findall(r"\bOP_([A-Z0-9_]+)\b", apply_src))
    assert used == {n.upper() for t in TABLES.values() for n, r in t.items() if r.kernel_id is not None}


# -- binary rows -----------------------------------------------------------------------------
BROWS = _optable.BINARY
_POSITIVE_B = ("div", "remainder", "fmod", "floor_divide", "xlogy")


def _binary_inputs(name, rule):
    if rule == "int":
        return RNG.integers(-50, 50, (5, 7)).astype(np.int32), RNG.integers(-50, 50, (7,)).astype(np.int32)
    if rule == "logical":
        return RNG.random((5, 7)) < 0.5, RNG.random((7,)) < 0.5
    a = RNG.uniform(-3, 3, (5, 7))
    b = RNG.uniform(-3, 3, (7,))
    if name in _POSITIVE_B:
        b = RNG.uniform(0.5, 3, (7,))
    if name == "pow":
        a = RNG.uniform(0.2, 3, (5, 7))
    if rule == "cmp":
        a[0, :3] = b[:3]  # ties
    return a.astype(np.float32), b.astype(np.float32)


def test_every_binary_row_is_public_and_on_tensor():
    for name, row in BROWS.items():
        assert row.kernel_id is not None or row.compose is not None, name
        assert callable(getattr(blaze, name)) and callable(getattr(blaze.Tensor, name)), name
        assert (row.grad_a is None) == (row.grad_b is None), name  # both sides or neither


@pytest.mark.parametrize("name", sorted(BROWS))
def test_cpu_binary_runs_the_rows_numpy_function(name):
    a, b = _binary_inputs(name, BROWS[name].rule)
    got = blaze.devices.get_backend(blaze.device("cpu")).binary(name, a, b)
    np.testing.assert_array_equal(got, BROWS[name].numpy(a, b))


@pytest.mark.parametrize("name", sorted(BROWS))
def test_cuda_binary_matches_the_rows_numpy_function(name):
    """Kernel instruction or composition, through the public op, cuda agrees with the row."""
    pytest.importorskip("triton")
    a, b = _binary_inputs(name, BROWS[name].rule)
    got = getattr(blaze, name)(blaze.tensor(a, device="cuda"), blaze.tensor(b, device="cuda")).cpu().numpy()
    ref = BROWS[name].numpy(*(v.astype(np.float64) if v.dtype.kind == "f" else v for v in (a, b)))
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got.astype(np.float64), ref, rtol=2e-5, atol=2e-6)
    s = 2 if BROWS[name].rule in ("int", "logical") else 1.5  # a Python number operand
    if BROWS[name].rule == "logical":
        s = True
    got = getattr(blaze, name)(blaze.tensor(a, device="cuda"), s).cpu().numpy()
    ref = BROWS[name].numpy(a.astype(np.float64) if a.dtype.kind == "f" else a, s)
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(ref, np.float64), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(n for n, r in BROWS.items() if r.grad_a is not None))
def test_binary_row_gradients_by_finite_differences(name):
    """The row's gradients (both operands, broadcast) against float64 finite differences."""
    a = arr(3, 4, positive=name == "pow")
    b = arr(4, positive=name in _POSITIVE_B)
    if name in ("remainder", "fmod"):
        a = a * 3
    check(getattr(blaze, name), BROWS[name].numpy, a, b)


def test_binary_scalar_operand_gradients():
    for name in sorted(n for n, r in BROWS.items() if r.grad_a is not None):
        a = arr(3, 4, positive=True) + 0.5
        check(lambda x, name=name: getattr(blaze, name)(x, 1.7), lambda x, name=name: BROWS[name].numpy(x, 1.7), a)
        check(lambda x, name=name: getattr(blaze, name)(1.7, x), lambda x, name=name: BROWS[name].numpy(1.7, x), a)


# -- ternary rows ----------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_clamp_with_tensor_bounds_is_one_op_with_torch_gradients(device):
    if device == "cuda":
        pytest.importorskip("triton")
    x, lo, hi = arr(3, 4), arr(4, low=-0.8, high=-0.1), arr(3, 1, low=0.1, high=0.8)
    ref = _optable.TERNARY["clamp"].numpy
    check(lambda x, lo, hi: blaze.clamp(x, lo, hi), ref, x, lo, hi)
    t = [blaze.tensor(v, device=device, requires_grad=True) for v in (x, lo, hi)]
    y = blaze.clamp(*t)
    np.testing.assert_allclose(y.detach().cpu().numpy(), ref(x, lo, hi), rtol=1e-6)
    y.sum().backward()
    inside = (x >= lo) & (x <= hi)
    np.testing.assert_array_equal(t[0].grad.cpu().numpy(), inside.astype(np.float64))
    np.testing.assert_array_equal(t[1].grad.cpu().numpy(), (x < lo).sum(0).astype(np.float64))
    np.testing.assert_array_equal(t[2].grad.cpu().numpy(), (x > hi).sum(1, keepdims=True).astype(np.float64))


def test_cuda_clamp_is_one_launch(monkeypatch):
    pytest.importorskip("triton")
    from blaze.kernels import elementwise as E
    ops = []
    real = E.launch
    monkeypatch.setattr(E, "launch", lambda op, *a, **k: ops.append(op) or real(op, *a, **k))
    x = blaze.tensor(arr(3, 4).astype(np.float32), device="cuda")
    blaze.clamp(x, -0.5, 0.5)
    blaze.clamp(x, blaze.zeros(4, device="cuda") - 0.5, blaze.ones(3, 1, device="cuda") * 0.5)
    assert ops.count("clamp") == 2 and "maximum" not in ops and "minimum" not in ops


@pytest.mark.parametrize("name", sorted(_optable.TERNARY))
def test_cuda_ternary_matches_the_rows_numpy_function(name):
    pytest.importorskip("triton")
    from blaze.devices.cuda.backend import TritonBackend
    be = TritonBackend()
    a = RNG.uniform(-2, 2, (5, 1, 7))
    b, c = RNG.uniform(-1, 0, (3, 7)), RNG.uniform(0, 1, (5, 3, 1))
    if name == "where":
        a = a > 0
    args = [v if v.dtype == bool else v.astype(np.float32) for v in (a, b, c)]
    dev = [be.from_numpy(v) for v in args]
    got = be.to_numpy(be.where(*dev) if name == "where" else be.clamp(*dev))
    ref = _optable.TERNARY[name].numpy(*[v if v.dtype == bool else v.astype(np.float64) for v in args])
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=1e-6)
