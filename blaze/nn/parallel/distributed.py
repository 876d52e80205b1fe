"""DistributedDataParallel: one model replica per rank, gradients averaged during backward.

How the all-reduce overlaps backward (PyTorch's Reducer, in Python):

- At construction, rank 0's parameters and buffers are broadcast, so every replica starts
  equal, and the parameters are cut into buckets of about ``bucket_cap_mb`` MiB in *reverse*
  registration order: backward produces the last layers' gradients first, so the first
  bucket fills early (the first bucket is capped at 1 MiB, as PyTorch's, to start sooner).
- Each parameter has a post-accumulate-grad hook. When the last gradient of a bucket
  lands, the bucket's gradients are packed into one flat buffer and a non-blocking
  all-reduce (AVG) starts, while autograd goes on computing earlier layers' gradients.
  Buckets start strictly in bucket order, the same on every rank, as MPI requires.
- Every hook call also polls the requests in flight: MPI's non-blocking collectives only
  advance when the process enters MPI, and the hooks are the places where it does.
- When the last bucket has started, the buckets are waited for, in order, and the averaged
  values written back to ``param.grad`` (or ``.grad`` becomes a view of the bucket, with
  ``gradient_as_bucket_view=True``).
"""
from __future__ import annotations

import contextlib

from ... import distributed as dist
from ...autograd import no_grad
from ...autograd.function import AccumulateGrad
from ...autograd.grad_mode import is_grad_enabled
from ...ops.creation import zeros
from ...ops.movement import cat
from ..modules.module import Module

_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES
_UNFINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. This error indicates "
    "that your module has parameters that were not used in producing loss. You can enable unused parameter "
    "detection by passing the keyword argument `find_unused_parameters=True` to "
    "`blaze.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs participate "
    "in calculating loss. Parameters that did not receive a gradient on rank {rank}: {names}")


class _Bucket:
    __slots__ = ("params", "pending", "flat", "work")

    def __init__(self, params):
        self.params = params
        self.pending = len(params)
        self.flat = None
        self.work = None


def _coalesced_broadcast(tensors, group, src: int) -> None:
    """Broadcast ``tensors`` from ``src`` with one collective per (device, dtype) instead of one each."""
    by_kind = {}
    for t in tensors:
        by_kind.setdefault((t.device.type, t.dtype.name), []).append(t)
    with no_grad():
        for ts in by_kind.values():
            flat = cat([t.detach().reshape(-1) for t in ts])
            dist.broadcast(flat, src, group=group)
            off = 0
            for t in ts:
                n = t.numel()
                t.copy_(flat[off:off + n].reshape(t.shape))
                off += n


class DistributedDataParallel(Module):
    """Data-parallel training: each rank runs ``module`` on its share of the batch; gradients are averaged.

    Args:
        module: the model (already on its device).
        device_ids: None, or ``[0]`` for the rank's cuda device (each rank sees its own GPU as 0).
        broadcast_buffers: re-broadcast rank 0's buffers (BatchNorm running stats) before each forward.
        process_group: the group to average over (default: the world).
        bucket_cap_mb: gradient bucket size in MiB (default 25).
        find_unused_parameters: look for parameters the forward pass did not use, so backward
            does not wait for their gradients.
        gradient_as_bucket_view: leave ``param.grad`` as a view of the reduced bucket (saves a copy).

    Example::

        dist.init_process_group()
        model = DistributedDataParallel(Net())
        loss_fn(model(x), y).backward()   # gradients are averaged across ranks here
        opt.step()
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0, broadcast_buffers: bool = True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel expects an nn.Module, got {type(module).__name__}")
        params = []
        seen = set()
        for name, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append((name, p))
        if not params:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        devices = {p.device.type for _, p in params}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel's input module must be on one device, found {sorted(devices)}")
        if device_ids is not None and (len(device_ids) != 1 or int(getattr(device_ids[0], "index", device_ids[0])
                                                                   or 0) != 0):
            raise ValueError(f"device_ids={device_ids}: each rank sees its own GPU as device 0 under blaze run; "
                             f"pass None or [0]")
        # as PyTorch: a small first bucket (it starts sooner) only when the cap is the default one
        first_cap = _FIRST_BUCKET_BYTES if bucket_cap_mb is None else None
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.process_group = dist.process_group.resolve(process_group)
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int(bucket_cap_mb * 1024 * 1024)
        self._params = [p for _, p in params]
        self._names = {id(p): n for n, p in params}
        self._buckets = self._make_buckets(self._params, first_cap or self.bucket_bytes_cap)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._next = 0  # the next bucket to start
        self._armed = False  # a forward ran with grad sync on: its backward reduces
        self._ready = set()  # ids of the parameters whose gradient arrived in this backward
        self._unused = None  # find_unused_parameters: the parameters this forward did not reach
        self._used_flags = None
        _coalesced_broadcast([p for _, p in params] + list(module.buffers()), self.process_group, self._src())
        self._handles = [p.register_post_accumulate_grad_hook(self._hook) for p in self._params]

    # ---------------------------------------------------------------- set-up
    def _src(self) -> int:
        return self.process_group.ranks[0]

    def _make_buckets(self, params, first_cap):
        buckets, cur, size, cap = [], [], 0, first_cap
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if cur and (size + nbytes > cap or p.dtype is not cur[0].dtype):
                buckets.append(_Bucket(cur))
                cur, size, cap = [], 0, self.bucket_bytes_cap
            cur.append(p)
            size += nbytes
        buckets.append(_Bucket(cur))
        return buckets

    # ---------------------------------------------------------------- forward
    def forward(self, *inputs, **kwargs):
        if self._armed and self._ready and self._next < len(self._buckets):  # a backward began, unfinished
            missing = [self._names[id(p)] for p in self._params if id(p) not in self._ready]
            raise RuntimeError(_UNFINISHED.format(rank=dist.get_rank(), names=missing))
        if self.broadcast_buffers and self.process_group.size() > 1:
            bufs = list(self.module.buffers())
            if bufs:
                _coalesced_broadcast(bufs, self.process_group, self._src())
        out = self.module(*inputs, **kwargs)
        armed = is_grad_enabled() and self.require_backward_grad_sync
        self._armed = armed
        if armed:
            self._reset()
            if self.find_unused_parameters:
                self._unused = self._find_unused(out)
        return out

    def _reset(self):
        for b in self._buckets:
            b.pending, b.work, b.flat = len(b.params), None, None
        self._next = 0
        self._ready = set()

    def _find_unused(self, out):
        """Parameters that the graph behind ``out`` does not reach: marked ready at the first hook."""
        roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
        reached, stack = set(), list(roots)
        seen = set(id(n) for n in roots)
        while stack:
            node = stack.pop()
            if isinstance(node, AccumulateGrad):
                v = node.variable
                if v is not None:
                    reached.add(id(v))
                continue
            for edge in node.next_functions:
                if edge is not None and id(edge[0]) not in seen:
                    seen.add(id(edge[0]))
                    stack.append(edge[0])
        for t in _tensors(out):  # a parameter returned as is
            reached.add(id(t))
        return [p for p in self._params if id(p) not in reached]

    # ---------------------------------------------------------------- backward
    def _hook(self, p):
        if not self._armed:
            return
        if self._unused is not None:  # the first hook of a find_unused_parameters backward
            unused, self._unused = self._unused, None
            self._start_used_flags(unused)  # on every rank, even with nothing unused here: a collective
            for q in unused:
                self._mark_ready(q)
        self._mark_ready(p)

    def _mark_ready(self, p):
        if id(p) in self._ready:
            raise RuntimeError(f"Expected to mark a variable ready only once. Parameter {self._names[id(p)]} "
                               f"received its gradient twice in one backward (reentrant backward or a "
                               f"parameter used in two graphs?)")
        self._ready.add(id(p))
        b = self._bucket_of[id(p)]
        b.pending -= 1
        for w in self._buckets[:self._next]:  # let MPI move the buckets in flight
            if w.work is not None and not w.work._done:
                w.work.is_completed()
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            self._start(self._buckets[self._next])
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _start(self, b):
        with no_grad():
            parts = [(p.grad if p.grad is not None else zeros(p.shape, dtype=p.dtype, device=p.device))
                     .detach().reshape(-1) for p in b.params]
            b.flat = cat(parts) if len(parts) > 1 else parts[0].clone()
        b.work = dist.all_reduce(b.flat, op=dist.ReduceOp.AVG, group=self.process_group, async_op=True)

    def _start_used_flags(self, unused):
        # a parameter unused here may be used on another rank; only one unused everywhere keeps grad None
        from ...dtypes import uint8
        from ...ops.creation import tensor
        gone = {id(q) for q in unused}
        flags = tensor([0 if id(p) in gone else 1 for p in self._params], dtype=uint8)
        work = dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.process_group, async_op=True)
        self._used_flags = (flags, work)

    def _finish(self):
        self._armed = False
        used = None
        if self._used_flags is not None:
            flags, work = self._used_flags
            work.wait()
            used = {id(p) for p, f in zip(self._params, flags.tolist()) if f}
            self._used_flags = None
        with no_grad():
            for b in self._buckets:
                b.work.wait()
                off = 0
                for p in b.params:
                    n = p.numel()
                    if used is None or id(p) in used:
                        view = b.flat[off:off + n].reshape(p.shape)
                        if self.gradient_as_bucket_view or p.grad is None:
                            p.grad = view
                        else:
                            p.grad.copy_(view)
                    off += n
                b.flat = b.work = None

    @contextlib.contextmanager
    def no_sync(self):
        """Within this context gradients accumulate locally; the next synced backward averages the sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def extra_repr(self) -> str:
        return f"world_size={self.process_group.size()}, buckets={len(self._buckets)}"


def _tensors(out):
    from ..._tensor import Tensor
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []
