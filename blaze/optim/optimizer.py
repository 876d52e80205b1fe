"""The optimizer base class: parameter groups, per-parameter state, PyTorch-format state dicts.

Each optimizer's ``step()`` gathers, per group, the parameters that have a gradient and their
state, and hands *arrays* to a functional update (``sgd()``, ``adam()``...). The functional
updates change ``p._data`` in place and bump the parameter's version counter, which is what
``p.add_(...)`` under ``no_grad`` would do, without building intermediate Tensors: a handful
of NumPy ops per parameter on the CPU. On another device, a backend that exposes the fused
primitive (``sgd_step`` / ``adam_step`` / ``rmsprop_step`` / ``adagrad_step``, see
blaze/kernels/optim.py) gets the call instead; any other update there (a float64 parameter) is
a host round trip, counted in the cuda backend's FALLBACKS as "optimizer_host_update".
"""
from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np

from .. import _flags
from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class for all optimizers, as ``torch.optim.Optimizer``.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) holding ``"params"``
            and any per-group options that override ``defaults``.
        defaults: the default value of every option.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = defaultdict(dict)
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ---------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate one group's options (subclasses raise ValueError like PyTorch)."""

    # ---------------------------------------------------------------- grads and step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    g._grad_fn, g._rg = None, False
                    with no_grad():
                        g.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss first."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- state dicts
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, as PyTorch.

        Parameters are numbered in the order they appear across groups. Tensors in the result
        are the optimizer's own (not copies), as in PyTorch.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict from :meth:`state_dict`; group options and per-parameter state
        are copied (tensors cast to each parameter's device, and floating state to its dtype,
        except ``step``). A mismatch raises ValueError and leaves the optimizer unchanged."""
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = {old: p for g, s in zip(groups, saved_groups) for old, p in zip(s["params"], g["params"])}
        new_state: dict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            key = int(key)  # JSON round trips may hand string keys
            if key not in id_map:
                continue
            p = id_map[key]
            new_state[p] = {k: _cast_state(p, k, v) for k, v in value.items()}
        new_groups = [{**copy.deepcopy({k: v for k, v in s.items() if k != "params"}), "params": g["params"]}
                      for g, s in zip(groups, saved_groups)]
        for g in new_groups:
            for k, v in g.items():  # JSON turns tuples (betas) into lists
                if isinstance(v, list) and k != "params" and isinstance(self.defaults.get(k), tuple):
                    g[k] = tuple(v)
        self.state, self.param_groups = new_state, new_groups


def _cast_state(p: Tensor, key: str, value):
    if isinstance(value, Tensor):
        if key == "step":  # PyTorch keeps the step count in float32 whatever the param dtype
            return value.detach().to(p.device).clone()
        if value.dtype.is_floating_point:
            return value.detach().to(device=p.device, dtype=p.dtype).clone()
        return value.detach().to(p.device).clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


# -------------------------------------------------------------------- arrays for the functional updates
_HALF = ("float16", "bfloat16")


def _open(t: Tensor) -> np.ndarray:
    """The array an update computes on: the tensor's own memory for a float32/float64 CPU
    tensor, else a float32 host copy (half types: NumPy's half math is slow and rounds every
    op; other devices without a fused primitive: a listed host round trip)."""
    if t._device.type == "cpu" and t._dtype.name not in _HALF:
        return t._data
    _count_host_trip(t)
    return np.array(t._device.backend.to_numpy(t._data), dtype=np.float32)


def _close(t: Tensor, a: np.ndarray) -> None:
    """Write ``a`` back into ``t`` if it was a copy, and move the version counter (in-place change)."""
    if a is not t._data:
        be = t._device.backend
        src = a if t._device.type == "cpu" else be.from_numpy(a.astype(t._dtype.np))
        be.assign(t._data, src)
    t._version[0] += 1


def _read(t: Tensor) -> np.ndarray:
    """A read-only array of ``t`` in the compute type (float32 for half types)."""
    if t._device.type == "cpu" and t._dtype.name not in _HALF:
        return t._data
    _count_host_trip(t)
    return np.asarray(t._device.backend.to_numpy(t._data), dtype=np.float32)


def _count_host_trip(t: Tensor) -> None:
    """Count a download of optimizer memory from the cuda device (README: host round trips)."""
    if t._device.type == "cuda":
        _flags.FALLBACKS["optimizer_host_update"] += 1


def _fused(p: Tensor, name: str):
    """The backend's fused optimizer primitive for ``p``'s device, if it has one (never on CPU).

    The primitives take backend arrays with blaze/kernels/optim.py's signatures:
    ``sgd_step(param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov, weight_decay,
    maximize, first_step)``, ``adam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr, betas,
    eps, weight_decay, amsgrad, max_exp_avg_sq, maximize, decoupled)``, ``rmsprop_step(param, grad,
    square_avg, grad_avg, momentum_buffer, *, lr, alpha, eps, weight_decay, momentum, centered,
    maximize)`` and ``adagrad_step(param, grad, state_sum, step, *, lr, lr_decay, weight_decay, eps,
    maximize)``. The kernels compute in float32; float16/bfloat16 parameters keep their state in
    their own dtype (as PyTorch), which the primitive reads and writes through float32 copies
    on the device, so no update takes a host round trip.
    """
    be = p._device.backend
    if p._dtype.name not in ("float32", "float16", "bfloat16") or not be.supports("optim"):
        return None
    return getattr(be, name)


def _host_grad(p: Tensor, g: Tensor, maximize: bool, weight_decay: float):
    """The host path's first lines of every update: (param array opened for writing, the gradient
    negated for ``maximize`` and with coupled L2 weight decay added), as PyTorch's single-tensor loops."""
    pa, ga = _open(p), _read(g)
    if maximize:
        ga = -ga
    if weight_decay != 0:
        ga = ga + weight_decay * pa
    return pa, ga


def _written(p: Tensor, state: dict | None = None) -> None:
    """Bump the versions of a parameter and its state tensors after a fused in-place update."""
    p._version[0] += 1
    for t in (state or {}).values():
        if isinstance(t, Tensor) and t is not p:
            t._version[0] += 1


def _full_like(p: Tensor, fill: float = 0.0) -> Tensor:
    """New state shaped and typed like ``p`` (PyTorch keeps state in the parameter's dtype)."""
    be = p._device.backend
    return Tensor._make(be.full(tuple(p.shape), fill, p._dtype), p._device, p._dtype)


def _step_tensor(value: float = 0.0) -> Tensor:
    # PyTorch keeps 'step' as a float32 0-d tensor on the CPU (capturable=False).
    return Tensor._make(np.array(value, dtype=np.float32))


def _bump_step(state: dict) -> float:
    s = state["step"]
    s._data[...] = s._data + 1
    s._version[0] += 1
    return float(s._data)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)
