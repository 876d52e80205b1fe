"""cuda tensors through NCCL (NVIDIA's ``nccl4py`` raw bindings), bootstrapped over MPI.

Rank 0 makes the NCCL unique id and broadcasts it over the group's MPI communicator; every
rank then joins with ``ncclCommInitRank``. Collectives run on a stream of their own: an
event recorded on blaze's stream (the legacy default stream, where Triton launches) makes
the NCCL stream wait for the tensor's producers, and an event recorded after the NCCL call
makes blaze's stream wait before anything reads the result, so neither stream blocks the
host. The device is the process's device 0; ``blaze run`` gives each rank its own GPU
(``CUDA_VISIBLE_DEVICES`` = its local rank), so local device = local rank.

NCCL is used only with a real GPU and a loadable ``libnccl``; otherwise
:func:`unavailable_reason` says why and the collectives stage through host memory and MPI.
"""
from __future__ import annotations

import importlib.util

from .. import _env
from .process_group import ReduceOp, watched

_NCCL_DTYPES = {"float32": "Float32", "float64": "Float64", "float16": "Float16", "bfloat16": "Bfloat16",
                "int8": "Int8", "uint8": "Uint8", "int32": "Int32", "int64": "Int64", "bool": "Uint8"}
_NCCL_OPS = {ReduceOp.SUM: "Sum", ReduceOp.PRODUCT: "Prod", ReduceOp.MIN: "Min", ReduceOp.MAX: "Max",
             ReduceOp.AVG: "Avg"}
_REASON = []


def unavailable_reason() -> str | None:
    """Why NCCL can't serve cuda tensors in this process (None when it can)."""
    if not _REASON:
        _REASON.append(_probe())
    return _REASON[0]


def _probe():
    if _env.interpret():
        return "the cuda device is emulated (TRITON_INTERPRET=1), so there is no GPU for NCCL"
    if importlib.util.find_spec("nccl") is None:
        return "nccl4py is not installed (pip install 'blaze[nccl]')"
    try:
        from nccl.bindings import nccl as nb
        nb.get_version()
    except Exception as e:  # noqa: BLE001 - a missing libnccl.so surfaces as several error types
        return f"the NCCL library could not be loaded ({e})"
    from .. import cuda
    if not cuda.is_available():
        return "no GPU is available"
    return None


class NcclComm:
    """One NCCL communicator for a process group, plus its stream and the two ordering events."""

    def __init__(self, g):
        from cuda.bindings import driver

        from nccl.bindings import nccl as nb

        from ..devices.cuda.memory import _check, device
        self.nb, self.drv, self._check = nb, driver, _check
        self.dev = device()
        uid = bytes(nb.get_unique_id()) if g.rank() == 0 else None
        with watched(g, "NCCL bootstrap (unique id broadcast)"):
            uid = g.comm.bcast(uid, root=0)
        self.comm = nb.comm_init_rank(g.size(), nb.UniqueId.from_buffer(bytearray(uid)), g.rank())
        self.stream = _check(driver.cuStreamCreate(driver.CUstream_flags.CU_STREAM_NON_BLOCKING))
        flags = driver.CUevent_flags.CU_EVENT_DISABLE_TIMING
        self.ready, self.done = _check(driver.cuEventCreate(flags)), _check(driver.cuEventCreate(flags))

    def launch(self, fn, *args):
        """Run ``fn(*args, comm, stream)`` ordered after and before blaze's stream; returns its done-event."""
        drv, chk = self.drv, self._check
        chk(drv.cuEventRecord(self.ready, self.dev.stream))
        chk(drv.cuStreamWaitEvent(self.stream, self.ready, 0))
        fn(*args, self.comm, int(self.stream))
        chk(drv.cuEventRecord(self.done, self.stream))
        chk(drv.cuStreamWaitEvent(self.dev.stream, self.done, 0))
        return self.done

    def destroy(self):
        self.nb.comm_destroy(self.comm)
        self.drv.cuStreamDestroy(self.stream)


class _NcclWork:
    """A Work whose completion is an event on the NCCL stream; blaze's stream is already ordered after it."""

    def __init__(self, comm, event, result):
        self._comm, self._event, self._result = comm, event, result

    def is_completed(self) -> bool:
        err, = self._comm.drv.cuEventQuery(self._event)
        return err == self._comm.drv.CUresult.CUDA_SUCCESS

    def wait(self, timeout=None) -> bool:
        return True  # as PyTorch's NCCL Work: the current stream waits, the host does not

    def is_success(self) -> bool:
        return self.is_completed()

    def exception(self):
        return None

    def result(self) -> list:
        return list(self._result)

    def synchronize(self) -> None:
        self._comm._check(self._comm.drv.cuEventSynchronize(self._event))


def maybe_run(g, name, tensor, async_op=False, op=ReduceOp.SUM, root=0, inp=None):
    """Run collective ``name`` through NCCL and return ``(Work or None,)``; None means: use the host path."""
    if "nccl" not in g.backend or unavailable_reason() is not None or tensor.dtype.name not in _NCCL_DTYPES:
        return None
    if g.nccl is None:
        g.nccl = NcclComm(g)
    c, nb = g.nccl, g.nccl.nb
    dt = int(getattr(nb.DataType, _NCCL_DTYPES[tensor.dtype.name]))
    ptr = tensor._data.data_ptr()
    n = tensor.numel()
    if name in ("all_reduce", "reduce_scatter_tensor") and (op not in _NCCL_OPS or tensor.dtype.name == "bool"):
        return None  # bitwise and boolean reductions: the host path
    if name == "all_reduce":
        ev = c.launch(nb.all_reduce, ptr, ptr, n, dt, int(getattr(nb.RedOp, _NCCL_OPS[op])))
    elif name == "broadcast":
        ev = c.launch(nb.broadcast, ptr, ptr, n, dt, root)
    elif name == "all_gather_into_tensor":
        ev = c.launch(nb.all_gather, inp._data.data_ptr(), ptr, inp.numel(), dt)
    elif name == "reduce_scatter_tensor":
        ev = c.launch(nb.reduce_scatter, inp._data.data_ptr(), ptr, n, dt, int(getattr(nb.RedOp, _NCCL_OPS[op])))
    else:
        return None
    tensor._version[0] += 1
    return (_NcclWork(c, ev, [tensor]) if async_op else None,)
