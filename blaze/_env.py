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


def debug_checks() -> bool:
    """BLAZE_DEBUG_CHECKS=1: every Tensor an op makes is checked against its storage (blaze._debug)."""
    return os.environ.get("BLAZE_DEBUG_CHECKS", "0") not in ("", "0")


def dataloader_watchdog() -> float:
    """BLAZE_DATALOADER_WATCHDOG: seconds a DataLoader worker may hold a batch without delivering
    anything before a warning names it (default 300; 0 turns the watchdog off)."""
    text = os.environ.get("BLAZE_DATALOADER_WATCHDOG", "").strip()
    if not text:
        return 300.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise ValueError(f"BLAZE_DATALOADER_WATCHDOG={text!r}: expected a number of seconds >= 0")
    return value


def distributed_check() -> str:
    """BLAZE_DISTRIBUTED_CHECK: which collectives check that every rank runs the same call.

    ``sampled`` (default): the first 64 calls on a group, then every 64th; ``all`` (or ``1``): every
    call; ``0``: none. See blaze/distributed/collectives.py.
    """
    text = os.environ.get("BLAZE_DISTRIBUTED_CHECK", "sampled").strip().lower() or "sampled"
    mode = {"1": "all", "all": "all", "sampled": "sampled", "0": "off", "off": "off"}.get(text)
    if mode is None:
        raise ValueError(f"BLAZE_DISTRIBUTED_CHECK={text!r}: expected sampled, all or 0")
    return mode


_TRUE = ("1", "y", "yes", "true")


def weights_only_override() -> str | None:
    """PyTorch's own load switches, honoured under the same names so a PyTorch program run on blaze
    behaves as under torch: TORCH_FORCE_WEIGHTS_ONLY_LOAD=1 -> ``"force"`` (weights_only=True even
    when False is passed); TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 -> ``"default_off"`` (an unspecified
    weights_only means False); neither -> None. Both set raises, as in PyTorch."""
    force = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "0") in _TRUE
    force_no = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0") in _TRUE
    if force and force_no:
        raise RuntimeError("Only one of TORCH_FORCE_WEIGHTS_ONLY_LOAD or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD "
                           "should be set, but both were set.")
    return "force" if force else "default_off" if force_no else None


def cpu_malloc_tuning() -> bool:
    """BLAZE_CPU_MALLOC=0: leave glibc's malloc settings alone (see blaze/devices/cpu/memory.py)."""
    return os.environ.get("BLAZE_CPU_MALLOC", "1").strip() not in ("0", "off", "false", "no")
