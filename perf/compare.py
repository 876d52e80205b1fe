"""``python -m perf compare BASE NEW [--tolerance T]``: fail on a perf regression.

Rows match on (case, shape, dtype, device type). For each pair:

- both rows have a ratio to the same kind of reference (torch / numpy / roofline): compare
  the ratios (reference time / blaze time, higher is better), which cancels most of the
  machine's own speed and load; a regression is ``new_ratio < base_ratio / (1 + T)``;
- otherwise compare median times: a regression is ``new_ms > base_ms * (1 + T)``.

``T`` is a fraction: 0.1 allows 10% slower, 5 allows 6x slower (the CI smoke setting for
noisy shared machines). A row that errors in NEW but ran in BASE fails too. Rows only in
one file are listed and ignored (a --filter run compares against part of a baseline).
Exit status: 0 no regression, 1 regression, 2 bad input.
"""
from __future__ import annotations

import argparse
import json
import sys


def load(path: str) -> dict:
    """A results document written by ``python -m perf run --out``; ValueError if it is not one."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read perf results ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ValueError(f"{path}: not a perf results file (no 'results' list)")
    return doc


def _key(row: dict) -> tuple:
    return (row.get("case"), row.get("shape"), row.get("dtype"), row.get("device"))


def compare(base: dict, new: dict, tolerance: float) -> tuple[list[dict], bool]:
    """Per-row verdicts and whether any row regressed."""
    base_rows = {_key(r): r for r in base["results"]}
    rows, failed = [], False
    for r in new["results"]:
        b = base_rows.get(_key(r))
        if b is None:
            rows.append(dict(key=_key(r), status="new", detail="not in baseline"))
            continue
        if b.get("error"):
            rows.append(dict(key=_key(r), status="skip", detail="baseline row errored"))
            continue
        if r.get("error"):
            rows.append(dict(key=_key(r), status="FAIL", detail=f"errors now: {r['error']}"))
            failed = True
            continue
        if b.get("ratio") and r.get("ratio") and b.get("reference") == r.get("reference"):
            change = b["ratio"] / r["ratio"]  # > 1: blaze lost ground against the reference
            what = f"ratio vs {r['reference']} {b['ratio']:.3g} -> {r['ratio']:.3g}"
        elif b.get("median_ms") and r.get("median_ms"):
            change = r["median_ms"] / b["median_ms"]
            what = f"time {b['median_ms']:.4g} -> {r['median_ms']:.4g} ms"
        else:
            rows.append(dict(key=_key(r), status="skip", detail="no time in one of the rows"))
            continue
        bad = change > 1 + tolerance
        failed |= bad
        rows.append(dict(key=_key(r), status="FAIL" if bad else "ok", change=change, detail=what))
    missing = [k for k in base_rows if k not in {_key(r) for r in new["results"]}]
    return rows + [dict(key=k, status="absent", detail="only in baseline") for k in missing], failed


def format_table(rows: list[dict], tolerance: float) -> str:
    out = [f"{'status':<7} {'case':<22} {'shape':<30} {'dtype':<9} {'slowdown':>9}  detail"]
    for r in rows:
        if r["status"] == "absent":
            continue
        case, shape, dtype, _ = r["key"]
        ch = f"{r['change']:.2f}x" if "change" in r else "-"
        out.append(f"{r['status']:<7} {str(case):<22} {str(shape):<30} {str(dtype):<9} {ch:>9}  {r['detail']}")
    absent = sum(r["status"] == "absent" for r in rows)
    out.append(f"tolerance {tolerance:g} (fail above {1 + tolerance:.2f}x slower); {absent} baseline rows not in NEW")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf compare", description=__doc__.splitlines()[0])
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--tolerance", type=float, default=0.10, help="allowed slowdown as a fraction (default 0.10)")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.tolerance < 0:
        print("compare: --tolerance must be >= 0", file=sys.stderr)
        return 2
    try:
        base, new = load(args.base), load(args.new)
    except ValueError as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    rows, failed = compare(base, new, args.tolerance)
    print(format_table(rows, args.tolerance))
    if not any(r["status"] in ("ok", "FAIL") for r in rows):
        print("compare: no row of NEW matches the baseline", file=sys.stderr)
        return 2
    print("REGRESSION" if failed else "no regression beyond tolerance")
    return 1 if failed else 0
