"""Perf cases: op cases (perf/cases/ops.py, dispatch.py) and model-step cases (models.py).

An op case is a builder ``build(params, env) -> bench dict``:

    shape, dtype      labels for the row
    blaze             zero-arg callable running the op through blaze's public API
    numpy / torch     the same computation in NumPy / PyTorch (None if not comparable)
    flops / bytes / samples   work per call, for TFLOP/s, GB/s, samples/s
    bound             "flops" or "bytes": which peak % of peak is taken against on a GPU
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Case:
    """One op case: a builder plus the sizes to run it at (per device) and the --quick sizes."""

    name: str
    build: Callable
    sizes: dict            # device -> list of params dicts
    quick: list            # params for --quick (CPU and CI)
    devices: tuple = ("cpu", "cuda")
    doc: str = ""


@dataclass
class ModelCase:
    """A model-step or pipeline benchmark module exposing ``run(quick) -> list[dict]``."""

    name: str
    module: str
    doc: str = ""

    def run(self, quick: bool) -> list[dict]:
        import importlib
        return importlib.import_module(self.module).run(quick)


def op_cases() -> list[Case]:
    """Every op case, in table order."""
    from perf.cases.dispatch import CASES as dispatch
    from perf.cases.layers import CASES as layers
    from perf.cases.ops import CASES as ops
    return list(ops) + list(layers) + list(dispatch)


def model_cases() -> list[ModelCase]:
    """Every model-step case (modules under perf/)."""
    from perf.cases.models import CASES
    return list(CASES)
