"""The optimizer base class: parameter groups, per-parameter state, PyTorch-format state dicts.

Each optimizer's ``step()`` gathers, per group, the parameters that have a gradient and their
state, and hands their arrays to the device's step primitive (``sgd_step`` / ``adam_step`` /
``rmsprop_step`` / ``adagrad_step``): the NumPy reference on cpu (blaze/devices/cpu/optim.py),
the fused kernels on cuda (blaze/kernels/optim.py). The primitive updates the arrays in place
and the optimizer bumps the version counters, which is what ``p.add_(...)`` under ``no_grad``
would do, without building intermediate Tensors. Where a device has no primitive for a
parameter (float64 on cuda) the update is a host round trip through the cpu one, counted in
the cuda backend's FALLBACKS as "optimizer_host_update". With ``foreach`` (the default) a step
makes one primitive call per (device, dtype) group, the ``*_foreach`` primitives: one kernel
launch on cuda (blaze/kernels/multi_tensor.py), the NumPy loop on cpu.
"""
from __future__ import annotations

import copy
import functools
from collections import defaultdict

import numpy as np

from .. import _flags
from ..autograd.grad_mode import enable_grad, no_grad
from .._tensor import Tensor

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
        """Reset every parameter's gradient: to None (default, no launch), or to zeros in place
        (one ``zero_foreach`` call, one launch on cuda, per device and dtype)."""
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        if set_to_none:
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad = None
            return
        for g in grads:
            g._grad_fn, g._rg = None, False
        for idx in _groups(grads, grads, True):
            be = grads[idx[0]]._device.backend
            be.zero_foreach([grads[i]._data for i in idx])
            for i in idx:
                grads[i]._version[0] += 1

    # How a CUDA graph may capture step(): "always" (no kernel argument depends on the step count),
    # "capturable" (only with capturable=True in every group: the count lives on the device), or
    # "never" (the count is read on the host, so a replay would repeat the captured step's).
    _graph_capture = "always"

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss first."""
        if self._graph_capture != "always":
            from ..cuda.graphs import is_current_stream_capturing
            if is_current_stream_capturing():
                self._capture_health_check()
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

    def _capture_health_check(self) -> None:
        name = type(self).__name__
        if self._graph_capture == "never":
            raise RuntimeError(f"Attempting CUDA graph capture of step() for an instance of {name}, whose step count "
                               "is read on the host; blaze captures SGD and RMSprop steps, and Adam, AdamW and "
                               "Adagrad ones with capturable=True")
        if not all(g.get("capturable") for g in self.param_groups):   # PyTorch's wording
            raise RuntimeError(f"Attempting CUDA graph capture of step() for an instance of {name} but "
                               "param_groups' capturable is False.")

    def _enable_capturable(self) -> None:
        """Turn ``capturable`` on in every group, moving existing step counts to their parameters'
        devices (for a whole-step CUDA graph capture, blaze.cuda.GraphedTrainStep)."""
        params = [p for g in self.param_groups for p in g["params"]]
        _check_capturable(params, [self.state.get(p, {}) for p in params], ignore_steps=True)
        for g in self.param_groups:
            g["capturable"] = True
            for p in g["params"]:
                st = self.state.get(p)
                if st and "step" in st:
                    st["step"] = _cast_step(p, st["step"], True)

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
        are copied (tensors cast to each parameter's device, and floating state to its state dtype,
        except ``step``). A mismatch raises ValueError and leaves the optimizer unchanged."""
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = {old: p for g, s in zip(groups, saved_groups) for old, p in zip(s["params"], g["params"])}
        new_groups = [{**copy.deepcopy({k: v for k, v in s.items() if k != "params"}), "params": g["params"]}
                      for g, s in zip(groups, saved_groups)]
        for g in new_groups:
            for k, v in g.items():  # JSON turns tuples (betas) into lists
                if isinstance(v, list) and k != "params" and isinstance(self.defaults.get(k), tuple):
                    g[k] = tuple(v)
            if "capturable" in self.defaults:   # PyTorch's __setstate__: a dict without it is not capturable
                g.setdefault("capturable", False)
        capturable = {id(p): bool(g.get("capturable")) for g in new_groups for p in g["params"]}
        new_state: dict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            key = int(key)  # JSON round trips may hand string keys
            if key not in id_map:
                continue
            p = id_map[key]
            new_state[p] = {k: _cast_step(p, v, capturable[id(p)]) if k == "step" else _cast_state(p, v)
                            for k, v in value.items()}
        self.state, self.param_groups = new_state, new_groups


def _cast_state(p: Tensor, value):
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point:
            return value.detach().to(device=p.device, dtype=state_dtype(p)).clone()
        return value.detach().to(p.device).clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


# -------------------------------------------------------------------- arrays for the functional updates


_KERNEL_FLOATS = ("float32", "float16", "bfloat16")


def _step(p: Tensor, name: str):
    """The device's optimizer step primitive for ``p`` (``sgd_step``, ``adam_step``, ``rmsprop_step``,
    ``adagrad_step``, with blaze/kernels/optim.py's arguments): the device's own, or on a device
    with only the core tier the default written over it (blaze/devices/defaults/optim.py). Where
    the device's own group cannot take ``p`` (float64 on cuda) the step is a counted host round
    trip through the cpu device's (blaze/devices/cpu/optim.py, the NumPy reference)."""
    be = p._device.backend
    if p._device.type == "cpu" or p._dtype.name in _KERNEL_FLOATS or not be.supports("optim"):
        return getattr(be, name)
    return functools.partial(_host_step, be, name)


def use_foreach(foreach, fused) -> bool:
    """Whether a step runs one primitive call per (device, dtype) group (``foreach``/``fused``, the
    default) or one per parameter (``foreach=False``), as PyTorch's ``_default_to_fused_or_foreach``."""
    if foreach and fused:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    return not (foreach is False and not fused)


def _check_flags(foreach, fused, differentiable) -> None:
    use_foreach(foreach, fused)
    if differentiable:
        raise RuntimeError("differentiable=True is not supported: blaze's optimizer steps run under no_grad")


def _groups(params, grads, foreach: bool, *keys) -> list:
    """Index lists of the parameters updated by one primitive call: one per (device, dtype, grad dtype,
    *keys) with ``foreach``, else one per parameter."""
    if not foreach:
        return [[i] for i in range(len(params))]
    out: dict = {}
    for i, (p, g) in enumerate(zip(params, grads)):
        out.setdefault((p._device, p._dtype, g._dtype) + tuple(k[i] for k in keys), []).append(i)
    return list(out.values())


def _apply(name: str, idx: list, operands: list, foreach: bool, **kw) -> None:
    """Run optimizer ``name`` ("sgd", "adam", ...) on parameters ``idx``. ``operands`` are the
    primitive's positional arguments: lists of Tensors indexed like the parameters (``operands[0]``),
    None for a state the options leave out, or scalars shared by the group."""
    def one(o, i):
        return o[i]._data if isinstance(o, list) else o

    def many(o):
        return [o[i]._data for i in idx] if isinstance(o, list) else o
    p0 = operands[0][idx[0]]
    be = p0._device.backend
    host = p0._device.type != "cpu" and p0._dtype.name not in _KERNEL_FLOATS and be.supports("optim")
    if foreach and not host:
        getattr(be, name + "_foreach")(*map(many, operands), **kw)
        return
    for i in idx:
        _step(p0, name + "_step")(*(one(o, i) for o in operands), **kw)


def _host_step(be, name, *args, **kw):
    """Run the cpu step on host copies of the device arrays, then write param and state back."""
    _flags.FALLBACKS["optimizer_host_update"] += 1
    from ..devices.cpu.backend import NumpyBackend

    def is_arr(a):
        return a is not None and hasattr(a, "shape") and hasattr(a, "dtype")
    host = [np.array(be.to_numpy(a)) if is_arr(a) else a for a in args]
    host_kw = {k: np.array(be.to_numpy(v)) if is_arr(v) else v for k, v in kw.items()}
    getattr(NumpyBackend(), name)(*host, **host_kw)
    pairs = [(a, h) for i, (a, h) in enumerate(zip(args, host)) if i != 1 and is_arr(a)]  # args[1] is the grad
    pairs += [(kw[k], host_kw[k]) for k in kw if is_arr(kw[k])]
    for dev, h in pairs:
        be.assign(dev, be.from_numpy(h))


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


def state_dtype(p: Tensor):
    """The dtype of ``p``'s optimizer state: float32 for float16/bfloat16 parameters (the fused steps
    compute in float32, and a half second-moment average underflows below 6e-8), else ``p``'s."""
    from ..dtypes import float32
    return float32 if p._dtype.name in ("float16", "bfloat16") else p._dtype


def _state_like(p: Tensor, fill: float | None = None) -> Tensor:
    """New optimizer state shaped like ``p`` in :func:`state_dtype`, filled with ``fill`` (None: uninitialised)."""
    be, dt = p._device.backend, state_dtype(p)
    data = be.empty(tuple(p.shape), dt) if fill is None else be.full(tuple(p.shape), fill, dt)
    return Tensor._make(data, p._device, dt)


def _zeros_like_each(params, copies: int = 1, device_steps: bool = False) -> list:
    """``copies`` lists of new zero state tensors (:func:`_state_like`), one per parameter, and with
    ``device_steps`` a last list of zero float32 0-d step counts on the parameters' devices
    (capturable): one ``zero_foreach`` call (one launch on cuda) per (device, dtype), not one fill
    per tensor."""
    from ..dtypes import float32
    out = [[_state_like(p) for p in params] for _ in range(copies)]
    if device_steps:
        out.append([Tensor._make(p._device.backend.empty((), float32), p._device, float32) for p in params])
    flat = [t for col in out for t in col]
    for idx in _groups(flat, flat, True):
        flat[idx[0]]._device.backend.zero_foreach([flat[i]._data for i in idx])
    return out


def _step_tensor(value: float = 0.0) -> Tensor:
    # PyTorch keeps 'step' as a float32 0-d tensor on the CPU (capturable=False).
    return Tensor._make(np.array(value, dtype=np.float32))


def _cast_step(p: Tensor, value, capturable: bool) -> Tensor:
    """``state['step']`` as a group keeps it: capturable, a float32 0-d tensor on ``p``'s device
    (PyTorch's note [special device hosting for step]); else a cpu tensor of the saved dtype. A
    python number (older state dicts) becomes a tensor, as PyTorch's ``__setstate__`` does."""
    if not isinstance(value, Tensor):
        value = _step_tensor(float(value))
    if capturable:
        from ..dtypes import float32
        return value.detach().to(device=p.device, dtype=float32).clone()
    return value.detach().to("cpu").clone()


# devices whose optimizer steps can count on the device (PyTorch: cuda, xpu, hpu, privateuseone, xla)
_CAPTURABLE_DEVICES = ("cuda",)


def _check_capturable(params, states, ignore_steps: bool = False) -> None:
    """PyTorch's check before a capturable step: every parameter, and its step count, on a device
    from :data:`_CAPTURABLE_DEVICES` (raised before anything is changed)."""
    for p, st in zip(params, states):
        step = None if ignore_steps else st.get("step")
        if p.device.type not in _CAPTURABLE_DEVICES or (isinstance(step, Tensor) and step.device.type != p.device.type):
            raise AssertionError("If capturable=True, params and state_steps must be on supported devices: "
                                 f"{list(_CAPTURABLE_DEVICES)}.")


def _bump_step(state: dict) -> float:
    s = state["step"]
    s._data[...] = s._data + 1
    s._version[0] += 1
    return float(s._data)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)
