#!/usr/bin/env bash
# CI perf smoke: time a few cheap op cases (--quick) and compare them with the committed CPU
# baseline. Tolerance 5 = fail only when a case is more than 6x slower relative to its NumPy
# reference than in the baseline: shared CI machines are noisy, this only catches rot and
# gross regressions. Takes ~10 s; capped at 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
out="$(mktemp -d)/perf-smoke.json"
# NumPy as the reference even where PyTorch happens to be installed: like the baseline.
export BLAZE_PERF_NO_TORCH=1
timeout 50 "$PY" -m perf run --quick \
    --filter matmul,softmax,layernorm,elementwise,reduce_sum,embedding,max_pool,dispatch --out "$out"
timeout 10 "$PY" -m perf compare perf/baselines/cpu.json "$out" --tolerance 5
