"""Tunable kernels: each declares its config space as data and a cheap heuristic default.

A kernel module registers itself once at import::

    MATMUL = register(Tunable(
        name="matmul",
        configs=[dict(BLOCK_M=128, BLOCK_N=128, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=3), ...],
        heuristic=matmul_heuristic,          # (problem: dict) -> config dict
        key=lambda p: (p["M"], p["N"], p["K"], p["dtype"]),
        make_problem=make_matmul_problem,   # (problem: dict, new_buffer) -> zero-arg callable running the kernel with
    ))                                      #  a config: run(config)

and its launcher asks ``config_for("matmul", problem)`` (unless the caller passed a config
explicitly). The autotuning layer (``blaze tune``) fills an on-disk cache that
``config_for`` consults first; with no cache entry the heuristic decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

_REGISTRY: dict[str, "Tunable"] = {}

# Installed by blaze.tuning (imported by the cuda device on load; kernels never import it):
# (name, problem) -> config or None.
_cache_lookup: Callable[[str, dict], dict | None] | None = None
# Called by config_for on every lookup when recording is on (blaze tune --record).
_recorder: Callable[[str, dict], None] | None = None


@dataclass
class Tunable:
    """A kernel family with a config space and a heuristic.

    Attributes:
        name: registry key, e.g. ``"matmul"``.
        configs: the config space; each a dict of constexpr meta-parameters plus
            ``num_warps`` / ``num_stages``.
        heuristic: ``problem -> config`` for shapes with no tuned entry.
        make_problem: ``(problem, new_buffer) -> run`` where ``run(config)`` launches the
            kernel once on fresh inputs of that problem (used by the tuner).
            ``new_buffer(shape, dtype_name)`` allocates a random-filled buffer on the device.
        doc: one line shown by ``blaze tune list``.
        spills: ``problem -> configs`` of ``configs`` known to spill registers (or overflow
            shared memory) on sm_90 for that problem's kind (perf/sass_report.py --configs);
            the tuner never times them.
    """

    name: str
    configs: list[dict]
    heuristic: Callable[[dict], dict]
    make_problem: Callable | None = None
    doc: str = ""
    problem_keys: tuple = field(default_factory=tuple)
    spills: Callable[[dict], list] | None = None

    def space(self, problem: dict) -> list[dict]:
        """The configs worth timing on ``problem``: ``configs`` less those that spill for it."""
        bad = [] if self.spills is None else self.spills(problem)
        return [c for c in self.configs if c not in bad]


def register(t: Tunable) -> Tunable:
    _REGISTRY[t.name] = t
    return t


def tunables() -> dict[str, Tunable]:
    return dict(_REGISTRY)


def config_for(name: str, problem: dict) -> dict:
    """The config a launcher should use for ``problem``: tuned if cached, else heuristic."""
    if _recorder is not None:
        _recorder(name, problem)
    if _cache_lookup is not None:
        cfg = _cache_lookup(name, problem)
        if cfg is not None:
            return cfg
    try:
        key = (name, tuple(sorted(problem.items())))
        cfg = _HEURISTIC_MEMO.get(key)
    except TypeError:  # an unhashable problem value: no memo
        return _REGISTRY[name].heuristic(problem)
    if cfg is None:
        # heuristics cost ~10 us of Python per launch; shapes repeat every training step
        if len(_HEURISTIC_MEMO) > 4096:
            _HEURISTIC_MEMO.clear()
        cfg = _HEURISTIC_MEMO[key] = _REGISTRY[name].heuristic(problem)
    return cfg


_HEURISTIC_MEMO: dict = {}


# Triton needs power-of-two tile sides (tl.arange) and at most 32 warps (1024 threads) a
# program. The largest tile any heuristic picks is 1 << 16 (the interpreter's); 1 << 20 is
# far above it and still refuses values that would allocate absurd tiles.
MAX_WARPS = 32
MAX_META = 1 << 20


def config_error(t: Tunable, config) -> str | None:
    """Why ``config`` cannot launch kernel ``t`` (None when it can).

    A config must carry exactly the meta-parameters of ``t``'s config space (``num_warps``
    and ``num_stages`` may be left out), each a positive int; ``BLOCK*`` sides and
    ``num_warps`` must be powers of two. Used on configs read from untrusted caches.
    """
    if not isinstance(config, dict) or not config:
        return "the config is not a non-empty mapping"
    space = set().union(*t.configs) if t.configs else set(config)
    missing = sorted(space - set(config) - {"num_warps", "num_stages"})
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    extra = sorted(set(config) - space)
    if extra:
        return f"unknown key(s) {', '.join(map(str, extra))}; {t.name} takes {', '.join(sorted(space))}"
    for k, v in config.items():
        if type(v) is not int:
            return f"{k}={v!r} is not an integer"
        if not 1 <= v <= (MAX_WARPS if k == "num_warps" else MAX_META):
            return f"{k}={v} is out of range [1, {MAX_WARPS if k == 'num_warps' else MAX_META}]"
        if (k.startswith("BLOCK") or k == "num_warps") and v & (v - 1):
            return f"{k}={v} is not a power of two"
    return None


def launch_options(config: dict) -> tuple[dict, dict]:
    """Split a config into (constexpr meta-parameters, launch options num_warps/num_stages)."""
    meta = {k: v for k, v in config.items() if k not in ("num_warps", "num_stages")}
    opts = {k: config[k] for k in ("num_warps", "num_stages") if k in config}
    return meta, opts
