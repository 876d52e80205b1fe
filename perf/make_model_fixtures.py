"""Write tests/fixtures/models/ from torchvision (run once, with PyTorch; the tests import no torch).

    PYTHONPATH=$PWD /work/torchvenv/bin/python perf/make_model_fixtures.py

Files:
    keys.json       per model: torchvision's parameter count and its state-dict keys with shapes, in order
    outputs.npz     per model: the eval-mode output of torchvision's model on ``fixed_input`` after every
                    tensor was set by tests/vision/_model_fill.py (1x3x64x64; ViT-B/16 at 1x3x224x224)
    tiny_vit.pth    a 2-layer ViT (image_size 32, hidden 32) with torch's random init, saved by torch.save
                    (the real reader on a real torchvision state dict); ``tiny.npz`` holds its input and
                    eval-mode output
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision import models as M
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.vision._model_fill import fill_state, fixed_input  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "models")
MODELS = ["resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "mobilenet_v2",
          "mobilenet_v3_small", "efficientnet_b0", "vit_b_16"]
INPUT = {"vit_b_16": (1, 3, 224, 224)}  # ViT's position embedding fixes the image size


def tiny_models():
    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=10)
    for p in vit.heads.parameters():  # torchvision zero-inits the head: give the output something to compare
        torch.nn.init.normal_(p, std=0.1)
    return {"tiny_vit": (vit, (2, 3, 32, 32))}


def main():
    os.makedirs(OUT, exist_ok=True)
    keys, outputs = {}, {}
    with torch.no_grad():
        for name in MODELS:
            model = M.get_model(name).eval()
            sd = model.state_dict()
            keys[name] = {"num_params": sum(p.numel() for p in model.parameters()),
                          "state_dict": [[k, list(v.shape)] for k, v in sd.items()]}
            filled = fill_state({k: v.shape for k, v in sd.items()})
            model.load_state_dict({k: torch.from_numpy(v) for k, v in filled.items()})
            x = torch.from_numpy(fixed_input(INPUT.get(name, (1, 3, 64, 64))))
            outputs[name] = model(x).numpy()
            print(name, keys[name]["num_params"], float(np.abs(outputs[name]).max()))
        tiny = {}
        for name, (model, shape) in tiny_models().items():
            model.eval()
            torch.save(model.state_dict(), os.path.join(OUT, f"{name}.pth"))
            x = torch.from_numpy(fixed_input(shape))
            tiny[f"{name}:x"], tiny[f"{name}:y"] = x.numpy(), model(x).numpy()
    keys["_versions"] = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    with open(os.path.join(OUT, "keys.json"), "w") as f:
        json.dump(keys, f, separators=(",", ":"))
    np.savez_compressed(os.path.join(OUT, "outputs.npz"), **outputs)
    np.savez_compressed(os.path.join(OUT, "tiny.npz"), **tiny)


if __name__ == "__main__":
    main()
