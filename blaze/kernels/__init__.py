"""Triton kernels, one module per op family.

Each module holds, in this order: the Triton kernel(s), the launcher (checks inputs,
allocates outputs, builds the grid) and the default-config heuristic. Kernels work on raw
buffers: any object with ``data_ptr()``, ``dtype`` (a NumPy dtype), ``shape`` and
``strides`` (in elements) and ``new(shape, dtype)`` to allocate a sibling buffer —
:class:`blaze.kernels.buffer.HostBuffer` under the interpreter, the cuda device's
``DeviceArray`` on a GPU.

Importing this package imports Triton; ``import blaze`` never does.
"""
