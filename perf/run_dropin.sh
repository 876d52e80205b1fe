#!/usr/bin/env bash
# Re-run the published PyTorch example programs of perf/dropin_programs.md on blaze, unchanged.
#
#   perf/run_dropin.sh PROGRAMS_DIR [DATA_DIR]
#
# PROGRAMS_DIR holds the programs as fetched (not shipped here; sources and commits in
# perf/dropin_programs.md): mnist/main.py, vae/main.py, dcgan/main.py, word_language_model/{main,model,data}.py,
# mnist_rnn/main.py, regression/main.py, time_sequence_prediction/{generate_sine_wave,train}.py,
# mnist_forward_forward/main.py, mnist_hogwild/{main,train}.py, cifar10_tutorial/cifar10_tutorial.py.
# DATA_DIR (default: the repository's ../shared/data) holds mnist/*.gz and text/austen_*.txt.
# Each program runs from its own folder with `python -m blaze.run` (torch/torchvision -> blaze);
# the programs' own dependency matplotlib must be importable (PYTHONPATH may add it).
# Prints one line per program: name, exit status, seconds; full output in PROGRAMS_DIR/<name>.log.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROGS="$(cd "${1:?usage: perf/run_dropin.sh PROGRAMS_DIR [DATA_DIR]}" && pwd)"
DATA="$(cd "${2:-$ROOT/../shared/data}" && pwd)"
PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
LIMIT="${DROPIN_TIMEOUT:-1500}"

# torchvision's MNIST layout, <root>/MNIST/raw/*.gz, with root = ../data as the programs use
mkdir -p "$PROGS/data/MNIST/raw" && cp -n "$DATA"/mnist/*.gz "$PROGS/data/MNIST/raw/"
ln -sfn ../data "$PROGS/mnist_forward_forward/data"
# a wikitext-2-shaped corpus (train/valid/test.txt) from Jane Austen
W="$PROGS/word_language_model/data/austen-small" && mkdir -p "$W"
head -n 4000 "$DATA/text/austen_pride_and_prejudice.txt" > "$W/train.txt"
head -n 600 "$DATA/text/austen_persuasion.txt" > "$W/valid.txt"
head -n 600 "$DATA/text/austen_northanger_abbey.txt" > "$W/test.txt"
mkdir -p "$PROGS/vae/results"

run() {  # run NAME DIR CMD...: from DIR, log to PROGS/NAME.log, one summary line
    local name=$1 dir=$2; shift 2
    local t0=$SECONDS
    (cd "$PROGS/$dir" && timeout "$LIMIT" "$@") > "$PROGS/$name.log" 2>&1
    printf '%-26s exit %-4s %5ss\n' "$name" "$?" "$((SECONDS - t0))"
}

run mnist mnist $PY -m blaze.run main.py --epochs 1 --batch-size 256 --log-interval 40
run vae vae $PY -m blaze.run main.py --epochs 1 --log-interval 100
run dcgan-mnist dcgan $PY -m blaze.run main.py --dataset mnist --dataroot ../data --dry-run --ngf 8 --ndf 8 \
    --batchSize 16 --workers 2 --outf out --manualSeed 1
run dcgan-fake dcgan $PY -m blaze.run main.py --dataset fake --dry-run --ngf 8 --ndf 8 --batchSize 16 \
    --workers 2 --outf out_fake --manualSeed 1
# the program reloads its whole saved model with torch.load(f): PyTorch >= 2.6 refuses that by default
# (weights_only=True) unless TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, which blaze honours the same way
for m in LSTM GRU Transformer; do
    run "word_language_model-$m" word_language_model env TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 \
        $PY -m blaze.run main.py --data data/austen-small --model $m --emsize 64 --nhid 64 --epochs 1 \
        --log-interval 20 --save "model-$m.pt" --onnx-export "$([ $m = LSTM ] && echo model-$m.onnx)"
done
run mnist_rnn mnist_rnn $PY -m blaze.run main.py --dry-run --epochs 1
run regression regression $PY -m blaze.run main.py
run time_sequence_prediction time_sequence_prediction bash -c \
    "$PY -m blaze.run generate_sine_wave.py && $PY -m blaze.run train.py --steps 1 --device cpu"
run mnist_forward_forward mnist_forward_forward $PY -m blaze.run main.py --epochs 20 --train_size 2000 --test_size 1000
run mnist_hogwild mnist_hogwild $PY -m blaze.run main.py --dry-run --epochs 1 --num-processes 2
run cifar10_tutorial cifar10_tutorial $PY "$ROOT/perf/dropin_cifar.py" --per-batch 200 --test 200 cifar10_tutorial.py
