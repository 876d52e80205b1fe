"""Forward+backward time per image for every blaze.vision.models model (and torchvision's, if torch is importable).

    PYTHONPATH=$PWD /work/venv/bin/python perf/bench_models.py [--device cuda] [--filter resnet18] [--batch 2]

Inputs are 64x64 (ViT-B/16: 224x224, its position embedding's size), train mode, loss = output sum;
the median of --repeat runs after one warm-up. On a CPU-only machine "cuda" is Triton's interpreter
(TRITON_INTERPRET=1): a correctness path, orders of magnitude slower than a GPU.
"""
import argparse
import os
import statistics
import time

MODELS = ["resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "mobilenet_v2",
          "mobilenet_v3_small", "efficientnet_b0", "vit_b_16", "unet"]


def _time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--filter", default="")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--torch", action="store_true", help="also time torchvision (needs torch)")
    args = p.parse_args()
    if args.device == "cuda":
        os.environ.setdefault("TRITON_INTERPRET", "1")
    import blaze
    from blaze.vision import models as M
    print(f"device {args.device}, batch {args.batch}, {os.cpu_count()} cpus")
    print(f"{'model':20s} {'params':>12s} {'blaze ms/img':>13s}" + (f" {'torch ms/img':>13s}" if args.torch else ""))
    for name in MODELS:
        if args.filter not in name:
            continue
        size = 224 if name == "vit_b_16" else args.size
        model = M.get_model(name).to(args.device).train()
        x = blaze.randn(args.batch, 3, size, size, device=args.device)

        def step():
            model.zero_grad()
            model(x).sum().backward()
            if args.device == "cuda":
                blaze.cuda.synchronize()
        ms = _time(step, args.repeat) / args.batch * 1e3
        line = f"{name:20s} {sum(q.numel() for q in model.parameters()):>12,d} {ms:>13.1f}"
        if args.torch and name != "unet":
            import torch
            import torchvision
            tm = torchvision.models.get_model(name).train()
            tx = torch.randn(args.batch, 3, size, size)

            def tstep():
                tm.zero_grad()
                tm(tx).sum().backward()
            line += f" {_time(tstep, args.repeat) / args.batch * 1e3:>13.1f}"
        print(line, flush=True)
        del model


if __name__ == "__main__":
    main()
