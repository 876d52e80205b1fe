"""Shape, scatter and creation helpers (blaze/ops/arrange.py, scatter_views.py): NumPy oracle,
gradients by finite differences, PyTorch's errors."""
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check

X = arr(4, 6)
MASK = arr(4, 6) > 0


def _put(a, idx, src, acc):
    out = a.copy().ravel()
    if acc:
        np.add.at(out, idx, src)
    else:
        out[idx] = src
    return out.reshape(a.shape)


def _strided(a, shape, strides, off):
    flat = a.ravel()
    return np.lib.stride_tricks.as_strided(flat[off:], shape, [s * 8 for s in strides]).copy()


def _scatter_np(a, key, src):
    out = a.copy()
    out[key] = src
    return out


def _masked_scatter(a, m, s):
    out = a.copy()
    out[m] = s[:m.sum()]
    return out


I = lambda *v: blaze.tensor(list(v))  # noqa: E731 - int64 index tensors

CASES = [
    ("rot90", lambda a: (blaze.rot90(a), blaze.rot90(a, 2), blaze.rot90(a, -1, (1, 0)), a.rot90(3, [0, 2])),
     lambda a: (np.rot90(a), np.rot90(a, 2), np.rot90(a, -1, (1, 0)), np.rot90(a, 3, (0, 2))), [arr(2, 3, 4)]),
    ("hvdsplit", lambda a: (*blaze.hsplit(a, 2), *blaze.vsplit(a, [1, 3]), *blaze.dsplit(a, 2)),
     lambda a: (*np.hsplit(a, 2), *np.vsplit(a, [1, 3]), *np.dsplit(a, 2)), [arr(4, 6, 2)]),
    ("stacks", lambda a, b: (blaze.dstack([a, b]), blaze.column_stack([a, b[0]]), blaze.row_stack([a, b]),
                             blaze.atleast_3d(a[0])),
     lambda a, b: (np.dstack([a, b]), np.column_stack([a, b[0]]), np.vstack([a, b]), np.atleast_3d(a[0])),
     [arr(3, 3), arr(3, 3)]),
    ("moveaxis", lambda a: blaze.moveaxis(a, [0, 1], [2, 0]), lambda a: np.moveaxis(a, [0, 1], [2, 0]),
     [arr(2, 3, 4)]),
    ("block_diag", blaze.block_diag, lambda a, b: np.block([[a, np.zeros((2, 2))], [np.zeros((2, 3)), b]]),
     [arr(2, 3), arr(2, 2)]),
    ("cartesian_prod", blaze.cartesian_prod, lambda a, b: np.array([[x, y] for x in a for y in b]),
     [arr(3), arr(2)]),
    ("combinations", lambda a: blaze.combinations(a, 2),
     lambda a: np.array([[a[i], a[j]] for i in range(4) for j in range(i + 1, 4)]), [arr(4)]),
    ("diag_family", lambda v, a: (blaze.diag(v), blaze.diag(v, -2), blaze.diag(a, 1), blaze.diagflat(a[:2, :2], 1),
                                  blaze.diag_embed(a, 1, 0, 2)),
     lambda v, a: (np.diag(v), np.diag(v, -2), np.diag(a, 1), np.diagflat(a[:2, :2], 1),
                   np.stack([np.diag(r, 1) for r in a], 1)), [arr(3), X]),
    ("vander", lambda x: (blaze.vander(x), blaze.vander(x, 3, increasing=True)),
     lambda x: (np.vander(x), np.vander(x, 3, increasing=True)), [arr(4)]),
    ("select_slice_diagonal_scatter", lambda a, s: (
        blaze.select_scatter(a, s[:, 0], 1, 2), blaze.slice_scatter(a, s[:, :3], 1, 1, 6, 2),
        blaze.diagonal_scatter(a, s[:, 1], 1)),
     lambda a, s: (_scatter_np(a, (slice(None), 2), s[:, 0]), _scatter_np(a, (slice(None), slice(1, 6, 2)), s[:, :3]),
                   _scatter_np(a, (np.arange(4), np.arange(4) + 1), s[:, 1])), [X, arr(4, 3)]),
    ("as_strided", lambda a, s: (blaze.as_strided(a, (3, 3), (2, 1), 1),
                                 blaze.as_strided_scatter(a, s, (2, 2), (6, 1), 3)),
     lambda a, s: (_strided(a, (3, 3), (2, 1), 1), _scatter_np(a, (slice(0, 2), slice(3, 5)), s)), [X, arr(2, 2)]),
    ("take_put", lambda a, s: (blaze.take(a, I(0, -1, 5)), a.put(I(1, 2, 7), s), a.put(I(1, 1, 7), s, accumulate=True)),
     lambda a, s: (a.ravel()[[0, -1, 5]], _put(a, [1, 2, 7], s, False), _put(a, [1, 1, 7], s, True)), [X, arr(3)]),
    ("index_copy", lambda a, s: blaze.index_copy(a, 1, I(4, 0), s),
     lambda a, s: _scatter_np(a, (slice(None), [4, 0]), s), [X, arr(4, 2)]),
    ("masked_scatter", lambda a, s: a.masked_scatter(blaze.tensor(MASK), s),
     lambda a, s: _masked_scatter(a, MASK, s), [X, arr(30)]),
    ("unfold", lambda a: (a.unfold(1, 3, 2), a.unfold(0, 2, 1)),
     lambda a: (np.stack([a[:, i:i + 3] for i in (0, 2)], 1), np.stack([a[i:i + 2] for i in range(3)], 0).transpose(
         0, 2, 1)), [X]),
    ("copies", lambda a: (blaze.narrow_copy(a, 1, 1, 2), blaze.t_copy(a), blaze.diagonal_copy(a)),
     lambda a: (a[:, 1:3], a.T, np.diagonal(a)), [X]),
]


@pytest.mark.parametrize("name,fn,ref,xs", CASES, ids=[c[0] for c in CASES])
def test_arrange_oracle(name, fn, ref, xs):
    check(fn, ref, *[x.copy() for x in xs])


def test_index_creation_helpers_match_numpy():
    np.testing.assert_array_equal(blaze.tril_indices(4, 3, -1).numpy(), np.stack(np.tril_indices(4, -1, 3)))
    np.testing.assert_array_equal(blaze.triu_indices(3, 5, 1).numpy(), np.stack(np.triu_indices(3, 1, 5)))
    got = blaze.unravel_index(blaze.tensor([0, 7, 23, -1]), (2, 3, 4))
    np.testing.assert_array_equal(np.stack([g.numpy() for g in got]), np.stack(np.unravel_index([0, 7, 23, 23],
                                                                                                 (2, 3, 4))))
    assert blaze.broadcast_shapes((3, 1), (4,), (2, 1, 1)) == (2, 3, 4)
    a, b = blaze.broadcast_tensors(blaze.ones(3, 1), blaze.ones(4))
    assert a.shape == b.shape == (3, 4)
    assert [t.shape[1] for t in blaze.split_with_sizes(blaze.ones(2, 6), [2, 4], 1)] == [2, 4]
    assert len(blaze.unsafe_chunk(blaze.ones(6), 3)) == 3 and len(blaze.unsafe_split(blaze.ones(6), 4)) == 2
    assert blaze.empty_strided((2, 3), (1, 2)).shape == (2, 3)
    e = blaze.empty_permuted((2, 3, 4), (2, 0, 1))
    assert e.shape == (2, 3, 4) and e.stride() == (3, 1, 6)  # dim 2 outermost, dim 1 innermost
    buf = bytearray(np.arange(6, dtype=np.float32).tobytes())
    assert blaze.frombuffer(buf, dtype=blaze.float32, count=3, offset=4).tolist() == [1.0, 2.0, 3.0]
    assert blaze.range(1, 4).tolist() == [1.0, 2.0, 3.0, 4.0]
    z = blaze.zeros(7, 3).fill_diagonal_(2.0, wrap=True)
    ref = np.zeros((7, 3))
    np.fill_diagonal(ref, 2.0, wrap=True)
    np.testing.assert_array_equal(z.numpy(), ref)
    assert blaze.combinations(blaze.ones(2), 0).shape == (0,) and blaze.combinations(blaze.ones(2), 3).shape == (0, 3)
    nz = blaze.nonzero_static(blaze.tensor([[0, 1], [3, 0]]), size=3, fill_value=-7)
    assert nz.tolist() == [[0, 1], [1, 0], [-7, -7]]


def test_inplace_forms_write_self():
    a = blaze.tensor(X.copy())
    a.index_copy_(0, blaze.tensor([1]), blaze.ones(1, 6))
    a.masked_scatter_(blaze.tensor(MASK), blaze.zeros(30))
    a.put_(blaze.tensor([0]), blaze.tensor([9.0]))
    want = X.copy()
    want[1] = 1
    want[MASK] = 0
    want.flat[0] = 9
    np.testing.assert_array_equal(a.numpy(), want)
    b = blaze.arange(6.0)
    b.as_strided_((2, 2), (1, 2))
    assert b.tolist() == [[0.0, 2.0], [1.0, 3.0]]


@pytest.mark.parametrize("fn,err,msg", [
    (lambda: blaze.rot90(blaze.ones(3)), RuntimeError, "expected total dims >= 2"),
    (lambda: blaze.hsplit(blaze.ones(4, 5), 2), RuntimeError, "not divisible by the split_size"),
    (lambda: blaze.take(blaze.ones(2, 3), blaze.tensor([6])), IndexError, "tried to access index 6 on a tensor of 6"),
    (lambda: blaze.as_strided(blaze.ones(4), (3,), (2,)), RuntimeError, "out of bounds for storage"),
    (lambda: blaze.select_scatter(blaze.ones(2, 3), blaze.ones(3), 1, 0), RuntimeError, "src to have a size equal"),
    (lambda: blaze.ones(2, 3).masked_scatter(blaze.ones(2, 3) > 0, blaze.ones(4)), RuntimeError,
     "at least as many elements"),
    (lambda: blaze.unravel_index(blaze.tensor([6]), (2, 3)), RuntimeError, "must be in range"),
    (lambda: blaze.broadcast_shapes((2,), (3,)), RuntimeError, "must match"),
    (lambda: blaze.ones(3).unfold(0, 4, 1), RuntimeError, "maximum size for tensor at dimension 0 is 3"),
    (lambda: blaze.diag(blaze.ones(2, 2, 2)), RuntimeError, "Supports 1D or 2D"),
])
def test_arrange_errors(fn, err, msg):
    with pytest.raises(err, match=msg):
        fn()


def test_conv_tbc_is_conv1d_over_time_batch_channels():
    x, w, b = arr(6, 2, 3), arr(3, 3, 4), arr(4)
    ref = np.zeros((6, 2, 4))
    xp = np.pad(x, [(1, 1), (0, 0), (0, 0)])
    for t in range(6):
        ref[t] = np.einsum("kbi,kio->bo", xp[t:t + 3], w) + b
    check(lambda x, w, b: blaze.conv_tbc(x, w, b, 1), lambda x, w, b: ref, x, w, b)
