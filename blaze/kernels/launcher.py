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
_I32_MIN, _I32_MAX, _I64_MAX = -(1 << 31), (1 << 31) - 1, (1 << 63) - 1


def _spec(args, key: list) -> list:
    """Append each argument's specialisation to ``key`` (one inline loop: ~60 ns an argument)."""
    ap = key.append
    for x in args:
        c = x.__class__
        if c is int:  # Triton: == 1, divisible by 16, i32 / i64 / u64
            ap(8 if x == 1 else (not x & 15) + 2 * (_I32_MIN <= x <= _I32_MAX) + 4 * (x > _I64_MAX))
        elif c is float or c is bool or x is None:
            ap(c)
        else:
            ap(x.dtype)  # AttributeError: neither a buffer nor a plain number
            ap(not x.data_ptr() & 15)
    return key


def _stream():
    d = _driver()
    return d.get_current_stream(d.get_current_device())


def _driver(_d=[]):
    if not _d:
        from triton.runtime import driver
        _d.append(driver)
    return _d[0].active


def _runtime_knobs(_k=[]):
    if not _k:
        from triton import knobs
        _k.append(knobs.runtime)
    return _k[0]


def _tail(kernel, args, kwargs):
    """The values of the parameters after the positional ones, in order: fixed by the key."""
    return tuple(kwargs[p.name] if p.name in kwargs else p.default for p in kernel.params[len(args):])


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
        # id(): JITFunction.__hash__ hashes its source-derived cache key (a property call per
        # launch); the entry holds the kernel, so the id cannot be reused while it is cached
        key = tuple(_spec(args, [id(kernel)])) + tuple(kwargs.items())
        hit = _CACHE.get(key)
    except (AttributeError, TypeError):  # an argument we do not key on, an unhashable keyword value
        return kernel[grid](*args, **kwargs)
    return _run(hit, key, kernel, grid, args, kwargs)


def launch_static(kernel, grid, token, n, *args, **kwargs):
    """``launch`` for a caller that already keys everything after the first ``n`` arguments.

    ``token`` (hashable) must determine the specialisation of ``args[n:]`` and of ``kwargs``
    (e.g. a launch plan made once per shapes, strides and dtypes): only ``args[:n]``, the
    buffers and scalars that change from call to call, are keyed here.
    """
    if not DIRECT[0] or _flags.profiler is not None:
        return kernel[grid](*args, **kwargs)
    if token is None:
        return launch(kernel, grid, *args, **kwargs)
    try:
        key = tuple(_spec(args[:n], [id(kernel), token]))
        hit = _CACHE.get(key)
    except (AttributeError, TypeError):
        return kernel[grid](*args, **kwargs)
    return _run(hit, key, kernel, grid, args, kwargs)


def _run(hit, key, kernel, grid, args, kwargs):
    if hit is None:
        compiled = kernel[grid](*args, **kwargs)
        if compiled is not None and hasattr(compiled, "packed_metadata"):
            if len(_CACHE) >= _CACHE_MAX:
                _CACHE.clear()
            _CACHE[key] = (kernel, compiled, _tail(kernel, args, kwargs))
        return compiled
    _, compiled, tail = hit
    full = args + tail
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
