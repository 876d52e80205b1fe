"""How tensors cross process boundaries through ``multiprocessing`` (Process args under spawn, Queues, Pipes).

``multiprocessing`` pickles with ``reduction.ForkingPickler``; ``init_reductions`` registers
reducers there (never with ``copyreg``, so ``pickle.dumps`` and ``blaze.save`` still write
the bytes). A tensor in shared memory is sent as a *handle*: a duplicate of its storage's
descriptor plus the storage size, dtype, shape, strides (in bytes), byte offset and
requires_grad; the receiver maps the same pages, nothing is copied. The pickle memo sends
each storage once per message, so a base and its views arrive sharing one mapping. Any
other tensor (not shared, or on cuda) is sent by value, as plain pickling does.
"""
from __future__ import annotations

import os
import pickle
from multiprocessing import reduction

from .._tensor import Tensor
from .. import dtypes as _dt
from .._shared_memory import _SharedMap, array_in, map_of, mapped, open_map

_DONE = []


def _reduce_map(m: _SharedMap):
    return _rebuild_map, (reduction.DupFd(m.fd), len(m), m.key)


def _rebuild_map(dupfd, nbytes: int, key: tuple) -> _SharedMap:
    known = mapped(key)
    try:
        fd = dupfd.detach()  # also when known: the sender holds a duplicate until it is fetched
    except (OSError, EOFError) as e:
        if known is not None:
            return known
        raise RuntimeError("the process that sent this shared tensor exited before it was received; keep the "
                           "producer alive until every consumer has received it (as with torch.multiprocessing)"
                           ) from e
    if known is not None and len(known) >= nbytes:
        os.close(fd)
        return known
    return open_map(fd, nbytes)


def _reduce_tensor(t: Tensor):
    m, offset = map_of(t._data) if t._device.type == "cpu" else (None, 0)
    if m is None:
        return t.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    from ..nn.parameter import Parameter
    a = t._data
    return _rebuild_shared, (isinstance(t, Parameter), m, t._dtype.name, a.shape, a.strides, offset, t._rg)


def _rebuild_shared(is_parameter: bool, m: _SharedMap, dtype_name: str, shape, strides, offset: int,
                    requires_grad: bool) -> Tensor:
    dtype = _dt._by_name(dtype_name)
    t = Tensor._make(array_in(m, dtype.np, shape, strides, offset), dtype=dtype)
    if is_parameter:
        from ..nn.parameter import Parameter
        return Parameter(t, requires_grad)
    t._rg = requires_grad
    return t


def _tensor_types():
    from ..nn.parameter import Parameter
    seen, todo = [], [Tensor, Parameter]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def init_reductions() -> None:
    """Register the shared-memory reducers with ``ForkingPickler`` (once per process)."""
    if _DONE:
        return
    reduction.ForkingPickler.register(_SharedMap, _reduce_map)
    # the dispatch table is looked up by exact type, so every Tensor class needs its own entry
    for cls in _tensor_types():
        reduction.ForkingPickler.register(cls, _reduce_tensor)
    _DONE.append(True)
