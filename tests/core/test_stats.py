"""Statistics (blaze/ops/stats.py): NumPy float64 oracle, gradients by finite differences."""
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check

X = arr(4, 6)
XN = X.copy()
XN[0, 1] = XN[2, 3] = XN[2, 5] = np.nan
INTS = np.random.default_rng(3).integers(0, 4, (3, 7))


def _np_logcumsumexp(a, axis):
    return np.logaddexp.accumulate(a, axis=axis)


def _np_cum(a, take_max):
    vals, idx = a.copy(), np.zeros(a.shape, np.int64)
    for j in range(1, a.shape[-1]):
        take = a[..., j] >= vals[..., j - 1] if take_max else a[..., j] <= vals[..., j - 1]
        vals[..., j] = np.where(take, a[..., j], vals[..., j - 1])
        idx[..., j] = np.where(take, j, idx[..., j - 1])
    return vals, idx


CASES = [
    ("nansum", lambda a: (blaze.nansum(a), a.nansum(1)), lambda a: (np.nansum(a), np.nansum(a, 1)), [XN]),
    ("nanmean", lambda a: blaze.nanmean(a, 0, keepdim=True), lambda a: np.nanmean(a, 0, keepdims=True), [XN]),
    ("nanmedian", lambda a: (blaze.nanmedian(a), blaze.nanmedian(a, 1).values),
     lambda a: (np.sort(a[~np.isnan(a)])[(np.sum(~np.isnan(a)) - 1) // 2],
                np.array([np.sort(r[~np.isnan(r)])[(np.sum(~np.isnan(r)) - 1) // 2] for r in a])), [XN]),
    ("quantile", lambda a: (blaze.quantile(a, 0.3), blaze.quantile(a, blaze.tensor([0.1, 0.9], dtype=a.dtype), dim=1)),
     lambda a: (np.quantile(a, 0.3), np.quantile(a, [0.1, 0.9], axis=1)), [X]),
    ("quantile_methods", lambda a: tuple(blaze.quantile(a, 0.45, 0, interpolation=m) for m in
                                         ("lower", "higher", "midpoint", "nearest")),
     lambda a: tuple(np.quantile(a, 0.45, 0, method=m) for m in ("lower", "higher", "midpoint", "nearest")), [X]),
    ("nanquantile", lambda a: blaze.nanquantile(a, 0.6, dim=1, keepdim=True),
     lambda a: np.nanquantile(a, 0.6, axis=1, keepdims=True), [XN]),
    ("cummax_cummin", lambda a: (*blaze.cummax(a, 1), *blaze.cummin(a, 0)),
     lambda a: (*_np_cum(a, True), *(np.swapaxes(v, 0, 1) for v in _np_cum(a.T, False))), [X]),
    ("logcumsumexp", lambda a: blaze.logcumsumexp(a, 1), lambda a: _np_logcumsumexp(a, 1), [X * 30]),
    ("cov", lambda a: (blaze.cov(a), blaze.cov(a, correction=0), blaze.cov(a[0])),
     lambda a: (np.cov(a), np.cov(a, ddof=0), np.cov(a[0])), [X]),
    ("cov_weights", lambda a, f, w: blaze.cov(a, fweights=f, aweights=w),
     lambda a, f, w: np.cov(a, fweights=f, aweights=w), [X, np.array([1, 2, 1, 3, 1, 2]), np.abs(arr(6)) + 0.1]),
    ("corrcoef", blaze.corrcoef, np.corrcoef, [X]),
    ("diff", lambda a, p: (blaze.diff(a), blaze.diff(a, n=2, dim=0), blaze.diff(a, prepend=p, append=p)),
     lambda a, p: (np.diff(a), np.diff(a, 2, 0), np.diff(a, prepend=p, append=p)), [X, arr(4, 1)]),
    ("gradient", lambda a: blaze.gradient(a), lambda a: tuple(np.gradient(a)), [X]),
    ("gradient_order2_spacing", lambda a: blaze.gradient(a, spacing=2.0, dim=1, edge_order=2),
     lambda a: (np.gradient(a, 2.0, axis=1, edge_order=2),), [X]),
    ("gradient_coords", lambda a: blaze.gradient(a, spacing=(blaze.tensor([0.0, 0.5, 1.7, 2.0], dtype=blaze.float64),), dim=0,
                                                 edge_order=2),
     lambda a: (np.gradient(a, np.array([0.0, 0.5, 1.7, 2.0]), axis=0, edge_order=2),), [X]),
    ("trapezoid", lambda y, x: (blaze.trapezoid(y), blaze.trapezoid(y, x), blaze.trapz(y, dx=0.5)),
     lambda y, x: (np.trapezoid(y), np.trapezoid(y, x), np.trapezoid(y, dx=0.5)), [X, np.sort(arr(6))]),
    ("cumulative_trapezoid", lambda y, x: blaze.cumulative_trapezoid(y, x),
     lambda y, x: np.cumsum((y[:, 1:] + y[:, :-1]) / 2 * np.diff(x), -1), [X, np.sort(arr(6))]),
]


@pytest.mark.parametrize("name,fn,ref,xs", CASES, ids=[c[0] for c in CASES])
def test_stats_oracle(name, fn, ref, xs):
    check(fn, ref, *[x.copy() for x in xs], atol=1e-9, rtol=1e-8)


def test_integer_inputs_promote_to_float():
    assert blaze.gradient(blaze.tensor([1, 4, 9, 16]))[0].tolist() == [3.0, 4.0, 6.0, 7.0]
    c = blaze.cov(blaze.tensor([[1.0, 2.0, 4.0]]))
    assert c.shape == () and abs(float(c) - np.cov([1.0, 2.0, 4.0])) < 1e-6


def test_mode_takes_smallest_most_frequent_and_its_last_index():
    m = blaze.mode(blaze.tensor(INTS), 1)
    for r, row in enumerate(INTS):
        values, counts = np.unique(row, return_counts=True)
        assert int(m.values[r]) == values[np.argmax(counts)]
        assert int(m.indices[r]) == np.nonzero(row == values[np.argmax(counts)])[0][-1]


def test_cummax_ties_and_nan_take_the_later_index():
    v, i = blaze.cummax(blaze.tensor([1.0, 3, 3, 2, float("nan"), 5]), 0)
    assert i.tolist() == [0, 1, 2, 2, 4, 4] and np.isnan(v.numpy()[4:]).all()


def test_counting_ops_match_numpy():
    t = blaze.tensor(INTS)
    np.testing.assert_array_equal(blaze.bincount(t.reshape(-1), minlength=6).numpy(),
                                  np.bincount(INTS.ravel(), minlength=6))
    w = arr(21)
    np.testing.assert_allclose(blaze.bincount(t.reshape(-1), blaze.tensor(w)).numpy(),
                               np.bincount(INTS.ravel(), w))
    vals, inv, counts = blaze.unique(t, return_inverse=True, return_counts=True)
    rv, ri, rc = np.unique(INTS, return_inverse=True, return_counts=True)
    for got, want in ((vals, rv), (inv, ri.reshape(INTS.shape)), (counts, rc)):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(blaze.unique(t, dim=1).numpy(), np.unique(INTS, axis=1))
    v, i, c = blaze.unique_consecutive(blaze.tensor([1, 1, 2, 2, 3, 1]), return_inverse=True, return_counts=True)
    assert v.tolist() == [1, 2, 3, 1] and i.tolist() == [0, 0, 1, 1, 2, 3] and c.tolist() == [2, 2, 1, 1]
    np.testing.assert_array_equal(blaze.isin(t, blaze.tensor([1, 3])).numpy(), np.isin(INTS, [1, 3]))
    np.testing.assert_array_equal(blaze.histc(blaze.tensor(X), 5).numpy(), np.histogram(X, 5)[0])
    h, e = blaze.histogram(blaze.tensor(X), 4, weight=blaze.tensor(np.abs(X)), density=True)
    rh, re = np.histogram(X, 4, weights=np.abs(X), density=True)
    np.testing.assert_allclose(h.numpy(), rh)
    np.testing.assert_allclose(e.numpy(), re)
    hd, edges = blaze.histogramdd(blaze.tensor(X[:, :2]), [2, 3])
    np.testing.assert_allclose(hd.numpy(), np.histogramdd(X[:, :2], [2, 3])[0])


@pytest.mark.parametrize("fn,err,msg", [
    (lambda: blaze.quantile(blaze.tensor(X), 1.5), RuntimeError, r"q values must be in the range \[0, 1\]"),
    (lambda: blaze.quantile(blaze.tensor([1, 2]), 0.5), RuntimeError, "must be either float or double"),
    (lambda: blaze.quantile(blaze.tensor(X), 0.5, interpolation="x"), RuntimeError, "interpolation must be one of"),
    (lambda: blaze.quantile(blaze.tensor(X), blaze.tensor([0.5])), RuntimeError, "same dtype as the input"),
    (lambda: blaze.bincount(blaze.tensor([1, -1])), RuntimeError, "non-negative integral"),
    (lambda: blaze.cov(blaze.ones(2, 2, 2)), RuntimeError, "two or fewer dimensions"),
    (lambda: blaze.diff(blaze.tensor(1.0)), RuntimeError, "at least one-dimensional"),
    (lambda: blaze.gradient(blaze.ones(1)), RuntimeError, "at least edge_order\\+1"),
    (lambda: blaze.nanmedian(blaze.ones(2, 0), 1), IndexError, "non-zero size"),
])
def test_stats_errors(fn, err, msg):
    with pytest.raises(err, match=msg):
        fn()


SEG = arr(5, 2)
SEG_REF = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}
EMPTY = {"sum": 0.0, "mean": np.nan, "max": -np.inf, "min": np.inf, "prod": 1.0}


@pytest.mark.parametrize("reduce", list(SEG_REF))
def test_segment_reduce(reduce):
    def ref(d):
        return np.stack([SEG_REF[reduce](d[0:2], 0), SEG_REF[reduce](d[2:5], 0)])
    check(lambda d: blaze.segment_reduce(d, reduce, lengths=blaze.tensor([2, 3])), ref, SEG.copy())
    empty = blaze.segment_reduce(blaze.tensor(SEG), reduce, lengths=blaze.tensor([2, 0, 3]))
    np.testing.assert_array_equal(empty[1].numpy(), np.full(2, EMPTY[reduce]))


def test_segment_reduce_errors():
    with pytest.raises(RuntimeError, match="Either lengths or offsets"):
        blaze.segment_reduce(blaze.ones(3), "sum")
    with pytest.raises(RuntimeError, match="must be either sum"):
        blaze.segment_reduce(blaze.ones(3), "median", lengths=blaze.tensor([3]))
    with pytest.raises(RuntimeError, match="sum to data.size"):
        blaze.segment_reduce(blaze.ones(3), "sum", lengths=blaze.tensor([2]))
