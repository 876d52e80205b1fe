"""PyTorch checkpoints both ways: blaze writes .pt files, PyTorch reads them, and back.

    PYTHONPATH=$PWD /work/torchvenv/bin/python perf/torch_ckpt_roundtrip.py

1. blaze saves a conv+bn+linear state dict (plus bfloat16, float16, int, bool, 0-d and
   non-contiguous tensors) to x.pt; ``torch.load(weights_only=True)`` reads it, every value is
   compared bit for bit, and a torch model with the same layers loads it (strict) and gives
   blaze's forward output.
2. torch saves its model's state dict (zip and legacy); blaze loads both into a blaze model
   and gives torch's forward output.
3. blaze saves a whole model to best.pt; blaze reloads it (weights_only=False); torch.load with
   weights_only=True refuses it (its classes are blaze's), as PyTorch refuses any whole module.
"""
import os
import tempfile

import numpy as np
import torch

import blaze
import blaze.nn as bnn


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = torch.nn.Conv2d(2, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


class BlazeNet(bnn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = bnn.Conv2d(2, 4, 3), bnn.BatchNorm2d(4), bnn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint16) if a.dtype.name == "bfloat16" else a


def row(name, ok, detail=""):
    print(f"{name:58s} {'OK' if ok else 'FAIL'} {detail}")
    return ok


def main():
    tmp = tempfile.mkdtemp()
    ok = True
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)

    # 1. blaze -> torch
    blaze.manual_seed(0)
    net = BlazeNet()
    net.bn.running_mean.uniform_()
    net.eval()
    sd = net.state_dict()
    base = blaze.arange(24, dtype=blaze.float32).reshape(4, 6)
    sd.update(bf16=blaze.randn(3, 5).to(blaze.bfloat16), f16=blaze.randn(4).to(blaze.float16),
              i32=blaze.tensor([1, -2, 3], dtype=blaze.int32), mask=blaze.tensor([True, False, True]),
              f64=blaze.tensor(2.5, dtype=blaze.float64), transposed=base.t())
    path = os.path.join(tmp, "x.pt")
    blaze.save(sd, path)
    back = torch.load(path, weights_only=True)
    same = all(np.array_equal(bits(sd[k].numpy()), bits(back[k].view(torch.int16).numpy().view(np.uint16)
               if back[k].dtype == torch.bfloat16 else back[k].numpy())) for k in sd)
    ok &= row("blaze.save(state_dict, 'x.pt') -> torch.load(weights_only=True)", same and list(back) == list(sd),
              f"{len(sd)} tensors, dtypes {sorted({str(v.dtype) for v in back.values()})}")
    tnet = TorchNet().eval()
    tnet.load_state_dict({k: v for k, v in back.items() if k in tnet.state_dict()}, strict=True)
    with torch.no_grad():
        ty = tnet(torch.from_numpy(x)).numpy()
    by = net(blaze.from_numpy(x)).detach().numpy()
    ok &= row("torch model.load_state_dict(blaze-written) forward == blaze", np.allclose(ty, by, atol=1e-5),
              f"max |diff| {np.abs(ty - by).max():.1e}")

    # 2. torch -> blaze
    torch.manual_seed(1)
    tnet = TorchNet()
    tnet.bn.running_var.uniform_(0.5, 2.0)
    tnet.eval()
    with torch.no_grad():
        ty = tnet(torch.from_numpy(x)).numpy()
    for fmt, new in (("zip", True), ("legacy", False)):
        p = os.path.join(tmp, f"t_{fmt}.pth")
        torch.save(tnet.state_dict(), p, _use_new_zipfile_serialization=new)
        bnet = BlazeNet().eval()
        bnet.load_state_dict(blaze.load(p))
        by = bnet(blaze.from_numpy(x)).detach().numpy()
        ok &= row(f"torch.save ({fmt}) -> blaze model.load_state_dict(blaze.load)", np.allclose(ty, by, atol=1e-5),
                  f"max |diff| {np.abs(ty - by).max():.1e}")

    # 3. whole model
    p = os.path.join(tmp, "best.pt")
    blaze.save(net, p)
    again = blaze.load(p, weights_only=False)
    ok &= row("blaze.save(model, 'best.pt') -> blaze.load(weights_only=False)",
              np.array_equal(again(blaze.from_numpy(x)).detach().numpy(), net(blaze.from_numpy(x)).detach().numpy()))
    try:
        torch.load(p, weights_only=True)
        refused = ""
    except Exception as e:  # torch's UnpicklingError
        refused = str(e).split("WeightsUnpickler error:")[-1].strip().split(".")[0]
    ok &= row("torch.load(blaze whole model, weights_only=True) refused", bool(refused), refused[:70])
    print("ALL OK" if ok else "SOME FAILED")


if __name__ == "__main__":
    main()
