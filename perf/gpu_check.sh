#!/usr/bin/env bash
# The one-command GPU check for a session with a borrowed NVIDIA GPU (installs nothing).
#
#   OUT=/some/dir bash perf/gpu_check.sh        # from anywhere; runs in the repository root
#
# Steps, each under its own time limit AND a whole-script deadline (BUDGET_S, default 570 s,
# so the script ends within ~9.5 minutes even if every step runs to its limit):
#   env           GPU, driver, Python / Triton / cuda-bindings / torch versions     (env.json)
#   cuda_tests    tests/cuda on the real device                                      (pytest_cuda.log)
#   models_gpt    GPT-2-small training steps, blaze vs PyTorch eager, bf16           (models_gpt.json)
#   models_cnn    ResNet-style CNN training steps, blaze vs PyTorch eager, bf16      (models_cnn.json)
#   graphs        tests/cuda/test_graphs.py through real stream capture, then both   (pytest_graphs.log,
#                 models as one CUDA graph per step (blaze.cuda.GraphedTrainStep)    models_graphed.json)
#   kernel_tests  the model-critical kernel tests (matmul, attention, conv, norms,   (pytest_kernels.log)
#                 softmax, losses: ~140 of the ~490; the rest run in CI emulated)
#   perf          the perf suite on cuda, quick sizes                                 (perf.json)
#   direct_launch blaze.kernels.launcher's compiled-kernel path and the profiler's    (direct_launch.log)
#                 CUDA-event timing on the real device, host µs per launch before/after
# Limits (s): 15 + 100 + 130 + 100 + 90 + 70 + 35 + 30 = 570. Everything is written under $OUT (logs,
# JSON, summary.json); the last thing printed is a summary table, one row per step.
#
# Without a GPU the device steps are skipped with one line each, unless TRITON_INTERPRET=1
# is set by the caller: then it is an emulated dry run of the script itself (no timings).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-perf/results/gpu_check_$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
# blaze's tuning cache goes under $OUT too; Triton's compile cache stays in ~/.triton (a cache, not output)
export PYTHONPATH=. PYTHONDONTWRITEBYTECODE=1 BLAZE_CACHE_DIR="$OUT/blaze_cache"
if [ "${TRITON_INTERPRET:-0}" = "1" ]; then
    MODE=emulated
    echo "NOTE: TRITON_INTERPRET=1: emulated dry run (Triton interpreter, no GPU timings)"
else
    MODE=gpu
    unset TRITON_INTERPRET
fi
PY=${PYTHON:-python3}
BUDGET_S=${BUDGET_S:-570}
T_START=$(date +%s)
declare -A RC WALL STATUS
ORDER=()

step() {  # step NAME SECONDS LOG CMD...   (limit = min(SECONDS, time left before the deadline))
    local name=$1 limit=$2 log=$3; shift 3
    local left=$(( BUDGET_S - ($(date +%s) - T_START) ))
    ORDER+=("$name")
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    if [ "$limit" -lt 10 ]; then
        RC[$name]=-1; WALL[$name]=0; STATUS[$name]="SKIP (script deadline ${BUDGET_S}s reached)"
        echo "== $name: SKIP, script deadline ${BUDGET_S}s reached"; return
    fi
    local t0=$(date +%s)
    echo "== $name (limit ${limit}s) -> $OUT/$log"
    timeout --kill-after=5 "$limit" "$@" > "$OUT/$log" 2>&1
    local rc=$?
    RC[$name]=$rc
    WALL[$name]=$(( $(date +%s) - t0 ))
    case $rc in
        0) STATUS[$name]=PASS ;;
        124|137) STATUS[$name]="TIMEOUT after ${limit}s" ;;
        *) STATUS[$name]="FAIL rc=$rc: $(grep -v '^\s*$' "$OUT/$log" | tail -n 1 | cut -c1-100)" ;;
    esac
    echo "   ${STATUS[$name]} (wall ${WALL[$name]}s)"
}

skip() {  # skip NAME REASON
    ORDER+=("$1"); RC[$1]=-1; WALL[$1]=0; STATUS[$1]="SKIP ($2)"
    echo "== $1: SKIP, $2"
}

step env 15 env.log "$PY" -c '
import json, platform, subprocess, sys
info = {"python": platform.python_version()}
for mod in ("triton", "numpy", "torch", "cuda.bindings"):
    try:
        m = __import__(mod, fromlist=["_"]); info[mod] = getattr(m, "__version__", "?")
    except Exception as e:
        info[mod] = f"missing ({type(e).__name__})"
try:
    info["nvidia-smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                         "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
except Exception as e:
    info["nvidia-smi"] = f"unavailable ({type(e).__name__})"
import blaze
try:
    info["blaze.cuda.is_available"] = bool(blaze.cuda.is_available())
    info["blaze.cuda.is_emulated"] = bool(blaze.cuda.is_emulated())
    usable = info["blaze.cuda.is_available"] or info["blaze.cuda.is_emulated"]
    info["device"] = blaze.cuda.get_device_name() if usable else None
except Exception as e:
    usable, info["device"] = False, f"error ({type(e).__name__}: {e})"
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(info)
if not usable:
    print("no usable cuda device: blaze.cuda.is_available() is False")
    sys.exit(3)
' "$OUT/env.json"

if [ "${RC[env]}" = 0 ]; then
    step cuda_tests 100 pytest_cuda.log "$PY" -m pytest tests/cuda -p no:cacheprovider -p no:warnings \
        --maxfail=10 --durations=15 --basetemp="$OUT/pytest_tmp"
    # one (framework, model) child process per --timeout: 2 children must fit the step limit
    step models_gpt 130 models_gpt.log "$PY" perf/bench_gpu_models.py --models gpt --timeout 62 \
        --frameworks torch,blaze --out "$OUT/models_gpt.json"
    step models_cnn 100 models_cnn.log "$PY" perf/bench_gpu_models.py --models cnn --timeout 47 \
        --frameworks torch,blaze --out "$OUT/models_cnn.json"
    step graphs 90 pytest_graphs.log bash -c "$PY -m pytest -p no:cacheprovider -p no:warnings tests/cuda/test_graphs.py \
        && $PY perf/bench_gpu_models.py --models gpt,cnn --frameworks blaze_graphed --timeout 35 \
        --out $OUT/models_graphed.json"
    step kernel_tests 70 pytest_kernels.log "$PY" -m pytest -p no:cacheprovider -p no:warnings --maxfail=10 \
        --durations=10 tests/kernels/test_matmul.py tests/kernels/test_attention.py tests/kernels/test_conv.py \
        tests/kernels/test_layernorm.py tests/kernels/test_softmax.py tests/kernels/test_loss.py
    if [ -f perf/__main__.py ]; then
        step perf 35 perf.log "$PY" -m perf run --device cuda --quick --out "$OUT/perf.json"
    else
        skip perf "perf/__main__.py not found"
    fi
    step direct_launch 30 direct_launch.log bash -c "$PY -m pytest -p no:cacheprovider -p no:warnings -q \
        tests/kernels/test_launcher.py tests/profiler && $PY perf/bench_launch.py --json $OUT/direct_launch.json"
else
    echo "NOTE: no usable cuda device (see $OUT/env.json); TRITON_INTERPRET=1 makes this an emulated dry run"
    why="no cuda device"
    for s in cuda_tests models_gpt models_cnn graphs kernel_tests perf direct_launch; do skip "$s" "$why"; done
fi

# summary.json, then the table (printed last). Values travel through the environment, not code.
export GC_OUT=$OUT GC_MODE=$MODE GC_TOTAL=$(( $(date +%s) - T_START ))
export GC_ROWS=$(for k in "${ORDER[@]}"; do printf '%s\t%s\t%s\t%s\n' "$k" "${RC[$k]}" "${WALL[$k]}" "${STATUS[$k]}"; done)
"$PY" - <<'PYEOF'
import json
import os

out = os.environ["GC_OUT"]
rows = [line.split("\t", 3) for line in os.environ["GC_ROWS"].splitlines() if line]
summary = {"mode": os.environ["GC_MODE"], "total_s": int(os.environ["GC_TOTAL"]),
           "steps": {name: {"rc": int(rc), "wall_s": int(wall), "status": status} for name, rc, wall, status in rows},
           "blaze_over_torch": {}}
runs = []  # one line per (model, framework) child of bench_gpu_models.py
for model in ("gpt", "cnn"):
    try:
        with open(f"{out}/models_{model}.json") as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:
        summary["blaze_over_torch"][model] = f"unavailable ({type(e).__name__})"
        continue
    summary["blaze_over_torch"].update(bench.get("blaze_over_torch", {}))
    summary["blaze_over_torch"].setdefault(model, "unavailable (a side failed)")
    for r in bench.get("results", []):
        what = f"{r['per_s']:.0f} {r.get('unit', '/s')}" if r.get("ok") else f"error: {str(r.get('error'))[:80]}"
        runs.append(f"  {model:<4} {r.get('framework', '?'):<6} {what}")
    step = summary["steps"].get(f"models_{model}")
    mine = [r for r in bench.get("results", []) if r.get("framework") == "blaze"]
    if step and step["rc"] == 0 and not any(r.get("ok") for r in mine):  # the bench exits 0 either way
        step["status"] = "FAIL: blaze run " + (str(mine[0].get("error"))[:80] if mine else "missing")
summary["passed"] = [k for k, v in summary["steps"].items() if v["status"] == "PASS"]
with open(f"{out}/summary.json", "w") as f:
    json.dump(summary, f, indent=1)

print(f"\n{'step':<13} {'rc':>4} {'wall_s':>7}  status")
for name, v in summary["steps"].items():
    print(f"{name:<13} {v['rc']:>4} {v['wall_s']:>7}  {v['status']}")
ratios = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary["blaze_over_torch"].items())
print("\n".join(["model runs:"] + runs) if runs else "model runs: none")
print(f"blaze/torch throughput (bf16 training step): {ratios}")
print(f"mode={summary['mode']} total={summary['total_s']}s  files: {out}")
PYEOF
