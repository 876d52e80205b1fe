"""Process groups over MPI: start-up, ranks, sub-groups, and the watchdog that turns a hang into an error.

MPI (through ``mpi4py``) starts the processes and is the transport for host tensors; a
group is an MPI communicator. ``mpi4py`` is imported on first use, never by ``import blaze``.

Failures, two ways, so that no rank waits forever:

- a rank that *dies*: under ``blaze run`` Open MPI runs with ULFM fault tolerance
  (``--with-ft ulfm``), so the survivors' next MPI call fails at once with
  MPI_ERR_PROC_FAILED, raised here as :class:`DistBackendError`; under plain ``mpiexec`` the
  launcher tears the job down instead.
- a rank that is alive but never joins: every blocking wait is registered with a watchdog
  thread which, once the group's ``timeout`` has passed, prints which collective timed out
  and aborts the job (as PyTorch's NCCL watchdog does): the peers are in an unknown state,
  so carrying on could train on a half-reduced gradient.
"""
from __future__ import annotations

import contextlib
import datetime
import enum
import importlib.util
import os
import signal
import sys
import threading
import time

import numpy as np

from .. import _env

# PyTorch's default_pg_timeout
default_pg_timeout = datetime.timedelta(minutes=30)

_NOT_INIT = "Default process group has not been initialized, please make sure to call init_process_group."
_BACKENDS = ("mpi", "nccl", "gloo")  # gloo: accepted for torch scripts, served by MPI (see README)


class ReduceOp(enum.IntEnum):
    """Reduction operations, numbered as PyTorch's ``ReduceOp.RedOpType``."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class DistError(RuntimeError):
    """Base of distributed errors, as ``torch.distributed.DistError``."""

    __module__ = "blaze.distributed"


class DistBackendError(DistError):
    """The transport failed (a peer died, MPI reported an error), as ``torch.distributed.DistBackendError``."""

    __module__ = "blaze.distributed"


_MPI = []


def _mpi():
    """The mpi4py.MPI module; importing it starts MPI, so only on first use."""
    if not _MPI:
        from mpi4py import MPI
        _MPI.append(MPI)
    return _MPI[0]


class ProcessGroup:
    """A set of ranks with its own MPI communicator (and, for cuda tensors, its NCCL one)."""

    def __init__(self, comm, ranks, backend: str, timeout: datetime.timedelta):
        self.comm = comm
        self.ranks = list(ranks)  # group rank -> global rank
        self.n = len(self.ranks)
        self.sig = np.zeros(2, np.int64)  # the call fingerprint's buffer (collectives._agree)
        self.timeout_s = timeout.total_seconds()
        self.check = _env.distributed_check()  # collectives._agree; read once, not per call
        self.calls = 0  # collectives run on this group: the same count on every rank that runs the same calls
        self._global_to_group = {g: i for i, g in enumerate(self.ranks)}
        self.backend = backend
        self.timeout = timeout
        self.nccl = None  # the NCCL communicator, made on first cuda collective
        self.broken = None  # the error that broke this group; later calls re-raise it

    def rank(self) -> int:
        return self.comm.Get_rank()

    def size(self) -> int:
        return self.n

    def group_rank(self, global_rank: int, what: str = "rank") -> int:
        r = self._global_to_group.get(global_rank)
        if r is None:
            raise ValueError(f"Global rank {global_rank} is not part of group {self.ranks} ({what})")
        return r

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self.backend!r}, ranks={self.ranks})"


class _World:
    default: ProcessGroup | None = None
    groups: list = []
    watch = None


class _Watchdog:
    """Aborts the job when a blocking wait outlasts its deadline (see the module docstring)."""

    def __init__(self):
        self.slot = None  # (deadline, description, group) of the wait in progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blaze-distributed-watchdog", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.05):
            slot = self.slot
            if slot is not None and time.monotonic() > slot[0]:
                deadline, desc, group = slot
                ms = int(group.timeout.total_seconds() * 1000)
                print(f"[rank {_World.default.rank() if _World.default else '?'}] blaze.distributed watchdog caught "
                      f"collective operation timeout: {describe(desc)} ran for more than Timeout(ms)={ms} milliseconds "
                      f"before timing out (a rank did not join it, or is stuck). The peers are in an unknown "
                      f"state, so the whole job is being taken down.", file=sys.stderr, flush=True)
                _die()

    def stop(self):
        self._stop.set()


def describe(desc) -> str:
    """A call's description: a string, or (name, shape, dtype, extra) formatted only when needed."""
    if isinstance(desc, str):
        return desc
    name, shape, dtype, extra = desc
    return f"{name}(shape={list(shape)}, dtype={dtype}{f', {extra}' if extra else ''})"


class watched:  # noqa: N801 - used as a function: ``with watched(group, desc):``
    """Run a blocking MPI call under the watchdog; an MPI failure becomes a DistBackendError.

    A class rather than a generator context manager: this wraps every collective, and the
    generator form cost 1.5 us per call.
    """

    __slots__ = ("group", "desc")

    def __init__(self, group: ProcessGroup, desc, timeout=None):
        if group.broken is not None:
            raise DistBackendError(f"{describe(desc)}: the process group is broken by an earlier error: "
                                   f"{group.broken}")
        self.group, self.desc = group, desc
        if timeout is None:
            seconds = group.timeout_s
        else:
            seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else float(timeout)
        _World.watch.slot = (time.monotonic() + seconds, desc, group)

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        _World.watch.slot = None
        if kind is not None and issubclass(kind, _mpi().Exception):
            msg = (f"{describe(self.desc)} failed on rank {get_rank()}: {e.Get_error_string()}"
                   f"{' (a peer process died)' if e.Get_error_class() == _proc_failed() else ''}")
            self.group.broken = msg
            raise DistBackendError(msg) from None
        return False


def _proc_failed():
    return getattr(_mpi(), "ERR_PROC_FAILED", -1)


# ---------------------------------------------------------------- start-up and shutdown
def is_available() -> bool:
    """True when the MPI transport (``mpi4py``) is installed: ``pip install blaze[mpi]``."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_nccl_available() -> bool:
    return importlib.util.find_spec("nccl") is not None and importlib.util.find_spec("mpi4py") is not None


def is_gloo_available() -> bool:
    return False


def is_initialized() -> bool:
    return _World.default is not None


def _check_backend(backend):
    if backend is None:
        return "mpi:nccl"
    name = str(backend).lower()
    if name == "cpu:gloo,cuda:nccl" or name == "cpu:mpi,cuda:nccl":
        return "mpi:nccl"
    if name not in _BACKENDS:
        raise ValueError(f"Invalid backend: '{backend}'; blaze supports 'mpi', 'nccl' and None (MPI for cpu "
                         f"tensors, NCCL for cuda tensors); 'gloo' is served by MPI")
    return "mpi" if name == "gloo" else name


def init_process_group(backend=None, init_method=None, timeout=None, world_size: int = -1, rank: int = -1,
                       store=None, group_name: str = "", pg_options=None, device_id=None) -> None:
    """Join the default process group: every process started by ``blaze run -n N`` (or ``mpiexec``).

    Args:
        backend: ``"mpi"`` (host tensors; cuda tensors staged through host memory), ``"nccl"``
            (cuda tensors), or None for both (MPI for cpu tensors, NCCL for cuda tensors).
        init_method: None or ``"env://"``: MPI itself bootstraps the group.
        timeout: how long a collective may wait for its peers before the job is aborted.
        world_size, rank: optional; when given they must match what MPI started.

    Example::

        dist.init_process_group("mpi")
        t = blaze.ones(4) * dist.get_rank()
        dist.all_reduce(t)   # every rank now holds 0 + 1 + ... + (N - 1)
    """
    if _World.default is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = _check_backend(backend)
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method {init_method!r} is not supported: blaze bootstraps over MPI; start the "
                         f"processes with `blaze run -n N script.py` (or mpiexec) and pass init_method=None")
    if store is not None:
        raise ValueError("store is not supported: blaze bootstraps over MPI")
    if timeout is None:
        timeout = default_pg_timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got {type(timeout).__name__}")
    if not is_available():
        raise RuntimeError("blaze.distributed needs mpi4py: pip install 'blaze[mpi]' (mpi4py with an Open MPI "
                           "wheel) or 'blaze[mpi-system]' (mpi4py against your cluster's MPI)")
    MPI = _mpi()
    world = MPI.COMM_WORLD
    env_size = os.environ.get("WORLD_SIZE")
    if world.Get_size() == 1 and env_size not in (None, "", "1") and "OMPI_COMM_WORLD_SIZE" not in os.environ \
            and "PMI_SIZE" not in os.environ:
        raise RuntimeError(f"WORLD_SIZE={env_size} but MPI started this process alone: launch the script with "
                           f"`blaze run -n {env_size} script.py` (or mpiexec -n {env_size})")
    if world_size not in (-1, None) and world_size != world.Get_size():
        raise ValueError(f"world_size={world_size} does not match the {world.Get_size()} processes MPI started")
    if rank not in (-1, None) and rank != world.Get_rank():
        raise ValueError(f"rank={rank} does not match the MPI rank {world.Get_rank()} of this process")
    if device_id is not None and getattr(device_id, "type", "cuda") != "cuda":
        raise ValueError(f"device_id must be a cuda device, got {device_id}")
    comm = world.Dup()  # our own communicator: user mpi4py traffic on COMM_WORLD can't interleave with ours
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    _World.default = ProcessGroup(comm, range(comm.Get_size()), name, timeout)
    _World.groups = [_World.default]
    if _World.watch is None:
        _World.watch = _Watchdog()
        _install_excepthook()


def _die():
    """End this rank as a *failed* process, the one kind of exit every peer is told about.

    MPI_Finalize waits for every rank, and the others may be waiting in a collective for
    this one: both would hang. A plain ``os._exit(1)`` or ``MPI_Abort`` under ULFM leaves
    the peers blocked (measured with Open MPI 5.0: 4 ranks, still waiting after 15 s),
    while a SIGKILL reaches them as MPI_ERR_PROC_FAILED within 50 ms; without ULFM,
    mpiexec ends the whole job on it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_excepthook():
    """An uncaught exception ends this rank at once (:func:`_die`), after printing its traceback."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if _World.default is not None and _World.default.size() > 1:
            _die()
    sys.excepthook = hook


def destroy_process_group(group=None) -> None:
    """Leave ``group`` (default: every group, after which ``init_process_group`` may be called again)."""
    if _World.default is None:
        raise ValueError(_NOT_INIT)
    targets = list(_World.groups) if group is None else [group]
    for g in targets:
        if g.nccl is not None:
            g.nccl.destroy()
            g.nccl = None
        if g.broken is None:
            with contextlib.suppress(Exception):
                g.comm.Free()
        if g in _World.groups:
            _World.groups.remove(g)
    if group is None or group is _World.default:
        _World.default = None
        _World.groups = []


def default_group() -> ProcessGroup:
    if _World.default is None:
        raise ValueError(_NOT_INIT)
    return _World.default


def resolve(group) -> ProcessGroup:
    """The group a call acts on; ``None`` is the default (world) group."""
    if group is None or group is GroupMember.WORLD:
        return default_group()
    default_group()
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup from new_group(), got {type(group).__name__}")
    if group.comm is None:
        raise ValueError("this rank is not part of the group it was asked to communicate in")
    return group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None):
    """A sub-group of ``ranks`` (global ranks). Every rank of the world must call it, members or not."""
    world = default_group()
    n = world.size()
    members = sorted(set(range(n) if ranks is None else (int(r) for r in ranks)))
    if not members or members[0] < 0 or members[-1] >= n:
        raise ValueError(f"new_group: ranks {ranks} must be distinct ranks in [0, {n})")
    me = world.rank()
    MPI = _mpi()
    with watched(world, f"new_group(ranks={members})"):
        comm = world.comm.Split(0 if me in members else MPI.UNDEFINED, members.index(me) if me in members else 0)
    if me not in members:
        return _NonMember(members)
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    g = ProcessGroup(comm, members, world.backend if backend is None else _check_backend(backend),
                     world.timeout if timeout is None else timeout)
    _World.groups.append(g)
    return g


class _NonMember(ProcessGroup):
    """What ``new_group`` returns on a rank outside the group (PyTorch's GroupMember.NON_GROUP_MEMBER)."""

    def __init__(self, members):
        super().__init__(None, members, "mpi", default_pg_timeout)

    def rank(self) -> int:
        return -1


class GroupMember:
    WORLD = object()
    NON_GROUP_MEMBER = -100


class group:  # noqa: N801 - torch.distributed.group
    WORLD = GroupMember.WORLD


def get_rank(group=None) -> int:
    """This process's rank in ``group`` (the world by default); -1 when it is not a member."""
    if isinstance(group, _NonMember):
        return -1
    return resolve(group).rank()


def get_world_size(group=None) -> int:
    if isinstance(group, _NonMember):
        return -1
    return resolve(group).size()


def get_local_rank() -> int:
    """This process's rank among the processes on its own machine (torchrun's LOCAL_RANK)."""
    env = os.environ.get("LOCAL_RANK") or os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK") \
        or os.environ.get("MPI_LOCALRANKID")
    if env is not None:
        return int(env)
    world = default_group()
    node = world.comm.Split_type(_mpi().COMM_TYPE_SHARED)
    try:
        return node.Get_rank()
    finally:
        node.Free()


get_node_local_rank = get_local_rank


def get_backend(group=None) -> str:
    return resolve(group).backend


def get_global_rank(group, group_rank: int) -> int:
    return resolve(group).ranks[group_rank]


def get_process_group_ranks(group) -> list:
    return list(resolve(group).ranks)
