"""The ``blaze`` console script: ``blaze demo``, ``blaze tune``, ``blaze run`` and ``blaze torch``.

Each subcommand lives in its own module and is imported only when asked for, so
``blaze --help`` stays fast and needs neither Triton nor a GPU.
"""
from __future__ import annotations

import importlib
import sys

# subcommand -> (module with a main(argv) function, one-line help)
SUBCOMMANDS = {
    "demo": ("blaze.demo", "train a CNN on the bundled Fashion-MNIST subset and plot its predictions"),
    "tune": ("blaze.tuning.cli", "autotune Triton kernels for this GPU and cache the winners"),
    "run": ("blaze.distributed.launch", "start N processes of a training script over mpiexec (blaze run -n 2 x.py)"),
    "torch": ("blaze.compat", "run a PyTorch script unchanged, torch/torchvision aliased to blaze (blaze torch x.py)"),
}


def _usage() -> str:
    lines = ["usage: blaze <command> [options]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run 'blaze <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"blaze: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
