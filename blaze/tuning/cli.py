"""``blaze tune``: autotune Triton kernels for this GPU and cache the winners.

    blaze tune matmul --shape 4096x4096x4096 --dtype bf16     tune named kernels on explicit shapes
    blaze tune attention --shape 4x12x1024x64 --set causal=true
    blaze tune --record python train.py --epochs 1             record what a script launches, tune it all
    blaze tune --recorded [FILE]                               tune problems recorded earlier
    blaze tune --preset gpt2-small                             the matmul/attention shapes of a GPT-2-small step
    blaze tune list                                            kernels, their problem keys and shape syntax
    blaze tune show | clear | export FILE | import FILE        manage the cache

Exit status: 0 ok, 1 a tuning or script failure, 2 bad arguments.
"""
from __future__ import annotations

import argparse
import itertools
import os
import runpy
import sys
import traceback
from dataclasses import dataclass, field

DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "f16": "float16", "half": "float16",
          "float16": "float16", "fp32": "float32", "f32": "float32", "float": "float32", "float32": "float32"}


@dataclass
class ShapeSpec:
    """How ``--shape AxBxC`` maps onto a kernel's problem dict.

    layouts: accepted key orders (by dim count); ``S`` fills both S_q and S_k.
    defaults: the problem's other keys (override with ``--set key=value``).
    """

    syntax: str
    layouts: tuple
    defaults: dict = field(default_factory=dict)


_CONV_GEO = dict(which="forward", SH=1, SW=1, PH=0, PW=0, DH=1, DW=1, groups=1)
SHAPES = {
    "matmul": ShapeSpec("MxNxK[xZ]  (C[Z,M,N] = A[Z,M,K] @ B[K,N])", (("M", "N", "K"), ("M", "N", "K", "Z")),
                        dict(Z=1)),
    "conv2d": ShapeSpec("NxCxHxWxOxKHxKW  (--set which=forward|input|weight SH= PH= DH= groups=)",
                        (("batch", "C", "H", "W", "O", "KH", "KW"),), _CONV_GEO),
    "attention": ShapeSpec("BxHxSxD or BxHxSqxSkxD  (--set causal=true)",
                           (("B", "H", "S", "D"), ("B", "H", "S_q", "S_k", "D")), dict(causal=False)),
    "attention_backward": ShapeSpec("BxHxSxD or BxHxSqxSkxD  (--set causal=true)",
                                    (("B", "H", "S", "D"), ("B", "H", "S_q", "S_k", "D")), dict(causal=False)),
    "softmax": ShapeSpec("MxN  (rows x row length; --set log=true)", (("M", "N"),)),
    "layer_norm": ShapeSpec("MxN  (rows x normalized size)", (("M", "N"),)),
    "cross_entropy": ShapeSpec("MxV  (rows x classes)", (("M", "V"),)),
    "reduce": ShapeSpec("MxR  (outputs x reduced length; --set op=sum|max|argmax|cumsum.. layout=row|col)",
                        (("M", "R"),), dict(op="sum", layout="row")),
    "embedding": ShapeSpec("VxDxIDS  (vocab x dim x looked-up ids)", (("V", "D", "n_ids"),)),
}
_ALIASES = {"S": ("S_q", "S_k")}


def _reduce_ops() -> tuple:
    from blaze.kernels.reduce import REDUCE_OPS, SCAN_OPS
    return (*REDUCE_OPS, *SCAN_OPS)


# What --set accepts per key (any other key is a dim: an integer >= 1): a type, a minimum for
# ints, choices for strings. A zero batch (Z=0) or a string where a flag belongs
# (causal=maybe) would otherwise reach the kernel as is.
_SET_RULES = {
    "PH": (int, 0), "PW": (int, 0), "causal": (bool, None), "log": (bool, None),
    "label_smoothing": (float, (0.0, 1.0)), "which": (str, ("forward", "input", "weight")),
    "layout": (str, ("row", "col")), "op": (str, _reduce_ops),
}


def _gemm_fwd_bwd(M, N, K):
    """(M, N, K) of Y = X W and of its backward GEMMs dX = dY W^T and dW = X^T dY."""
    return [(M, N, K), (M, K, N), (K, N, M)]


def _gpt2_small(dtype="bfloat16", B=8, T=1024, d=768, heads=12, vocab=50257):
    """The kernels of a GPT-2-small (124M) training step at batch B x T tokens."""
    M = B * T
    gemms = [g for n, k in ((3 * d, d), (d, d), (4 * d, d), (d, 4 * d), (vocab, d)) for g in _gemm_fwd_bwd(M, n, k)]
    att = dict(B=B, H=heads, S_q=T, S_k=T, D=d // heads, dtype=dtype, causal=True)
    return ([("matmul", dict(M=m, N=n, K=k, Z=1, dtype=dtype)) for m, n, k in gemms]
            + [("attention", att), ("attention_backward", dict(att))])


# --preset NAME: the problems of a known model's step (see _gpt2_small)
PRESETS = {"gpt2-small": _gpt2_small}


def shape_spec(name: str, tunable) -> ShapeSpec:
    """The table entry for ``name``; kernels not in the table take their integer problem keys."""
    if name in SHAPES:
        return SHAPES[name]
    keys = tuple(k for k in (tunable.problem_keys or ("numel",)) if k != "dtype")
    return ShapeSpec("x".join(keys), (keys,))


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _checked_set(name: str, key: str, value, text: str):
    """``value`` if it suits ``key`` (see _SET_RULES; other keys are dims >= 1), else ValueError."""
    kind, limit = _SET_RULES.get(key, (int, 1))
    if kind is float and type(value) is int:
        value = float(value)
    if kind is str:
        choices = limit() if callable(limit) else limit
        ok, want = value in choices, "one of " + "|".join(choices)
    elif kind is bool:
        ok, want = type(value) is bool, "true or false"
    elif kind is int:
        ok, want = type(value) is int and value >= limit, f"an integer >= {limit}"
    else:
        ok, want = type(value) is float and limit[0] <= value <= limit[1], f"a number in [{limit[0]}, {limit[1]}]"
    if not ok:
        raise ValueError(f"{name}: --set {key}={text}: expected {want}")
    return value


def parse_problem(name: str, tunable, shape: str, dtype: str, sets: list[str]) -> dict:
    """Problem dict for ``--shape``/``--dtype``/``--set`` (ValueError with the syntax on mistakes)."""
    spec = shape_spec(name, tunable)
    try:
        dims = [int(d) for d in shape.lower().split("x")]
    except ValueError:
        raise ValueError(f"{name}: bad --shape {shape!r}; expected {spec.syntax} with integer dims") from None
    if any(d <= 0 for d in dims):
        raise ValueError(f"{name}: --shape {shape!r} has a dim <= 0")
    layout = next((lay for lay in spec.layouts if len(lay) == len(dims)), None)
    if layout is None:
        raise ValueError(f"{name}: --shape {shape!r} has {len(dims)} dims; expected {spec.syntax}")
    problem = dict(spec.defaults)
    for key, d in zip(layout, dims):
        for k in _ALIASES.get(key, (key,)):
            problem[k] = d
    given = {}
    for item in sets:
        k, eq, v = item.partition("=")
        if not eq or not k:
            raise ValueError(f"bad --set {item!r}; expected KEY=VALUE")
        if k == "dtype":
            raise ValueError("set the dtype with --dtype, not --set")
        given[k] = v
    if dtype.lower() not in DTYPES:
        raise ValueError(f"unknown --dtype {dtype!r}; use one of bf16, fp16, fp32")
    problem["dtype"] = DTYPES[dtype.lower()]
    known = set(tunable.problem_keys or ())
    unknown = sorted((set(problem) | set(given)) - known - {"log", "label_smoothing"}) if known else []
    if unknown:
        raise ValueError(f"{name}: unknown problem key(s) {', '.join(unknown)}; keys: {', '.join(sorted(known))}")
    problem.update({k: _checked_set(name, k, _value(v), v) for k, v in given.items()})
    return problem


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------
def _fmt_problem(problem: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in problem.items())


def _fmt_cfg(cfg) -> str:
    if not isinstance(cfg, dict):
        return repr(cfg) if cfg else "-"
    return " ".join(f"{k}={v}" for k, v in cfg.items()) or "-"


def table(headers: list[str], rows: list[list]) -> str:
    """A plain left-aligned text table."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _ms(v) -> str:
    return "failed" if v is None else f"{v:.4g} ms"


def summary(results) -> str:
    """The table printed after tuning: kernel, problem, best config, time, speed-up over heuristic."""
    rows = []
    for r in results:
        sp = r.speedup
        rows.append([r.kernel, _fmt_problem(r.problem), _fmt_cfg(r.best), _ms(r.best_ms), _ms(r.heuristic_ms),
                     "-" if sp is None else f"{sp:.2f}x", f"{r.timed}/{r.timed + len(r.skipped)}"])
    return table(["kernel", "problem", "best config", "time", "heuristic", "speed-up", "configs ok"], rows)


# ---------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------
def _prepare_backend() -> str | None:
    """Without a GPU, run kernels in Triton's interpreter (set before Triton is imported)."""
    from blaze.tuning.timer import gpu_available
    if gpu_available():
        return None
    if "triton" not in sys.modules:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    from blaze.tuning.timer import CPU_TIMING_NOTE
    return CPU_TIMING_NOTE


def _run_tuning(problems, args, out) -> int:
    from blaze.tuning.cache import cache_path
    from blaze.tuning.timer import default_timer
    from blaze.tuning.tuner import candidate_configs, tune
    from tqdm import tqdm
    timer = default_timer(args.warmup, args.repeats)
    total = 0
    for name, problem in problems:
        try:
            total += len(candidate_configs(name, problem, max_configs=args.max_configs))
        except Exception:  # reported by the tuning loop below
            pass
    bar = tqdm(total=total, desc="tuning", file=sys.stderr, disable=None)
    results, failed = [], []
    for name, problem in problems:
        bar.set_postfix(kernel=name, refresh=False)
        try:
            results.append(tune(name, problem, max_configs=args.max_configs, timer=timer,
                                on_config=lambda cfg, ms: bar.update(1)))
        except Exception as e:  # a problem the kernel rejects: report it, tune the rest
            failed.append((name, problem, f"{type(e).__name__}: {e}"))
    bar.close()
    print(summary(results), file=out)
    for r in results:
        for cfg, why in r.skipped:
            print(f"skipped {r.kernel} {_fmt_cfg(cfg)}: {why}", file=out)
    for name, problem, why in failed:
        print(f"error: {name} {_fmt_problem(problem)}: {why}", file=out)
    print(f"timer: {timer.kind}; cache: {cache_path()}", file=out)
    if timer.note:
        print(timer.note, file=out)
    return 1 if failed or any(r.best is None for r in results) else 0


def _cmd_list(args, out) -> int:
    from blaze.kernels.registry import tunables
    from blaze.tuning.tuner import load_kernels
    errors = load_kernels()
    rows = [[name, str(len(t.configs)), ",".join(t.problem_keys), shape_spec(name, t).syntax, t.doc]
            for name, t in sorted(tunables().items())]
    print(table(["kernel", "configs", "problem keys", "--shape", "what"], rows), file=out)
    print("dtypes: bf16, fp16, fp32.  Shape buckets: integer dims round up to a power of two "
          "(D and conv geometry exact).", file=out)
    for m, e in errors.items():
        print(f"warning: blaze.kernels.{m} failed to import: {e}", file=out)
    return 0


def _cmd_show(args, out) -> int:
    from blaze.tuning import cache
    entries = cache.read_entries()
    if not entries:
        print(f"autotune cache {cache.cache_path()} is empty", file=out)
        return 0
    rows = []
    for e in sorted(entries.values(), key=lambda e: (e.get("kernel", ""), str(e.get("bucket")))):
        h, t = e.get("heuristic_ms"), e.get("time_ms")
        rows.append([e.get("kernel"), _fmt_problem(e.get("bucket", {})), e.get("dtype"), _fmt_cfg(e.get("config")),
                     _ms(t), f"{h / t:.2f}x" if h and t else "-", e.get("device"), e.get("triton"),
                     e.get("source_hash")])
    print(table(["kernel", "shape bucket", "dtype", "config", "time", "speed-up", "device", "triton", "source"],
                rows), file=out)
    print(f"{len(entries)} entries in {cache.cache_path()}", file=out)
    return 0


def _cmd_clear(args, out) -> int:
    from blaze.tuning import cache
    n = cache.clear()
    print(f"removed {n} entries from {cache.cache_path()}", file=out)
    return 0


def _cmd_export(args, out) -> int:
    from blaze.tuning import cache
    n = cache.export(args.file)
    print(f"exported {n} entries to {args.file}", file=out)
    return 0


def _cmd_import(args, out) -> int:
    from blaze.tuning import cache
    n = cache.import_(args.file)
    print(f"imported {n} entries into {cache.cache_path()}", file=out)
    return 0


COMMANDS = {
    "list": (_cmd_list, "kernels, their problem keys and --shape syntax", None),
    "show": (_cmd_show, "the cache's entries as a table", None),
    "clear": (_cmd_clear, "delete the cache file", None),
    "export": (_cmd_export, "write the cache's entries to FILE", "file"),
    "import": (_cmd_import, "merge the entries of FILE into the cache", "file"),
}


def _tuning_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-configs", type=int, default=None, metavar="N",
                   help="try only the first N configs of each space (the heuristic is always timed)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per config (GPU 3, interpreter 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per config, median kept (GPU 20, "
                                                             "interpreter 3)")


def _run_script(cmd: list[str]) -> int:
    """Run ``[python] script.py args`` or ``[python] -m module args`` in this process."""
    if cmd and os.path.basename(cmd[0]).startswith("python"):
        cmd = cmd[1:]
    if not cmd:
        raise ValueError("--record needs a script: blaze tune --record python train.py [args]")
    module = cmd[0] == "-m"
    if module and len(cmd) < 2:
        raise ValueError("--record python -m needs a module name")
    target, argv = (cmd[1], cmd[1:]) if module else (cmd[0], cmd)
    if not module and not os.path.isfile(target):
        raise ValueError(f"--record: no such script {target!r}")
    saved = sys.argv[:]
    sys.argv = list(argv)
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved


def _cmd_record(argv: list[str], out) -> int:
    i = argv.index("--record")
    p = argparse.ArgumentParser(prog="blaze tune --record", description="record, then tune")
    _tuning_options(p)
    p.add_argument("--record-file", default=None, help="where to save the recorded problems "
                                                      "(default <cache dir>/recorded.json)")
    args = p.parse_args(argv[:i])
    cmd = argv[i + 1:]
    if not cmd:
        p.error("--record needs a command: blaze tune --record python train.py [args]")
    _prepare_backend()
    from blaze.tuning.tuner import default_record_path, record
    path = args.record_file or default_record_path()
    try:
        with record(path) as rec:
            rc = _run_script(cmd)
    except ValueError as e:
        p.error(str(e))
    except Exception:  # the script crashed: tune what it launched before, then report
        traceback.print_exc()
        rc = 1
    print(f"recorded {len(rec.records)} problems from {' '.join(cmd)} -> {path}", file=out)
    if rc:
        print(f"warning: the script exited with status {rc}", file=out)
    if not rec.records:
        print("nothing to tune: the script launched no tunable Triton kernel (CPU tensors use NumPy; "
              "move the model to 'cuda')", file=out)
        return 1 if rc else 0
    from blaze.tuning.tuner import distinct
    status = _run_tuning(distinct(rec.records), args, out)
    return status or (1 if rc else 0)


def _cmd_tune(argv: list[str], out) -> int:
    p = argparse.ArgumentParser(prog="blaze tune", description=__doc__.split("\n\n")[0],
                                epilog="commands: " + "; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items())
                                + ". Record mode: blaze tune [options] --record python train.py [args]")
    p.add_argument("kernel", nargs="*", help="kernels to tune (see 'blaze tune list')")
    p.add_argument("--shape", action="append", default=[], help="problem shape, syntax per kernel "
                                                               "(repeatable)")
    p.add_argument("--dtype", action="append", default=[], help="bf16 | fp16 | fp32 (repeatable; default bf16)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="other problem keys")
    p.add_argument("--preset", choices=sorted(PRESETS), help="tune the matmul and attention problems of a "
                                                               "model's training step (bf16)")
    p.add_argument("--recorded", nargs="?", const="", default=None, metavar="FILE",
                   help="tune problems recorded earlier (default <cache dir>/recorded.json)")
    _tuning_options(p)
    args = p.parse_args(argv)
    if args.max_configs is not None and args.max_configs < 0:
        p.error("--max-configs must be >= 0")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    _prepare_backend()
    from blaze.tuning.tuner import distinct, get_tunable, load_records
    if args.recorded is not None:
        if args.kernel or args.shape:
            p.error("--recorded takes no kernel names or --shape")
        try:
            return _run_tuning(distinct(load_records(args.recorded or None)), args, out)
        except ValueError as e:
            p.error(str(e))
    if args.preset:
        if args.kernel or args.shape:
            p.error("--preset takes no kernel names or --shape")
        return _run_tuning(distinct(PRESETS[args.preset]()), args, out)
    if not args.kernel:
        p.error("name a kernel to tune (see 'blaze tune list'), a command (list, show, clear, export, import) "
                "or use --record")
    if not args.shape:
        p.error("--shape is required when tuning a named kernel (syntax in 'blaze tune list')")
    problems = []
    try:
        for name in args.kernel:
            t = get_tunable(name)
            for shape, dtype in itertools.product(args.shape, args.dtype or ["bf16"]):
                problems.append((name, parse_problem(name, t, shape, dtype, args.set)))
    except ValueError as e:
        p.error(str(e))
    return _run_tuning(problems, args, out)


def main(argv: list[str] | None = None, out=None) -> int:
    """Entry point of ``blaze tune``; returns the exit status (2 for bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    try:
        if "--record" in argv:
            return _cmd_record(argv, out)
        if argv and argv[0] in COMMANDS:
            fn, help_, arg = COMMANDS[argv[0]]
            p = argparse.ArgumentParser(prog=f"blaze tune {argv[0]}", description=help_)
            if arg:
                p.add_argument(arg, help="a JSON cache file")
            args = p.parse_args(argv[1:])
            try:
                return fn(args, out)
            except (ValueError, OSError) as e:
                print(f"blaze tune {argv[0]}: error: {e}", file=sys.stderr)
                return 1
        return _cmd_tune(argv, out)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)


if __name__ == "__main__":
    sys.exit(main())
