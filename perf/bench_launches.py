"""Kernel launches per training step, counted by blaze.profiler (issue 16).

    TRITON_INTERPRET=1 python -m perf launches [--model gpt|cnn|both|layers] [--out DIR] [--trace] [--autocast]
        [--capturable]

One training step (forward + backward + optimizer, as in perf/bench_gpu_models.py; fp32, or
bf16 autocast with ``--autocast``, which adds the casts' launches) of a GPT-2-small (12 layers,
12 heads, tied head; widths, vocabulary and sequence reduced so the interpreter runs it in
seconds: the op structure, and so the launch count, does not depend on them; ``--capturable``:
its AdamW with capturable=True) and of the ResNet-style CNN (4 stages, narrow), after one
warm-up step. Prints launches per phase (forward, backward, zero_grad, optimizer step) and per
kernel. With ``--out DIR`` writes ``launches_<model>.json`` and the profiler's table
(``profile_<model>.txt``; ``<model>`` is ``gpt_capturable`` with ``--capturable``), each
naming the command; ``--trace`` also writes the step's Chrome trace (``trace_<model>.json``,
small sizes: open in https://ui.perfetto.dev).
``--model layers`` counts the forward + backward of one ``TransformerEncoderLayer(d_model=64,
nhead=4)`` and one ``TransformerDecoderLayer`` (post- and pre-norm, training and eval).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GPT = dict(vocab=96, block=16, d=48, heads=12, layers=12)   # GPT-2 small: 50257, 1024, 768, 12, 12
CNN = dict(widths=(4, 8, 16, 32), classes=10)                # perf/bench_gpu_models.py: (64, 128, 256, 512)
SIZES = {"gpt": dict(batch=2, seq=16), "cnn": dict(batch=2, hw=16)}
PHASES = ("forward", "backward", "zero_grad", "optimizer.step")


def _setup(model_name, capturable=False):
    import numpy as np

    import blaze
    import blaze.nn.functional as F
    from tests.cuda.models import GPT as GPTModel
    from tests.cuda.models import ResNet
    blaze.manual_seed(0)
    rng = np.random.default_rng(0)
    size = SIZES[model_name]
    if model_name == "gpt":
        model = GPTModel(**GPT).to("cuda")
        opt = blaze.optim.AdamW(model.parameters(), lr=1e-4, capturable=capturable)
        x, y = (blaze.tensor(rng.integers(0, GPT["vocab"], (size["batch"], size["seq"]))).to("cuda") for _ in "xy")
        return model, opt, lambda: model(x, y)
    model = ResNet(**CNN).to("cuda")
    opt = blaze.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = blaze.tensor(rng.standard_normal((size["batch"], 3, size["hw"], size["hw"])).astype(np.float32)).to("cuda")
    y = blaze.tensor(rng.integers(0, CNN["classes"], size["batch"])).to("cuda")
    return model, opt, lambda: F.cross_entropy(model(x), y)


def measure(model_name, record_shapes=False, autocast=False, capturable=False):
    """(profiler, {phase: launches}, {kernel: launches}) of one step after a warm-up step."""
    import blaze
    from blaze.profiler import profile, record_function
    model, opt, loss_fn = _setup(model_name, capturable)

    def step():
        with record_function("forward"), blaze.autocast(device_type="cuda", dtype=blaze.bfloat16, enabled=autocast):
            loss = loss_fn()
        with record_function("zero_grad"):
            opt.zero_grad()
        with record_function("backward"):
            loss.backward()
        with record_function("optimizer.step"):
            opt.step()
    step()
    with profile(record_shapes=record_shapes) as prof:
        step()
    events = prof._events
    phase_of = {}
    for e in events:
        p = e
        while p is not None and not (p.cat == "user_annotation" and p.name in PHASES):
            p = p.parent
        phase_of[id(e)] = p.name if p is not None else "other"
    phases = {ph: 0 for ph in PHASES}
    for e in events:
        if e.cat == "kernel":
            ph = phase_of[id(e)]
            phases[ph] = phases.get(ph, 0) + 1
    n_params = sum(1 for _ in model.parameters())
    return prof, phases, prof.kernel_counts(), n_params


LAYER = dict(d_model=64, nhead=4)   # dim_feedforward 2048 and dropout 0.1: PyTorch's defaults
LAYER_INPUT = (8, 2, 64)            # (seq, batch, d_model)


def layer_launches(kind="encoder", norm_first=False, training=True):
    """{phase: launches} of one forward + backward of a transformer layer on cuda, after a warm-up."""
    import blaze
    import blaze.nn as nn
    from blaze.profiler import profile, record_function
    blaze.manual_seed(0)
    cls = nn.TransformerEncoderLayer if kind == "encoder" else nn.TransformerDecoderLayer
    layer = cls(**LAYER, norm_first=norm_first).to("cuda").train(training)
    x = blaze.randn(*LAYER_INPUT, device="cuda", requires_grad=True)
    mem = blaze.randn(*LAYER_INPUT, device="cuda")
    args = (x,) if kind == "encoder" else (x, mem)

    def step():
        with record_function("forward"):
            y = layer(*args)
        with record_function("backward"):
            y.backward(blaze.ones_like(y))
    step()
    layer.zero_grad()    # set_to_none, as a training step's zero_grad: no accumulation adds
    x.grad = None
    with profile() as prof:
        step()
    counts = {"forward": 0, "backward": 0}
    for e in prof._events:
        p = e
        while p is not None and not (p.cat == "user_annotation" and p.name in counts):
            p = p.parent
        if e.cat == "kernel" and p is not None:
            counts[p.name] += 1
    return counts


def _print_layers():
    print(f"launches per forward + backward, {LAYER}, input {LAYER_INPUT}, emulated cuda device")
    print(f"{'layer':<10} {'norm':<6} {'mode':<6} {'forward':>8} {'backward':>9} {'total':>6}")
    for kind in ("encoder", "decoder"):
        for norm_first in (False, True):
            for training in (True, False):
                c = layer_launches(kind, norm_first, training)
                print(f"{kind:<10} {'pre' if norm_first else 'post':<6} {'train' if training else 'eval':<6} "
                      f"{c['forward']:>8} {c['backward']:>9} {sum(c.values()):>6}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("gpt", "cnn", "both", "layers"), default="both")
    ap.add_argument("--out", help="directory for launches_<model>.json, profile_<model>.txt (and traces)")
    ap.add_argument("--trace", action="store_true", help="also write the step's Chrome trace")
    ap.add_argument("--autocast", action="store_true", help="bf16 autocast, as perf/bench_gpu_models.py")
    ap.add_argument("--capturable", action="store_true",
                    help="GPT's AdamW with capturable=True (device step counts, as in a CUDA graph)")
    args = ap.parse_args(argv)
    if args.model == "layers":
        _print_layers()
        return 0
    argv = sys.argv[1:] if argv is None else list(argv)
    for name in (("gpt", "cnn") if args.model == "both" else (args.model,)):
        prof, phases, kernels, n_params = measure(name, autocast=args.autocast, capturable=args.capturable)
        total = sum(phases.values())
        print(f"== {name}: {total} launches per training step ({n_params} parameter tensors)")
        for ph, n in phases.items():
            print(f"   {ph:<16} {n:5d}")
        print("   by kernel:")
        for k, n in kernels.items():
            print(f"   {k:<28} {n:5d}")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            cfg = GPT if name == "gpt" else CNN
            tag = name + ("_capturable" if args.capturable and name == "gpt" else "")
            command = " ".join(["TRITON_INTERPRET=1 python -m perf launches"] + argv)
            with open(os.path.join(args.out, f"launches_{tag}.json"), "w") as f:
                json.dump(dict(command=command, model=name, config=cfg, size=SIZES[name], autocast=args.autocast,
                               parameter_tensors=n_params, launches=total, by_phase=phases, by_kernel=kernels), f, indent=1)
            with open(os.path.join(args.out, f"profile_{tag}.txt"), "w") as f:
                f.write(f"# one {name} training step on the emulated cuda device (TRITON_INTERPRET=1): "
                        f"host times are the interpreter's\n# {command}\n")
                f.write(prof.key_averages().table(sort_by="count", row_limit=40))
            if args.trace:
                prof.export_chrome_trace(os.path.join(args.out, f"trace_{tag}.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
