"""Kernel launches of one optimizer step, per parameter tensor (``foreach=False``) vs multi-tensor
(the default), on the emulated cuda device: a 30-parameter MLP and GPT-2-small's structure.

    TRITON_INTERPRET=1 PYTHONPATH=. python perf/bench_optim_launches.py

GPT-2-small keeps its 12 layers and parameter list (148 tensors) at a reduced width (d=64,
vocab 256): the launch count depends on the number of tensors, not their size.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextlib.contextmanager
def counting():
    from triton.runtime.jit import KernelInterface
    n = [0]
    real = KernelInterface.__getitem__

    def getitem(self, grid):
        n[0] += 1
        return real(self, grid)
    KernelInterface.__getitem__ = getitem
    try:
        yield n
    finally:
        KernelInterface.__getitem__ = real


def _models():
    import blaze.nn as nn
    from tests.cuda.models import GPT
    yield "mlp_30_params", lambda: nn.Sequential(*[nn.Linear(8, 8) for _ in range(15)])
    yield "gpt2_small_structure", lambda: GPT(vocab=256, block=64, d=64, heads=4, layers=12)


def run() -> list[dict]:
    import numpy as np

    import blaze
    rows = []
    for name, build in _models():
        for opt_name in ("SGD", "AdamW", "RMSprop", "Adagrad"):
            row = dict(model=name, optimizer=opt_name)
            for mode, kw in (("per_tensor", dict(foreach=False)), ("multi_tensor", {})):
                blaze.manual_seed(0)
                model = build().to("cuda")
                params = list(model.parameters())
                opt = getattr(blaze.optim, opt_name)(params, lr=1e-3, **kw)
                rng = np.random.default_rng(0)
                for _ in range(2):  # the count of the second step: state exists
                    for p in params:
                        p.grad = blaze.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32), device="cuda")
                    with counting() as n:
                        opt.step()
                row.update(params=len(params), **{mode: n[0]})
            rows.append(row)
    return rows


def main() -> int:
    rows = run()
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
