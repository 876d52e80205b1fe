"""``blaze.multiprocessing``: the standard ``multiprocessing`` API plus tensors shared between processes.

As ``torch.multiprocessing``: every name of ``multiprocessing`` (``Process``, ``Pool``,
``Queue``, ``get_context``, ``set_start_method``, ...) is re-exported; importing this module
registers reducers so that a tensor in shared memory (``Tensor.share_memory_()``,
``Module.share_memory()``) crosses a Queue, a Pipe or a spawned Process's arguments as a
handle to the same memory, not a copy. Hogwild training::

    model.share_memory()
    ps = [mp.Process(target=train, args=(model,)) for _ in range(2)]

Under 'fork' the children inherit the shared mappings directly. Tensors not in shared
memory, and cuda tensors, are sent by value (see ``reductions``).
"""
import multiprocessing
from multiprocessing import *  # noqa: F401,F403

from .reductions import init_reductions
from .spawn import (ProcessContext, ProcessException, ProcessExitedException, ProcessRaisedException,  # noqa: F401
                    spawn, start_processes)

_STRATEGIES = {"file_descriptor"}


def get_all_sharing_strategies() -> set:
    """The ways shared tensors can be passed: only "file_descriptor" (a duplicated descriptor, see blaze/_shared_memory.py)."""
    return set(_STRATEGIES)


def get_sharing_strategy() -> str:
    return "file_descriptor"


def set_sharing_strategy(new_strategy: str) -> None:
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"sharing strategy {new_strategy!r} is not supported by blaze; the only one is "
                         "'file_descriptor' (storage in an anonymous memory file, freed with its last user)")


init_reductions()

__all__ = list(multiprocessing.__all__) + [
    "spawn", "start_processes", "ProcessContext", "ProcessException", "ProcessRaisedException",
    "ProcessExitedException", "get_all_sharing_strategies", "get_sharing_strategy", "set_sharing_strategy"]
