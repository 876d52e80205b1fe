"""Benchmark a kernel's config space on one problem and cache the winner; record problems.

    from blaze.tuning import tune, record, tune_recorded
    res = tune("matmul", dict(M=4096, N=4096, K=4096, Z=1, dtype="bfloat16"))
    res.best, res.best_ms, res.speedup     # speed-up over the heuristic default

    with record("shapes.json"):            # every config_for(name, problem) call is noted
        train_one_step()
    tune_recorded("shapes.json")           # tune each distinct problem once
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import warnings
from dataclasses import dataclass, field

from blaze.tuning import cache

# Modules whose import registers the Tunables (blaze/kernels/<module>.py).
KERNEL_MODULES = ("matmul", "conv", "attention", "softmax", "layernorm", "loss", "reduce", "index", "embedding",
                  "random", "optim", "pooling", "elementwise", "rnn", "nms", "roi_align")


def load_kernels() -> dict[str, str]:
    """Import every kernel module so its Tunables register; returns {module: error} for failures."""
    errors = {}
    for m in KERNEL_MODULES:
        try:
            importlib.import_module(f"blaze.kernels.{m}")
        except Exception as e:  # one broken family must not hide the others
            errors[m] = f"{type(e).__name__}: {e}"
    return errors


def get_tunable(name: str):
    """The registered Tunable ``name``; ValueError naming the known ones otherwise."""
    from blaze.kernels.registry import tunables
    known = tunables()
    if name not in known:
        load_kernels()
        known = tunables()
    if name not in known:
        raise ValueError(f"unknown kernel {name!r}; tunable kernels: {', '.join(sorted(known))}")
    return known[name]


@dataclass
class TuneResult:
    """What tuning one problem found. Times in milliseconds (None if that config failed)."""

    kernel: str
    problem: dict
    best: dict | None
    best_ms: float | None
    heuristic: dict
    heuristic_ms: float | None
    timed: int = 0
    skipped: list = field(default_factory=list)  # [(config, reason)]
    timer: str = ""
    key: str | None = None

    @property
    def speedup(self) -> float | None:
        """Heuristic time / best time (1.0 when the heuristic already wins)."""
        if self.best_ms and self.heuristic_ms:
            return self.heuristic_ms / self.best_ms
        return None


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:160] if msg else ''}"


def candidate_configs(name: str, problem: dict, configs=None, max_configs: int | None = None) -> list[dict]:
    """The configs :func:`tune` times: the heuristic's first, then the space (or ``configs``)."""
    t = get_tunable(name)
    space = list(t.space(problem) if configs is None else configs)
    if max_configs is not None:
        space = space[:max_configs]
    heur = t.heuristic(problem)
    return [heur] + [c for c in space if c != heur]


def tune(name: str, problem: dict, *, configs=None, max_configs: int | None = None, timer=None,
         on_config=None, save: bool = True) -> TuneResult:
    """Time the heuristic default and each config of ``name``'s space on ``problem``.

    Args:
        configs: configs to try instead of the registered space.
        max_configs: try only the first N configs of the space (the heuristic is always timed).
        timer: a :mod:`blaze.tuning.timer` timer (default: CUDA events on a GPU, else CPU clock).
        on_config: called after each config (for a progress bar).
        save: write the winner to the on-disk cache.

    Configs that fail to compile, run out of shared memory/registers, or raise are skipped and
    listed in ``result.skipped``.
    """
    from blaze.tuning.timer import default_timer
    t = get_tunable(name)
    if t.make_problem is None:
        raise ValueError(f"kernel {name!r} has no make_problem: it cannot be tuned")
    timer = timer or default_timer()
    heur, candidates = t.heuristic(problem), candidate_configs(name, problem, configs, max_configs)
    prev, cache._state["tuning"] = cache._state["tuning"], True  # no BLAZE_AUTOTUNE recursion
    times, skipped = [], []
    try:
        with warnings.catch_warnings():
            # random inputs make the interpreter's NumPy warn (exp overflow, 0/0 in masked lanes)
            warnings.simplefilter("ignore", RuntimeWarning)
            run = t.make_problem(problem, timer.new_buffer)
            for cfg in candidates:
                try:
                    times.append(timer.measure(lambda: run(cfg)))
                except Exception as e:  # compile error, out of resources, invalid tile: skip it
                    times.append(None)
                    skipped.append((cfg, _short(e)))
                if on_config is not None:
                    on_config(cfg, times[-1])
    finally:
        cache._state["tuning"] = prev
    ok = [(ms, i) for i, ms in enumerate(times) if ms is not None]
    res = TuneResult(name, dict(problem), None, None, heur, times[0], timed=len(ok), skipped=skipped,
                     timer=timer.kind)
    if ok:
        best_ms, i = min(ok)
        res.best, res.best_ms = candidates[i], best_ms
        if save:
            res.key = cache.put(name, problem, res.best, time_ms=best_ms, heuristic_ms=times[0],
                                heuristic_config=heur, timer=timer.kind)
    return res


# ---------------------------------------------------------------------------------------
# recording the problems a program launches
# ---------------------------------------------------------------------------------------
class Recorder:
    """Collects each distinct (kernel, problem) that ``config_for`` sees, in first-seen order."""

    def __init__(self):
        self.records: list[tuple[str, dict]] = []
        self._seen: set = set()

    def __call__(self, name: str, problem: dict) -> None:
        try:
            key = (name, tuple(sorted(problem.items())))
        except TypeError:
            key = (name, repr(sorted(problem.items(), key=lambda kv: kv[0])))
        if key not in self._seen:
            self._seen.add(key)
            self.records.append((name, dict(problem)))

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump([{"kernel": n, "problem": p} for n, p in self.records], f, indent=1)


def default_record_path() -> str:
    """Where ``record()`` and ``blaze tune --record`` keep the recorded problems."""
    from blaze import _env
    return os.path.join(_env.cache_dir(), "recorded.json")


@contextlib.contextmanager
def record(path: str | None = None):
    """Record every (kernel, problem) launched inside the block; saved to ``path`` on exit.

    ``path`` defaults to ``<cache_dir>/recorded.json``; pass ``path=False`` to keep them in
    memory only (``rec.records``). Yields the :class:`Recorder`.
    """
    from blaze.kernels import registry
    rec, prev = Recorder(), registry._recorder
    registry._recorder = rec
    try:
        yield rec
    finally:
        registry._recorder = prev
        if path is not False:
            target = path or default_record_path()
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            rec.save(target)


def load_records(path: str | None = None) -> list[tuple[str, dict]]:
    """Read problems saved by :func:`record` (ValueError on a malformed file)."""
    path = path or default_record_path()
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return [(d["kernel"], dict(d["problem"])) for d in data]
    except FileNotFoundError:
        raise ValueError(f"{path}: no recorded problems (run blaze.tuning.record() or blaze tune --record first)") \
            from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a file of recorded problems ({e})") from None


def distinct(records) -> list[tuple[str, dict]]:
    """One problem per cache key: problems sharing a shape bucket are tuned once."""
    out, seen = [], set()
    for name, problem in records:
        key, _ = cache.make_key(name, problem)
        if key not in seen:
            seen.add(key)
            out.append((name, problem))
    return out


def tune_recorded(records=None, **kwargs) -> list[TuneResult]:
    """Tune every distinct recorded problem (a Recorder, a list of (name, problem), or a path).

    Keyword arguments go to :func:`tune`. Returns one :class:`TuneResult` per problem.
    """
    if records is None or isinstance(records, str):
        records = load_records(records)
    elif isinstance(records, Recorder):
        records = records.records
    return [tune(name, problem, **kwargs) for name, problem in distinct(records)]
