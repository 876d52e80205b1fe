"""Lazy modules: the input size (``in_features``, ``in_channels``, ``num_features``) is read from the
first call, as PyTorch's ``LazyModuleMixin``; the module then becomes its plain class."""
from __future__ import annotations

from ...autograd import no_grad
from ..parameter import UninitializedBuffer, UninitializedParameter, UninitializedTensorMixin
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d


class LazyModuleMixin:
    """Parameters start as ``UninitializedParameter``; a forward pre-hook calls
    ``initialize_parameters(*args)`` once, then the module's class becomes ``cls_to_become``."""
    cls_to_become = None

    def _lazy_setup(self, params=(), buffers=()):
        """Turn the named (already registered) parameters and buffers into uninitialized ones."""
        for name in params:
            if self._parameters.get(name) is not None:
                old = self._parameters[name]
                self._parameters[name] = UninitializedParameter(old.requires_grad, old.device, old.dtype)
        for name in buffers:
            if self._buffers.get(name) is not None:
                old = self._buffers[name]
                self._buffers[name] = UninitializedBuffer(False, old.device, old.dtype)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(t, UninitializedTensorMixin)
                   for t in (*self._parameters.values(), *self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs):
        raise NotImplementedError(f"initialize_parameters is not implemented for {type(self).__name__}")

    def _materialize(self, shapes) -> None:
        """``shapes``: name -> shape of every uninitialized parameter/buffer; then the usual init."""
        with no_grad():
            for store in (self._parameters, self._buffers):
                for name, t in store.items():
                    if isinstance(t, UninitializedTensorMixin):
                        t.materialize(shapes[name])
            self.reset_parameters()


def _infer_parameters(module, args):
    module.initialize_parameters(*args)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


class LazyLinear(LazyModuleMixin, Linear):
    """``Linear`` whose ``in_features`` is ``input.shape[-1]`` of the first call."""
    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(1, out_features, bias, device, dtype)
        self.in_features = 0
        self._lazy_setup(("weight", "bias"))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args) -> None:
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self._materialize({"weight": (self.out_features, self.in_features), "bias": (self.out_features,)})


class _LazyConvMixin(LazyModuleMixin):
    def _lazy_conv(self):
        self.in_channels = 0
        self._lazy_setup(("weight", "bias"))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args) -> None:
        if not self.has_uninitialized_params():
            return
        batched = input.ndim == self._nd + 2
        c = input.shape[1] if batched else input.shape[0]
        if c % self.groups:
            raise ValueError("in_channels must be divisible by groups")
        self.in_channels = c
        g = self.groups
        shape = ((c, self.out_channels // g) if self.transposed else (self.out_channels, c // g)) + self.kernel_size
        self._materialize({"weight": shape, "bias": (self.out_channels,)})


def _lazy_conv_class(base, transposed):
    if transposed:
        def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                     dilation=1, padding_mode="zeros", device=None, dtype=None):
            base.__init__(self, groups, out_channels, kernel_size, stride, padding, output_padding, groups, bias,
                          dilation, padding_mode, device, dtype)
            self._lazy_conv()
    else:
        def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                     padding_mode="zeros", device=None, dtype=None):
            base.__init__(self, groups, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                          padding_mode, device, dtype)
            self._lazy_conv()
    name = "Lazy" + base.__name__
    doc = f"``{base.__name__}`` whose ``in_channels`` is read from the first input (dim 1, or 0 unbatched)."
    return type(name, (_LazyConvMixin, base), {"__init__": __init__, "cls_to_become": base, "__doc__": doc,
                                              "__module__": __name__})


LazyConv1d = _lazy_conv_class(Conv1d, False)
LazyConv2d = _lazy_conv_class(Conv2d, False)
LazyConvTranspose1d = _lazy_conv_class(ConvTranspose1d, True)
LazyConvTranspose2d = _lazy_conv_class(ConvTranspose2d, True)


class _LazyNormBase(LazyModuleMixin):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None):
        super().__init__(0, eps, momentum, affine, track_running_stats, device, dtype)
        self._lazy_setup(("weight", "bias"), ("running_mean", "running_var"))

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args) -> None:
        if not self.has_uninitialized_params():
            return
        self._check_input_dim(input)
        unbatched = isinstance(self, (InstanceNorm1d, InstanceNorm2d, InstanceNorm3d)) and input.ndim == self._dims[0]
        self.num_features = input.shape[0] if unbatched else input.shape[1]
        n = (self.num_features,)
        self._materialize(dict.fromkeys(("weight", "bias", "running_mean", "running_var"), n))


def _lazy_norm_class(base, affine_default, track_default):
    def __init__(self, eps=1e-5, momentum=0.1, affine=affine_default, track_running_stats=track_default,
                 device=None, dtype=None):
        _LazyNormBase.__init__(self, eps, momentum, affine, track_running_stats, device, dtype)
    doc = f"``{base.__name__}`` whose ``num_features`` is read from the first input."
    return type("Lazy" + base.__name__, (_LazyNormBase, base), {"__init__": __init__, "cls_to_become": base,
                                                                "__doc__": doc, "__module__": __name__})


LazyBatchNorm1d = _lazy_norm_class(BatchNorm1d, True, True)
LazyBatchNorm2d = _lazy_norm_class(BatchNorm2d, True, True)
LazyBatchNorm3d = _lazy_norm_class(BatchNorm3d, True, True)
# torch's lazy instance norms default to affine=True, track_running_stats=True (unlike InstanceNorm*d)
LazyInstanceNorm1d = _lazy_norm_class(InstanceNorm1d, True, True)
LazyInstanceNorm2d = _lazy_norm_class(InstanceNorm2d, True, True)
LazyInstanceNorm3d = _lazy_norm_class(InstanceNorm3d, True, True)

__all__ = ["LazyModuleMixin", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConvTranspose1d", "LazyConvTranspose2d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d",
           "LazyInstanceNorm3d"]
