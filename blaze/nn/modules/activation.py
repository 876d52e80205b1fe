"""Activation modules: thin classes over ``nn.functional`` with PyTorch's arguments and reprs.

(MultiheadAttention lives in transformer.py.)
"""
from __future__ import annotations

from ...ops.creation import empty
from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _inplace_str(inplace: bool, lead: str = ", ") -> str:
    return f"{lead}inplace=True" if inplace else ""


class _Pointwise(Module):
    """An activation with only an ``inplace`` flag: forward is ``fn(x[, inplace])``."""

    fn = None
    takes_inplace = True

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        f = type(self).fn
        return f(input, inplace=self.inplace) if self.takes_inplace else f(input)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, "") if self.takes_inplace else ""


def _pointwise(name: str, fn, takes_inplace: bool = True, doc: str = ""):
    cls = type(name, (_Pointwise,), {"fn": staticmethod(fn), "takes_inplace": takes_inplace,
                                     "__doc__": doc or f"Applies ``F.{fn.__name__}`` elementwise."})
    cls.__module__ = __name__
    return cls


ReLU = _pointwise("ReLU", F.relu, doc="max(x, 0).")
SELU = _pointwise("SELU", F.selu)
SiLU = _pointwise("SiLU", F.silu, doc="x * sigmoid(x).")
Mish = _pointwise("Mish", F.mish, doc="x * tanh(softplus(x)).")
Hardswish = _pointwise("Hardswish", F.hardswish)
Hardswish.extra_repr = lambda self: ""
Hardsigmoid = _pointwise("Hardsigmoid", F.hardsigmoid)
Hardsigmoid.extra_repr = lambda self: ""
Tanh = _pointwise("Tanh", F.tanh, takes_inplace=False)
Sigmoid = _pointwise("Sigmoid", F.sigmoid, takes_inplace=False)
LogSigmoid = _pointwise("LogSigmoid", F.logsigmoid, takes_inplace=False)
Softsign = _pointwise("Softsign", F.softsign, takes_inplace=False)
Tanhshrink = _pointwise("Tanhshrink", F.tanhshrink, takes_inplace=False)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_str(self.inplace)}"


class RReLU(Module):
    """Randomized leaky ReLU: in training each negative element gets a slope drawn from
    U(lower, upper); in eval the slope is (lower + upper) / 2."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace_str(self.inplace)}"


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_str(self.inplace)}"


class CELU(ELU):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)


class GELU(Module):
    """x * Phi(x); ``approximate='tanh'`` for the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """clamp(x, min_val, max_val)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if min_val > max_val:
            raise ValueError("min_val cannot be greater than max_val")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_str(self.inplace)}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, "")


class Threshold(Module):
    """x if x > threshold else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace_str(self.inplace)}"


class Hardshrink(Module):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    def forward(self, input):
        return F.softshrink(input, self.lambd)


class _DimModule(Module):
    fn = None

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return type(self).fn(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_DimModule):
    """exp(x) / sum(exp(x)) along ``dim``."""
    fn = staticmethod(F.softmax)


class LogSoftmax(_DimModule):
    """x - logsumexp(x) along ``dim``."""
    fn = staticmethod(F.log_softmax)


class Softmin(_DimModule):
    """softmax(-x) along ``dim``."""
    fn = staticmethod(F.softmin)


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) at every location, as ``torch.nn.Softmax2d``."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3)


class GLU(_DimModule):
    """a * sigmoid(b) for the halves (a, b) of the input along ``dim`` (default -1)."""
    fn = staticmethod(F.glu)

    def __init__(self, dim: int = -1):
        super().__init__(dim)


class PReLU(Module):
    """x if x > 0 else a * x with a learnable ``weight`` (num_parameters,) initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        from .. import init as _init
        _init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


def __getattr__(name):
    # PyTorch defines MultiheadAttention here (nn.modules.activation); blaze keeps it beside the
    # transformer layers that use it and resolves this path lazily, so neither file imports the other.
    if name == "MultiheadAttention":
        from .transformer import MultiheadAttention
        return MultiheadAttention
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ReLU", "ReLU6", "RReLU", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid",
           "LogSigmoid", "Softplus", "Softsign", "Tanhshrink", "Softmax", "LogSoftmax", "Softmin", "Softmax2d",
           "Hardtanh", "Hardswish", "Hardsigmoid", "Threshold", "Hardshrink", "Softshrink", "GLU", "PReLU"]
