"""Training-step throughput of a GPT-2-small and a ResNet-style CNN: blaze eager, blaze graphed, PyTorch eager.

    PYTHONPATH=. python perf/bench_gpu_models.py --out results.json [--quick]

Each (framework, model) runs in its own process (so the two allocators never share the
GPU and one failure leaves the others' numbers), times ``--steps`` steps after
``--warmup`` steps (compilation, pool warm-up) between device synchronisations, and
reports tokens/s (GPT) or images/s (CNN). Both sides use the same architecture, sizes,
optimizer (AdamW for GPT, SGD+momentum for the CNN) and bf16 autocast; PyTorch runs eager
(no torch.compile). ``blaze_graphed`` replays each step from one CUDA graph
(blaze.cuda.GraphedTrainStep). blaze never imports torch; the torch side runs only if it is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

GPT2_SMALL = dict(vocab=50257, block=1024, d=768, heads=12, layers=12)
RESNET = dict(widths=(64, 128, 256, 512), classes=10)
SIZES = {"gpt": dict(batch=8, seq=1024), "cnn": dict(batch=128, hw=32)}
QUICK = {"gpt": dict(batch=2, seq=256), "cnn": dict(batch=32, hw=32)}


# ----------------------------------------------------------------------------- blaze side
def _blaze_step(model_name, size, steps, warmup, graphed=False):
    import numpy as np

    import blaze
    import blaze.nn.functional as F
    from tests.cuda.models import GPT, ResNet
    dev = "cuda"
    blaze.manual_seed(0)
    rng = np.random.default_rng(0)
    if model_name == "gpt":
        model = GPT(**GPT2_SMALL).to(dev)
        opt = blaze.optim.AdamW(model.parameters(), lr=1e-4)
        x = blaze.tensor(rng.integers(0, GPT2_SMALL["vocab"], (size["batch"], size["seq"]))).to(dev)
        y = blaze.tensor(rng.integers(0, GPT2_SMALL["vocab"], (size["batch"], size["seq"]))).to(dev)
        loss_fn = lambda: model(x, y)  # noqa: E731
        per_step = size["batch"] * size["seq"]
    else:
        model = ResNet(**RESNET).to(dev)
        opt = blaze.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = blaze.tensor(rng.standard_normal((size["batch"], 3, size["hw"], size["hw"])).astype(np.float32)).to(dev)
        y = blaze.tensor(rng.integers(0, 10, size["batch"])).to(dev)
        loss_fn = lambda: F.cross_entropy(model(x), y)  # noqa: E731
        per_step = size["batch"]

    def step():
        with blaze.autocast(device_type="cuda", dtype=blaze.bfloat16):
            loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    if graphed:  # forward + backward + optimizer (AdamW made capturable) replayed from one CUDA graph
        def graphed_loss(m, xs, ys):
            with blaze.autocast(device_type="cuda", dtype=blaze.bfloat16):
                return m(xs, ys) if model_name == "gpt" else F.cross_entropy(m(xs), ys)
        gstep = blaze.cuda.GraphedTrainStep(model, graphed_loss, opt, (x, y), num_warmup_iters=max(warmup, 1))
        step = lambda: gstep(x, y)  # noqa: E731
    from blaze.devices.cuda import backend as triton_backend
    for _ in range(warmup):
        loss = step()
    blaze.cuda.synchronize()
    triton_backend.FALLBACKS.clear()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    blaze.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    return dict(step_s=dt, per_s=per_step / dt, loss=float(loss.item()), fallbacks=dict(triton_backend.FALLBACKS),
                peak_bytes=blaze.cuda.max_memory_allocated(), device=blaze.cuda.get_device_name())


# ----------------------------------------------------------------------------- torch side
def _torch_step(model_name, size, steps, warmup):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as TF
    torch.manual_seed(0)
    dev = "cuda"

    class Block(tnn.Module):
        def __init__(self, c_in, c_out, stride=1):
            super().__init__()
            self.c1 = tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.b1 = tnn.BatchNorm2d(c_out)
            self.c2 = tnn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.b2 = tnn.BatchNorm2d(c_out)
            self.short = None if stride == 1 and c_in == c_out else tnn.Sequential(
                tnn.Conv2d(c_in, c_out, 1, stride, bias=False), tnn.BatchNorm2d(c_out))

        def forward(self, x):
            y = self.b2(self.c2(TF.relu(self.b1(self.c1(x)))))
            return TF.relu(y + (x if self.short is None else self.short(x)))

    class ResNet(tnn.Module):
        def __init__(self, widths, classes):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(3, widths[0], 3, 1, 1, bias=False), tnn.BatchNorm2d(widths[0]),
                                       tnn.ReLU(), tnn.MaxPool2d(2))
            blocks, c = [], widths[0]
            for i, w in enumerate(widths):
                blocks.append(Block(c, w, 1 if i == 0 else 2))
                c = w
            self.blocks = tnn.Sequential(*blocks)
            self.fc = tnn.Linear(c, classes)

        def forward(self, x):
            return self.fc(TF.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))

    class GPTBlock(tnn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.ln1, self.ln2 = tnn.LayerNorm(d), tnn.LayerNorm(d)
            self.qkv, self.proj = tnn.Linear(d, 3 * d), tnn.Linear(d, d)
            self.fc, self.fc2 = tnn.Linear(d, 4 * d), tnn.Linear(4 * d, d)
            self.heads = heads

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
            y = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
            x = x + self.proj(y)
            return x + self.fc2(TF.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(tnn.Module):
        def __init__(self, vocab, block, d, heads, layers):
            super().__init__()
            self.tok, self.pos = tnn.Embedding(vocab, d), tnn.Embedding(block, d)
            self.blocks = tnn.ModuleList([GPTBlock(d, heads) for _ in range(layers)])
            self.ln = tnn.LayerNorm(d)
            self.head = tnn.Linear(d, vocab, bias=False)
            self.head.weight = self.tok.weight

        def forward(self, idx, targets):
            B, T = idx.shape
            x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
            for b in self.blocks:
                x = b(x)
            return TF.cross_entropy(self.head(self.ln(x)).view(B * T, -1), targets.view(B * T))

    if model_name == "gpt":
        model = GPT(**GPT2_SMALL).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
        x = torch.randint(0, GPT2_SMALL["vocab"], (size["batch"], size["seq"]), device=dev)
        y = torch.randint(0, GPT2_SMALL["vocab"], (size["batch"], size["seq"]), device=dev)
        loss_fn = lambda: model(x, y)  # noqa: E731
        per_step = size["batch"] * size["seq"]
    else:
        model = ResNet(**RESNET).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = torch.randn(size["batch"], 3, size["hw"], size["hw"], device=dev)
        y = torch.randint(0, 10, (size["batch"],), device=dev)
        loss_fn = lambda: TF.cross_entropy(model(x), y)  # noqa: E731
        per_step = size["batch"]

    def step():
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss
    for _ in range(warmup):
        loss = step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    return dict(step_s=dt, per_s=per_step / dt, loss=float(loss.item()), peak_bytes=torch.cuda.max_memory_allocated(),
                device=torch.cuda.get_device_name(), torch=torch.__version__)


RUNNERS = {"blaze": _blaze_step, "torch": _torch_step,
           "blaze_graphed": lambda *a: _blaze_step(*a, graphed=True)}


def _child(args) -> int:
    size = (QUICK if args.quick else SIZES)[args.model]
    try:
        r = RUNNERS[args.framework](args.model, size, args.steps, args.warmup)
        r.update(ok=True)
    except Exception as e:  # noqa: BLE001 - report the failure as data, the parent keeps going
        import traceback
        traceback.print_exc()
        r = dict(ok=False, error=f"{type(e).__name__}: {e}"[:2000])
    r.update(framework=args.framework, model=args.model, size=size, unit="tokens/s" if args.model == "gpt" else
             "images/s", steps=args.steps)
    print("RESULT " + json.dumps(r), flush=True)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_models.json")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=150, help="seconds per (framework, model) process")
    ap.add_argument("--models", default="gpt,cnn")
    ap.add_argument("--frameworks", default="torch,blaze,blaze_graphed")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--framework", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return _child(args)
    results = []
    for model in args.models.split(","):
        for fw in args.frameworks.split(","):
            cmd = [sys.executable, __file__, "--child", "--framework", fw, "--model", model, "--steps",
                   str(args.steps), "--warmup", str(args.warmup)] + (["--quick"] if args.quick else [])
            t0 = time.time()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=dict(os.environ))
                lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                r = json.loads(lines[-1][7:]) if lines else dict(ok=False, error=p.stderr[-2000:])
                if not r.get("ok"):
                    r["stderr_tail"] = p.stderr[-3000:]
            except subprocess.TimeoutExpired:
                r = dict(ok=False, error=f"timed out after {args.timeout} s")
            r.update(framework=fw, model=model, wall_s=round(time.time() - t0, 1))
            print(json.dumps({k: v for k, v in r.items() if k != "stderr_tail"}), flush=True)
            results.append(r)
    ratios = {}
    for model in args.models.split(","):
        got = {r["framework"]: r for r in results if r["model"] == model and r.get("ok")}
        for fw in ("blaze", "blaze_graphed"):
            if fw in got and "torch" in got:
                ratios[model if fw == "blaze" else model + "_graphed"] = got[fw]["per_s"] / got["torch"]["per_s"]
    out = dict(results=results, blaze_over_torch=ratios,
               targets=dict(gpt=1.0, cnn=0.8), sizes=QUICK if args.quick else SIZES)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print("blaze / torch throughput:", {k: round(v, 3) for k, v in ratios.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
