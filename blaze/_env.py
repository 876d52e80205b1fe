"""Every environment switch blaze reads, in one place.

Read lazily (functions, not module constants) where a test may change the variable after
import; `TRITON_INTERPRET` is read once because Triton itself reads it once at import.
"""
import os


def interpret() -> bool:
    """True when Triton kernels run through Triton's CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def cache_dir() -> str:
    """Directory of blaze's on-disk caches (autotuning); BLAZE_CACHE_DIR overrides."""
    return os.environ.get("BLAZE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "blaze")


def autotune_on_first_use() -> bool:
    """BLAZE_AUTOTUNE=1: tune a kernel the first time it meets an uncached shape."""
    return os.environ.get("BLAZE_AUTOTUNE", "0") not in ("", "0")


def distributed_check() -> bool:
    """BLAZE_DISTRIBUTED_CHECK=0: collectives skip the cross-rank call check (one small all-reduce each)."""
    return os.environ.get("BLAZE_DISTRIBUTED_CHECK", "1") not in ("", "0")
