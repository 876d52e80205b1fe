"""ONNX export of the model families blaze ships, checked by onnx.checker, strict shape inference and
ONNX Runtime on two input shapes against blaze's eval output (rtol 1e-4 in float32)."""
import sys
from pathlib import Path

import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.nn import functional as F

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'blaze[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'blaze[onnx]')")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

RTOL, ATOL = 1e-4, 1e-5
RESULTS = {}  # family -> max abs difference over both shapes (printed by -s for the closing note)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [] if out is None else [out]


def _check(model, inputs_by_shape, names, dynamic_axes, path, output_names=None):
    """Export on the first inputs; run ORT on every set; return the max abs difference to blaze."""
    model.eval()
    blaze.onnx.export(model, inputs_by_shape[0], str(path), input_names=names, output_names=output_names,
                      dynamic_axes=dynamic_axes)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    assert proto.opset_import[0].version >= 17
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for inputs in inputs_by_shape:
        with blaze.no_grad():
            ref = _flat(model(*inputs))
        got = sess.run(None, {n: t.numpy() for n, t in zip(names, _flat(inputs))})
        assert len(got) == len(ref)
        for r, o in zip(ref, got):
            r = r.numpy()
            assert o.shape == r.shape
            np.testing.assert_allclose(o, r, rtol=RTOL, atol=ATOL)
            worst = max(worst, float(np.abs(o.astype(np.float64) - r).max()))
    return worst


def _tokens(b, t, vocab):
    return blaze.randint(0, vocab, (b, t))


# ----------------------------------------------------------------------------- the six families
def test_mlp(tmp_path):
    from tests.cuda.models import MLP
    blaze.manual_seed(0)
    m = MLP(d_in=12, hidden=32, classes=5)
    RESULTS["MLP"] = _check(m, [(blaze.randn(3, 12),), (blaze.randn(7, 12),)], ["x"], {"x": {0: "batch"}},
                            tmp_path / "mlp.onnx")


def test_demo_cnn(tmp_path):
    from blaze.demo import build_model
    blaze.manual_seed(0)
    m = build_model()
    RESULTS["demo CNN"] = _check(m, [(blaze.randn(2, 1, 28, 28),), (blaze.randn(5, 1, 28, 28),)], ["image"],
                                 {"image": {0: "batch"}}, tmp_path / "cnn.onnx")


def test_dcgan_generator(tmp_path):
    from dcgan import Generator, weights_init
    blaze.manual_seed(0)
    g = Generator(nz=16, w=8)
    g.apply(weights_init)
    with blaze.no_grad():  # non-trivial running statistics
        for bn in (m for m in g.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.copy_(blaze.randn(bn.num_features) * 0.1)
            bn.running_var.copy_(blaze.rand(bn.num_features) + 0.5)
    RESULTS["DCGAN generator"] = _check(g, [(blaze.randn(2, 16, 1, 1),), (blaze.randn(3, 16, 1, 1),)], ["z"],
                                        {"z": {0: "batch"}}, tmp_path / "gen.onnx")


def test_char_lstm_with_states(tmp_path):
    from char_lstm import CharLSTM
    blaze.manual_seed(0)
    m = CharLSTM(vocab_size=20, embed=8, hidden=16, layers=2)

    def inputs(b, t):
        return (_tokens(b, t, 20), (blaze.randn(2, b, 16), blaze.randn(2, b, 16)))
    RESULTS["char-LSTM LM (states)"] = _check(
        m, [inputs(2, 5), inputs(3, 9)], ["idx", "h0", "c0"],
        {"idx": {0: "batch", 1: "seq"}, "h0": {1: "batch"}, "c0": {1: "batch"}}, tmp_path / "lstm.onnx",
        output_names=["logits", "h_n", "c_n"])


def test_small_gpt_causal(tmp_path):
    from char_gpt import GPT, GPTConfig
    blaze.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16))
    RESULTS["small GPT (causal)"] = _check(m, [(_tokens(2, 7, 23),), (_tokens(3, 12, 23),)], ["idx"],
                                           {"idx": {0: "batch", 1: "seq"}}, tmp_path / "gpt.onnx",
                                           output_names=["logits"])


def test_transformer_encoder(tmp_path):
    blaze.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, batch_first=True)
    m = nn.TransformerEncoder(layer, num_layers=2)
    RESULTS["TransformerEncoder"] = _check(m, [(blaze.randn(2, 5, 16),), (blaze.randn(4, 9, 16),)], ["src"],
                                           {"src": {0: "batch", 1: "seq"}}, tmp_path / "enc.onnx")


# ----------------------------------------------------------------------------- building blocks
class _Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode="reflect")
        self.gn = nn.GroupNorm(3, 6)
        self.c2 = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.ada = nn.AdaptiveAvgPool2d(1)
        self.mp = nn.MaxPool1d(2)

    def forward(self, x, img):
        a = self.mp(F.silu(self.gn(self.c1(x))))                            # (B, 6, L/2)
        b = self.ada(self.pool(F.leaky_relu(self.c2(img), 0.1))).flatten(1)  # (B, 4)
        return F.log_softmax(a.mean(dim=-1), dim=-1), b.amax(dim=1, keepdim=True), b.sum(dim=0)


class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.rnn = nn.RNN(12, 4, nonlinearity="relu")
        self.norm = nn.RMSNorm(4)

    def forward(self, x, h0):
        y, h = self.gru(x, h0)
        z, _ = self.rnn(y.transpose(0, 1))
        return self.norm(z), h


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x, pad):
        out, _ = self.mha(x, x, x, key_padding_mask=pad, need_weights=False)
        return blaze.cat([out, F.softmax(x, -1)], dim=-1)[:, 1:, ::2]


def test_building_blocks(tmp_path):
    blaze.manual_seed(0)
    m = _Convs()
    RESULTS["blocks: conv/pool/norm/reduce"] = _check(
        m, [(blaze.randn(2, 4, 10), blaze.randn(2, 1, 8, 8)), (blaze.randn(3, 4, 10), blaze.randn(3, 1, 8, 8))],
        ["x", "img"], {"x": {0: "batch"}, "img": {0: "batch"}}, tmp_path / "convs.onnx")
    r = _Recurrent()
    RESULTS["blocks: GRU/RNN/RMSNorm"] = _check(
        r, [(blaze.randn(2, 3, 5), blaze.randn(4, 2, 6)), (blaze.randn(3, 6, 5), blaze.randn(4, 3, 6))],
        ["x", "h0"], {"x": {0: "batch", 1: "seq"}, "h0": {1: "batch"}}, tmp_path / "rnn.onnx")

    def attn_inputs(b, t):
        pad = blaze.zeros(b, t, dtype=blaze.bool)
        pad[0, -1] = True
        return blaze.randn(b, t, 8), pad
    RESULTS["blocks: MHA + key padding"] = _check(
        _Attention(), [attn_inputs(2, 5), attn_inputs(3, 7)], ["x", "pad"],
        {"x": {0: "batch", 1: "seq"}, "pad": {0: "batch", 1: "seq"}}, tmp_path / "mha.onnx")


# ----------------------------------------------------------------------------- errors and options
class _Inner(nn.Module):
    def forward(self, x):
        return x.roll(1, 0)


class _Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.block = _Inner()

    def forward(self, x):
        return self.block(self.lin(x))


def test_unsupported_op_names_op_and_module_path(tmp_path):
    with pytest.raises(blaze.onnx.UnsupportedOperatorError, match=r"Roll.*_Outer\.block \(_Inner\)"):
        blaze.onnx.export(_Outer(), (blaze.randn(2, 3),), str(tmp_path / "x.onnx"))


def test_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="opset_version 17"):
        blaze.onnx.export(nn.Linear(2, 2), blaze.randn(1, 2), str(tmp_path / "x.onnx"), opset_version=13)
    with pytest.raises(ValueError, match="dynamic_axes names"):
        blaze.onnx.export(nn.Linear(2, 2), blaze.randn(1, 2), str(tmp_path / "x.onnx"), input_names=["x"],
                          dynamic_axes={"y": [0]})


def test_training_mode_is_restored_and_static_export_fixes_shapes(tmp_path):
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    m.train()
    blaze.onnx.export(m, blaze.randn(2, 4), str(tmp_path / "s.onnx"), input_names=["x"], opset_version=18)
    assert m.training and m[1].training
    proto = onnx.load(str(tmp_path / "s.onnx"))
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [2, 4]
    assert {n.op_type for n in proto.graph.node} <= {"MatMul", "Transpose", "Add", "Identity"}


def test_demo_export_runs_in_onnx_runtime(tmp_path, capsys):
    from blaze.data.datasets import FashionMNIST
    from blaze.demo import main
    path = tmp_path / "model.onnx"
    assert main(["--epochs", "1", "--limit-train", "64", "--limit-test", "200", "--out", str(tmp_path / "p.png"),
                 "--export", str(path)]) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test accuracy: ")[1].split("%")[0]) / 100
    from blaze.data import transforms as T
    from blaze.demo import MEAN, STD
    test = FashionMNIST(None, train=False, transform=T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))]))
    images = np.stack([test[i][0].numpy() for i in range(200)])    # (200, 1, 28, 28), normalized as in training
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], {"image": images})[0]             # the README's recipe
    assert logits.shape == (200, 10)
    ort_acc = float((logits.argmax(1) == np.array([test[i][1] for i in range(200)])).mean())
    assert abs(ort_acc - acc) < 0.02  # the exported model is the trained one


class _Untraced(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(4, 3)

    def forward(self, x):
        return self.emb(blaze.tensor(x.argmax(dim=1).tolist()))  # rebuilt from Python data: not traced


def test_values_computed_outside_the_trace_are_refused(tmp_path):
    with pytest.raises(blaze.onnx.UnsupportedOperatorError, match=r"_Embedding at _Untraced.*outside the traced"):
        blaze.onnx.export(_Untraced(), (blaze.randn(5, 4),), str(tmp_path / "x.onnx"))


def test_cuda_model_exports(tmp_path):
    from tests.cuda.models import GPT
    blaze.manual_seed(0)
    m = GPT(vocab=11, block=16, d=16, heads=2).to("cuda")
    idx = _tokens(2, 5, 11).to("cuda")
    blaze.onnx.export(m, (idx,), str(tmp_path / "c.onnx"), input_names=["idx"], dynamic_axes={"idx": [0, 1]})
    assert next(m.parameters()).device.type == "cuda"  # the model stays where it was
    sess = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    for x in (idx, _tokens(3, 9, 11).to("cuda")):
        with blaze.no_grad():
            ref = m(x).cpu().numpy()
        np.testing.assert_allclose(sess.run(None, {"idx": x.cpu().numpy()})[0], ref, rtol=RTOL, atol=ATOL)


class _MaskedEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)

    def forward(self, x, pad=None):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])  # (T, T), built in forward
        return self.enc(x, mask=mask, src_key_padding_mask=pad)


def _masked_inputs(b, t):
    pad = blaze.zeros(b, t, dtype=blaze.bool)
    pad[:, -1] = True
    return blaze.randn(b, t, 16), {"pad": pad}


def test_encoder_with_causal_mask_padding_and_keyword_input(tmp_path):
    blaze.manual_seed(0)
    m = _MaskedEncoder().eval()
    path = str(tmp_path / "masked.onnx")
    blaze.onnx.export(m, _masked_inputs(2, 5), path, input_names=["x", "pad"], dynamic_axes={"x": [0, 1],
                                                                                               "pad": [0, 1]})
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for x, kw in (_masked_inputs(2, 5), _masked_inputs(3, 8)):
        with blaze.no_grad():
            ref = m(x, **kw).numpy()
        got = sess.run(None, {"x": x.numpy(), "pad": kw["pad"].numpy()})[0]
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)


def test_axes_that_must_match_need_one_name(tmp_path):
    with pytest.raises(RuntimeError, match="same name in dynamic_axes"):
        blaze.onnx.export(_MaskedEncoder(), _masked_inputs(2, 5), str(tmp_path / "x.onnx"), input_names=["x", "pad"],
                          dynamic_axes={"x": {0: "batch", 1: "seq"}, "pad": {0: "n", 1: "s"}})
