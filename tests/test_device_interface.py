"""The declared device interface: both devices conform, and a device with only the core tier trains."""
import inspect

import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.device import CPU
from blaze.devices.cpu.backend import NumpyBackend
from blaze.devices.interface import CORE, GROUPS, Backend


def _declared():
    return CORE + tuple(n for names in GROUPS.values() for n in names)


def test_core_tier_is_small_and_abstract():
    assert 30 <= len(CORE) <= 45
    assert set(Backend.__abstractmethods__) == set(CORE)
    with pytest.raises(TypeError, match="abstract"):
        type("Half", (Backend,), {"empty": lambda self, shape, dtype: None})()


def _signature(cls, name):
    return [(p.name, p.default) for p in inspect.signature(getattr(cls, name)).parameters.values()]




@pytest.mark.parametrize("name", _declared())
def test_one_signature_per_primitive(name):
    """cpu, cuda and the declaration agree on every primitive's parameters and defaults."""
    classes = [NumpyBackend]
    try:
        from blaze.devices.cuda.backend import TritonBackend
        classes.append(TritonBackend)
    except ImportError:  # no Triton: the cuda side is checked where it is installed
        pass
    assert all(issubclass(c, Backend) for c in classes)
    for c in classes:  # every primitive is declared (core) or defaulted (groups) on Backend with its signature
        assert _signature(c, name) == _signature(Backend, name), (c.__name__, name)


def test_capabilities_are_declared():
    assert all(NumpyBackend.supports(g) for g in ("nn", "conv", "attention", "rnn", "optim"))
    assert not CoreOnly.supports("optim") and not CoreOnly.supports("derived")  # it runs on the defaults
    with pytest.raises(ValueError, match="unknown primitive group"):
        NumpyBackend.supports("fft")


class CoreOnly(Backend):
    """A device that implements exactly the core tier (by asking NumPy), nothing else."""
    name = "core-only"


_ref = NumpyBackend()
for _n in CORE:
    setattr(CoreOnly, _n, (lambda n: lambda self, *a, **k: getattr(_ref, n)(*a, **k))(_n))
CoreOnly.__abstractmethods__ = frozenset()


def _train(steps=3):
    blaze.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = blaze.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = blaze.randn(6, 4), blaze.randn(6, 3)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(F.softmax(model(x), dim=-1), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def test_a_core_only_device_runs_a_training_step():
    defined = {n for n, v in vars(CoreOnly).items() if callable(v) and not n.startswith("_")}
    assert defined == set(CORE)
    ref_losses, ref_params = _train()
    saved = CPU._backend
    object.__setattr__(CPU, "_backend", CoreOnly())
    try:
        losses, params = _train()
    finally:
        object.__setattr__(CPU, "_backend", saved)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, rtol=1e-5, atol=1e-6)


def test_every_primitive_the_devices_have_is_declared():
    """No undeclared primitives: what a device offers is the core tier or a named group."""
    declared = set(_declared()) | {"supports"}
    public = {n for n in dir(NumpyBackend) if not n.startswith("_") and callable(getattr(NumpyBackend, n))}
    assert public <= declared, sorted(public - declared)
