"""Training-step time on the CPU, blaze vs PyTorch eager, same models and shapes.

    python perf/bench_train_steps.py [--quick] [--out results.json] [--cases mlp,cnn]

One step = zero_grad + forward + loss + backward + optimizer step. Cases: an MLP (Adam), a
CNN with BatchNorm (SGD + momentum), a 2-layer LSTM language model (Adam) and a 2-layer
pre-norm transformer language model (AdamW). The model code is written once against a
framework module ``fw`` (``blaze`` or ``torch``): the APIs match, so both run the same
layers with the same shapes. PyTorch is timed only when ``import torch`` works (it is not a
dependency of blaze). ``run(quick)`` returns one dict per case (keys: case, shape, dtype,
device, median_s, ref_median_s, ratio) for the ``python -m perf`` runner.

On a shared or small machine compare single-threaded (``OPENBLAS_NUM_THREADS=1
OMP_NUM_THREADS=1``): with busy cores, multi-threaded BLAS and torch's thread pool spend
their time waiting on each other and the ratio measures the machine's load, not the code.

The command line times each framework in its own processes, alternating (``--rounds``
processes per side and case, ``--samples`` steps each after two warm-ups; the median of all
samples): blaze's cpu device sets glibc's malloc thresholds for the whole process
(blaze/devices/cpu/memory.py), which in one process made PyTorch's LSTM LM step 15-20% faster
too, so the in-process ratio no longer compared against PyTorch as its users run it.
``--in-process`` (and ``run()``, for ``python -m perf``) keep the step-by-step alternation in
one process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ------------------------------------------------------------------------------ models (framework-agnostic)
def _mlp(fw):
    nn = fw.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    x, y = fw.randn(128, 784), fw.randint(0, 10, (128,))
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt, lambda: nn.functional.cross_entropy(model(x), y), "B=128 784-512-256-10"


def _cnn(fw):
    nn = fw.nn
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # (B, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    x, y = fw.randn(64, 1, 28, 28), fw.randint(0, 10, (64,))
    opt = fw.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, lambda: nn.functional.cross_entropy(model(x), y), "B=64 1x28x28 conv16-conv32-fc"


def _lstm(fw):
    nn = fw.nn
    V, E, H, B, T = 96, 64, 256, 32, 64

    class LSTMLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, E)
            self.rnn = nn.LSTM(E, H, num_layers=2, batch_first=True)
            self.head = nn.Linear(H, V)

        def forward(self, idx):
            h, _ = self.rnn(self.emb(idx))      # (B, T, H)
            return self.head(h)                 # (B, T, V)

    model = LSTMLM()
    idx, tgt = fw.randint(0, V, (B, T)), fw.randint(0, V, (B, T))
    opt = fw.optim.Adam(model.parameters(), lr=2e-3)
    loss = lambda: nn.functional.cross_entropy(model(idx).reshape(B * T, V), tgt.reshape(B * T))  # noqa: E731
    return model, opt, loss, f"B={B} T={T} V={V} E={E} H={H} L=2"


def _transformer(fw):
    nn, F = fw.nn, fw.nn.functional
    V, D, NH, B, T = 96, 128, 4, 16, 128

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.qkv, self.proj = nn.Linear(D, 3 * D), nn.Linear(D, D)
            self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)                  # 3 x (B, T, D)
            q, k, v = (z.reshape(b, t, NH, d // NH).transpose(1, 2) for z in (q, k, v))  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)     # (B, nh, T, hs)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))           # (B, T, D)
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(T, D)
            self.blocks = nn.ModuleList([Block(), Block()])
            self.ln, self.head = nn.LayerNorm(D), nn.Linear(D, V, bias=False)
            self.head.weight = self.tok.weight  # weight tying

        def forward(self, idx):
            x = self.tok(idx) + self.pos(fw.arange(idx.shape[1]))  # (B, T, D)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))                              # (B, T, V)

    model = GPT()
    idx, tgt = fw.randint(0, V, (B, T)), fw.randint(0, V, (B, T))
    opt = fw.optim.AdamW(model.parameters(), lr=1e-3)
    loss = lambda: F.cross_entropy(model(idx).reshape(B * T, V), tgt.reshape(B * T))  # noqa: E731
    return model, opt, loss, f"B={B} T={T} V={V} D={D} heads={NH} L=2"


CASES = {"mlp": _mlp, "cnn_bn": _cnn, "lstm_lm": _lstm, "transformer_lm": _transformer}


# ------------------------------------------------------------------------------ timing
def _stepper(fw, build):
    fw.manual_seed(0)
    model, opt, loss_fn, shape = build(fw)
    model.train()

    def step():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        return loss
    return step, shape


def _time_interleaved(steppers, repeats: int, warmup: int = 2):
    """Median seconds per step for each stepper; the frameworks alternate step by step so that a
    busy machine (CI, other processes) slows both alike and the ratio stays meaningful."""
    for step in steppers:
        for _ in range(warmup):
            step()
    times = [[] for _ in steppers]
    order = list(range(len(steppers)))
    for _ in range(repeats):
        # rotate who goes first: the step right after the other framework's ran ~1 ms slower
        # (caches and allocator state), which biased a fixed order by several percent
        order = order[1:] + order[:1]
        for i in order:
            t0 = time.perf_counter()
            steppers[i]()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def run(quick: bool = False, cases=None) -> list[dict]:
    """Median seconds per training step for each case, with PyTorch's when it is importable."""
    import blaze
    torch = _torch()
    repeats = 5 if quick else 15
    results = []
    for name in cases or CASES:
        step, shape = _stepper(blaze, CASES[name])
        steppers = [step] + ([_stepper(torch, CASES[name])[0]] if torch is not None else [])
        med, *ref = _time_interleaved(steppers, repeats)
        ref = ref[0] if ref else None
        results.append(dict(case=f"train_step/{name}", shape=shape, dtype="float32", device="cpu", median_s=med,
                            ref_median_s=ref, ratio=(med / ref) if ref else None,
                            reference=f"torch {torch.__version__} eager" if torch else None))
    return results


def _time_child(name: str, side: str, samples: int) -> None:
    """Print the case's shape, then ``samples`` step times in seconds, one per line (runs in its own process)."""
    fw = __import__(side)
    step, shape = _stepper(fw, CASES[name])
    print(shape)
    for _ in range(2):
        step()
    for _ in range(samples):
        t0 = time.perf_counter()
        step()
        print(time.perf_counter() - t0)


def run_solo(cases=None, rounds: int = 3, samples: int = 5) -> list[dict]:
    """As :func:`run`, each framework timed in its own processes, alternating case by case."""
    import subprocess
    torch = _torch()
    sides = ["torch", "blaze"] if torch is not None else ["blaze"]
    results = []
    for name in cases or CASES:
        times = {side: [] for side in sides}
        for _ in range(rounds):
            for side in sides:
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--time-child", name, side,
                                      str(samples)], capture_output=True, text=True, check=True)
                shape, *lines = out.stdout.splitlines()
                times[side] += [float(x) for x in lines]
        med = statistics.median(times["blaze"])
        ref = statistics.median(times["torch"]) if torch is not None else None
        results.append(dict(case=f"train_step/{name}", shape=shape, dtype="float32",
                            device="cpu", median_s=med, ref_median_s=ref, ratio=(med / ref) if ref else None,
                            reference=f"torch {torch.__version__} eager" if torch else None))
    return results


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--cases", help="comma-separated subset of " + ",".join(CASES))
    ap.add_argument("--in-process", action="store_true", help="alternate both frameworks step by step in one process")
    ap.add_argument("--rounds", type=int, default=3, help="processes per side and case")
    ap.add_argument("--samples", type=int, default=5, help="timed steps per process")
    ap.add_argument("--time-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.time_child:
        name, side, samples = args.time_child
        _time_child(name, side, int(samples))
        return
    cases = args.cases.split(",") if args.cases else None
    res = run(args.quick, cases) if args.in_process else \
        run_solo(cases, 1 if args.quick else args.rounds, args.samples)
    print(f"{'case':<28}{'shape':<40}{'blaze ms':>10}{'torch ms':>10}{'ratio':>8}")
    for r in res:
        ref = f"{r['ref_median_s'] * 1e3:10.2f}" if r["ref_median_s"] else f"{'-':>10}"
        ratio = f"{r['ratio']:8.2f}" if r["ratio"] else f"{'-':>8}"
        print(f"{r['case']:<28}{r['shape']:<40}{r['median_s'] * 1e3:10.2f}{ref}{ratio}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
