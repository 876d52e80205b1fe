"""Triton kernels, one module per op family.

Each module holds, in this order: the Triton kernel(s), the launcher (checks inputs,
allocates outputs, builds the grid) and the default-config heuristic. Kernels work on raw
buffers: any object with ``data_ptr()``, ``dtype`` (a NumPy dtype), ``shape`` and
``strides`` (in elements) and ``new(shape, dtype)`` to allocate a sibling buffer —
:class:`blaze.kernels.buffer.HostBuffer` under the interpreter, the cuda device's
``DeviceArray`` on a GPU.

Importing this package imports Triton; ``import blaze`` never does.
"""
import threading as _threading

from .. import _env


def _serialize_interpreter_launches() -> None:
    """Let one thread at a time run an interpreted launch.

    Triton's interpreter keeps the grid index of the running program in one module-level
    builder and patches ``triton.language`` for the length of a launch, so two threads
    launching at once read each other's program ids (blaze saw "Did you forget to add
    @triton.jit?" within 3 training steps of two threads). Compiled launches on a GPU are
    independent and are left alone.
    """
    # GridExecutor.__call__ is the launch in every Triton since 3.4 (3.4 has no
    # InterpretedFunction.run method: it binds a closure per kernel).
    from triton.runtime.interpreter import GridExecutor
    call = GridExecutor.__call__
    if getattr(call, "_blaze_serialized", False):
        return
    lock = _threading.RLock()

    def serialized_call(self, *args, **kwargs):
        with lock:
            return call(self, *args, **kwargs)
    serialized_call._blaze_serialized = True
    GridExecutor.__call__ = serialized_call

if _env.interpret():
    _serialize_interpreter_launches()
