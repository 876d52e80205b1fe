"""``Parameter``: a Tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

import numpy as np

from .._tensor import Tensor, _rebuild


class Parameter(Tensor):
    """A Tensor that is a module parameter, as ``torch.nn.Parameter``.

    Assigning a Parameter to a Module attribute registers it (it then appears in
    ``parameters()`` and ``state_dict()``). ``requires_grad`` defaults to True.

    Example::

        w = blaze.nn.Parameter(blaze.randn(3, 4))
    """

    __slots__ = ()

    def __new__(cls, data=None, requires_grad: bool = True):
        if data is None:
            data = Tensor._make(np.empty((0,), np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        p = object.__new__(cls)
        # Same slot set-up as Tensor._make; the Parameter shares the tensor's memory (as
        # torch does) but starts a fresh graph: it is a leaf.
        p._data = data._data
        p._device = data._device
        p._dtype = data._dtype
        p._rg = False
        p._grad_fn = None
        p._out_idx = 0
        p._version = data._version
        p._base = None
        p._acc = None
        p.grad = None
        p._retains_grad = False
        p.requires_grad = requires_grad
        return p

    def __init__(self, data=None, requires_grad: bool = True):  # construction happens in __new__
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._make(self._device.backend.copy(self._data), self._device, self._dtype), self._rg)
        if self.grad is not None:
            p.grad = self.grad.detach().clone()
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach().cpu()._data, self._dtype.name, str(self._device), self._rg))


def _rebuild_parameter(array, dtype_name, device_str, requires_grad):
    t = _rebuild(array, dtype_name, device_str, False)
    return Parameter(t, requires_grad)


__all__ = ["Parameter"]


class UninitializedTensorMixin:
    """A parameter or buffer whose shape a lazy module learns from its first input; until then it
    holds no elements (on its device, in its dtype), and ``materialize`` gives it its shape and
    turns it into ``cls_to_become``."""
    __slots__ = ()
    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None) -> None:
        from ..ops.creation import empty
        t = empty(*shape, device=device or self._device, dtype=dtype or self._dtype)
        self._data, self._device, self._dtype = t._data, t._device, t._dtype
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. This error usually "
                           "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
                           "initialized one. Call `forward` to initialize the parameters before accessing their "
                           "attributes.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _placeholder(device, dtype):
    from ..ops.creation import empty
    return empty(0, device=device, dtype=dtype)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """``torch.nn.parameter.UninitializedParameter``: a lazy module's weight before its first call."""
    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return Parameter.__new__(cls, _placeholder(device, dtype), requires_grad)

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        pass

    def __deepcopy__(self, memo):
        return memo.setdefault(id(self), UninitializedParameter(self.requires_grad, self._device, self._dtype))


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """``torch.nn.parameter.UninitializedBuffer``: a lazy module's running statistic before its first call."""
    __slots__ = ()
    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None):
        b = _placeholder(device, dtype)
        b.__class__ = cls
        return b

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        pass
