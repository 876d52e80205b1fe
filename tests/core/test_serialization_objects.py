"""Whole-object checkpoints: models, optimizers, schedulers stored as data and rebuilt under weights_only."""
import io
import json
import pickle

import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.nn import functional as F
from blaze.optim import SGD, Adam
from blaze.optim.lr_scheduler import StepLR
from blaze.serialization import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

FORMATS = ["blaze", "torch"]
INITS = []  # appended to by Counted.__init__: loading must never add to it


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(8, 4)
        self.head.weight = nn.Parameter(blaze.randn(4, 8))
        self.tied = self.embed  # the same submodule twice
        self.act = F.relu  # a blaze function held by a layer

    def forward(self, x):
        return self.head(self.act(self.body(self.embed(x))))


class Counted:
    def __init__(self, n):
        INITS.append(n)
        self.n = n


@pytest.fixture(autouse=True)
def _empty_allow_list():
    clear_safe_globals()
    yield
    clear_safe_globals()


def _save_load(obj, fmt, **kw):
    f = io.BytesIO()
    blaze.save(obj, f, format=fmt)
    f.seek(0)
    return blaze.load(f, **kw)


def _out(m, x):
    return m(x).detach().numpy()


@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_model_round_trips_with_weights_only_false(fmt):
    blaze.manual_seed(0)
    m = Net().eval()
    x = blaze.randn(3, 4)
    m2 = _save_load(m, fmt, weights_only=False)
    assert type(m2) is Net and m2 is not m and m2.training is False
    np.testing.assert_array_equal(_out(m2, x), _out(m, x))
    assert m2.tied is m2.embed and m2.act is F.relu
    assert isinstance(m2.head.weight, nn.Parameter) and m2.head.weight.requires_grad
    assert [n for n, _ in m2.named_parameters()] == [n for n, _ in m.named_parameters()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_tied_parameters_stay_tied(fmt):
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    pair = _save_load(nn.ModuleList([a, b]), fmt, weights_only=False)
    assert pair[0].weight is pair[1].weight
    with blaze.no_grad():
        pair[0].weight.fill_(2.0)
    assert pair[1].weight.sum().item() == 18.0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("weights_only", [None, True])
def test_whole_model_is_refused_by_default_naming_the_class(fmt, weights_only):
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL test_serialization_objects\.Net|GLOBAL "
                       r"tests\.core\.test_serialization_objects\.Net") as e:
        _save_load(Net(), fmt, weights_only=weights_only)
    assert "add_safe_globals([Net])" in str(e.value) and "weights_only=False" in str(e.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_allow_list_loads_whole_objects_with_weights_only_true(fmt):
    m = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    f = io.BytesIO()
    blaze.save(m, f, format=fmt)
    classes = [nn.Sequential, nn.Linear, nn.Tanh]
    with safe_globals(classes):
        assert set(get_safe_globals()) == set(classes)
        f.seek(0)
        m2 = blaze.load(f)
    assert get_safe_globals() == []
    x = blaze.randn(2, 2)
    np.testing.assert_array_equal(_out(m2, x), _out(m, x))
    f.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="Sequential"):
        blaze.load(f)
    add_safe_globals(classes[:2])
    f.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL blaze\.nn\.modules\.activation\.Tanh"):
        blaze.load(f)


@pytest.mark.parametrize("fmt", FORMATS)
def test_user_class_needs_the_allow_list_even_with_weights_only_false_and_no_init_runs(fmt):
    obj = {"c": Counted(5)}
    INITS.clear()
    with pytest.raises(pickle.UnpicklingError, match="Counted was not an allowed global with weights_only=False"):
        _save_load(obj, fmt, weights_only=False)
    add_safe_globals([Counted])
    back = _save_load(obj, fmt)
    assert type(back["c"]) is Counted and back["c"].n == 5 and INITS == []  # __new__ + __dict__, no __init__


@pytest.mark.parametrize("fmt", FORMATS)
def test_functions_are_refused_unless_blazes_own(fmt):
    m = nn.Linear(2, 2)
    m.fn = lambda x: x
    with pytest.raises(TypeError, match=r"cannot save the function .*<lambda> \(at obj.__dict__\['fn'\]\)"):
        blaze.save(m, io.BytesIO(), format=fmt)
    m.fn = np.sum
    with pytest.raises(TypeError, match="cannot save the function"):
        blaze.save(m, io.BytesIO(), format=fmt)
    m.fn = F.gelu
    with pytest.raises(pickle.UnpicklingError, match="Linear"):
        _save_load(m, fmt)
    with safe_globals([nn.Linear]), pytest.raises(pickle.UnpicklingError, match="gelu"):
        _save_load(m, fmt)
    assert _save_load(m, fmt, weights_only=False).fn is F.gelu


def test_a_crafted_class_path_is_refused_even_with_weights_only_false(tmp_path):
    from safetensors.numpy import save as st_save
    for path in ("subprocess.Popen", "os.system", "builtins.eval", "blaze.save", "blaze..x", "blaze.nn.__class__",
                 "blaze._tensor.Tensor", "blaze.nn.parameter.Parameter", "blaze.nn.modules.linear.np.ndarray"):
        tree = {"object": path, "id": 0, "state": {"dict": {}}}
        data = st_save({}, metadata={"format": "blaze-checkpoint", "version": "1", "blaze": json.dumps(tree)})
        with pytest.raises(pickle.UnpicklingError, match="was not an allowed global"):
            blaze.load(io.BytesIO(data), weights_only=False)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make_opt", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.01)],
                         ids=["sgd", "adam"])
def test_model_optimizer_scheduler_resume_bit_for_bit(fmt, make_opt):
    def run(steps, m, opt, sched):
        g = blaze.Generator().manual_seed(1)
        for _ in range(steps):
            x = blaze.randn(5, 4, generator=g)
            loss = (m(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    blaze.manual_seed(0)
    m = Net().eval()  # eval: no dropout randomness
    opt = make_opt(m.parameters())
    sched = StepLR(opt, 2, gamma=0.5)
    run(3, m, opt, sched)
    ck = _save_load({"model": m, "opt": opt, "sched": sched, "epoch": 3}, fmt, weights_only=False)
    m2, opt2, sched2 = ck["model"], ck["opt"], ck["sched"]
    assert sched2.optimizer is opt2 and opt2.param_groups[0]["params"][0] is m2.embed.weight
    assert all(p in opt2.state for p in m2.parameters()) and ck["epoch"] == 3
    run(4, m, opt, sched)
    run(4, m2, opt2, sched2)
    for p, q in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] and sched2.last_epoch == 7


def test_save_best_model_and_reload_loop(tmp_path):
    blaze.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = SGD(m.parameters(), lr=0.05)
    x, y = blaze.randn(32, 3), blaze.randn(32, 1)
    best = float("inf")
    for epoch in range(6):
        loss = F.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        val = F.mse_loss(m(x), y).item()
        if val < best:
            best = val
            blaze.save(m, tmp_path / "best.pt")
    m2 = blaze.load(tmp_path / "best.pt", weights_only=False)
    assert F.mse_loss(m2(x), y).item() == best


@pytest.mark.parametrize("fmt", FORMATS)
def test_containers_and_scalars_keep_their_types(fmt):
    from collections import OrderedDict, defaultdict
    dd = defaultdict(list, {"a": [1]})
    obj = {"od": OrderedDict(b=1, a=2), "set": {1, 2}, "fs": frozenset({"x"}), "dd": dd, "t": (1, (2.5, None)),
           "dtype": blaze.bfloat16, "dev": blaze.device("cpu"), 3: "int key", "p": nn.Parameter(blaze.ones(2))}
    back = _save_load(obj, fmt)
    assert type(back["od"]) is OrderedDict and list(back["od"]) == ["b", "a"]
    assert back["set"] == {1, 2} and back["fs"] == frozenset({"x"}) and back[3] == "int key"
    assert type(back["dd"]) is defaultdict and back["dd"].default_factory is list and back["dd"]["a"] == [1]
    assert back["t"] == (1, (2.5, None)) and back["dtype"] is blaze.bfloat16 and back["dev"] == blaze.device("cpu")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad


def test_blaze_format_mmap_and_callable_map_location(tmp_path):
    blaze.save({"w": blaze.arange(8, dtype=blaze.float32)}, tmp_path / "a.ckpt")
    before = (tmp_path / "a.ckpt").read_bytes()
    w = blaze.load(tmp_path / "a.ckpt", mmap=True, map_location=lambda t, loc: t * 2)["w"]
    assert w.tolist() == [2.0 * i for i in range(8)]
    raw = blaze.load(tmp_path / "a.ckpt", mmap=True)["w"]
    raw.add_(1)
    assert raw[0].item() == 1.0 and (tmp_path / "a.ckpt").read_bytes() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_scripts_own_module_class_in_main_loads_with_weights_only_false(fmt, monkeypatch):
    """`python train.py` defines `class Net(nn.Module)` in __main__; the usual save-best loop reloads it."""
    import sys
    main = sys.modules["__main__"]
    cls = type("ScriptNet", (nn.Module,), {"forward": lambda self, x: self.fc(x), "__module__": "__main__"})
    monkeypatch.setattr(main, "ScriptNet", cls, raising=False)
    m = cls()
    m.fc = nn.Linear(2, 2)
    back = _save_load(m, fmt, weights_only=False)
    assert type(back) is cls and back.fc.weight.tolist() == m.fc.weight.tolist()
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL __main__\.ScriptNet was not an allowed global by "):
        _save_load(m, fmt)


def test_checkpoint_versions():
    from safetensors.numpy import save as st_save
    tree = json.dumps({"odict": [["a", 1]]})
    for version in ("1", "2"):  # version 1 files are a subset of version 2
        data = st_save({}, metadata={"format": "blaze-checkpoint", "version": version, "blaze": tree})
        assert blaze.load(io.BytesIO(data)) == {"a": 1}
    for version in ("3", "x", ""):
        data = st_save({}, metadata={"format": "blaze-checkpoint", "version": version, "blaze": tree})
        with pytest.raises(blaze.serialization.CheckpointError, match="this blaze reads versions 1 to 2"):
            blaze.load(io.BytesIO(data))


@pytest.mark.parametrize("fmt", FORMATS)
def test_get_unsafe_globals_in_checkpoint_lists_what_weights_only_refuses(fmt, tmp_path):
    from blaze.serialization import get_unsafe_globals_in_checkpoint
    m = nn.Sequential(nn.Linear(2, 2))
    m.act = F.gelu
    path = tmp_path / ("m.pt" if fmt == "torch" else "m.ckpt")
    blaze.save({"model": m, "meta": {"object": "not.a.Class"}}, path)
    gelu = f"{F.gelu.__module__}.{F.gelu.__qualname__}"
    assert get_unsafe_globals_in_checkpoint(path) == sorted([gelu, "blaze.nn.modules.container.Sequential",
                                                             "blaze.nn.modules.linear.Linear"])
    with safe_globals([nn.Linear]):
        assert "blaze.nn.modules.linear.Linear" not in get_unsafe_globals_in_checkpoint(path)
    blaze.save(m.state_dict(), path)
    assert get_unsafe_globals_in_checkpoint(path) == []


def test_get_unsafe_globals_in_torch_fixtures():
    import os
    from blaze.serialization import get_unsafe_globals_in_checkpoint
    fix = os.path.join(os.path.dirname(__file__), "..", "fixtures", "torch_ckpt")
    assert get_unsafe_globals_in_checkpoint(os.path.join(fix, "state_dict.pt")) == []
    assert get_unsafe_globals_in_checkpoint(os.path.join(fix, "legacy.pt")) == []
    assert get_unsafe_globals_in_checkpoint(os.path.join(fix, "malicious.pt")) in (["posix.system"], ["nt.system"])
    unsafe = get_unsafe_globals_in_checkpoint(os.path.join(fix, "whole_module.pt"))
    assert "__main__.Net" in unsafe and "torch.nn.modules.conv.Conv2d" in unsafe
