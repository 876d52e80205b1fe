"""``python -m perf run``: time every case, print a table, write JSON.

Each op case times blaze through its public API (CPU tensors: the NumPy backend; ``cuda``:
the Triton kernels) and, in the same process, a reference: PyTorch when it is importable,
else NumPy directly on CPU / the roofline (peak FLOP/s or bandwidth) on a GPU.
``ratio = reference time / blaze time`` (fastest samples, see :class:`Timing`): 1.0 is
parity, above 1 blaze is faster.

One JSON row per (case, shape, dtype)::

    case, kind (op|model), shape, dtype, device (cpu|cuda), device_name, versions,
    median_ms, best_ms, gb_per_s, tflop_per_s, samples_per_s, pct_peak (GPU), reference,
    reference_ms, reference_best_ms, ratio, error (only when the case failed);
    dispatch cases add us_per_op / reference_us_per_op (fastest samples, per forward op)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

SCHEMA = 1
# Dense peak numbers (NVIDIA datasheets, SXM parts): tensor-core TFLOP/s without sparsity,
# fp32 = non-tensor-core FMA rate, HBM GB/s.
PEAKS = {
    "H200": dict(bfloat16=989.0, float16=989.0, float32=67.0, gb_per_s=4800.0),
    "H100": dict(bfloat16=989.0, float16=989.0, float32=67.0, gb_per_s=3350.0),
    "A100": dict(bfloat16=312.0, float16=312.0, float32=19.5, gb_per_s=2039.0),
}
# Time each sample for at least this long (seconds): a 16-element add takes ~5 us, so one
# sample loops ~400 times and the clock's resolution stops mattering.
MIN_SAMPLE_S = {True: 0.001, False: 0.005}
SAMPLES = {True: 11, False: 15}


def try_torch():
    """PyTorch if importable (perf/ only; blaze never imports it), else None."""
    if os.environ.get("BLAZE_PERF_NO_TORCH"):
        return None
    try:
        import torch
    except Exception:
        return None
    torch.set_num_threads(_threads())  # same thread count as NumPy's BLAS: a like-for-like ratio
    return torch


def _threads() -> int:
    v = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or ""
    return int(v) if v.isdigit() else (os.cpu_count() or 1)


def versions(torch=None) -> dict:
    import numpy

    import blaze
    v = dict(blaze=blaze.__version__, numpy=numpy.__version__, python=platform.python_version(),
             cpu_threads=_threads())
    try:
        import triton
        v["triton"] = triton.__version__
    except Exception:
        v["triton"] = None
    if torch is not None:
        v["torch"] = torch.__version__
    return v


def device_name(device: str) -> str:
    if device == "cuda":
        import blaze.cuda
        return blaze.cuda.get_device_name()
    return platform.processor() or platform.machine()


def _emulated() -> bool:
    from blaze import _env
    return _env.interpret()


def peaks_for(name: str) -> dict | None:
    """Peak table row for a GPU name (substring match), else None."""
    return next((p for k, p in PEAKS.items() if k in name), None)


def _loop_count(fn, sync, quick: bool) -> int:
    fn()  # warm-up: first-call caches, kernel compiles
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return max(1, int(MIN_SAMPLE_S[quick] / max(time.perf_counter() - t0, 1e-7)))


def _sample(fn, sync, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n


def time_fn(fn, sync=None, quick: bool = False, other=None, other_sync=None):
    """Per-call seconds of ``fn`` as a :class:`Timing` (median and fastest sample).

    Each sample loops long enough to dwarf the clock, then ``sync()``s. With ``other``, the
    two are timed in alternating samples (so a noisy neighbour slows both alike) and a pair
    of Timings is returned.
    """
    sync, other_sync = sync or (lambda: None), other_sync or (lambda: None)
    n = _loop_count(fn, sync, quick)
    m = _loop_count(other, other_sync, quick) if other is not None else 0
    a, b = [], []
    for _ in range(SAMPLES[quick]):
        a.append(_sample(fn, sync, n))
        if other is not None:
            b.append(_sample(other, other_sync, m))
    return (Timing(a), Timing(b)) if other is not None else Timing(a)


class Timing:
    """Samples of seconds per call: ``median`` is reported, ``best`` (the fastest sample) feeds
    the ratio: on a shared 2-core machine a neighbour only ever adds time, so the fastest
    samples of blaze and of the reference are the like-for-like pair (medians drifted 7x in
    ratio between two runs under load 6; fastest samples stayed within ~1.5x)."""

    def __init__(self, samples):
        self.median, self.best = statistics.median(samples), min(samples)


class Env:
    """What a case builder gets: the device, PyTorch (or None) and the sync for each side."""

    def __init__(self, device: str, quick: bool, torch=None):
        self.device, self.quick, self.torch = device, quick, torch
        self.blaze_sync = None
        self.torch_sync = None
        if device == "cuda":
            import blaze.cuda
            self.blaze_sync = blaze.cuda.synchronize
            if torch is not None and torch.cuda.is_available():
                self.torch_sync = torch.cuda.synchronize
            else:
                self.torch = None
        self.name = device_name(device)
        self.peaks = peaks_for(self.name) if device == "cuda" else None

    def b(self, array, requires_grad: bool = False):
        """A blaze tensor on the run's device from a NumPy array."""
        import blaze
        t = blaze.from_numpy(array)
        if self.device != "cpu":
            t = t.to(self.device)
        return t.requires_grad_(True) if requires_grad else t

    def t(self, array, requires_grad: bool = False):
        """A PyTorch tensor on the run's device from a NumPy array."""
        t = self.torch.from_numpy(array.copy()).to("cuda" if self.device == "cuda" else "cpu")
        return t.requires_grad_(True) if requires_grad else t


def _derived(bench, seconds: float, env: Env) -> dict:
    out = dict(gb_per_s=None, tflop_per_s=None, samples_per_s=None, pct_peak=None)
    if bench.get("bytes"):
        out["gb_per_s"] = bench["bytes"] / seconds / 1e9
    if bench.get("flops"):
        out["tflop_per_s"] = bench["flops"] / seconds / 1e12
    if bench.get("samples"):
        out["samples_per_s"] = bench["samples"] / seconds
    if env.peaks:
        if bench.get("flops") and bench.get("bound", "flops") == "flops":
            out["pct_peak"] = 100 * out["tflop_per_s"] / env.peaks.get(bench["dtype"], env.peaks["float32"])
        elif bench.get("bytes"):
            out["pct_peak"] = 100 * out["gb_per_s"] / env.peaks["gb_per_s"]
    return out


def _roofline_s(bench, env: Env) -> float | None:
    if not env.peaks:
        return None
    t = [bench["bytes"] / (env.peaks["gb_per_s"] * 1e9) if bench.get("bytes") else 0.0,
         bench["flops"] / (env.peaks.get(bench["dtype"], env.peaks["float32"]) * 1e12) if bench.get("flops") else 0.0]
    return max(t) or None


def run_op_case(case, params: dict, env: Env) -> dict:
    """Build and time one op case at one size; a failure becomes a row with ``error``."""
    row = dict(case=case.name, kind="op", shape=None, dtype=None)
    try:
        bench = case.build(params, env)
        row.update(shape=bench["shape"], dtype=bench["dtype"])
        ref, ref_fn, ref_sync = None, None, None
        if env.torch is not None and bench.get("torch") is not None:
            ref, ref_fn, ref_sync = "torch", bench["torch"], env.torch_sync
        elif env.device == "cpu" and bench.get("numpy") is not None:
            ref, ref_fn = "numpy", bench["numpy"]
        if ref_fn is not None:
            mine, theirs = time_fn(bench["blaze"], env.blaze_sync, env.quick, ref_fn, ref_sync)
            ref_s, ref_best = theirs.median, theirs.best
        else:
            mine = time_fn(bench["blaze"], env.blaze_sync, env.quick)
            ref_s = ref_best = _roofline_s(bench, env) if env.device == "cuda" else None
            ref = "roofline" if ref_s else None
        sec = mine.median
        row.update(median_ms=sec * 1e3, best_ms=mine.best * 1e3)
        row.update(_derived(bench, sec, env))
        row.update(reference=ref if ref_s else None, reference_ms=ref_s * 1e3 if ref_s else None,
                   reference_best_ms=ref_best * 1e3 if ref_s else None,
                   ratio=ref_best / mine.best if ref_s else None)
        if bench.get("ops"):  # dispatch cases: overhead per forward op in us, fastest samples
            row["us_per_op"] = mine.best * 1e6 / bench["ops"]
            row["reference_us_per_op"] = ref_best * 1e6 / bench["ops"] if ref_s else None
        if bench.get("note"):
            row["note"] = bench["note"]
    except Exception as e:  # a missing op or a kernel error must not stop the suite
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return row


def run_model_case(case, env: Env) -> list[dict]:
    """Rows of a model-step module's ``run(quick)``, mapped onto the schema."""
    try:
        raw = case.run(env.quick)
    except Exception as e:
        return [dict(case=case.name, kind="model", shape=None, dtype=None,
                     error=f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")]
    rows = []
    for r in raw:
        row = dict(case=r.get("case", case.name), kind="model", shape=r.get("shape"), dtype=r.get("dtype"))
        sec = r.get("median_s") or (r["median_ms"] / 1e3 if r.get("median_ms") else None)
        row["median_ms"] = sec * 1e3 if sec else None
        rate = next((v for k, v in r.items() if k.endswith("_per_s") and isinstance(v, (int, float))), None)
        row.update(gb_per_s=None, tflop_per_s=None, samples_per_s=rate, pct_peak=None)
        # the reference's time under either name; the module's own "ratio" may be blaze/ref, so
        # it is recomputed here as ref/blaze like every other row
        ref_s = r.get("ref_median_s") or r.get("torch_median_s")
        ref_name = r.get("reference") or ""
        row.update(reference=("torch" if "torch" in ref_name or r.get("torch_median_s") else ref_name or None)
                   if ref_s else None,
                   reference_ms=ref_s * 1e3 if ref_s else None, ratio=ref_s / sec if ref_s and sec else None)
        if r.get("device") and r["device"] != env.device:
            row["note"] = f"ran on {r['device']}"
        rows.append(row)
    return rows


def run(device: str = "cpu", filter_text: str | None = None, quick: bool = False, progress=None) -> dict:
    """Run the matching cases; returns the JSON document (``results`` holds the rows)."""
    from perf.cases import model_cases, op_cases
    torch = try_torch()
    env = Env(device, quick, torch)
    terms = [t for t in (filter_text or "").split(",") if t]
    keep = lambda name: not terms or any(t in name for t in terms)  # noqa: E731
    common = dict(device=device, device_name=env.name, versions=versions(env.torch))
    rows = []
    for case in op_cases():
        if keep(case.name) and device in case.devices:
            # the emulated device runs kernels in the interpreter: GPU-sized problems would take hours
            small = quick or (device == "cuda" and _emulated())
            for params in (case.quick if small else case.sizes.get(device, [])):
                row = run_op_case(case, params, env)
                rows.append({**row, **common})
                if progress:
                    progress(rows[-1])
    for case in model_cases():
        if keep(case.name):
            for row in run_model_case(case, env):
                rows.append({**row, **common})
                if progress:
                    progress(rows[-1])
    return dict(schema=SCHEMA, created=time.strftime("%Y-%m-%dT%H:%M:%S"), quick=quick, filter=filter_text,
                **common, results=rows)


def _fmt(v, spec="{:.4g}"):
    return "-" if v is None else spec.format(v)


def print_row(r: dict, out=sys.stdout) -> None:
    if r.get("error"):
        print(f"{r['case']:<22} {str(r.get('shape')):<26} ERROR {r['error']}", file=out)
        return
    figure = (f"{r['tflop_per_s']:.3g} TFLOP/s" if r.get("tflop_per_s") else
              f"{r['gb_per_s']:.3g} GB/s" if r.get("gb_per_s") else
              f"{r['samples_per_s']:.4g}/s" if r.get("samples_per_s") else "")
    peak = f" {r['pct_peak']:.0f}%pk" if r.get("pct_peak") is not None else ""
    ref = f"{r['reference']} {_fmt(r.get('reference_ms'))} ms  x{_fmt(r.get('ratio'), '{:.2f}')}" \
        if r.get("reference") else ""
    print(f"{r['case']:<22} {str(r['shape']):<26} {str(r['dtype']):<8} {_fmt(r.get('median_ms')):>9} ms  "
          f"{figure + peak:<22} {ref}", file=out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf run", description="time the perf cases")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--filter", default=None, help="only cases whose name contains TEXT (comma: any of several)")
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (CI smoke)")
    p.add_argument("--out", default=None, help="write the results as JSON to FILE")
    args = p.parse_args(argv)
    if args.device == "cuda":
        try:
            import blaze.cuda
            ok = blaze.cuda.is_available()
        except Exception as e:
            p.error(f"--device cuda: blaze's cuda device cannot be loaded ({type(e).__name__}: {e})")
        if not ok and not _emulated():
            p.error("--device cuda: no GPU (blaze.cuda.is_available() is False); set TRITON_INTERPRET=1 to time "
                    "the emulated device (interpreter speed, not GPU speed)")
        if _emulated():
            print("NOTE: emulated cuda (Triton interpreter on CPU): --quick sizes, and NOT GPU timings")
    print(f"{'case':<22} {'shape':<26} {'dtype':<8} {'median':>12}  {'figure':<22} reference  (ratio = ref/blaze)")
    doc = run(args.device, args.filter, args.quick, progress=print_row)
    print(f"{len(doc['results'])} rows on {doc['device_name']} ({args.device}); versions {doc['versions']}")
    if not doc["results"]:
        print(f"no case matches --filter {args.filter!r}", file=sys.stderr)
        return 2
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.out}")
    return 0
