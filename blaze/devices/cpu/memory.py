"""glibc malloc settings of the cpu device: freed tensor memory is kept for the next step.

NumPy allocates every array with malloc. By default glibc serves a block above its mmap
threshold (128 KiB, raised up to 32 MiB as such blocks are freed) with fresh mmap pages, and
gives the free top of the heap back to the OS once it passes twice that threshold. A
training step allocates and frees the same few MiB of temporaries every step, so those
pages were faulted in, zeroed by the kernel, and handed back again every step. Measured per
step on this project's 2-core VM (perf/bench_cpu_layers.py's cases, 2 threads, getrusage):

    causal SDPA B2 H4 T256 D64, forward + backward:   1256 page faults, 6.4 ms system time
    causal SDPA B2 H4 T2048 D64:                      2020 page faults, 13.8 ms system time
    LSTM H512 B32 T128, forward + backward:           4663 page faults, 94 ms system time

against a 12 / 290 / 689 ms step. With the settings below: 0, 0 and 2154 faults (the LSTM's
blocks above 32 MiB are still mmapped). This is the same trade PyTorch users make when
they preload jemalloc or tcmalloc for CPU training: freed memory stays in the process
(up to :data:`TRIM_THRESHOLD` of it) instead of going back to the OS.

Applied once, when the cpu device starts (its backend is created on the first tensor op, not
at ``import blaze``); ``BLAZE_CPU_MALLOC=0`` leaves malloc alone. Only glibc has ``mallopt``
with these meanings; elsewhere (macOS, musl) nothing is changed.
"""
from __future__ import annotations

import ctypes
import os
import sys

from ... import _env

# mallopt parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# blocks up to this size come from the heap (32 MiB is glibc's ceiling for it on 64-bit)
MMAP_THRESHOLD = 32 << 20
# free memory at the heap's top kept for reuse instead of returned to the OS
TRIM_THRESHOLD = 256 << 20

_state = {"tuned": None}


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds once per process; True when they are set."""
    if _state["tuned"] is None:
        _state["tuned"] = _apply()
    return _state["tuned"]


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):                                 # the name is unknown to this libc
        return False


def _apply() -> bool:
    if not _env.cpu_malloc_tuning() or not _glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; the trim threshold goes first so the heap is never trimmed
    # between the two calls with a threshold below the new mmap one
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
