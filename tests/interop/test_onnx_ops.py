"""One exported op at a time: activations, reductions, shape ops and conv variants, each run in ONNX
Runtime on two batch sizes against blaze's eval output."""
import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.nn import functional as F

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'blaze[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'blaze[onnx]')")


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


VECTOR = {  # (B, 8) inputs
    "ReLU": nn.ReLU(), "LeakyReLU": nn.LeakyReLU(0.2), "ELU": nn.ELU(), "SELU": nn.SELU(), "CELU": nn.CELU(),
    "GELU": nn.GELU(), "GELU-tanh": nn.GELU(approximate="tanh"), "SiLU": nn.SiLU(), "Mish": nn.Mish(),
    "Hardswish": nn.Hardswish(), "Hardsigmoid": nn.Hardsigmoid(), "Tanh": nn.Tanh(), "Sigmoid": nn.Sigmoid(),
    "Softplus": nn.Softplus(), "ReLU6": nn.ReLU6(), "PReLU": nn.PReLU(), "Hardtanh": nn.Hardtanh(),
    "Softsign": nn.Softsign(), "LogSigmoid": nn.LogSigmoid(), "Threshold": nn.Threshold(0.1, 2.0),
    "Softmax-dim0": nn.Softmax(dim=0), "LogSoftmax": nn.LogSoftmax(dim=1), "Softmin": nn.Softmin(dim=1),
    "Flatten": nn.Flatten(), "Unflatten": nn.Unflatten(1, (2, 4)), "Dropout-eval": nn.Dropout(0.5),
    "Linear-nobias": nn.Linear(8, 3, bias=False), "LayerNorm-noaffine": nn.LayerNorm(8, elementwise_affine=False),
    "BatchNorm1d": nn.BatchNorm1d(8),
    "mean": Fn(lambda x: x.mean(dim=1)), "var": Fn(lambda x: x.var(dim=1)), "std-batch": Fn(lambda x: x.std(dim=0)),
    "logsumexp": Fn(lambda x: x.logsumexp(dim=1)), "prod": Fn(lambda x: x.prod(dim=1, keepdim=True)),
    "max-dim": Fn(lambda x: x.max(dim=1)[0]), "argmax": Fn(lambda x: x.argmax(dim=1)), "min-all": Fn(lambda x: x.min()),
    "sum-all": Fn(lambda x: x.sum()), "norm": Fn(lambda x: x.norm(dim=1)), "normalize": Fn(lambda x: F.normalize(x)),
    "cumsum": Fn(lambda x: x.cumsum(1)), "clamp": Fn(lambda x: x.clamp(-0.5, 0.5)),
    "chunk": Fn(lambda x: x.chunk(2, dim=1)[1]), "stack": Fn(lambda x: blaze.stack([x, x * 2], dim=1)),
    "unsqueeze-squeeze": Fn(lambda x: x.unsqueeze(1).squeeze(1)), "pow": Fn(lambda x: x ** 2 + x.abs() ** 0.5),
    "masked_fill": Fn(lambda x: x.masked_fill(x > 0, 0.0)), "where": Fn(lambda x: blaze.where(x > 0, x, 0.0)),
    "tril": Fn(lambda x: x.tril()), "flip": Fn(lambda x: x.flip(1)), "to-long": Fn(lambda x: (x * 10).long()),
    "exp2-rsqrt": Fn(lambda x: x.exp2() + (x.abs() + 1).rsqrt()), "zeros_like": Fn(lambda x: blaze.zeros_like(x) + x),
    "slice-neg": Fn(lambda x: x[:, -3:][..., None]), "permute-reshape": Fn(lambda x: x.reshape(-1, 2, 4).permute(2, 0, 1)),
    "comparisons": Fn(lambda x: ((x > 0) & (x < 1)) | (x == 0)),
    **{f"linear_act-{a}": Fn((lambda a, lin: lambda x: F.linear_act(x, lin.weight, lin.bias, activation=a,
                                                                       residual=x))(a, nn.Linear(8, 8)))
       for a in ("relu", "gelu", "gelu_tanh", "silu", "tanh")},
}

IMAGE = {  # (B, 4, 6, 6) inputs
    "Conv2d-groups-dilation": nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2),
    "Conv2d-reflect": nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect"),
    "Conv2d-replicate": nn.Conv2d(4, 3, 3, padding=1, padding_mode="replicate"),
    "Conv2d-circular": nn.Conv2d(4, 3, 3, padding=1, padding_mode="circular"),
    "ConvTranspose2d-outpad": nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
    "MaxPool2d-ceil": nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), "AvgPool2d": nn.AvgPool2d(2),
    "AdaptiveAvgPool2d-3": nn.AdaptiveAvgPool2d(3), "GroupNorm": nn.GroupNorm(2, 4),
    "pad-constant": Fn(lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)),
    "max_pool2d-fn": Fn(lambda x: F.max_pool2d(x, 2)),
}


def _run(model, shape, tmp_path, dynamic=True):
    model.eval()
    x1 = blaze.randn(*shape)
    path = str(tmp_path / "m.onnx")
    blaze.onnx.export(model, (x1,), path, input_names=["x"], dynamic_axes={"x": {0: "batch"}} if dynamic else None)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for x in (x1, blaze.randn(shape[0] + 3, *shape[1:])) if dynamic else (x1,):
        with blaze.no_grad():
            ref = model(x)
        got = sess.run(None, {"x": x.numpy()})[0]
        assert got.shape == tuple(ref.shape) and got.dtype == ref.numpy().dtype
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(VECTOR))
def test_vector_ops(name, tmp_path):
    blaze.manual_seed(0)
    _run(VECTOR[name], (3, 8), tmp_path)


@pytest.mark.parametrize("name", list(IMAGE))
def test_image_ops(name, tmp_path):
    blaze.manual_seed(0)
    _run(IMAGE[name], (2, 4, 6, 6), tmp_path)


@pytest.mark.parametrize("fn, match", [
    (lambda x: F.avg_pool2d(x, 2), r"_Apply \(functional avg_pool.*nn.AvgPool2d"),
    (lambda x: F.dropout(x, 0.5, training=True), r"_Dropout \(dropout in training mode"),
    (lambda x: blaze.einsum("bchw->bhwc", x), r"the op Einsum has no ONNX translation \(at Fn \(Fn\)\)"),
])
def test_refused_ops_say_what_to_do(fn, match, tmp_path):
    with pytest.raises(blaze.onnx.UnsupportedOperatorError, match=match):
        blaze.onnx.export(Fn(fn), (blaze.randn(1, 2, 4, 4),), str(tmp_path / "x.onnx"))
