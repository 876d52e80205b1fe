"""Issue 20's table: causal SDPA, 3x3 conv and LSTM forward + backward, blaze vs PyTorch, time and peak memory.

    PYTHONPATH=$PWD /work/torchvenv/bin/python perf/bench_cpu_layers.py [--threads 2] [--out FILE]
        [--before FILE] [--filter sdpa] [--no-mem]

Time: each (case, side) in its own process, blaze and PyTorch alternating, ``--rounds``
processes per side (default 3, as every table in the README used), each timing ``--samples``
steps after five warm-ups; the table quotes the median of all samples, the ratio is blaze /
torch (below 1 = blaze faster).
Separate processes, because with 2+ threads the two libraries' idle thread pools spin in one
process and slow whichever side runs next: torch's causal SDPA T=256 at 2 threads read
56 ms alternating in one process against 7 ms alone. ``--in-process`` keeps the old runner
(alternating samples in one process). ``--before FILE`` (an earlier ``--out``) adds
before -> after columns; ``--against DIR`` times the blaze of another checkout (DIR, its
repository root) as the "before" side in the same rounds, so both sides see the same
machine (``--out`` then also writes it, as ``before_rows``).

Peak memory: each (case, side) in a fresh subprocess: inputs built, then ONE forward +
backward step; peak = VmHWM (the process's resident high-water mark) minus VmRSS just before
the step. The same method for both sides, since torch has no CPU allocator statistics; it
counts what the step really touched, allocator caching included.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _set_threads(n: int) -> None:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _mem_child(name: str, idx: int, side: str) -> None:
    """Print the step's peak resident growth in MiB (runs in its own process)."""
    from perf.cases.layers import CASES
    from perf.runner import Env, try_torch
    case = next(c for c in CASES if c.name == name)
    env = Env("cpu", False, try_torch() if side == "torch" else None)
    bench = case.build(case.sizes["cpu"][idx], env)
    before = _status_kb("VmRSS")
    bench[side]()
    print((_status_kb("VmHWM") - before) / 1024)


def _child(*args: str, root: str | None = None) -> str:
    """Run this script again as a child process at the same thread count (importing blaze and the
    cases from ``root`` when given); its stdout."""
    extra = ["--root", root] if root else []
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--threads", os.environ["OMP_NUM_THREADS"],
                          *extra, *args], capture_output=True, text=True, env=os.environ)
    if out.returncode:
        print(out.stderr[-2000:], file=sys.stderr)
    return out.stdout


def _mem(name: str, idx: int, side: str) -> float | None:
    try:
        return float(_child("--mem-child", name, str(idx), side).strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


# Steps run before timing in each child. Two were too few here: a fresh process's third and
# fourth steps still read up to 1.7x the steady state (blaze's LSTM T=32: 196, 142, then 105-125 ms;
# PyTorch's: 187, 183, 160, ... 93-103 ms over its first eight timed steps).
_WARMUP = 5


def _time_child(name: str, idx: int, side: str, samples: int) -> None:
    """Print the step's times in ms, one per line (runs in its own process)."""
    import time
    from perf.cases.layers import CASES
    from perf.runner import Env, try_torch
    case = next(c for c in CASES if c.name == name)
    env = Env("cpu", False, try_torch() if side == "torch" else None)
    step = case.build(case.sizes["cpu"][idx], env)[side]
    for _ in range(_WARMUP):
        step()
    for _ in range(samples):
        t = time.perf_counter()
        step()
        print((time.perf_counter() - t) * 1e3)


def _solo_row(rounds: int, samples: int, against: str | None = None, before: dict | None = None):
    """Timing of one row: each side in its own processes, alternating (the default). With
    ``against``, that checkout's blaze is a third side, its row stored in ``before``."""
    def row(case, idx, params, env):
        times = {"blaze": [], "torch": [], "before": []}
        sides = (["torch"] if env.torch is not None else []) + (["before"] if against else []) + ["blaze"]
        for _ in range(rounds):
            for side in sides:
                try:
                    times[side] += [float(x) for x in _child("--time-child", case.name, str(idx),
                                                             "blaze" if side == "before" else side, str(samples),
                                                             root=against if side == "before" else None).split()]
                except ValueError:
                    pass
        if not times["blaze"]:
            return dict(case=case.name, shape="", error="the timing child failed")
        from perf.runner import Env
        shape = case.build(params, Env("cpu", True, None))["shape"]
        ref = statistics.median(times["torch"]) if times["torch"] else None
        if against and times["before"]:
            before[(case.name, shape)] = dict(case=case.name, shape=shape, median_ms=statistics.median(times["before"]),
                                              reference_ms=ref)
        return dict(case=case.name, shape=shape, median_ms=statistics.median(times["blaze"]), reference_ms=ref)
    return row


def _runner_row(repeat: int):
    """Timing of one row: the runner's alternating samples in this process (``--in-process``)."""
    from perf.runner import run_op_case

    def row(case, idx, params, env):
        runs = [run_op_case(case, params, env) for _ in range(repeat)]
        out = dict(runs[0])
        if not out.get("error"):
            out["median_ms"] = statistics.median(r["median_ms"] for r in runs)
            out["reference_ms"] = statistics.median(r["reference_ms"] for r in runs) \
                if out.get("reference_ms") else None
        return out
    return row


def measure(filter_text: str | None, mem: bool, timing, quick: bool = False) -> list[dict]:
    from perf.cases.layers import CASES
    from perf.runner import Env, try_torch
    env = Env("cpu", quick, try_torch())                      # quick: 11 samples instead of 15, same sizes
    rows = []
    for case in CASES:
        if filter_text and filter_text not in case.name:
            continue
        for idx, params in enumerate(case.sizes["cpu"]):
            row = timing(case, idx, params, env)
            if mem:
                row["peak_mib"] = _mem(case.name, idx, "blaze")
                row["reference_peak_mib"] = _mem(case.name, idx, "torch") if env.torch is not None else None
            rows.append(row)
            print(_line(row, None), flush=True)
    return rows


def _f(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def _ratio(row):
    if row.get("error") or not row.get("reference_ms"):
        return None
    return row["median_ms"] / row["reference_ms"]


def _line(row, before):
    if row.get("error"):
        return f"| {row['case']} {row['shape']} | ERROR {row['error']} |"
    r = _ratio(row)
    cells = [f"{row['case']} {row['shape']}", _f(row.get("reference_ms"))]
    if before is not None:
        cells += [_f(before.get("median_ms")), _f(_ratio(before), "{:.2f}")]
    cells += [_f(row["median_ms"]), _f(r, "{:.2f}"), _f(row.get("reference_peak_mib")), _f(row.get("peak_mib"))]
    if row.get("peak_mib") and row.get("reference_peak_mib"):
        cells.append(_f(row["peak_mib"] / row["reference_peak_mib"], "{:.2f}"))
    return "| " + " | ".join(cells) + " |"


def table(rows, before_rows=None) -> str:
    key = lambda r: (r["case"], r["shape"])  # noqa: E731
    before = {key(r): r for r in before_rows or []}
    head = ["case", "torch ms"] + (["before ms", "before ratio"] if before_rows else []) + \
        ["blaze ms", "ratio", "torch MiB", "blaze MiB", "mem ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [_line(r, before.get(key(r), {}) if before_rows else None) for r in rows]
    ratios = [x for x in map(_ratio, rows) if x]
    if ratios:
        geo = statistics.geometric_mean(ratios)
        lines.append(f"\ngeometric mean ratio (blaze/torch) {geo:.2f}, worst {max(ratios):.2f}")
        old = [x for x in (_ratio(before.get(key(r), {})) for r in rows) if x]
        if old:
            lines.append(f"before: geometric mean {statistics.geometric_mean(old):.2f}, worst {max(old):.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--filter", default=None)
    p.add_argument("--repeat", type=int, default=1, help="time each row N times, quote the median")
    p.add_argument("--no-mem", action="store_true")
    p.add_argument("--quick", action="store_true", help="fewer timing samples (the table's sizes all the same)")
    p.add_argument("--out", default=None)
    p.add_argument("--before", default=None)
    p.add_argument("--in-process", action="store_true", help="alternate both sides in one process (the runner)")
    p.add_argument("--rounds", type=int, default=3, help="processes per side and row (solo timing)")
    p.add_argument("--samples", type=int, default=5, help="timed steps per process (solo timing)")
    p.add_argument("--against", default=None, help="another checkout's root: its blaze is the before side")
    p.add_argument("--root", default=None, help=argparse.SUPPRESS)
    p.add_argument("--mem-child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--time-child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _set_threads(args.threads)
    if args.root:                                                 # a child timing another checkout
        sys.path.insert(0, os.path.abspath(args.root))
    if args.mem_child:
        name, idx, side = args.mem_child
        _mem_child(name, int(idx), side)
        return 0
    if args.time_child:
        name, idx, side, samples = args.time_child
        _time_child(name, int(idx), side, int(samples))
        return 0
    against = {}
    timing = _runner_row(args.repeat) if args.in_process else \
        _solo_row(args.rounds, args.samples, args.against, against)
    rows = measure(args.filter, not args.no_mem, timing, args.quick)
    before_rows = json.load(open(args.before))["rows"] if args.before else list(against.values()) or None
    print(table(rows, before_rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(threads=args.threads, rows=rows, before_rows=before_rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
