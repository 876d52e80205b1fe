"""capturable=True (PyTorch's): Adam, AdamW and Adagrad keep state['step'] on the device and compute
the bias corrections there, so a CUDA graph replay of the step advances the count; the eager
results match the host-count path; cpu parameters are refused at step() as PyTorch does; a
non-capturable step inside a capture raises; state dicts round-trip."""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
from blaze.cuda import CUDAGraph, graph
from blaze.optim import SGD, Adagrad, Adam, Adamax, AdamW

from .test_foreach import count_launches

CASES = [(Adam, dict(lr=1e-2)), (Adam, dict(lr=1e-2, amsgrad=True, weight_decay=0.1, maximize=True)),
         (AdamW, dict(lr=1e-2, amsgrad=True)), (AdamW, dict(lr=1e-2, weight_decay=0.5, betas=(0.0, 0.9))),
         (Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)), (Adagrad, dict(lr=0.1, maximize=True))]
KERNEL = {Adam: "_adam_kernel", AdamW: "_adam_kernel", Adagrad: "_adagrad_kernel"}


def _model(device="cuda", dtype=blaze.float32):
    blaze.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3)).to(device=device, dtype=dtype)


def _set_grads(models, seed):
    rng = np.random.default_rng(seed)
    for ps in zip(*(m.parameters() for m in models)):
        g = rng.standard_normal(tuple(ps[0].shape)).astype(np.float32)
        for p in ps:
            p.grad = blaze.tensor(g, device=p.device).to(p.dtype)


def _np(t):
    return t.detach().cpu().numpy()


def _assert_same_params(a, b, rtol=2e-6, atol=1e-7):
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(_np(pa), _np(pb), rtol=rtol, atol=atol)


@pytest.mark.parametrize("foreach", [None, False])
@pytest.mark.parametrize("cls,kw", CASES)
def test_capturable_matches_the_host_count_step(cls, kw, foreach):
    ref, cap = _model(), _model()
    o_ref = cls(ref.parameters(), foreach=foreach, **kw)
    o_cap = cls(cap.parameters(), foreach=foreach, capturable=True, **kw)
    for step in range(4):
        _set_grads((ref, cap), step)
        o_ref.step()
        o_cap.step()
    # bias corrections in float32 on the device (as PyTorch's capturable path), float64 on the host
    _assert_same_params(ref, cap)
    for p in cap.parameters():
        count = o_cap.state[p]["step"]
        assert count.device.type == "cuda" and count.dtype == blaze.float32 and count.shape == ()
        assert count.item() == 4.0
    assert all(o_ref.state[p]["step"].device.type == "cpu" for p in ref.parameters())


@pytest.mark.parametrize("cls,kw", CASES[::2])
def test_a_capturable_step_is_two_launches_per_dtype_group(cls, kw):
    model = _model()
    opt = cls(model.parameters(), capturable=True, **kw)
    for step in range(2):
        _set_grads((model,), step)
        with count_launches() as names:
            opt.step()
        zeros = ["_zero_kernel"] if step == 0 and cls is not Adagrad else []   # Adagrad's state is made eagerly
        assert names == zeros + ["_count_kernel", KERNEL[cls]]


def test_float64_parameters_count_on_the_device_through_the_counted_host_step():
    from blaze._flags import FALLBACKS
    FALLBACKS.clear()
    ref, cap = _model("cpu", blaze.float64), _model("cuda", blaze.float64)
    o_ref, o_cap = Adam(ref.parameters(), lr=1e-2, amsgrad=True), Adam(cap.parameters(), lr=1e-2, amsgrad=True,
                                                                       capturable=True)
    for step in range(3):
        _set_grads((ref, cap), step)
        o_ref.step()
        o_cap.step()
    _assert_same_params(ref, cap, rtol=1e-12, atol=1e-14)
    assert all(o_cap.state[p]["step"].item() == 3.0 for p in cap.parameters())
    assert FALLBACKS["optimizer_host_update"] == 3 * 4      # a float64 step is a host round trip per tensor


@pytest.mark.parametrize("cls", [Adam, AdamW, Adagrad])
def test_cpu_params_are_accepted_at_construction_and_refused_at_step_as_pytorch(cls):
    model = _model("cpu")
    opt = cls(model.parameters(), capturable=True)
    before = [_np(p).copy() for p in model.parameters()]
    states = {id(p): dict(opt.state.get(p, {})) for p in model.parameters()}
    _set_grads((model,), 0)
    with pytest.raises(AssertionError, match=r"If capturable=True, params and state_steps must be on supported "
                                             r"devices: \['cuda'\]\."):
        opt.step()
    for p, b in zip(model.parameters(), before):        # nothing changed
        np.testing.assert_array_equal(_np(p), b)
        assert dict(opt.state.get(p, {})) == states[id(p)]


def test_a_cpu_step_count_on_cuda_params_is_refused():
    model = _model()
    opt = Adam(model.parameters(), lr=1e-2)
    _set_grads((model,), 0)
    opt.step()                                          # host counts
    opt.param_groups[0]["capturable"] = True
    with pytest.raises(AssertionError, match="params and state_steps must be on supported devices"):
        opt.step()


@pytest.mark.parametrize("cls", [Adam, AdamW, Adagrad])
def test_a_replay_advances_the_step_count(cls):
    ref, cap = _model(), _model()
    o_ref, o_cap = cls(ref.parameters(), lr=1e-2), cls(cap.parameters(), lr=1e-2, capturable=True)
    _set_grads((ref, cap), 0)
    o_ref.step()
    o_cap.step()                                        # warm-up: state made, kernels compiled
    g = CUDAGraph()
    with graph(g):
        o_cap.step()
    assert g.num_launches() == 2
    grads = [p.grad for p in cap.parameters()]          # the captured pointers: update in place
    for step in range(1, 4):
        _set_grads((ref,), step)
        for p, gr in zip(ref.parameters(), grads):
            gr.copy_(p.grad)
        o_ref.step()
        g.replay()
    _assert_same_params(ref, cap)
    assert all(o_cap.state[p]["step"].item() == 4.0 for p in cap.parameters())


@pytest.mark.parametrize("make", [lambda ps: Adam(ps), lambda ps: Adagrad(ps), lambda ps: Adamax(ps),
                                  lambda ps: Adamax(ps, capturable=True)])
def test_a_step_that_counts_on_the_host_raises_inside_a_capture(make):
    model = _model()
    opt = make(model.parameters())
    _set_grads((model,), 0)
    opt.step()
    g = CUDAGraph()
    with pytest.raises(RuntimeError, match=f"Attempting CUDA graph capture of step\\(\\) for an instance of "
                                           f"{type(opt).__name__}"):
        with graph(g):
            opt.step()
    assert not blaze.cuda.is_current_stream_capturing() and g.num_launches() == 0
    assert all(opt.state[p]["step"].item() == 1.0 for p in model.parameters())     # not bumped


def test_sgd_needs_no_capturable_flag():
    model = _model()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    _set_grads((model,), 0)
    opt.step()
    g = CUDAGraph()
    with graph(g):
        opt.step()
    assert g.num_launches() == 1


@pytest.mark.parametrize("cls", [Adam, Adagrad])
def test_state_dict_round_trip_keeps_the_count_a_device_tensor(cls):
    a, b = _model(), _model()
    oa = cls(a.parameters(), lr=1e-2, capturable=True)
    _set_grads((a,), 0)
    oa.step()
    sd = oa.state_dict()
    assert sd["param_groups"][0]["capturable"] is True
    assert all(s["step"].device.type == "cuda" for s in sd["state"].values())
    ob = cls(b.parameters(), lr=1e-2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        pb.data.copy_(pa.data)
    ob.load_state_dict(sd)                              # the saved groups' options win, as PyTorch
    assert ob.param_groups[0]["capturable"] is True
    for p in b.parameters():
        st = ob.state[p]["step"]
        assert st.device.type == "cuda" and st.dtype == blaze.float32 and st.item() == 1.0
    _set_grads((a, b), 1)
    oa.step()
    ob.step()
    _assert_same_params(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("step_value", [3, 3.0, "cpu tensor"])
def test_loading_a_host_count_into_a_capturable_optimizer(step_value):
    ref, cap = _model(), _model()
    o_ref = Adam(ref.parameters(), lr=1e-2, amsgrad=True)
    for step in range(3):
        _set_grads((ref,), step)
        o_ref.step()
    for pr, pc in zip(ref.parameters(), cap.parameters()):
        pc.data.copy_(pr.data)
    sd = o_ref.state_dict()
    sd["state"] = {k: dict(s) for k, s in sd["state"].items()}     # the optimizer's own dicts, as PyTorch's
    for s in sd["state"].values():
        s["step"] = s["step"] if step_value == "cpu tensor" else step_value
    for g in sd["param_groups"]:
        g["capturable"] = True
    o_cap = Adam(cap.parameters(), lr=1e-2, amsgrad=True, capturable=True)
    o_cap.load_state_dict(sd)
    assert all(o_cap.state[p]["step"].device.type == "cuda" for p in cap.parameters())
    for step in range(3, 5):
        _set_grads((ref, cap), step)
        o_ref.step()
        o_cap.step()
    _assert_same_params(ref, cap)
    assert all(o_cap.state[p]["step"].item() == 5.0 for p in cap.parameters())


def test_a_state_dict_without_the_option_is_not_capturable_as_pytorch():
    model = _model()
    opt = Adam(model.parameters(), lr=1e-2, capturable=True)
    _set_grads((model,), 0)
    opt.step()
    sd = opt.state_dict()
    del sd["param_groups"][0]["capturable"]             # an older state dict
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["capturable"] is False
    assert all(opt.state[p]["step"].device.type == "cpu" for p in model.parameters())
    opt.step()
    assert all(opt.state[p]["step"].item() == 2.0 for p in model.parameters())
