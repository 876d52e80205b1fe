#!/usr/bin/env bash
# The one-command GPU check for a session with a borrowed NVIDIA GPU (installs nothing).
#
#   OUT=/some/dir bash perf/gpu_check.sh        # from the repository root
#
# Runs, each under its own time limit so the whole script ends within ~8 minutes:
#   1. environment: GPU, driver, Python / Triton / cuda-bindings / torch versions    (env.json)
#   2. tests/cuda on the real device (no TRITON_INTERPRET)                           (pytest_cuda.log)
#   3. GPT-2-small and ResNet-style CNN training steps, blaze vs PyTorch eager, bf16  (models.json)
#   4. tests/kernels on the real device                                               (pytest_kernels.log)
#   5. the perf suite on cuda, if `python -m perf` is there                           (perf.json)
# and writes summary.json with each step's exit code and wall time.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-perf/results/gpu_check_$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export PYTHONPATH=.
unset TRITON_INTERPRET
PY=${PYTHON:-python3}
declare -A RC WALL

step() {  # step NAME SECONDS LOG CMD...
    local name=$1 limit=$2 log=$3; shift 3
    local t0=$(date +%s)
    echo "== $name (limit ${limit}s) -> $OUT/$log"
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$log" 2>&1
    RC[$name]=$?
    WALL[$name]=$(( $(date +%s) - t0 ))
    echo "   rc=${RC[$name]} wall=${WALL[$name]}s"; tail -n 3 "$OUT/$log"
}

step env 30 env.log "$PY" -c '
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
    info["nvidia-smi"] = str(e)
import blaze
info["blaze.cuda.is_available"] = blaze.cuda.is_available()
info["device"] = blaze.cuda.get_device_name() if info["blaze.cuda.is_available"] else None
json.dump(info, open(sys.argv[1], "w"), indent=1); print(info)
' "$OUT/env.json"
step cuda_tests 150 pytest_cuda.log "$PY" -m pytest tests/cuda -q -p no:cacheprovider -x --durations=15
step models 200 models.log "$PY" perf/bench_gpu_models.py --out "$OUT/models.json" --timeout 95
step kernel_tests 120 pytest_kernels.log "$PY" -m pytest tests/kernels -q -p no:cacheprovider -x --durations=10
if [ -f perf/__main__.py ]; then
    step perf 60 perf.log "$PY" -m perf run --device cuda --quick --out "$OUT/perf.json"
fi

"$PY" - "$OUT" <<PYEOF
import json, sys
out = sys.argv[1]
rc = {$(for k in "${!RC[@]}"; do printf '"%s": %s, ' "$k" "${RC[$k]}"; done)}
wall = {$(for k in "${!WALL[@]}"; do printf '"%s": %s, ' "$k" "${WALL[$k]}"; done)}
summary = {"rc": rc, "wall_s": wall, "passed": [k for k, v in rc.items() if v == 0]}
try:
    summary["blaze_over_torch"] = json.load(open(f"{out}/models.json"))["blaze_over_torch"]
except Exception as e:
    summary["blaze_over_torch"] = f"unavailable ({e})"
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary, indent=1))
PYEOF
