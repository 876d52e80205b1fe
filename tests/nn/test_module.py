"""Module machinery: registration, iteration, state dicts, errors, repr, hooks, modes, conversion, containers."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import blaze
from blaze import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_like = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.layers = nn.ModuleList([nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)])
        self.scale = nn.Parameter(blaze.ones(1))
        self.register_buffer("steps", blaze.zeros(1))
        self.register_buffer("cache", blaze.zeros(2), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        x = self.bn(self.conv_like(x))
        for m in self.layers:
            x = m(x)
        return x * self.scale


def test_parameter_is_tensor_leaf_with_grad_and_repr():
    p = nn.Parameter(blaze.tensor([1.0, 2.0]))
    assert isinstance(p, nn.Parameter) and isinstance(p, blaze.Tensor)
    assert p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert not nn.Parameter(blaze.ones(1), requires_grad=False).requires_grad
    (p * p).sum().backward()
    assert p.grad.tolist() == [2.0, 4.0]
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.grad.tolist() == [2.0, 4.0] and q._data is not p._data
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, nn.Parameter) and r.tolist() == [1.0, 2.0]


def test_registration_and_iteration():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "conv_like.weight", "conv_like.bias", "bn.weight", "bn.bias", "layers.0.weight",
                     "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert len(list(net.parameters())) == 9
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache", "bn.running_mean", "bn.running_var",
                                                   "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["conv_like", "bn", "layers"]
    assert [n for n, _ in net.named_modules()] == ["", "conv_like", "bn", "layers", "layers.0", "layers.1", "layers.2"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert net.get_submodule("layers.2") is net.layers[2]
    assert net.get_parameter("layers.0.bias") is net.layers[0].bias
    with pytest.raises(AttributeError):
        net.get_submodule("layers.7")
    assert "conv_like" in dir(net) and "scale" in dir(net) and "steps" in dir(net)
    del net.scale
    assert "scale" not in dict(net.named_parameters())
    with pytest.raises(AttributeError, match="has no attribute 'scale'"):
        net.scale
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'bias'"):
        net.conv_like.bias = blaze.ones(8)
    with pytest.raises(KeyError, match="already exists"):
        net.register_buffer("note", blaze.ones(1))
    net.conv_like.bias = None
    assert net.conv_like.bias is None and "conv_like.bias" not in net.state_dict()


def test_state_dict_keys_and_round_trip():
    blaze.manual_seed(0)
    net = Net()
    net(blaze.randn(5, 4))  # moves BN running stats
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "conv_like.weight", "conv_like.bias", "bn.weight", "bn.bias",
                        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "layers.0.weight",
                        "layers.0.bias", "layers.2.weight", "layers.2.bias"]  # "cache" is not persistent
    assert not sd["conv_like.weight"].requires_grad
    other = Net()
    result = other.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    assert other.bn.num_batches_tracked.item() == 1
    x = blaze.randn(3, 4)
    net.eval(), other.eval()
    np.testing.assert_array_equal(net(x).detach().numpy(), other(x).detach().numpy())
    # loading copies values: later changes to the source don't leak in
    with blaze.no_grad():
        sd["scale"].fill_(5.0)
    assert other.scale.item() == 1.0


def test_load_state_dict_errors_leave_model_unchanged():
    net = Net()
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    bad = dict(Net().state_dict())
    del bad["layers.0.bias"]
    bad["extra.weight"] = blaze.ones(1)
    bad["conv_like.weight"] = blaze.ones(3, 4)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(bad)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "layers.0.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight".' in msg
    assert ("size mismatch for conv_like.weight: copying a param with shape blaze.Size([3, 4]) from checkpoint, "
            "the shape in current model is blaze.Size([8, 4]).") in msg
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # strict=False reports instead of raising (shape mismatches still raise)
    del bad["conv_like.weight"]
    bad["conv_like.weight"] = blaze.ones(8, 4)
    missing, unexpected = net.load_state_dict(bad, strict=False)
    assert missing == ["layers.0.bias"] and unexpected == ["extra.weight"]
    assert net.conv_like.weight.sum().item() == 32.0


def test_tied_weights():
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.decoder = nn.Linear(4, 10, bias=False)
            self.decoder.weight = self.embed.weight

        def forward(self, ids):
            return self.decoder(self.embed(ids))

    m = LM()
    assert m.decoder.weight is m.embed.weight
    assert [n for n, _ in m.named_parameters()] == ["embed.weight"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 2
    sd = m.state_dict()
    assert list(sd) == ["embed.weight", "decoder.weight"]  # both names, as PyTorch
    m(blaze.tensor([1, 2])).sum().backward()
    assert m.embed.weight.grad is not None
    m2 = LM()
    m2.load_state_dict(sd)
    assert m2.decoder.weight is m2.embed.weight
    np.testing.assert_array_equal(m2.embed.weight.detach().numpy(), m.embed.weight.detach().numpy())
    m.to(blaze.float64)
    assert m.decoder.weight is m.embed.weight and m.embed.weight.dtype is blaze.float64


def test_repr_matches_pytorch():
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.2, inplace=False)\n"
        "  (3): Linear(in_features=128, out_features=10, bias=True)\n"
        ")")
    assert repr(Net()) == (
        "Net(\n"
        "  (conv_like): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (bn): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (layers): ModuleList(\n"
        "    (0): Linear(in_features=8, out_features=8, bias=True)\n"
        "    (1): ReLU()\n"
        "    (2): Linear(in_features=8, out_features=3, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Module()) == "Module()"


def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append(("pre", args[0].shape)))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    y = m(blaze.ones(4, 3))
    assert calls == [("pre", (4, 3))] and y.abs().sum().item() == 0
    h2.remove()
    assert m(blaze.ones(4, 3)).abs().sum().item() > 0
    h1.remove()
    m(blaze.ones(1, 3))
    assert len(calls) == 2
    # a pre-hook may replace the input
    m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    np.testing.assert_allclose(m(blaze.ones(1, 3)).detach().numpy()[0], m.bias.detach().numpy())


def test_train_eval_apply_requires_grad_zero_grad():
    net = Net()
    assert net.training and net.layers[0].training
    assert net.eval() is net and not net.bn.training and not net.layers[2].training
    net.train()
    assert all(m.training for m in net.modules())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_(True)
    net(blaze.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_dtype_keeps_parameter_identity_and_int_buffers():
    net = Net()
    w = net.conv_like.weight
    net(blaze.randn(3, 4)).sum().backward()
    assert net.double() is net
    assert net.conv_like.weight is w and w.dtype is blaze.float64 and isinstance(w, nn.Parameter)
    assert w.grad.dtype is blaze.float64 and w.requires_grad
    assert net.bn.running_mean.dtype is blaze.float64 and net.bn.num_batches_tracked.dtype is blaze.int64
    assert net.cache.dtype is blaze.float64
    net.to(blaze.float16)
    assert w.dtype is blaze.float16
    net.float().to("cpu")
    assert w.dtype is blaze.float32 and w.device == blaze.device("cpu")
    y = net(blaze.randn(2, 4))
    assert y.dtype is blaze.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(blaze.int64)


def test_sequential_api():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b)
    s.append(c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c]
    assert list(s[1:]._modules) == ["1", "2"]
    x = blaze.randn(4, 2)
    np.testing.assert_allclose(s(x).detach().numpy(), c(b(a(x))).detach().numpy())
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and [n for n, _ in named.named_children()] == ["fc", "act"]
    del s[1]
    assert list(s) == [a, c] and list(s._modules) == ["0", "1"]
    s.insert(1, b)
    assert list(s) == [a, b, c]
    with pytest.raises(IndexError):
        s[3]


def test_module_list_dict_parameter_list_dict():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml += [nn.ReLU()]
    ml.append(nn.Tanh())
    assert len(ml) == 3 and isinstance(ml[-1], nn.Tanh) and len(ml[:2]) == 2
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    md["c"] = nn.Identity()
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    pl = nn.ParameterList([blaze.ones(2), nn.Parameter(blaze.zeros(3))])
    pl.append(blaze.ones(1))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"w": blaze.ones(2)})
    pd["b"] = blaze.zeros(1)
    assert list(pd.keys()) == ["w", "b"] and isinstance(pd["b"], nn.Parameter)
    holder = nn.Module()
    holder.params = pd
    assert [n for n, _ in holder.named_parameters()] == ["params.w", "params.b"]
    # PyTorch's format: one line inline, several lines indented
    assert repr(nn.ParameterList([blaze.ones(2, 3)])) == "ParameterList(  (0): Parameter containing: [blaze.float32 of size 2x3])"
    assert repr(pd) == ("ParameterDict(\n    (w): Parameter containing: [blaze.float32 of size 2]\n"
                        "    (b): Parameter containing: [blaze.float32 of size 1]\n)")


def test_identity_flatten_unflatten():
    x = blaze.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused=True)(x) is x
    assert nn.Flatten()(x).shape == (2, 60) and nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"


def test_custom_module_errors():
    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        NoForward()(1)

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(blaze.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_deepcopy_keeps_ties_and_separates_storage():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight
    c = copy.deepcopy(m)
    assert c[1].weight is c[0].weight and c[0].weight is not m[0].weight
    with blaze.no_grad():
        c[0].weight.fill_(0.0)
    assert m[0].weight.abs().sum().item() > 0
    g = blaze.ones(2, 2)
    m[0].weight.grad = g
    m.zero_grad(set_to_none=False)
    assert m[0].weight.grad is g and g.sum().item() == 0  # zeroed in place
