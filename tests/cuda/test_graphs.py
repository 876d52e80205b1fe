"""blaze.cuda graphs: capture records launches, replay re-runs them on the same buffers, what cannot be
captured raises, make_graphed_callables and the graphed training step match eager execution."""
import numpy as np
import pytest

import blaze
import blaze.nn as nn
import blaze.nn.functional as F
from blaze import _flags
from blaze.cuda import CUDAGraph, graph

emulated_only = pytest.mark.skipif(not blaze.cuda.is_emulated(), reason="launch records are the emulated device's")


def _np(t):
    return t.detach().cpu().numpy()


@emulated_only
def test_capture_records_and_replay_follows_static_inputs():
    x = blaze.randn(4, 8, device="cuda")
    (x * 2 + 1).relu()                                     # warm-up
    g = CUDAGraph()
    with graph(g):
        y = (x * 2 + 1).relu()
        assert blaze.cuda.is_current_stream_capturing()
    assert not blaze.cuda.is_current_stream_capturing()
    assert g.num_launches() == 3                           # mul, add, relu: recorded, not run
    for _ in range(2):
        g.replay()
        np.testing.assert_allclose(_np(y), np.maximum(_np(x) * 2 + 1, 0), rtol=1e-6)
        x.copy_(blaze.randn(4, 8, device="cuda"))          # a static input updated in place
    g.reset()
    assert g.num_launches() == 0


@pytest.mark.parametrize("what,fn", [
    ("item", lambda x: (x * 2).sum().item()),
    ("cpu", lambda x: (x * 2).cpu()),
    ("upload", lambda x: blaze.tensor([1.0, 2.0], device="cuda")),
    ("synchronize", lambda x: blaze.cuda.synchronize()),
])
def test_what_cannot_be_captured_raises_and_leaves_no_capture_behind(what, fn):
    x = blaze.randn(4, device="cuda")
    (x * 2).sum()
    g = CUDAGraph()
    with pytest.raises(RuntimeError, match="operation not permitted when stream is capturing"):
        with graph(g):
            fn(x)
    assert not blaze.cuda.is_current_stream_capturing() and g.num_launches() == 0
    assert type(_flags.FALLBACKS).__name__ == "_RoundTrips"     # the counter's own class is restored
    assert float((x * 0 + 1).sum().item()) == 4.0          # the device works again


@emulated_only
def test_arange_inside_a_capture_is_a_replayed_constant():
    x = blaze.zeros(5, device="cuda")
    x + blaze.arange(5, device="cuda")
    g = CUDAGraph()
    with graph(g):
        y = x + blaze.arange(5, device="cuda")
    x.copy_(blaze.ones(5, device="cuda"))
    g.replay()
    np.testing.assert_array_equal(_np(y), np.arange(5) + 1.0)


def test_a_host_round_trip_raises_during_capture():
    x = blaze.randn(4, device="cuda")
    with pytest.raises(RuntimeError, match="host round trip"):
        with graph(CUDAGraph()):
            _flags.FALLBACKS["some_primitive"] += 1
    assert type(_flags.FALLBACKS).__name__ == "_RoundTrips"     # the counter's own class is restored


def test_capture_api_errors():
    g = CUDAGraph()
    with pytest.raises(RuntimeError, match="without a matching capture_begin"):
        g.capture_end()
    with pytest.raises(ValueError, match="capture_error_mode"):
        g.capture_begin(capture_error_mode="bogus")
    g.capture_begin(pool=blaze.cuda.graph_pool_handle())
    with pytest.raises(RuntimeError, match="already capturing"):
        CUDAGraph().capture_begin()
    g.capture_end()
    assert g.pool() is not None


def _mlp():
    blaze.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Linear(16, 3)).to("cuda")


def _batches(n):
    rng = np.random.default_rng(0)
    return [(blaze.tensor(rng.standard_normal((5, 6)).astype(np.float32), device="cuda"),
             blaze.tensor(rng.integers(0, 3, 5), device="cuda")) for _ in range(n)]


def _loss(m, x, y):
    return F.cross_entropy(m(x), y)


@pytest.mark.parametrize("make_opt", [lambda ps: blaze.optim.SGD(ps, lr=0.1, momentum=0.9),
                                      lambda ps: blaze.optim.AdamW(ps, lr=1e-2),
                                      lambda ps: blaze.optim.Adagrad(ps, lr=0.1, lr_decay=0.05)])
def test_graphed_train_step_matches_eager(make_opt):
    """The eager reference steps its optimizer as constructed (AdamW, Adagrad: capturable=False, host
    step counts); the graphed step captures the whole step with capturable turned on."""
    data = _batches(6)
    eager = _mlp()
    opt = make_opt(eager.parameters())
    want = []
    for i, (x, y) in enumerate(data):
        if i == 0:                                  # the graphed step warms up 3 times on the sample batch
            for _ in range(3):
                opt.zero_grad()
                _loss(eager, x, y).backward()
                opt.step()
        opt.zero_grad()
        loss = _loss(eager, x, y)
        loss.backward()
        opt.step()
        want.append(loss.item())
    model = _mlp()
    step = blaze.cuda.GraphedTrainStep(model, _loss, make_opt(model.parameters()), data[0], num_warmup_iters=3)
    got = [step(x, y).item() for x, y in data]
    np.testing.assert_allclose(got, want, rtol=2e-5)
    for a, b in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-4, atol=1e-6)
    assert step.captures_optimizer
    if not isinstance(step.optimizer, blaze.optim.SGD):     # each replay advanced the device step counts
        assert all(g["capturable"] for g in step.optimizer.param_groups)
        for p in model.parameters():
            count = step.optimizer.state[p]["step"]
            assert count.device.type == "cuda" and count.item() == 3 + len(data)


def test_make_graphed_callables_forward_and_backward_match_eager():
    blaze.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).to("cuda")
    ref = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).to("cuda")
    ref.load_state_dict(m.state_dict())
    x0 = blaze.randn(3, 6, device="cuda", requires_grad=True)
    gm = blaze.cuda.make_graphed_callables(m, (x0,), num_warmup_iters=1)
    for seed in range(2):
        blaze.manual_seed(seed + 10)
        x = blaze.randn(3, 6, device="cuda", requires_grad=True)
        xr = x.detach().clone().requires_grad_()
        for p in list(m.parameters()) + list(ref.parameters()):
            p.grad = None
        out, out_ref = gm(x), ref(xr)
        np.testing.assert_allclose(_np(out), _np(out_ref), rtol=1e-5, atol=1e-6)
        (out * out).sum().backward()
        (out_ref * out_ref).sum().backward()
        np.testing.assert_allclose(_np(x.grad), _np(xr.grad), rtol=1e-4, atol=1e-6)
        for p, q in zip(m.parameters(), ref.parameters()):
            np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-4, atol=1e-6)


def test_graph_imports_without_a_gpu_and_the_real_path_is_guarded():
    from blaze.cuda import graphs
    assert hasattr(graphs.CUDAGraph, "_begin_stream_capture") and hasattr(graphs.CUDAGraph, "_end_stream_capture")
