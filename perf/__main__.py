"""``python -m perf {run,compare,report} ...`` (see perf/__init__.py)."""
import importlib
import os
import sys

if __package__ in (None, ""):  # `python perf` from the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# One BLAS / OpenMP thread unless the caller chose otherwise: on a shared 2-core CI box a
# multi-threaded 128^3 sgemm swings 10x between runs; one thread keeps ratios comparable.
# Set before NumPy is imported (the runner records the value in its JSON).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

COMMANDS = {"run": "perf.runner", "compare": "perf.compare", "report": "perf.report", "launches": "perf.bench_launches"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m perf {run,compare,report,launches} [options]   (-h after a command for its options)",
              file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
