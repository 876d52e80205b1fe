"""Direct kernel launch: call a JIT kernel's compiled launcher, skipping Triton's per-call binding.

``kernel[grid](*args, **meta)`` costs ~13 µs of Python per launch in Triton 3.x
(``JITFunction.run``: option parsing, the generated binder, a specialisation of every argument,
a cache-key string, the global-value check). ``launch(kernel, grid, *args, **meta)`` does that
once per *specialisation* and keeps the ``CompiledKernel`` it returned; later calls with the
same specialisation go straight to ``compiled.run(...)`` (Triton's C launcher).

The specialisation key is at least as fine as Triton's own, so a hit can never pick a kernel
compiled for other arguments: per positional argument, a buffer's dtype and 16-byte alignment
of its pointer; an int's ``== 1``, divisibility by 16 and 32/64-bit range; the type of a
float, bool or None; per keyword (constexprs, ``num_warps``, ``num_stages``) its value.
What is not a buffer or a plain number takes Triton's own path every call, as does a callable
grid, every launch under ``TRITON_INTERPRET=1`` (the interpreter compiles nothing) and every
launch while ``blaze.profiler`` records (it sees launches at Triton's entry point).

Not re-checked on a hit: Triton's "global variable changed since compilation" test (blaze's
kernels read no mutable globals). The real path is checked on a GPU by ``perf/gpu_check.sh``.
"""
from __future__ import annotations

from blaze import _flags
from blaze._env import interpret

_CACHE: dict = {}
_CACHE_MAX = 4096       # specialisations; a GPT training step uses about a hundred
# False under the interpreter (no compiled kernels); tests set it to exercise the cache
DIRECT = [not interpret()]
_I32 = (-(1 << 31), (1 << 31) - 1)


def _arg_key(x):
    c = x.__class__
    if c is int:
        return (x == 1, not x & 15, _I32[0] <= x <= _I32[1], x < 1 << 63)
    if c is float or c is bool or x is None:
        return c
    ptr = getattr(x, "data_ptr", None)
    if ptr is None:
        raise TypeError  # neither a buffer nor a plain number: Triton's path
    return (x.dtype, not ptr() & 15)


def _stream():
    from triton.runtime import driver
    d = driver.active
    return d.get_current_stream(d.get_current_device())


def _runtime_knobs(_k=[]):
    if not _k:
        from triton import knobs
        _k.append(knobs.runtime)
    return _k[0]


def _full_args(kernel, args, kwargs):
    """The names of the parameters after the positional ones, in order, and their defaults."""
    tail = []
    for p in kernel.params[len(args):]:
        tail.append((p.name, p.default))
    return tuple(tail)


def launch(kernel, grid, *args, **kwargs):
    """``kernel[grid](*args, **kwargs)``, through the compiled kernel's launcher after the first call.

    Args:
        kernel: a ``@triton.jit`` function.
        grid: a tuple of up to 3 ints (a callable grid always takes Triton's path).
        args, kwargs: the kernel's arguments and launch options, as for ``kernel[grid]``.
    """
    if not DIRECT[0] or _flags.profiler is not None or callable(grid):
        return kernel[grid](*args, **kwargs)
    try:
        key = (kernel, tuple(map(_arg_key, args)), tuple(kwargs.items()))
        hit = _CACHE.get(key)
    except TypeError:  # an argument we do not key on, or an unhashable keyword value
        return kernel[grid](*args, **kwargs)
    if hit is None:
        compiled = kernel[grid](*args, **kwargs)
        if compiled is not None and hasattr(compiled, "packed_metadata"):
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = (compiled, _full_args(kernel, args, kwargs))
        return compiled
    compiled, tail = hit
    full = args + tuple(kwargs[n] if n in kwargs else d for n, d in tail) if tail else args
    n = len(grid)
    stream = _stream()
    rt = _runtime_knobs()
    enter, leave = rt.launch_enter_hook, rt.launch_exit_hook
    # Triton >= 3.7 keeps an always-present HookChain; an empty one needs no metadata
    meta = compiled.launch_metadata(grid, stream, *full) if enter is not None and getattr(enter, "calls", 1) else None
    compiled.run(grid[0], grid[1] if n > 1 else 1, grid[2] if n > 2 else 1, stream, compiled.function,
                 compiled.packed_metadata, meta, enter, leave, *full)
    return compiled


def clear_cache() -> None:
    """Forget every cached specialisation (the next launch of each takes Triton's path once)."""
    _CACHE.clear()
