"""Model-step and pipeline cases: thin wrappers over the perf/bench_*.py modules.

Each module exposes ``run(quick) -> list[dict]`` with at least ``case, shape, dtype, device,
median_s`` and a ``*_per_s`` throughput; the runner maps those onto its JSON schema. A
module that is missing or fails becomes an error row, not a crash.
"""
from perf.cases import ModelCase

CASES = [
    ModelCase("dataloader", "perf.bench_dataloader", "Fashion-MNIST images/s through the DataLoader"),
    ModelCase("train_step", "perf.bench_train_steps", "forward + backward + optimizer step of the example models"),
]
