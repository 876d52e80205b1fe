"""blaze.vision.models against torchvision: parameter counts, state-dict keys and shapes, and outputs.

References come from tests/fixtures/models/ (written once by perf/make_model_fixtures.py with PyTorch;
no torch here): every tensor of both models is set by the same formula (_model_fill.py), so the
outputs must agree without any weight file.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import blaze
from blaze.vision import models as M
from tests.vision._model_fill import fill_state, fixed_input

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "models"
KEYS = json.loads((FIX / "keys.json").read_text())
OUTPUTS = np.load(FIX / "outputs.npz")
MODELS = [n for n in KEYS if not n.startswith("_")]


def _filled(model):
    sd = model.state_dict()
    values = fill_state({k: tuple(v.shape) for k, v in sd.items()})
    model.load_state_dict({k: blaze.tensor(v) for k, v in values.items()})
    return model.eval()


@pytest.mark.parametrize("name", MODELS)
def test_matches_torchvision(name):
    # VGG: skip the 138M random draws (~20 s here) that the fill overwrites anyway
    model = M.get_model(name, **({"init_weights": False} if name.startswith("vgg") else {}))
    ref = KEYS[name]
    assert sum(p.numel() for p in model.parameters()) == ref["num_params"]
    got = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert got == ref["state_dict"]  # same keys, same order, same shapes: torchvision checkpoints load strictly
    x = blaze.tensor(fixed_input((1, 3, 224, 224) if name == "vit_b_16" else (1, 3, 64, 64)))
    with blaze.no_grad():
        y = _filled(model)(x).numpy()
    want = OUTPUTS[name]
    assert y.shape == want.shape == (1, 1000)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


def test_torch_written_checkpoint_loads_and_matches():
    """A ViT state dict saved by torch.save (torchvision's classes, torch's init) loads strictly and agrees."""
    sd = blaze.load(FIX / "tiny_vit.pth")
    model = M.VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                                num_classes=10)
    model.load_state_dict(sd)
    ref = np.load(FIX / "tiny.npz")
    with blaze.no_grad():
        y = model.eval()(blaze.tensor(ref["tiny_vit:x"])).numpy()
    np.testing.assert_allclose(y, ref["tiny_vit:y"], rtol=1e-4, atol=1e-5)


def test_weights_enums_name_the_official_files():
    w = M.ResNet18_Weights.IMAGENET1K_V1
    assert w.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert w.meta["num_params"] == KEYS["resnet18"]["num_params"] and w.meta["num_categories"] == 1000
    assert M.ResNet50_Weights.DEFAULT is M.ResNet50_Weights.IMAGENET1K_V2
    assert repr(M.ResNet50_Weights.DEFAULT) == "ResNet50_Weights.IMAGENET1K_V2"
    for name in MODELS:  # every enum's recorded parameter count is the architecture's (from torchvision)
        for weights in M.get_model_weights(name):
            if weights.meta["min_size"] != (384, 384):  # SWAG E2E: a longer position embedding
                assert weights.meta["num_params"] == KEYS[name]["num_params"], (name, weights)
    assert M.get_weight("ResNet50_Weights.IMAGENET1K_V2") is M.ResNet50_Weights.IMAGENET1K_V2
    assert M.get_model_weights("vit_b_16") is M.ViT_B_16_Weights
    assert M.get_model_weights(M.resnet18) is M.ResNet18_Weights
    assert M.ResNet18_Weights.verify("ResNet18_Weights.IMAGENET1K_V1") is w
    assert M.list_models(include="resnet*") == ["resnet18", "resnet34", "resnet50"]
    assert "unet" in M.list_models() and "vgg16_bn" in M.list_models(exclude="resnet*")


def test_bad_names_and_weights_are_refused():
    with pytest.raises(TypeError, match="expected ResNet18_Weights"):
        M.resnet18(weights=M.ResNet34_Weights.IMAGENET1K_V1)
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        M.resnet18(weights="IMAGENET9K")
    with pytest.raises(ValueError, match="Unknown model"):
        M.get_model("resnet1000")
    with pytest.raises(ValueError, match="Invalid weight name"):
        M.get_weight("ResNet18_Weights")
    with pytest.raises(ValueError, match="num_classes"):  # before any download
        M.resnet18(weights="DEFAULT", num_classes=10)
    with pytest.raises(ValueError, match="not both"):
        M.resnet18(weights="DEFAULT", pretrained=True)
    with pytest.raises(ValueError, match="no pretrained weights"):
        M.unet(weights="DEFAULT")


def test_pretrained_false_warns_and_builds_random():
    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        model = M.mobilenet_v3_small(pretrained=False, num_classes=7)
    assert model.classifier[3].out_features == 7


def test_transforms_preset():
    from PIL import Image
    t = M.EfficientNet_B0_Weights.DEFAULT.transforms()
    assert t.resize_size == [256] and t.crop_size == [224] and t.interpolation.name == "BICUBIC"
    img = Image.fromarray(np.full((300, 400, 3), 255, np.uint8))
    x = M.ResNet18_Weights.DEFAULT.transforms()(img)
    assert tuple(x.shape) == (3, 224, 224) and x.dtype == blaze.float32
    want = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x.numpy()[:, 100, 100], want, rtol=1e-5)
    batch = blaze.tensor(np.zeros((2, 3, 240, 320), np.uint8))  # uint8 tensors are scaled to [0, 1] as well
    y = M.ResNet18_Weights.DEFAULT.transforms()(batch)
    assert tuple(y.shape) == (2, 3, 224, 224)
    np.testing.assert_allclose(y.numpy()[1, :, 0, 0], -np.array([0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
                               rtol=1e-5)


def test_unet_shapes_params_and_errors():
    model = M.UNet(in_channels=1, num_classes=2, base_channels=4, depth=2)
    # inc 1->4 and downs 4->8->16 (two bias-free 3x3 convs + BN each), ups 16->8->4 (2x2 transposed conv
    # halving channels, then a DoubleConv on the concatenation), 1x1 head 4->2
    def dc(i, o):
        return 9 * i * o + 9 * o * o + 4 * o
    def up(i, o):
        return 4 * i * (i // 2) + i // 2 + dc(i, o)
    want = dc(1, 4) + dc(4, 8) + dc(8, 16) + up(16, 8) + up(8, 4) + 4 * 2 + 2
    assert sum(p.numel() for p in model.parameters()) == want
    x = blaze.randn(2, 1, 16, 24, requires_grad=True)
    y = model(x)
    assert tuple(y.shape) == (2, 2, 16, 24)
    y.square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="divisible by 4"):
        model(blaze.randn(1, 1, 18, 16))
    assert sum(p.numel() for p in M.UNet(base_channels=64).parameters()) == 31037633  # the paper's 31.0M


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_resnet18_forward_backward(device):
    """Gradients on both devices (cuda is emulated by Triton's interpreter without a GPU) agree with cpu's.

    Compared in eval mode: train-mode BatchNorm over layer4's 2 values per channel (batch 2, 1x1) turns
    float32 rounding into 4% differences, a property of the statistics, not of either device.
    """
    blaze.manual_seed(0)
    model = M.resnet18(num_classes=5)
    x = blaze.randn(2, 3, 32, 32)
    target = blaze.tensor([1, 3])
    loss = blaze.nn.functional.cross_entropy(model(x), target)  # train mode: batch statistics
    loss.backward()
    assert np.isfinite(float(loss)) and all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    model.eval()
    x, target = x[:1], target[:1]  # one image: the interpreter runs every kernel on the host
    loss = blaze.nn.functional.cross_entropy(model(x), target)
    loss.backward()
    ref = (float(loss), model.conv1.weight.grad.numpy().copy(), model.fc.weight.grad.numpy().copy())
    if device == "cpu":
        return
    model.zero_grad()
    model.to(device)
    loss = blaze.nn.functional.cross_entropy(model(x.to(device)), target.to(device))
    loss.backward()
    assert loss.device.type == "cuda" and model.conv1.weight.grad.device.type == "cuda"
    assert abs(float(loss) - ref[0]) < 1e-4 * max(1.0, abs(ref[0]))
    np.testing.assert_allclose(model.fc.weight.grad.cpu().numpy(), ref[2], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(model.conv1.weight.grad.cpu().numpy(), ref[1], rtol=1e-3,
                               atol=1e-3 * float(np.abs(ref[1]).max()))
