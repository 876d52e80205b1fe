"""blaze/_optable.py is the one description of each unary op: every consumer agrees with its rows."""
import numpy as np
import pytest

import blaze
from blaze import _optable
from blaze.ops import pointwise as P
from tests.core import test_ops_oracle as oracle

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


def test_ids_are_unique_and_public_names_exist():
    ids = [r.kernel_id for r in ROWS.values() if r.kernel_id is not None]
    assert len(ids) == len(set(ids))
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
