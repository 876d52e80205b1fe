"""Views and indexing on DeviceArrays: stride arithmetic for basic keys, element offsets for advanced ones.

Basic keys (ints, slices, None, Ellipsis) never copy: they only move the offset and
rescale strides. Advanced keys (integer arrays, boolean masks) become one int64 array of
*element offsets into the allocation* (offset + sum index_i * stride_i + sum arange_j *
stride_j, broadcast to the result's shape), so a single ``take`` (read) or ``index_put_``
(write) kernel over the allocation seen as 1-D serves every key layout and every input
stride, with no permute or copy of the indexed tensor.
"""
from __future__ import annotations

import numpy as np

from .memory import DeviceArray, _contig_strides, _is_array, basic_view, normalize_key  # noqa: F401 (re-exported)


# an index computed as out of range becomes this offset: negative even after the flat take's
# wrap (+ allocation size < 2**62), so the kernel skips it instead of touching memory
_SKIP = -(1 << 62)


def result_layout(view: DeviceArray, adv, bshape):
    """Result dims: the view's dims with the advanced ones replaced by the broadcast shape ``bshape``.

    NumPy's rule: advanced indices next to each other in the key put ``bshape`` where they
    stood; separated ones (a slice between them) put it first.
    """
    positions = [a[0] for a in adv]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    adv_dims = {a[1] for a in adv if a[1] is not None}
    rest = [i for i in range(view.ndim) if i not in adv_dims]
    if adjacent:
        first = min((a[1] for a in adv if a[1] is not None), default=None)
        if first is None:  # only ints next to each other (plus arrays elsewhere is impossible here)
            first = sum(1 for i in rest if i < positions[0])
        else:
            first = sum(1 for i in rest if i < first)
    else:
        first = 0
    return rest, first


def _checked_index(be, idx, n, dim, op):
    """(idx wrapped into [0, n), bad-entry mask or None): a host index is checked here, before any
    launch; a device one by a kernel that reports ``op`` at the next synchronisation."""
    if isinstance(idx, np.ndarray):
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx.max()) if idx.max() >= n else int(idx.min())
            raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {n}")
        return be.from_numpy(np.where(idx < 0, idx + n, idx)), None
    from ...kernels.index import check_indices
    return check_indices(be.contiguous(idx), n, op)


def element_offsets(be, x: DeviceArray, key, op="index"):
    """(offsets int64 DeviceArray of the result shape, result shape) for an advanced ``key``.

    An out-of-range index gets offset ``_SKIP`` (the take/put kernels skip it) and ``op``'s
    device-side error.
    """
    key = normalize_key(key, x.ndim)
    key = expand_masks(be, key, x.shape)
    view, adv = basic_view(x, key)
    arrays = [a[2] for a in adv if _is_array(a[2])]
    bshape = np.broadcast_shapes(*[tuple(a.shape) for a in arrays])
    rest, first = result_layout(view, adv, bshape)
    nb = len(bshape)
    out_ndim = len(rest) + nb
    out_shape = [view.shape[i] for i in rest]
    out_shape[first:first] = list(bshape)
    # host indices first: a bad one raises before any kernel runs
    checked = {}
    for pos, vdim, idx, n in sorted(adv, key=lambda a: not isinstance(a[2], np.ndarray)):
        if vdim is not None:
            checked[pos] = _checked_index(be, idx, n, vdim, op)
    acc = bad = None
    for pos, vdim, idx, n in adv:
        if vdim is None:
            continue
        wrapped, bad_k = checked[pos]
        lead = (1,) * (first + nb - wrapped.ndim)
        trail = (1,) * (out_ndim - first - nb)
        term = be.binary("mul", wrapped, view.strides[vdim])
        # (..., *bshape-aligned index dims, ...): broadcast against the other components
        term = be.reshape(term, lead + tuple(term.shape) + trail)
        acc = term if acc is None else be.binary("add", acc, term)
        if bad_k is not None:
            bad_k = be.reshape(bad_k, lead + tuple(bad_k.shape) + trail)
            bad = bad_k if bad is None else be.binary("logical_or", bad, bad_k)
    for j, vdim in enumerate(rest):
        od = j if j < first else j + nb
        n = view.shape[vdim]
        ar = be.from_numpy(np.arange(n, dtype=np.int64) * view.strides[vdim])
        ar = be.reshape(ar, (1,) * od + (n,) + (1,) * (out_ndim - od - 1))
        acc = ar if acc is None else be.binary("add", acc, ar)
    if acc is None:
        acc = be.full((), 0, np.int64)
    acc = be.binary("add", acc, view.offset)
    if bad is not None:
        acc = be.where(bad, _SKIP, acc)
    if tuple(acc.shape) != tuple(out_shape):
        acc = be.contiguous(be.expand(acc, tuple(out_shape)))
    return acc, tuple(out_shape)


def expand_masks(be, key, shape):
    """Boolean masks become one int64 index array per masked dim (a host sync: the count sets the shape).

    A mask must have the shape of the dims it covers (PyTorch's IndexError otherwise).
    """
    if not any(_is_array(k) and k.dtype == np.bool_ for k in key):
        return key
    out, d = [], 0
    for k in key:
        if _is_array(k) and k.dtype == np.bool_:
            for j, (m, n) in enumerate(zip(k.shape, shape[d:d + k.ndim])):
                if m != n:
                    raise IndexError(f"The shape of the mask {list(k.shape)} at index {j} does not match the shape "
                                     f"of the indexed tensor {list(shape)} at index {d + j}")
            d += k.ndim
            if isinstance(k, np.ndarray):
                out.extend(np.nonzero(k))
                continue
            nz = be.nonzero(k)  # (count, k.ndim), counted as a fallback
            for j in range(k.ndim):
                out.append(be.contiguous(nz.view_as((nz.shape[0],), (nz.strides[0],), nz.offset + j * nz.strides[1])))
        else:
            d += k is not None
            out.append(k)
    return tuple(out)


def diagonal(x: DeviceArray, offset, dim1, dim2) -> DeviceArray:
    """np.diagonal as a strided view: remaining dims, then the diagonal (stride s1 + s2)."""
    n1, n2 = x.shape[dim1], x.shape[dim2]
    s1, s2 = x.strides[dim1], x.strides[dim2]
    if offset >= 0:
        length = max(0, min(n1, n2 - offset))
        start = x.offset + (offset * s2 if length else 0)
    else:
        length = max(0, min(n1 + offset, n2))
        start = x.offset + (-offset * s1 if length else 0)
    keep = [i for i in range(x.ndim) if i not in (dim1, dim2)]
    return x.view_as([x.shape[i] for i in keep] + [length], [x.strides[i] for i in keep] + [s1 + s2], start)


def try_view(x: DeviceArray, shape):
    """A view of ``x`` with ``shape`` (same numel), or None when its strides can't express one.

    Walks both shapes merging runs of dims: a run of old dims that is contiguous among
    itself can be split into any new dims with the same element count.
    """
    shape = tuple(int(s) for s in shape)
    if x.size == 0 or x.is_contiguous():
        return x.view_as(shape, _contig_strides(shape))
    old = [(s, st) for s, st in zip(x.shape, x.strides) if s != 1]
    new_strides = [0] * len(shape)
    i = 0
    j = 0
    while j < len(shape):
        if shape[j] == 1:
            new_strides[j] = 0
            j += 1
            continue
        if i >= len(old):
            return None
        # take old dims until their product covers the new dims' product
        chunk_old = [old[i]]
        n_old = old[i][0]
        i += 1
        js = [j]
        n_new = shape[j]
        j += 1
        while n_old != n_new:
            if n_old < n_new:
                if i >= len(old):
                    return None
                chunk_old.append(old[i])
                n_old *= old[i][0]
                i += 1
            else:
                while j < len(shape) and shape[j] == 1:
                    new_strides[j] = 0
                    j += 1
                if j >= len(shape):
                    return None
                js.append(j)
                n_new *= shape[j]
                j += 1
        for (s_a, st_a), (s_b, st_b) in zip(chunk_old, chunk_old[1:]):
            if st_a != s_b * st_b:
                return None
        st = chunk_old[-1][1]
        for jj in reversed(js):
            new_strides[jj] = st
            st *= shape[jj]
    if i != len(old):
        return None
    return x.view_as(shape, new_strides)
