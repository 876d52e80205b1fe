"""Transfer learning on blaze.vision.models: frozen backbone, a replaced head, per-group learning rates,
BatchNorm kept in eval mode, and a smoke run of examples/finetune_resnet.py."""
import sys
from pathlib import Path

import numpy as np

import blaze
from blaze import nn
from blaze.vision import models as M

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _step(model, opt, n=4, classes=3, size=32):
    x = blaze.randn(n, 3, size, size)
    y = blaze.tensor(np.arange(n) % classes)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _copy(params):
    return [p.detach().numpy().copy() for p in params]


def test_frozen_backbone_new_head():
    blaze.manual_seed(0)
    model = M.resnet18()
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 3)  # a new module: trainable
    backbone = [p for n, p in model.named_parameters() if not n.startswith("fc.")]
    before, head_before = _copy(backbone), _copy(model.fc.parameters())
    opt = blaze.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 2
    _step(model, opt)
    assert all(p.grad is None for p in backbone)
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, backbone))
    assert not any(np.array_equal(a, p.detach().numpy()) for a, p in zip(head_before, model.fc.parameters()))


def test_per_group_learning_rates():
    blaze.manual_seed(1)
    model = M.mobilenet_v3_small(num_classes=3)
    head = list(model.classifier.parameters())
    body = list(model.features.parameters())
    opt = blaze.optim.SGD([{"params": body, "lr": 1e-3}, {"params": head, "lr": 1e-1}], lr=0.5)
    model.eval()  # deterministic: no dropout, BatchNorm running statistics
    b0, h0 = _copy(body), _copy(head)
    _step(model, opt)
    for p, before, lr in [(body[0], b0[0], 1e-3), (head[0], h0[0], 1e-1)]:  # plain SGD: w -= lr * grad
        np.testing.assert_allclose(before - p.detach().numpy(), lr * p.grad.numpy(), rtol=1e-5, atol=1e-9)
        assert np.abs(p.grad.numpy()).max() > 0


def test_batchnorm_in_eval_during_finetuning():
    sys.path.insert(0, str(EXAMPLES))
    import finetune_resnet
    blaze.manual_seed(2)
    model = M.resnet18(num_classes=3)
    opt = blaze.optim.SGD(model.parameters(), lr=0.01)
    finetune_resnet.set_train_mode(model, bn_eval=True)
    bn = model.layer1[0].bn1
    assert model.training and not bn.training
    stats = _copy([bn.running_mean, bn.running_var])
    conv = model.layer1[0].conv1.weight.detach().numpy().copy()
    _step(model, opt)
    assert np.array_equal(stats[0], bn.running_mean.numpy()) and np.array_equal(stats[1], bn.running_var.numpy())
    assert not np.array_equal(conv, model.layer1[0].conv1.weight.detach().numpy())  # the weights still train
    finetune_resnet.set_train_mode(model, bn_eval=False)  # contrast: train-mode BatchNorm updates them
    _step(model, opt)
    assert not np.array_equal(stats[0], bn.running_mean.numpy())


def test_finetune_example_from_checkpoint(tmp_path, capsys):
    """A few steps of the example from a .pth checkpoint with a frozen backbone: only the head moves."""
    sys.path.insert(0, str(EXAMPLES))
    import finetune_resnet
    blaze.manual_seed(3)
    source = M.resnet18()
    ckpt = tmp_path / "resnet18-test.pth"
    blaze.save(source.state_dict(), ckpt)
    out = finetune_resnet.main(["--checkpoint", str(ckpt), "--freeze", "--classes", "3", "--train-per-class", "8",
                                "--test-per-class", "4", "--epochs", "1", "--max-steps", "2", "--batch-size", "8"])
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "bn_eval: True" in printed and "training 1,539 of" in printed
    assert out["steps"] == 2 and 0.0 <= out["accuracy"] <= 1.0 and np.isfinite(out["loss"])
    model, src = out["model"].state_dict(), source.state_dict()
    for k in ("conv1.weight", "layer4.1.bn2.running_var", "layer4.1.bn2.weight"):
        assert np.array_equal(model[k].numpy(), src[k].numpy()), k  # frozen weights and BN statistics kept
    assert tuple(model["fc.weight"].shape) == (3, 512)
