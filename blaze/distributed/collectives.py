"""Collectives over MPI on tensors' own memory, PyTorch's names and semantics.

Host tensors hand their NumPy buffers straight to ``mpi4py`` (no pickling, no copy;
``MPI.IN_PLACE`` where it applies). Data moves as bytes, so every dtype moves the same
way; reductions use MPI's typed ops, with float16/bfloat16 widened to float32 first
(summing 8 ranks of float16 gradients in float16 loses 3 of its 11 mantissa bits).
cuda tensors go to NCCL where it is available (``_nccl.py``), else through host memory.

Before a collective the ranks compare a fingerprint of the call (op, shape, dtype, reduce
op, root) with one 16-byte all-reduce: a mismatch is a clear error on every rank instead of
a hang or a wrong answer (PyTorch checks this only under ``TORCH_DISTRIBUTED_DEBUG=DETAIL``).
It is a second synchronization, which cost +16 us on a 1 KiB all-reduce and 14% of bandwidth
at 4 MiB on a busy 2-core machine (``perf/bench_allreduce.py``). So by default it runs on the
first 64 calls of a group (where a program's ranks diverge, if they do) and then on every
64th: the decision depends only on the call count, so ranks that have made the same number
of calls agree on it, and a lasting divergence is still caught within 64 calls.
``BLAZE_DISTRIBUTED_CHECK=all`` checks every call, ``0`` none.

``async_op=True`` starts the non-blocking form (``Iallreduce``, ...) and returns a
:class:`Work`; otherwise the blocking form runs (Open MPI's tuned blocking algorithms
beat its non-blocking ones on large buffers) and the call returns None.
"""
from __future__ import annotations

import zlib

import numpy as np

from .. import dtypes as _dt
from .._tensor import Tensor
from ._staging import host_view, to_host
from .process_group import DistBackendError, ReduceOp, _mpi, describe, resolve, watched

_F32 = np.dtype(np.float32)
_NARROW = ("float16", "bfloat16")  # reduced in float32
_MPI_TYPE_NAMES = {"float32": "FLOAT", "float64": "DOUBLE", "int8": "INT8_T", "uint8": "UINT8_T",
                   "int16": "INT16_T", "int32": "INT32_T", "int64": "INT64_T", "bool": "C_BOOL"}
# ReduceOp -> MPI op name, for numbers and for bool (where SUM is "any", PRODUCT "all", as PyTorch)
_MPI_OPS = {ReduceOp.SUM: ("SUM", "LOR"), ReduceOp.AVG: ("SUM", None), ReduceOp.PRODUCT: ("PROD", "LAND"),
            ReduceOp.MIN: ("MIN", "LAND"), ReduceOp.MAX: ("MAX", "LOR"), ReduceOp.BAND: ("BAND", "LAND"),
            ReduceOp.BOR: ("BOR", "LOR"), ReduceOp.BXOR: ("BXOR", "LXOR")}
_MASK = (1 << 62) - 1
_CHECK_ALWAYS, _CHECK_EVERY = 64, 64  # BLAZE_DISTRIBUTED_CHECK=sampled (see the module docstring)
_CODES: dict = {}
_OP_TEXT = {op: f"op={op.name}" for op in ReduceOp}
_MPI_TYPES: dict = {}  # numpy dtype -> MPI datatype, (op, bool) -> MPI op (dtype.name costs ~5 us a call)


class Work:
    """A collective in flight (``async_op=True``), as ``torch.distributed.Work``."""

    def __init__(self, group, desc, request, finish, result, status=None):
        self._group, self._desc, self._req, self._finish = group, desc, request, finish
        self._result, self._status = result, status
        self._done = False
        self._error = None

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None

    def is_completed(self) -> bool:
        """True once the collective has finished (polls MPI, which also moves it along)."""
        if not self._done:
            try:
                ok = self._req.Test(self._status)
            except _mpi().Exception as e:
                self._error = DistBackendError(f"{describe(self._desc)} failed: {e.Get_error_string()}")
                self._group.broken = str(self._error)
                raise self._error from None
            if ok:
                self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        """Block until done (the job is aborted after ``timeout``, default the group's); True."""
        if self._error is not None:
            raise self._error
        if not self._done:
            with watched(self._group, self._desc, timeout):
                self._req.Wait(self._status)
            self._complete()
        return True

    def is_success(self) -> bool:
        return self._done and self._error is None

    def exception(self):
        return self._error

    def result(self) -> list:
        return list(self._result)

    def synchronize(self) -> None:
        self.wait()


def _op(op):
    try:
        return ReduceOp(op)
    except ValueError:
        raise ValueError(f"Invalid reduce op {op!r}; expected a blaze.distributed.ReduceOp") from None


def _check(t, name, arg="tensor"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")
    if not t.is_contiguous():
        raise ValueError(f"{name}: Tensors must be contiguous")


def _check_list(lst, n, name, arg):
    if not isinstance(lst, (list, tuple)) or len(lst) != n:
        raise ValueError(f"{name}: {arg} must be a list of {n} tensors (the group size), got "
                         f"{len(lst) if isinstance(lst, (list, tuple)) else type(lst).__name__}")
    for t in lst:
        _check(t, name, arg)


def _agree(g, desc) -> None:
    """Every rank of ``g`` runs the same call, or every rank raises (see the module docstring)."""
    if g.n == 1 or g.check == "off":
        return
    g.calls += 1
    if g.check == "sampled" and g.calls > _CHECK_ALWAYS and g.calls % _CHECK_EVERY:
        return
    MPI = _mpi()
    name, shape, dtype, extra = desc
    h = hash((_code(name), shape, _code(dtype), _code(extra))) & _MASK
    sig = g.sig
    sig[0], sig[1] = h, -h
    with watched(g, desc):
        g.comm.Allreduce(MPI.IN_PLACE, [sig, MPI.INT64_T], op=MPI.MAX)
    if sig[0] + sig[1] != 0:  # max(h) != min(h)
        with watched(g, "mismatch report"):
            seen = g.comm.allgather(describe(desc))
        parts = [f"Rank {r} is running collective: {d}" for r, d in enumerate(seen)]
        raise RuntimeError("Detected mismatch between collectives on ranks. " + ", but ".join(parts))


def _code(s: str) -> int:
    """A string's number, equal in every process (``hash(str)`` is salted per process; tuples of ints aren't)."""
    c = _CODES.get(s)
    if c is None:
        c = _CODES[s] = zlib.crc32(s.encode())
    return c


def _launch(g, desc, name, args, finish, async_op, result, status=None):
    comm = g.comm
    if async_op:
        with watched(g, desc):
            req = getattr(comm, "I" + name.lower())(*args)
        return Work(g, desc, req, finish, result, status)
    with watched(g, desc):
        getattr(comm, name)(*args, **({} if status is None else {"status": status}))
    if finish is not None:
        finish()
    return None


def _bytes(a):
    return [a.reshape(-1).view(np.uint8), _mpi().BYTE]


def _mpi_op(op, is_bool):
    key = (op, is_bool)
    m = _MPI_TYPES.get(key)
    if m is None:
        m = _MPI_TYPES[key] = getattr(_mpi(), _MPI_OPS[op][1 if is_bool else 0])
    return m


def _mpi_type(np_dtype):
    t = _MPI_TYPES.get(np_dtype)
    if t is None:
        t = _MPI_TYPES[np_dtype] = getattr(_mpi(), _MPI_TYPE_NAMES[np_dtype.name])
    return t


class _Reduction:
    """A tensor's buffer made ready for an MPI reduction, and the step that writes the result back."""

    __slots__ = ("h", "op", "n", "wide", "mpi_op", "spec")

    def __init__(self, h, dtype, op, n):
        self.h, self.op, self.n = h, op, n
        is_bool = dtype is _dt.bool_
        if op is ReduceOp.AVG and is_bool:
            raise ValueError("ReduceOp.AVG is not supported for bool tensors")
        if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dtype.is_floating_point:
            raise ValueError(f"Cannot use ReduceOp.{op.name} with {dtype.name} (bitwise ops need integer tensors)")
        self.wide = h.a.astype(_F32) if dtype.name in _NARROW else h.a
        self.mpi_op = _mpi_op(op, is_bool)
        self.spec = [self.wide, _mpi_type(self.wide.dtype)]

    def finish(self):
        w = self.wide
        if self.op is ReduceOp.AVG:
            if w.dtype.kind == "f":
                w /= self.n
            else:  # integer average truncates toward zero, as NCCL's
                np.copyto(w, np.sign(w) * (np.abs(w) // self.n))
        if w is not self.h.a:
            self.h.a[...] = w
        self.h.commit()


# ---------------------------------------------------------------- collectives
def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of ``group`` has reached this call."""
    g = resolve(group)
    return _launch(g, "barrier()", "Barrier", (), None, async_op, [])


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks, in place, leaving the result on every rank.

    Example::

        t = blaze.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)    # on 2 ranks: [3., 6.] everywhere
    """
    g = resolve(group)
    _check(tensor, "all_reduce")
    op = op if type(op) is ReduceOp else _op(op)
    if tensor._device.type == "cuda" and (w := _nccl_call(g, "all_reduce", tensor, op=op, async_op=async_op)):
        return w[0]
    red = _Reduction(host_view(tensor), tensor._dtype, op, g.n)
    desc = ("all_reduce", tensor._data.shape, tensor._dtype.name, _OP_TEXT[op])
    _agree(g, desc)
    return _launch(g, desc, "Allreduce", (_mpi().IN_PLACE, red.spec, red.mpi_op), red.finish, async_op, [tensor])


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across ranks into ``tensor`` on rank ``dst`` (others keep their input)."""
    g = resolve(group)
    _check(tensor, "reduce")
    op = _op(op)
    root = g.group_rank(dst, "dst")
    red = _Reduction(host_view(tensor), tensor.dtype, op, g.size())
    desc = ("reduce", tensor.shape, tensor.dtype.name, f"op={op.name}, dst={dst}")
    _agree(g, desc)
    MPI = _mpi()
    if g.rank() == root:
        args, finish = (MPI.IN_PLACE, red.spec, red.mpi_op, root), red.finish
    else:
        args, finish = (red.spec, None, red.mpi_op, root), None
    return _launch(g, desc, "Reduce", args, finish, async_op, [tensor])


def broadcast(tensor, src=0, group=None, async_op=False):
    """Copy ``tensor`` of rank ``src`` into ``tensor`` on every other rank."""
    g = resolve(group)
    _check(tensor, "broadcast")
    root = g.group_rank(src, "src")
    if tensor.device.type == "cuda" and (w := _nccl_call(g, "broadcast", tensor, root=root, async_op=async_op)):
        return w[0]
    h = host_view(tensor)
    desc = ("broadcast", tensor.shape, tensor.dtype.name, f"src={src}")
    _agree(g, desc)
    return _launch(g, desc, "Bcast", (_bytes(h.a), root), h.commit, async_op, [tensor])


def _gatherv(g, desc, inp, outs, async_op, result):
    """All-gather ``inp`` into the tensors ``outs`` (one per rank, sizes may differ)."""
    sizes = [o.numel() * o.element_size() for o in outs]
    recv = np.empty(sum(sizes), np.uint8)
    displs = np.concatenate(([0], np.cumsum(sizes)[:-1])).tolist()
    src = host_view(inp, read=True)
    args = (_bytes(src.a), [recv, sizes, displs, _mpi().BYTE])
    return _launch(g, desc, "Allgatherv", args, lambda: _unpack(recv, outs, displs), async_op, result)


def _unpack(recv, outs, offsets):
    """Copy the byte ranges of ``recv`` starting at ``offsets`` into the tensors ``outs``."""
    for o, off in zip(outs, offsets):
        h = host_view(o, read=False)
        flat = h.a.reshape(-1).view(np.uint8)
        flat[...] = recv[off:off + flat.size]
        h.commit()


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Gather ``tensor`` from every rank into ``tensor_list[rank]``; sizes may differ by rank."""
    g = resolve(group)
    _check(tensor, "all_gather")
    _check_list(tensor_list, g.size(), "all_gather", "tensor_list")
    mine = tensor_list[g.rank()]
    if tuple(mine.shape) != tuple(tensor.shape) or any(t.dtype is not tensor.dtype for t in tensor_list):
        raise ValueError(f"all_gather: tensor_list[{g.rank()}] must match the input's shape and dtype: got "
                         f"{list(mine.shape)} {mine.dtype.name}, input {list(tensor.shape)} {tensor.dtype.name}")
    desc = ("all_gather", tuple(tuple(t.shape) for t in tensor_list), tensor.dtype.name, "")
    _agree(g, desc)
    return _gatherv(g, desc, tensor, tensor_list, async_op, tensor_list)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Gather every rank's ``input_tensor`` into ``output_tensor``, concatenated or stacked on dim 0."""
    g = resolve(group)
    _check(input_tensor, "all_gather_into_tensor", "input_tensor")
    _check(output_tensor, "all_gather_into_tensor", "output_tensor")
    n = g.size()
    if output_tensor.numel() != n * input_tensor.numel() or output_tensor.dtype is not input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output tensor must have {n} times the input's elements and "
                         f"its dtype: got output {list(output_tensor.shape)} {output_tensor.dtype.name}, input "
                         f"{list(input_tensor.shape)} {input_tensor.dtype.name}")
    if output_tensor.device.type == "cuda" and \
            (w := _nccl_call(g, "all_gather_into_tensor", output_tensor, inp=input_tensor, async_op=async_op)):
        return w[0]
    desc = ("all_gather_into_tensor", input_tensor.shape, input_tensor.dtype.name, "")
    _agree(g, desc)
    out, src = host_view(output_tensor, read=False), host_view(input_tensor)
    return _launch(g, desc, "Allgather", (_bytes(src.a), _bytes(out.a)), out.commit, async_op, [output_tensor])


def _rooted(g, tensor, lst, peer, name, arg, role):
    """The root's group rank and mine; the list must be there, matching ``tensor``, on the root only."""
    root, me = g.group_rank(peer, role), g.rank()
    if me == root:
        _check_list(lst, g.n, name, arg)
        if any(tuple(t.shape) != tuple(tensor.shape) or t.dtype is not tensor.dtype for t in lst):
            raise ValueError(f"{name}: every tensor of {arg} must have the shape and dtype of tensor")
    elif lst:
        where = "destination" if role == "dst" else "source"
        raise ValueError(f"{name}: Argument ``{arg}`` must NOT be specified on non-{where} ranks.")
    return root, me


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Gather ``tensor`` from every rank into ``gather_list`` on rank ``dst`` (None elsewhere)."""
    g = resolve(group)
    _check(tensor, "gather")
    root, me = _rooted(g, tensor, gather_list, dst, "gather", "gather_list", "dst")
    desc = ("gather", tensor.shape, tensor.dtype.name, f"dst={dst}")
    _agree(g, desc)
    src = host_view(tensor)
    nbytes = tensor.numel() * tensor.element_size()
    recv = np.empty(nbytes * g.size() if me == root else 0, np.uint8)

    args = (_bytes(src.a), [recv, _mpi().BYTE] if me == root else None, root)
    finish = (lambda: _unpack(recv, gather_list, range(0, recv.size, nbytes))) if me == root else None
    return _launch(g, desc, "Gather", args, finish, async_op, gather_list or [])


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Send ``scatter_list[i]`` of rank ``src`` into ``tensor`` on rank i."""
    g = resolve(group)
    _check(tensor, "scatter")
    root, me = _rooted(g, tensor, scatter_list, src, "scatter", "scatter_list", "src")
    desc = ("scatter", tensor.shape, tensor.dtype.name, f"src={src}")
    _agree(g, desc)
    out = host_view(tensor, read=False)
    send = np.concatenate([to_host(t).reshape(-1).view(np.uint8) for t in scatter_list]) if me == root else None
    args = ([send, _mpi().BYTE] if me == root else None, _bytes(out.a), root)
    return _launch(g, desc, "Scatter", args, out.commit, async_op, [tensor])


def _reduce_scatter(g, desc, output, flat_input, counts, op, async_op):
    red = _Reduction(_Flat(flat_input), output.dtype, op, g.size())
    out = host_view(output, read=False)
    recv = np.empty(out.a.size, red.wide.dtype)

    def finish():
        red.wide = recv
        red.h = out
        red.finish()
    args = (red.spec, [recv, red.spec[1]], counts, red.mpi_op)
    return _launch(g, desc, "Reduce_scatter", args, finish, async_op, [output])


class _Flat:
    """A host array standing in for a tensor that nobody reads back."""

    def __init__(self, a):
        self.a = a

    def commit(self):
        pass


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input_list[i]`` across ranks into ``output`` on rank i; sizes may differ by rank."""
    g = resolve(group)
    _check(output, "reduce_scatter", "output")
    _check_list(input_list, g.size(), "reduce_scatter", "input_list")
    op = _op(op)
    mine = input_list[g.rank()]
    if tuple(mine.shape) != tuple(output.shape) or any(t.dtype is not output.dtype for t in input_list):
        raise ValueError(f"reduce_scatter: input_list[{g.rank()}] must match the output's shape and dtype: got "
                         f"{list(mine.shape)} {mine.dtype.name}, output {list(output.shape)} {output.dtype.name}")
    desc = ("reduce_scatter", tuple(tuple(t.shape) for t in input_list), output.dtype.name, f"op={op.name}")
    _agree(g, desc)
    flat = np.concatenate([to_host(t).reshape(-1) for t in input_list])
    return _reduce_scatter(g, desc, output, flat, [t.numel() for t in input_list], op, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``input`` (world size x output's elements) across ranks; rank i keeps the i-th chunk."""
    g = resolve(group)
    _check(output, "reduce_scatter_tensor", "output")
    _check(input, "reduce_scatter_tensor", "input")
    op = _op(op)
    n = g.size()
    if input.numel() != n * output.numel() or input.dtype is not output.dtype:
        raise ValueError(f"reduce_scatter_tensor: input tensor must have {n} times the output's elements and its "
                         f"dtype: got input {list(input.shape)} {input.dtype.name}, output "
                         f"{list(output.shape)} {output.dtype.name}")
    if input.device.type == "cuda" and \
            (w := _nccl_call(g, "reduce_scatter_tensor", output, inp=input, op=op, async_op=async_op)):
        return w[0]
    desc = ("reduce_scatter_tensor", output.shape, output.dtype.name, f"op={op.name}")
    _agree(g, desc)
    return _reduce_scatter(g, desc, output, to_host(input).reshape(-1), [output.numel()] * n, op, async_op)


def _splits(sizes, total, n, name, arg):
    if sizes is None or len(sizes) == 0:
        if total % n:
            raise ValueError(f"all_to_all_single: {arg} dim 0 ({total}) must divide evenly by the group size {n} "
                             f"when no split sizes are given")
        return [total // n] * n
    sizes = [int(s) for s in sizes]
    if len(sizes) != n or sum(sizes) != total or min(sizes) < 0:
        raise ValueError(f"all_to_all_single: {name} {sizes} must be {n} non-negative sizes summing to "
                         f"{arg} dim 0 ({total})")
    return sizes


def all_to_all_single(output, input, output_split_sizes=None, input_split_sizes=None, group=None,
                      async_op=False):
    """Split ``input`` on dim 0, send piece i to rank i, and concatenate what arrives into ``output``."""
    g = resolve(group)
    _check(output, "all_to_all_single", "output")
    _check(input, "all_to_all_single", "input")
    n = g.size()
    if output.dtype is not input.dtype or tuple(output.shape[1:]) != tuple(input.shape[1:]):
        raise ValueError(f"all_to_all_single: output and input must share dtype and trailing dims: got output "
                         f"{list(output.shape)} {output.dtype.name}, input {list(input.shape)} {input.dtype.name}")
    d0_in = input.shape[0] if input.ndim else 1
    d0_out = output.shape[0] if output.ndim else 1
    sin = _splits(input_split_sizes, d0_in, n, "input_split_sizes", "input")
    sout = _splits(output_split_sizes, d0_out, n, "output_split_sizes", "output")
    row = (input.numel() // d0_in if d0_in else 0) * input.element_size()
    # what each peer will send me, to check my output_split_sizes (a mismatch would truncate or hang)
    counts = np.array(sin, np.int64)
    with watched(g, "all_to_all_single(split sizes)"):
        g.comm.Alltoall(_mpi().IN_PLACE, [counts, _mpi().INT64_T])
    desc = ("all_to_all_single", tuple(input.shape[1:]), input.dtype.name,
            "ok" if counts.tolist() == sout else f"rank {g.rank()} expects {sout} rows but peers send "
            f"{counts.tolist()}")
    _agree(g, desc)
    src, out = host_view(input), host_view(output, read=False)

    def layout(sizes):
        b = [s * row for s in sizes]
        return b, np.concatenate(([0], np.cumsum(b)[:-1])).tolist()
    (sb, sd), (rb, rd) = layout(sin), layout(sout)
    B = _mpi().BYTE
    args = ([src.a.reshape(-1).view(np.uint8), sb, sd, B], [out.a.reshape(-1).view(np.uint8), rb, rd, B])
    return _launch(g, desc, "Alltoallv", args, out.commit, async_op, [output])


def all_to_all(output_tensor_list, input_tensor_list, group=None, async_op=False):
    """Send ``input_tensor_list[i]`` to rank i; receive rank i's piece into ``output_tensor_list[i]``."""
    g = resolve(group)
    n = g.size()
    _check_list(output_tensor_list, n, "all_to_all", "output_tensor_list")
    _check_list(input_tensor_list, n, "all_to_all", "input_tensor_list")
    from ..ops.movement import cat
    flat_in = cat([t.reshape(-1) for t in input_tensor_list])
    flat_out = cat([t.reshape(-1) for t in output_tensor_list])
    sizes_in = [t.numel() for t in input_tensor_list]
    sizes_out = [t.numel() for t in output_tensor_list]

    work = all_to_all_single(flat_out, flat_in, sizes_out, sizes_in, group, async_op=True)

    def finish():
        from ..autograd import no_grad
        with no_grad():
            for t, piece in zip(output_tensor_list, flat_out.split(sizes_out)):
                t.copy_(piece.reshape(t.shape))
    work._finish = _chain(work._finish, finish)
    work._result = output_tensor_list
    if async_op:
        return work
    work.wait()
    return None


def _chain(a, b):
    def both():
        if a is not None:
            a()
        b()
    return both


# ---------------------------------------------------------------- point to point
def _p2p(name, tensor, peer, group, tag, async_op):
    g = resolve(group)
    _check(tensor, name)
    MPI = _mpi()
    if peer is None and name == "send":
        raise ValueError("send: dst must be a rank")
    r = MPI.ANY_SOURCE if peer is None else g.group_rank(peer, "peer")
    if r == g.rank():
        raise ValueError(f"{name}: Invalid destination rank: should not be the same as the rank of the current "
                         f"process.")
    h = host_view(tensor, read=name == "send")
    desc = (name, tensor.shape, tensor.dtype.name, f"peer={peer}, tag={tag}")
    if name == "send":
        return _launch(g, desc, "Send", (_bytes(h.a), r, tag), None, async_op, [tensor])
    status = MPI.Status()

    def finish():
        got = status.Get_count(MPI.BYTE)
        if got != h.a.nbytes:
            raise RuntimeError(f"recv: expected {h.a.nbytes} bytes ({list(tensor.shape)} {tensor.dtype.name}) but "
                               f"rank {g.ranks[status.Get_source()]} sent {got}")
        h.commit()
    w = _launch(g, desc, "Recv", (_bytes(h.a), r, tag), finish, async_op, [tensor], status)
    return w if async_op else g.ranks[status.Get_source()]


def send(tensor, dst, group=None, tag=0):
    """Send ``tensor`` to rank ``dst`` (blocking)."""
    _p2p("send", tensor, dst, group, tag, False)


def recv(tensor, src=None, group=None, tag=0) -> int:
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns the sender's rank."""
    return _p2p("recv", tensor, src, group, tag, False)


def isend(tensor, dst, group=None, tag=0) -> Work:
    return _p2p("send", tensor, dst, group, tag, True)


def irecv(tensor, src=None, group=None, tag=0) -> Work:
    return _p2p("recv", tensor, src, group, tag, True)


# ---------------------------------------------------------------- Python objects (pickled, as PyTorch)
def broadcast_object_list(object_list, src=0, group=None, device=None) -> None:
    """Replace ``object_list``'s items on every rank with rank ``src``'s (pickled; trusted peers only)."""
    g = resolve(group)
    root = g.group_rank(src, "src")
    with watched(g, "broadcast_object_list"):
        got = g.comm.bcast(list(object_list) if g.rank() == root else None, root=root)
    if len(got) != len(object_list):
        raise ValueError(f"broadcast_object_list: rank {src} sent {len(got)} objects but this rank's list holds "
                         f"{len(object_list)}")
    object_list[:] = got


def all_gather_object(object_list, obj, group=None) -> None:
    """Gather a picklable object from every rank into ``object_list`` (trusted peers only)."""
    g = resolve(group)
    if len(object_list) != g.size():
        raise ValueError(f"all_gather_object: object_list must have {g.size()} items (the group size)")
    with watched(g, "all_gather_object"):
        object_list[:] = g.comm.allgather(obj)


def _nccl_call(g, name, tensor, async_op, **kw):
    """Run a collective through NCCL when this group uses it; None means: take the host path."""
    from . import _nccl
    return _nccl.maybe_run(g, name, tensor, async_op=async_op, **kw)
