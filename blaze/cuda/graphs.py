"""CUDA graphs: capture a region's kernel launches once, replay them with one call.

A training step launches hundreds of kernels; Triton's Python launch path costs ~13 us each
and blaze's own dispatch more, so the host, not the GPU, sets the step time of a small model.
A graph replays the same launches on the same buffers without any of that Python.

Two back ends, one API (``torch.cuda.CUDAGraph``'s):

* **Emulated device** (``TRITON_INTERPRET=1``): capture *records* each launch (kernel, grid,
  bound arguments, i.e. the buffers' pointers) instead of running it; ``replay()`` re-runs the
  records in order. Static inputs updated in place (``x.copy_(new)``) give new outputs.
* **Real GPU**: stream capture through the driver API (``cuStreamBeginCapture`` on a
  non-blocking stream, ``cuGraphInstantiate``, ``cuGraphLaunch``); Triton launches and blaze's
  stream-ordered allocations are given the capture stream while it captures.

While capturing, what cannot be replayed raises: reading device memory on the host
(``.item()``, ``.cpu()``, ``print``), a cpu->cuda copy (except the constants ``arange`` and
``linspace`` build from their arguments, which the graph replays), a device synchronisation,
and every host round trip counted in ``blaze._flags.FALLBACKS``; so does an optimizer step whose
kernel arguments hold a step count read on the host (Adam, AdamW, Adagrad without
``capturable=True``; the composed optimizers). Memory allocated during capture belongs
to the graph's pool and stays alive until :meth:`CUDAGraph.reset` (the recorded launches
reference it). Warm up (run the region once eagerly) before capturing, as with PyTorch: the
first run compiles kernels, picks configs and uploads the multi-tensor tables.
"""
from __future__ import annotations

import contextlib
import itertools
from collections import Counter

from .. import _flags

__all__ = ["CUDAGraph", "graph", "graph_pool_handle", "is_current_stream_capturing", "make_graphed_callables"]

_NOT_PERMITTED = "operation not permitted when stream is capturing"
_CAPTURING: list = [None]          # the graph being captured
_POOL_IDS = itertools.count(1)


def is_current_stream_capturing() -> bool:
    """True while a graph is capturing (as ``torch.cuda.is_current_stream_capturing``)."""
    return _CAPTURING[0] is not None


def graph_pool_handle():
    """A memory-pool handle that several graphs may share (``capture_begin(pool=...)``)."""
    return (0, next(_POOL_IDS))


class _CaptureFallbacks(Counter):
    """FALLBACKS while capturing: a host round trip cannot be replayed, so counting one raises."""

    def __setitem__(self, key, value):
        raise RuntimeError(f"CUDA graph capture: {key!r} makes a host round trip, which a graph cannot replay "
                           f"({_NOT_PERMITTED})")


def _refuse(what):
    def raiser(*args, **kwargs):
        raise RuntimeError(f"CUDA error: {_NOT_PERMITTED}: {what} during CUDA graph capture; move it outside "
                           "the captured region (warm up first: the first run compiles kernels and uploads tables)")
    return raiser


class CUDAGraph:
    """A captured sequence of kernel launches (``torch.cuda.CUDAGraph``).

    Example::

        g = blaze.cuda.CUDAGraph()
        with blaze.cuda.graph(g):
            static_y = model(static_x)
        static_x.copy_(new_x); g.replay()   # static_y now holds model(new_x)
    """

    def __init__(self, keep_graph: bool = False):
        self._records: list = []
        self._pool = None
        self._allocs: list = []
        self._exec = None                 # real GPU: the instantiated graph
        self._cu_graph = None
        self._stream = None
        self._saved: list = []
        self._staged: list = []            # real GPU: host bytes of captured constant uploads

    # -- capture -------------------------------------------------------------------------
    def capture_begin(self, pool=None, capture_error_mode: str = "global") -> None:
        """Start recording every launch on the device (see the module docstring for what raises)."""
        if capture_error_mode not in ("global", "thread_local", "relaxed"):
            raise ValueError(f"capture_error_mode must be 'global', 'thread_local' or 'relaxed', "
                             f"got {capture_error_mode!r}")
        if _CAPTURING[0] is not None:
            raise RuntimeError("a CUDA graph is already capturing on this device")
        if self._records or self._exec is not None:
            raise RuntimeError("this CUDAGraph holds a capture already: reset() it first")
        from .. import cuda
        dev = cuda._dev()
        self._pool = pool if pool is not None else graph_pool_handle()
        self._mode = capture_error_mode
        _CAPTURING[0] = self
        try:
            self._install(dev)
        except BaseException:
            _CAPTURING[0] = None
            raise

    def capture_end(self) -> None:
        """Stop recording; the graph can be replayed from now on."""
        if _CAPTURING[0] is not self:
            raise RuntimeError("capture_end() without a matching capture_begin()")
        try:
            self._uninstall()
        finally:
            _CAPTURING[0] = None

    def _install(self, dev) -> None:
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction, KernelInterface
        saved = []
        records = self._records
        if dev.emulated:
            def getitem(kernel, grid):
                return lambda *args, **kw: records.append((kernel, grid, args, kw))
            # on each class: a subclass may hold its own __getitem__ (a test's counting wrapper)
            for cls in (KernelInterface, JITFunction, InterpretedFunction):
                saved.append((cls, "__getitem__", cls.__dict__.get("__getitem__")))
                cls.__getitem__ = getitem
        else:
            self._begin_stream_capture(dev, saved)
        real_alloc, allocs = dev.alloc, self._allocs

        def alloc(nbytes):
            ptr = real_alloc(nbytes)
            allocs.append((ptr, nbytes))          # the graph's pool: alive while a record uses it
            return ptr
        real_upload, refuse_upload = dev.upload, _refuse("a cpu->cuda copy")

        def upload(ptr, host):
            if not _flags.constant_upload[0]:   # arange/linspace: a constant of the op's arguments
                refuse_upload()
            staged = host.copy()                 # the graph owns the bytes it replays
            real_upload(ptr, staged)
            if dev.emulated:
                records.append((None, None, (real_upload, ptr, staged), None))
            else:
                self._staged.append(staged)
        for name, fn in (("alloc", alloc), ("upload", upload),
                         ("download", _refuse("a cuda->cpu copy (.item(), .cpu(), .numpy(), print)")),
                         ("host_bytes", _refuse("reading cuda memory on the host (.item(), .cpu(), .numpy())")),
                         ("synchronize", _refuse("a device synchronisation"))):
            saved.append((dev, name, None))
            setattr(dev, name, fn)                 # instance attributes shadow the methods
        saved.append((_flags.FALLBACKS, "__class__", type(_flags.FALLBACKS)))
        _flags.FALLBACKS.__class__ = _CaptureFallbacks
        self._saved = saved

    def _uninstall(self) -> None:
        errors = []
        for obj, name, value in reversed(self._saved):
            if value is not None:
                setattr(obj, name, value)
            elif name in vars(obj):
                delattr(obj, name)
        self._saved = []
        if self._stream is not None:
            self._end_stream_capture(errors)
        if errors:
            raise errors[0]

    # -- replay -----------------------------------------------------------------------------
    def replay(self) -> None:
        """Run the captured launches again, in order, on the same buffers."""
        if _CAPTURING[0] is self:
            raise RuntimeError("replay() called on a graph that is still capturing")
        if self._exec is not None:
            from .. import cuda
            from ..devices.cuda.memory import _check
            d = cuda._dev()
            _check(d.drv.cuGraphLaunch(self._exec, d.stream))
            return
        for kernel, grid, args, kw in self._records:
            if kernel is None:                   # a replayed constant upload (arange, linspace)
                args[0](args[1], args[2])
            else:
                kernel.run(*args, grid=grid, warmup=False, **kw)

    def reset(self) -> None:
        """Drop the capture and release the memory its pool holds."""
        if _CAPTURING[0] is self:
            raise RuntimeError("reset() called on a graph that is still capturing")
        self._records.clear()
        self._allocs.clear()
        self._staged.clear()
        if self._exec is not None:
            from .. import cuda
            drv = cuda._dev().drv
            drv.cuGraphExecDestroy(self._exec)
            drv.cuGraphDestroy(self._cu_graph)
            self._exec = self._cu_graph = None

    def pool(self):
        """The memory-pool handle of this graph (pass it to another capture to share the pool)."""
        return self._pool

    def num_launches(self) -> int:
        """Kernel launches a replay makes (emulated device; the driver keeps its own count)."""
        return len(self._records)

    def debug_dump(self, path) -> None:
        with open(path, "w") as f:
            for kernel, grid, args, _ in self._records:
                f.write(f"{getattr(kernel, '__name__', kernel)} grid={grid} args={len(args)}\n")

    def enable_debug_mode(self) -> None:
        pass

    def __del__(self):
        try:
            if _CAPTURING[0] is self:
                self.capture_end()
            self.reset()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # -- the real driver: stream capture ---------------------------------------------------------
    def _begin_stream_capture(self, dev, saved) -> None:
        from cuda.bindings import driver
        from triton.runtime import driver as triton_driver

        from ..devices.cuda.memory import _check
        dev._ensure_ctx()
        dev.synchronize()               # work queued before the capture must not land in it
        self._stream = _check(driver.cuStreamCreate(driver.CUstream_flags.CU_STREAM_NON_BLOCKING))
        mode = {"global": driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_GLOBAL,
                "thread_local": driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
                "relaxed": driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED}[self._mode]
        _check(driver.cuStreamBeginCapture(self._stream, mode))
        active = triton_driver.active
        stream = int(self._stream)
        # no launch may go to the legacy default stream while capturing: Triton and the allocator
        # (cuMemAllocAsync / cuMemFreeAsync, which become graph nodes) are given the capture stream
        saved.append((dev, "stream", dev.stream))
        dev.stream = self._stream
        saved.append((active, "get_current_stream", active.get_current_stream))
        active.get_current_stream = lambda *a: stream

    def _end_stream_capture(self, errors) -> None:
        from cuda.bindings import driver

        from ..devices.cuda.memory import _check
        try:
            self._cu_graph = _check(driver.cuStreamEndCapture(self._stream))
            self._exec = _check(driver.cuGraphInstantiate(self._cu_graph, 0))
        except RuntimeError as e:
            errors.append(e)
        finally:
            driver.cuStreamDestroy(self._stream)
            self._stream = None


@contextlib.contextmanager
def graph(cuda_graph: CUDAGraph, pool=None, stream=None, capture_error_mode: str = "global"):
    """``with blaze.cuda.graph(g):`` captures the block into ``g`` (``torch.cuda.graph``).

    The block runs once to be recorded: on the emulated device its kernels do not execute, so
    outputs hold their values only after ``g.replay()``; on a GPU, likewise (stream capture
    queues nothing). ``stream`` is accepted for PyTorch's signature; blaze picks the capture stream.
    """
    cuda_graph.capture_begin(pool=pool, capture_error_mode=capture_error_mode)
    try:
        yield cuda_graph
    except BaseException:
        with contextlib.suppress(Exception):
            cuda_graph.capture_end()
        cuda_graph.reset()
        raise
    cuda_graph.capture_end()


def make_graphed_callables(callables, sample_args, num_warmup_iters: int = 3):
    """Graphed versions of ``callables`` (modules or functions), as ``torch.cuda.make_graphed_callables``.

    Each callable is warmed up ``num_warmup_iters`` times on ``sample_args``, then its forward and
    its backward are captured into two graphs sharing one pool. The returned callable copies its
    arguments into the static inputs, replays the forward graph and returns the static outputs; their
    backward copies the incoming gradient into a static buffer and replays the backward graph,
    which writes the gradients of the inputs and the parameters (``.grad`` accumulates as eager).

    Args:
        callables: one callable or a tuple of them.
        sample_args: a tuple of tensors per callable (one tuple when ``callables`` is one callable).
    """
    from .graphed import graphed_callables
    return graphed_callables(callables, sample_args, num_warmup_iters)
