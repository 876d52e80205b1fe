"""Write the PyTorch checkpoint fixtures under tests/fixtures/torch_ckpt/ (run once, with PyTorch).

    /work/torchvenv/bin/python perf/make_torch_fixtures.py

Files (all small; the tests import no torch, they compare against the .npz written here):
    state_dict.pt      conv+bn+linear state dict (float32, int64 num_batches_tracked), a bfloat16 and a
                       float16 tensor, int32/bool/uint8 tensors, a transposed (non-contiguous) view and
                       two views of one storage (shared storage, non-zero offset), a 0-d tensor
    state_dict.npz     the same tensors as NumPy arrays (bfloat16 as its uint16 bits, key suffix "@bf16"),
                       plus "forward:x" / "forward:y", an input and the eval-mode output of the model
    legacy.pt          the same state dict in the pre-1.6 (non-zip) format
    whole_module.pt    a whole nn.Module pickled by torch: blaze.load must refuse it
    malicious.pt       a zip checkpoint whose data.pkl calls os.system: blaze.load must refuse it
                       without running it (the command would create tests/fixtures/torch_ckpt/PWNED)
"""
import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "torch_ckpt")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def state_dict():
    torch.manual_seed(0)
    net = Net()
    net.bn.running_mean.uniform_()
    net.bn.num_batches_tracked += 7
    sd = net.state_dict()
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    extra = OrderedDict(
        bf16=torch.randn(3, 5).to(torch.bfloat16),
        f16=torch.randn(4).to(torch.float16),
        i32=torch.tensor([1, -2, 3], dtype=torch.int32),
        mask=torch.tensor([True, False, True]),
        u8=torch.tensor([[0, 255]], dtype=torch.uint8),
        f64=torch.tensor(2.5, dtype=torch.float64),  # 0-d
        transposed=base.t(),  # strides (1, 6)
        row1=base[1],  # offset 6 into base's storage
        cols=base[:, 2:4],  # same storage again, strided
    )
    sd.update(extra)
    return net, sd


def to_npz(sd):
    arrays = {}
    for k, v in sd.items():
        if v.dtype == torch.bfloat16:
            arrays[k + "@bf16"] = v.view(torch.int16).numpy().view(np.uint16)
        else:
            arrays[k] = v.numpy()
    return arrays


def malicious_zip(path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {os.path.join(OUT, 'PWNED')}",))
    pkl = pickle.dumps({"weight": Evil()}, protocol=2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("malicious/data.pkl", pkl)
        z.writestr("malicious/byteorder", "little")
        z.writestr("malicious/version", "3\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    net, sd = state_dict()
    torch.save(sd, os.path.join(OUT, "state_dict.pt"))
    x = torch.randn(2, 2, 5, 5)
    with torch.no_grad():
        y = net.eval()(x)
    np.savez(os.path.join(OUT, "state_dict.npz"), **to_npz(sd), **{"forward:x": x.numpy(), "forward:y": y.numpy()})
    torch.save(sd, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(net, os.path.join(OUT, "whole_module.pt"))
    malicious_zip(os.path.join(OUT, "malicious.pt"))
    # the files load back in torch as written (weights_only=True refuses the last two)
    for name in ("state_dict.pt", "legacy.pt"):
        back = torch.load(os.path.join(OUT, name))
        assert all(torch.equal(back[k], sd[k]) for k in sd), name
    for name in sorted(os.listdir(OUT)):
        print(f"{name:20s} {os.path.getsize(os.path.join(OUT, name)):7d} bytes")


if __name__ == "__main__":
    main()
