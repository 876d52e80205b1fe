"""Shared-memory tensors across processes: by handle, not copied; Hogwild training; nothing left behind."""
import gc
import os
import pickle

import numpy as np
import pytest

import blaze
import blaze.multiprocessing as mp
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.multiprocessing import reductions
from tests.multiprocessing import _workers as W

METHODS = ["fork", "spawn"]


def _maps() -> int:
    with open("/proc/self/maps") as f:
        return sum("blaze_shared" in line for line in f)


def _dev_shm():
    """/dev/shm's entries, less multiprocessing's named semaphores (``sem.*``): tests running beside
    this one under pytest-xdist create and unlink those at any moment."""
    names = os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []
    return {n for n in names if not n.startswith("sem.")}


def test_share_memory_in_place_keeps_values_and_views():
    t = blaze.arange(12.0).reshape(3, 4)
    v = t[:, 1:3]
    assert not t.is_shared()
    assert v.share_memory_() is v
    assert t.is_shared() and v.is_shared()
    v.add_(100)  # the view's parent follows the storage
    np.testing.assert_array_equal(t.numpy()[:, 1:3], np.arange(12.0).reshape(3, 4)[:, 1:3] + 100)
    f = blaze.arange(6.0).flip(0).share_memory_()  # negative strides
    assert f.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0] and f.is_shared()
    b = blaze.tensor([1.5, -2.0], dtype=blaze.bfloat16).share_memory_()
    assert b.dtype is blaze.bfloat16 and b.tolist() == [1.5, -2.0]


def test_module_share_memory_keeps_identity():
    m = nn.Linear(3, 2)
    w = m.weight
    m(blaze.randn(4, 3)).sum().backward()
    assert m.share_memory() is m
    assert m.weight is w and all(p.is_shared() and p.grad.is_shared() for p in m.parameters())
    before = _maps()
    bn = nn.BatchNorm1d(3).share_memory()
    assert all(b.is_shared() for b in bn.buffers())
    assert _maps() == before + 1  # weights, biases, running stats and the step count: one storage
    bn(blaze.randn(4, 3))  # running stats update in place, in shared memory
    assert bn.running_mean.is_shared() and bn.num_batches_tracked.item() == 1
    big = W.mlp()
    big.share_memory()
    before = big[0].weight.detach().clone()
    with blaze.no_grad():
        big[0].weight.add_(1)
    np.testing.assert_array_equal(big[0].weight.numpy(force=True), before.numpy() + 1)


def test_pickled_by_handle_not_bytes():
    big = blaze.zeros(1 << 18).share_memory_()  # 1 MiB of float32
    data = reductions.reduction.ForkingPickler.dumps(big)
    assert len(data) < 2048  # a descriptor handle, shape, strides and offset only
    plain = blaze.zeros(1 << 18)
    assert len(reductions.reduction.ForkingPickler.dumps(plain)) > (1 << 20)  # not shared: by value
    assert len(pickle.dumps(big)) > (1 << 20)  # plain pickle (files) always carries the bytes


@pytest.mark.parametrize("method", METHODS)
def test_process_args_and_queue_share_memory(method):
    ctx = mp.get_context(method)
    t = blaze.zeros(4).share_memory_()
    done = ctx.Queue()
    p = ctx.Process(target=W.add_one, args=(t, done))
    p.start()
    pid, shared = done.get(timeout=60)
    p.join(60)
    assert pid != os.getpid() and shared and p.exitcode == 0
    assert t.tolist() == [1.0] * 4  # the child's write landed in the parent's tensor
    inbox, outbox = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=W.echo_back, args=(inbox, outbox))
    p.start()
    s = blaze.ones(3).share_memory_()
    inbox.put(s)
    r = outbox.get(timeout=60)
    p.join(60)
    assert s.tolist() == [2.0] * 3 and r.is_shared()
    r.add_(1)  # what came back is the same memory, not a copy
    assert s.tolist() == [3.0] * 3


def test_memory_freed_with_last_user():
    before_maps, before_shm = _maps(), _dev_shm()
    ctx = mp.get_context("fork")
    t = blaze.zeros(1000).share_memory_()
    assert _maps() == before_maps + 1
    done = ctx.Queue()
    p = ctx.Process(target=W.add_one, args=(t, done))
    p.start()
    done.get(timeout=60)
    p.join(60)
    del t
    gc.collect()
    assert _maps() == before_maps  # no mapping left, the descriptor closed: the kernel frees the pages
    assert not _dev_shm() - before_shm  # nothing was ever named in /dev/shm


def test_spawn_runs_ranks_and_reraises():
    t = blaze.zeros(2).share_memory_()
    assert mp.spawn(W.write_rank, args=(t,), nprocs=2, start_method="fork") is None
    assert t.tolist() == [1.0, 2.0]
    with pytest.raises(mp.ProcessRaisedException, match="ValueError: boom"):
        mp.start_processes(W.raise_on_one, args=("boom",), nprocs=2, start_method="fork")
    ctx = mp.start_processes(W.write_rank, args=(t,), nprocs=1, join=False, start_method="fork")
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 1
    while not ctx.join(30):
        pass
    with pytest.raises(ValueError, match="nprocs"):
        mp.spawn(W.write_rank, args=(t,), nprocs=0)


def test_reexports_and_sharing_strategy():
    import multiprocessing
    assert mp.Process is multiprocessing.Process and mp.Pool is not None and mp.set_start_method
    assert mp.get_sharing_strategy() in mp.get_all_sharing_strategies()
    with pytest.raises(ValueError, match="file_system"):
        mp.set_sharing_strategy("file_system")


def test_cuda_tensor_is_not_shared(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    c = blaze.ones(3, device="cuda")
    assert c.share_memory_() is c and not c.is_shared()  # no CUDA IPC: sent by value
    back = reductions.reduction.ForkingPickler.loads(reductions.reduction.ForkingPickler.dumps(c))
    assert back.device.type == "cuda" and back.tolist() == [1.0] * 3


@pytest.mark.parametrize("method", METHODS)
def test_hogwild_two_processes_train_one_model(method):
    ctx = mp.get_context(method)
    model = W.mlp().share_memory()
    x, y = W.make_data()
    w0 = model[0].weight.detach().clone()
    loss0 = F.mse_loss(model(x), y).item()
    ps = [ctx.Process(target=W.hogwild_train, args=(rank, model)) for rank in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(60)
    assert [p.exitcode for p in ps] == [0, 0]
    loss1 = F.mse_loss(model(x), y).item()
    assert not np.allclose(model[0].weight.numpy(force=True), w0.numpy())  # the parent sees the children's steps
    assert loss1 < 0.5 * loss0


def test_handle_roundtrip_shapes_and_bounds_check():
    from multiprocessing.reduction import ForkingPickler

    from blaze._shared_memory import array_in, new_map
    for t in (blaze.zeros(0, 3), blaze.tensor(3.5), blaze.arange(10.0)[::3], nn.Parameter(blaze.ones(2, 2))):
        t.share_memory_()
        back = ForkingPickler.loads(ForkingPickler.dumps(t))
        assert type(back) is type(t) and back.shape == t.shape and back.tolist() == t.tolist()
        assert back.requires_grad == t.requires_grad and (back.numel() == 0 or back.is_shared())
    m = new_map(16)  # a handle that reaches past its storage is refused, never read
    with pytest.raises(ValueError, match="does not fit"):
        array_in(m, np.float32, (5,), (4,), 0)
    with pytest.raises(ValueError, match="does not fit"):
        array_in(m, np.float32, (2,), (-4,), 0)
