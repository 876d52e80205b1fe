"""``python -m perf report FILE [--out DIR]``: PNG plots of speed vs size, one per case.

For each case with at least one successful row, plots blaze's throughput (TFLOP/s, GB/s or
calls/s, whichever the case reports) against problem size in work units, and the reference
(PyTorch when the results hold it, else NumPy / the roofline) computed from reference_ms
with the same work. Needs matplotlib; without it, prints what it would plot and exits 1.
"""
from __future__ import annotations

import argparse
import os
import sys

from perf.compare import load

# (row field, axis label, work per call recovered as figure * seconds)
FIGURES = (("tflop_per_s", "TFLOP/s"), ("gb_per_s", "GB/s"), ("samples_per_s", "samples/s"))


def series(rows: list[dict]) -> tuple[str, list[tuple]]:
    """(unit, [(shape, work, blaze figure, reference figure or None, reference name)]) for one case."""
    ok = [r for r in rows if not r.get("error") and r.get("median_ms")]
    field, unit = next(((f, u) for f, u in FIGURES if all(r.get(f) for r in ok)), (None, "calls/s"))
    pts = []
    for r in ok:
        sec = r["median_ms"] / 1e3
        fig = r[field] if field else 1.0 / sec
        work = fig * sec  # FLOPs, bytes or samples per call (1 call for calls/s)
        ref = work / (r["reference_ms"] / 1e3) if r.get("reference_ms") else None
        pts.append((r["shape"], work, fig, ref, r.get("reference")))
    return unit, sorted(pts, key=lambda p: p[1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf report", description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--out", default="perf-report", help="directory for the PNGs (default ./perf-report)")
    args = p.parse_args(argv)
    try:
        doc = load(args.file)
    except ValueError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    by_case: dict[str, list] = {}
    for r in doc["results"]:
        by_case.setdefault(r["case"], []).append(r)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is not installed, so no PNGs were written (pip install matplotlib). "
              "Cases that would be plotted: " + ", ".join(sorted(by_case)), file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    written = []
    for case, rows in sorted(by_case.items()):
        unit, pts = series(rows)
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        x = list(range(len(pts)))
        ax.plot(x, [p[2] for p in pts], "o-", label="blaze")
        refs = [(i, p[3]) for i, p in enumerate(pts) if p[3]]
        if refs:
            ax.plot([i for i, _ in refs], [v for _, v in refs], "s--", label=pts[refs[0][0]][4])
        ax.set_xticks(x, [p[0] for p in pts], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(unit)
        ax.set_title(f"{case} on {doc.get('device_name', '?')} ({doc.get('device', '?')})")
        ax.legend()
        fig.tight_layout()
        path = os.path.join(args.out, f"{case}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    print(f"wrote {len(written)} plots to {args.out}/")
    return 0
