"""Index-taking ops on cuda never read or write outside the tensor and raise PyTorch's error.

Host indices (lists, NumPy arrays, cpu tensors) are checked before any kernel runs, with
the CPU's IndexError; device indices are checked by the kernels, which skip the bad
element and leave the op's code in the device error word: the next synchronisation
(.item(), .cpu(), blaze.cuda.synchronize()) raises "device-side assert triggered" naming
the op, and clears the word.
"""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F

DEVICE_ASSERT = "device-side assert triggered: {}"


def _dev_idx(*v):
    return blaze.tensor(list(v), device="cuda")


def test_freed_memory_is_never_read():
    secret = blaze.full((60,), 777., device="cuda")
    del secret
    x = blaze.arange(3., device="cuda")
    y = x.index_select(0, _dev_idx(10, 20, 40))
    with pytest.raises(RuntimeError, match=DEVICE_ASSERT.format("index_select")):
        y.cpu()
    y = x.index_select(0, _dev_idx(2, 0))  # the word was cleared: the next op is fine
    assert y.cpu().numpy().tolist() == [2.0, 0.0]


@pytest.mark.parametrize("key", [[0, 5], np.array([0, -4]), "cpu_tensor"])
def test_host_index_checked_before_launch(key):
    key = blaze.tensor([0, 5]) if isinstance(key, str) else key
    x = blaze.arange(3., device="cuda")
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 3"):
        x[key]
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 3"):
        x[key] = 9.0
    assert x.cpu().numpy().tolist() == [0.0, 1.0, 2.0]  # nothing written


def test_host_index_in_range_still_works():
    x = blaze.arange(6., device="cuda").reshape(2, 3)
    assert x[[1, -2], [2, 0]].cpu().numpy().tolist() == [5.0, 0.0]
    x[[1], [-1]] = 9.0
    assert x.cpu().numpy().tolist() == [[0, 1, 2], [3, 4, 9]]


def test_bool_mask_of_wrong_shape():
    x = blaze.arange(3., device="cuda")
    for m in (blaze.tensor([True, False, True, True], device="cuda"), [True, False, True, True]):
        with pytest.raises(IndexError, match=r"The shape of the mask \[4\] at index 0 does not match"):
            x[m]
    assert x[blaze.tensor([True, False, True])].cpu().numpy().tolist() == [0.0, 2.0]


@pytest.mark.parametrize("op,fn", [
    ("index", lambda x, i: x[i]),
    ("index_select", lambda x, i: x.index_select(0, i)),
    ("index_add", lambda x, i: x.index_add(0, i, blaze.ones(2, device="cuda"))),
    ("index_fill", lambda x, i: x.index_fill(0, i, 1.0)),
    ("index_put_", lambda x, i: x.index_put((i,), blaze.ones(2, device="cuda"), accumulate=True)),
    ("gather", lambda x, i: x.gather(0, i)),
    ("scatter", lambda x, i: blaze.zeros(3, device="cuda").scatter(0, i, x[:2])),
    ("scatter_add", lambda x, i: blaze.zeros(3, device="cuda").scatter_add(0, i, x[:2])),
    ("embedding", lambda x, i: F.embedding(i, blaze.ones(3, 2, device="cuda"))),
    ("cross_entropy", lambda x, i: F.cross_entropy(blaze.zeros(2, 3, device="cuda"), i)),
    ("nll_loss", lambda x, i: F.nll_loss(blaze.zeros(2, 3, device="cuda"), i)),
])
@pytest.mark.parametrize("bad", [5, -4])
def test_device_index_raises_at_sync(op, fn, bad):
    x = blaze.arange(3., device="cuda")
    r = fn(x, _dev_idx(0, bad))
    with pytest.raises(RuntimeError, match=DEVICE_ASSERT.format(op)):
        blaze.cuda.synchronize()
    r.cpu()  # reported once: the word is clear again


def test_device_setitem_writes_nothing_outside():
    x = blaze.zeros(6, device="cuda")
    v = x[:3]  # a view: index 3 would land inside x's allocation
    v[_dev_idx(0, 3)] = 5.0
    with pytest.raises(RuntimeError, match=DEVICE_ASSERT.format("index_put_")):
        x.sum().item()
    assert x.cpu().numpy().tolist() == [5.0, 0, 0, 0, 0, 0]


def test_einsum_sizes_must_agree():
    for dev in ("cpu", "cuda"):
        with pytest.raises(RuntimeError, match="subscript j has size 4 for operand 1"):
            blaze.einsum("ij,jk->ik", blaze.ones(2, 3, device=dev), blaze.ones(4, 2, device=dev))
