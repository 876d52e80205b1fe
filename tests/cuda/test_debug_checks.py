"""The oracle tables re-run on cpu and cuda with BLAZE_DEBUG_CHECKS on (issue 11 §3).

With the mode on, every Tensor an op makes must agree with its storage (dtype, shape,
strides inside the allocation, storage kind): see blaze/_debug.py. The test functions are
imported from the two oracle modules, so pytest collects them again here, under the
autouse fixture that turns the mode on; the tables stay written once.
"""
import numpy as np
import pytest

import blaze
from blaze import _debug
from tests.core.test_ops_oracle import (test_arg_and_bool_reductions, test_binary, test_creation_and_random,  # noqa: F401
                                        test_indexing, test_linalg, test_reduce, test_setitem_forward_and_grad,
                                        test_shape, test_unary)
from tests.cuda.test_oracle_cuda import test_binary as test_cuda_binary  # noqa: F401
from tests.cuda.test_oracle_cuda import test_indexing as test_cuda_indexing  # noqa: F401
from tests.cuda.test_oracle_cuda import test_linalg as test_cuda_linalg  # noqa: F401
from tests.cuda.test_oracle_cuda import test_reduce as test_cuda_reduce  # noqa: F401
from tests.cuda.test_oracle_cuda import test_scatter_add as test_cuda_scatter_add  # noqa: F401
from tests.cuda.test_oracle_cuda import test_setitem_and_inplace_views as test_cuda_setitem  # noqa: F401
from tests.cuda.test_oracle_cuda import test_shape as test_cuda_shape  # noqa: F401
from tests.cuda.test_oracle_cuda import test_unary as test_cuda_unary  # noqa: F401


@pytest.fixture(autouse=True)
def debug_checks(monkeypatch):
    monkeypatch.setattr(_debug, "ON", True)


@pytest.mark.parametrize("dev", ["cpu", "cuda"])
def test_mode_catches_storage_drift(dev):
    x = blaze.ones(2, 3, device=dev)
    # a Tensor claiming bool over float32 storage: what tril on bool used to make
    with pytest.raises(RuntimeError, match="dtype blaze.bool but storage dtype float32"):
        blaze.Tensor._make(x._data, x._device, blaze.bool)


def test_mode_catches_view_outside_allocation():
    x = blaze.ones(2, 3, device="cuda")
    with pytest.raises(RuntimeError, match="reach elements"):
        blaze.Tensor._make(x._data.view_as((2, 3), (3, 1), 64), x._device, x._dtype)


@pytest.mark.parametrize("dev", ["cpu", "cuda"])
@pytest.mark.parametrize("dt", [blaze.bool, blaze.int32, blaze.float16, blaze.float32])
def test_tril_triu_keep_dtype(dev, dt):
    m = blaze.ones(4, 6, dtype=dt, device=dev)
    for t in (m.tril(), m.triu(1), m.tril(-1)):
        assert t.dtype is dt and t._data.dtype == dt.np


@pytest.mark.parametrize("dev", ["cpu", "cuda"])
def test_bool_mask_tril_feeds_attention(dev):
    q = k = v = blaze.ones(1, 1, 4, 8, device=dev)
    pad = blaze.zeros(4, 4, dtype=blaze.bool, device=dev)
    mask = pad | blaze.ones(4, 4, dtype=blaze.bool, device=dev).tril()
    y = blaze.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    np.testing.assert_allclose(y.cpu().numpy(), np.ones((1, 1, 4, 8)), rtol=1e-6)


@pytest.mark.parametrize("dev", ["cpu", "cuda"])
def test_clamp_on_bool_stays_bool(dev):
    r = blaze.tensor([True, False], device=dev).clamp(0, 1)
    assert r.dtype is blaze.bool and r._data.dtype == np.bool_
    assert r.cpu().numpy().tolist() == [True, False]


def test_switch_is_read_from_the_environment(monkeypatch):
    from blaze import _env
    monkeypatch.setenv("BLAZE_DEBUG_CHECKS", "1")
    assert _env.debug_checks()
    monkeypatch.setenv("BLAZE_DEBUG_CHECKS", "0")
    assert not _env.debug_checks()
