"""PyTorch's module paths: every nn class blaze has resolves at torch.nn.modules.<file>.<Class>, and Tensor flags."""
import pytest

import blaze
import blaze.nn as nn

# torch.nn.modules.<file> -> the classes PyTorch 2.13 defines there (from each class's __module__)
TORCH_PATHS = {
    "activation": ("CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU LogSigmoid LogSoftmax Mish "
                   "MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid Softmax Softmax2d Softmin Softplus "
                   "Softshrink Softsign Tanh Tanhshrink Threshold"),
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "batchnorm": "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d SyncBatchNorm",
    "channelshuffle": "ChannelShuffle",
    "container": "Container ModuleDict ModuleList ParameterDict ParameterList Sequential",
    "conv": ("Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d "
             "LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d"),
    "distance": "CosineSimilarity PairwiseDistance",
    "dropout": "AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": ("InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d "
                     "LazyInstanceNorm3d"),
    "linear": "Bilinear Identity LazyLinear Linear",
    "linear_cross_entropy_options": "LinearCrossEntropyOptions",
    "loss": ("BCELoss BCEWithLogitsLoss CTCLoss CosineEmbeddingLoss CrossEntropyLoss GaussianNLLLoss "
             "HingeEmbeddingLoss HuberLoss KLDivLoss L1Loss LinearCrossEntropyLoss MSELoss MarginRankingLoss "
             "MultiLabelMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss NLLLoss NLLLoss2d PoissonNLLLoss "
             "SmoothL1Loss SoftMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss"),
    "module": "Module",
    "normalization": "CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm",
    "padding": ("CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
                "ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d ZeroPad1d "
                "ZeroPad2d ZeroPad3d"),
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": ("AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d "
                "AdaptiveMaxPool3d AvgPool1d AvgPool2d AvgPool3d FractionalMaxPool2d FractionalMaxPool3d LPPool1d "
                "LPPool2d LPPool3d MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d"),
    "rnn": "GRU GRUCell LSTM LSTMCell RNN RNNBase RNNCell RNNCellBase",
    "sparse": "Embedding EmbeddingBag",
    "transformer": ("Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder "
                    "TransformerEncoderLayer"),
    "upsampling": "Upsample UpsamplingBilinear2d UpsamplingNearest2d",
}


@pytest.mark.parametrize("file", sorted(TORCH_PATHS))
def test_every_class_blaze_has_resolves_at_pytorchs_path(file):
    import importlib
    names = [n for n in TORCH_PATHS[file].split() if hasattr(nn, n)]
    if not names:
        return  # blaze has none of this file's classes yet: nothing to resolve
    mod = importlib.import_module(f"blaze.nn.modules.{file}")
    missing = [n for n in names if getattr(mod, n, None) is not getattr(nn, n)]
    assert not missing, f"blaze.nn.modules.{file} lacks {missing}"


def test_multihead_attention_path_and_flatten_parameters():
    from blaze.nn.modules.activation import MultiheadAttention
    assert MultiheadAttention is nn.MultiheadAttention and nn.modules.batchnorm.BatchNorm2d is nn.BatchNorm2d
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        nn.modules.activation.NoSuchLayer
    lstm = nn.LSTM(3, 4)
    assert lstm.flatten_parameters() is None


def test_tensor_device_and_layout_flags():
    t = blaze.ones(2)
    assert t.is_cpu and not t.is_cuda
    for name in ("is_xpu", "is_mps", "is_meta", "is_ipu", "is_xla", "is_maia", "is_mtia", "is_vulkan", "is_sparse",
                 "is_sparse_csr", "is_quantized", "is_nested", "is_mkldnn"):
        assert getattr(t, name) is False, name
    assert not t.is_complex() and t.is_signed() and not blaze.tensor([1], dtype=blaze.uint8).is_signed()
    c = blaze.ones(2, device="cuda")
    assert c.is_cuda and not c.is_cpu
    assert t.softmax(0).tolist() == [0.5, 0.5] and t.log_softmax(dim=0).shape == (2,)


def test_onnx_export_name_resolves():
    import blaze.onnx
    assert callable(blaze.onnx.export)


def test_modules_utils_tuple_helpers():
    from blaze.nn.modules.utils import _pair, _quadruple, _reverse_repeat_tuple, _single, _triple
    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2) and _single(2) == (2,) and _triple(1) == (1, 1, 1)
    assert _quadruple(0) == (0, 0, 0, 0) and _reverse_repeat_tuple((1, 2), 2) == (2, 2, 1, 1)


def test_private_norm_bases_at_pytorchs_paths():
    from blaze.nn.modules.batchnorm import _BatchNorm, _NormBase
    from blaze.nn.modules.instancenorm import _InstanceNorm
    assert isinstance(nn.BatchNorm2d(3), _BatchNorm) and isinstance(nn.SyncBatchNorm(3), _NormBase)
    assert isinstance(nn.InstanceNorm2d(3), _InstanceNorm) and not isinstance(nn.LayerNorm(3), _NormBase)
