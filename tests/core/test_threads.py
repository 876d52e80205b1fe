"""Grad mode and autocast are per thread, as in PyTorch; two threads can train two models at once."""
import sys
import threading

import numpy as np
import pytest

import blaze
import blaze.nn.functional as F

DEVICES = ["cpu", "cuda"]


def _in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # surfaced in the calling thread
            out["error"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_new_thread_starts_with_grad_on_and_without_autocast():
    with blaze.no_grad(), blaze.autocast("cpu"):
        seen = _in_thread(lambda: (blaze.is_grad_enabled(), blaze.amp.autocast_dtype("cpu")))
        assert not blaze.is_grad_enabled()
    assert seen == (True, None)


def test_set_grad_enabled_in_a_thread_leaves_the_caller_alone():
    _in_thread(lambda: blaze.set_grad_enabled(False))
    assert blaze.is_grad_enabled()


def test_overlapping_no_grad_blocks_exiting_out_of_order():
    # A enters, B enters, A exits, B exits: with one process-wide flag B restored A's "off" for good.
    steps = [threading.Event() for _ in range(4)]
    seen = {}

    def a():
        with blaze.no_grad():
            steps[0].set()
            steps[1].wait(5)
        seen["a_after"] = blaze.is_grad_enabled()
        steps[2].set()

    def b():
        steps[0].wait(5)
        with blaze.no_grad():
            steps[1].set()
            steps[2].wait(5)
            seen["b_inside"] = blaze.is_grad_enabled()
        seen["b_after"] = blaze.is_grad_enabled()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {"a_after": True, "b_inside": False, "b_after": True}
    assert blaze.is_grad_enabled()


def _data(seed):
    rs = np.random.RandomState(seed)
    return rs.randn(16, 6).astype(np.float32), rs.randn(16, 1).astype(np.float32)


def _train(model, x, y, steps):
    opt = blaze.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return [p.detach().cpu().numpy().tobytes() for p in model.parameters()]


def _model(seed, device):
    blaze.manual_seed(seed)
    return blaze.nn.Sequential(blaze.nn.Linear(6, 12), blaze.nn.Tanh(), blaze.nn.Linear(12, 1)).to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_two_threads_train_two_models_bitwise_as_sequential(device):
    steps = 12 if device == "cpu" else 3
    data = [tuple(blaze.tensor(a, device=device) for a in _data(s)) for s in (1, 2)]
    expected = [_train(_model(s, device), *data[i], steps) for i, s in enumerate((10, 20))]

    models = [_model(s, device) for s in (10, 20)]
    results, errors = [None, None], []
    stop = threading.Event()

    def train(i):
        try:
            results[i] = _train(models[i], *data[i], steps)
        except BaseException as e:
            errors.append(e)

    def evaluate():  # an evaluation thread beside the training loops, in and out of no_grad
        while not stop.is_set():
            with blaze.no_grad():
                models[0](data[0][0])

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads every few bytecodes so the steps interleave
    try:
        ev = threading.Thread(target=evaluate)
        ev.start()
        ts = [threading.Thread(target=train, args=(i,)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stop.set()
        ev.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert results == expected
