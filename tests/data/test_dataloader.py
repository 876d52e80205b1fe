"""DataLoader: batching, reproducibility for any num_workers, worker processes and their failures."""
import os
import time

import numpy as np
import pytest

import blaze
from blaze.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, SequentialSampler, get_worker_info)
from blaze.vision import transforms as T
from blaze.vision.datasets import bundled_fashion_mnist


class Squares(Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.int64), float(i)


class Noisy(Dataset):
    """Each item draws from blaze's RNG, so it shows whether the seeding is num_workers-independent."""

    def __len__(self):
        return 24

    def __getitem__(self, i):
        return np.float64(i + blaze.random.numpy_rng().random())


class Boom(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError("item five is cursed")
        return i


class Dies(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            os._exit(3)
        return i


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(5)
        return i


class Pid(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([os.getpid(), -1 if info is None else info.id, -1 if info is None else info.num_workers])


class Stream(IterableDataset):
    """0..n-1, split between workers by get_worker_info()."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def _collect(loader):
    return [[np.array(t.numpy()) for t in (b if isinstance(b, list) else [b])] for b in loader]


def test_batching_and_len():
    loader = DataLoader(Squares(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    x, y = batches[0]
    assert x.dtype == blaze.int64 and tuple(x.shape) == (4, 2) and y.dtype == blaze.float64
    np.testing.assert_array_equal(x.numpy()[:, 1], [0, 1, 4, 9])
    assert tuple(batches[-1][0].shape) == (2, 2)
    assert len(DataLoader(Squares(10), batch_size=4, drop_last=True)) == 2


def test_no_batching_and_custom_samplers():
    items = list(DataLoader(Squares(3), batch_size=None))
    assert len(items) == 3 and isinstance(items[0][0], blaze.Tensor) and tuple(items[0][0].shape) == (2,)
    bs = BatchSampler(SequentialSampler(range(5)), 3, drop_last=False)
    got = [b[1].numpy().tolist() for b in DataLoader(Squares(5), batch_sampler=bs)]
    assert got == [[0.0, 1.0, 2.0], [3.0, 4.0]]
    out = list(DataLoader(Squares(4), batch_size=2, collate_fn=lambda b: len(b)))
    assert out == [2, 2]


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_sampler=[[0]], batch_size=2), "mutually exclusive"),
    (dict(sampler=[0, 1], shuffle=True), "mutually exclusive with shuffle"),
    (dict(num_workers=-1), "non-negative"),
    (dict(prefetch_factor=2), "prefetch_factor"),
    (dict(persistent_workers=True), "num_workers > 0"),
    (dict(batch_size=None, drop_last=True), "drop_last"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(Squares(4), **kwargs)


def test_shuffle_reproducible_and_fresh_each_epoch():
    g = blaze.Generator().manual_seed(0)
    loader = DataLoader(Squares(20), batch_size=20, shuffle=True, generator=g)
    e1, e2 = (b[1].numpy().tolist() for b in (next(iter(loader)), next(iter(loader))))
    assert sorted(e1) == list(map(float, range(20))) and e1 != e2
    g.manual_seed(0)
    assert next(iter(loader))[1].numpy().tolist() == e1


def test_same_batches_for_any_num_workers():
    runs = []
    for nw in (0, 1, 2):
        blaze.manual_seed(123)
        runs.append(_collect(DataLoader(Noisy(), batch_size=5, shuffle=True, num_workers=nw)))
    for other in runs[1:]:
        assert len(other) == len(runs[0])
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a[0], b[0])
    blaze.manual_seed(124)
    assert not np.array_equal(_collect(DataLoader(Noisy(), batch_size=5, shuffle=True))[0][0], runs[0][0][0])


def test_same_random_transforms_for_any_num_workers():
    tf = T.Compose([T.RandomCrop(28, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ds = blaze.utils.data.Subset(bundled_fashion_mnist(train=False, transform=tf), range(48))
    runs = []
    for nw in (0, 2):
        blaze.manual_seed(7)
        runs.append([(x.numpy().copy(), y.numpy().copy()) for x, y in
                     DataLoader(ds, batch_size=16, shuffle=True, num_workers=nw)])
    for (xa, ya), (xb, yb) in zip(*runs):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)
    assert runs[0][0][0].shape == (16, 1, 28, 28)


def test_main_process_rng_stream_is_left_alone():
    blaze.manual_seed(9)
    list(DataLoader(Noisy(), batch_size=4))
    a = blaze.random.numpy_rng().random()
    blaze.manual_seed(9)
    list(DataLoader(Noisy(), batch_size=6, num_workers=2))
    assert blaze.random.numpy_rng().random() == a


def test_worker_info_and_init_fn():
    assert get_worker_info() is None
    rows = np.concatenate([b.numpy() for b in DataLoader(Pid(), batch_size=1, num_workers=2)])
    assert set(rows[:, 1].tolist()) == {0, 1} and set(rows[:, 2].tolist()) == {2}
    assert os.getpid() not in rows[:, 0].tolist()

    def init(worker_id):
        raise RuntimeError(f"init failed in {worker_id}")
    with pytest.raises(RuntimeError, match="init failed in"):
        list(DataLoader(Pid(), batch_size=1, num_workers=1, worker_init_fn=init))


def test_iterable_dataset_sharded_by_workers():
    single = [v for b in DataLoader(Stream(11), batch_size=3) for v in b.numpy().tolist()]
    assert single == list(range(11))
    multi = [v for b in DataLoader(Stream(11), batch_size=3, num_workers=2) for v in b.numpy().tolist()]
    assert sorted(multi) == list(range(11))
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(3), shuffle=True)


def test_persistent_workers_survive_epochs():
    loader = DataLoader(Pid(), batch_size=2, num_workers=2, persistent_workers=True)
    pids = [sorted(np.concatenate([b.numpy()[:, 0] for b in loader]).tolist()) for _ in range(2)]
    assert pids[0] == pids[1]
    it = iter(loader)
    next(it)  # abandon an epoch half-way; the next one must still be complete and in order
    again = [b.numpy()[:, 1] for b in loader]
    assert len(again) == 2
    loader._pool.shutdown()


def test_worker_exception_carries_traceback():
    with pytest.raises(ValueError) as info:
        list(DataLoader(Boom(), batch_size=2, num_workers=2))
    msg = str(info.value)
    assert "item five is cursed" in msg and "Traceback" in msg and "__getitem__" in msg
    assert "worker process" in msg


def test_worker_death_is_reported():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker \d \(pid \d+\) exited unexpectedly with exit code 3"):
        list(DataLoader(Dies(), batch_size=2, num_workers=2))
    assert time.monotonic() - t0 < 10


def test_timeout():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out after 0.3 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.3))
    assert time.monotonic() - t0 < 4


def test_early_break_then_new_epoch():
    loader = DataLoader(Squares(12), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert [b[1].numpy().tolist() for b in loader][-1] == [10.0, 11.0]


def test_spawn_context_gives_the_same_batches():
    blaze.manual_seed(11)
    forked = _collect(DataLoader(Noisy(), batch_size=6, shuffle=True))
    blaze.manual_seed(11)
    spawned = _collect(DataLoader(Noisy(), batch_size=6, shuffle=True, num_workers=1, multiprocessing_context="spawn"))
    for a, b in zip(forked, spawned):
        np.testing.assert_array_equal(a[0], b[0])
    assert len(forked) == len(spawned) == 4


class Big(Dataset):
    """Batches of 64 x 48 KB: far more than a pipe buffer holds, so idle workers block in send."""

    def __len__(self):
        return 640

    def __getitem__(self, i):
        return np.zeros((3, 64, 64), np.float32)


def test_abandoned_epoch_shuts_workers_down_quickly():
    loader = DataLoader(Big(), batch_size=64, num_workers=2)
    it = iter(loader)
    next(it)
    time.sleep(0.2)  # let the workers fill their pipes and block
    workers = list(it._pool.workers)
    t0 = time.monotonic()
    del it
    assert time.monotonic() - t0 < 1.5
    assert not any(w.is_alive() for w in workers)


class Killed(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        os.kill(os.getpid(), 9)


def test_killed_worker_is_reported():
    with pytest.raises(RuntimeError, match=r"worker 0 \(pid \d+\) exited unexpectedly with exit code -9 \(killed by SIGKILL\)"):
        list(DataLoader(Killed(), batch_size=2, num_workers=1))


class Stalls(Dataset):
    """Item 1 blocks for ``hold`` seconds (a dead network mount, a lock taken before fork)."""

    def __init__(self, hold):
        self.hold = hold

    def __len__(self):
        return 3

    def __getitem__(self, i):
        if i == 1:
            time.sleep(self.hold)
        return np.float32(i)


def _stall_warnings(caught):
    return [str(w.message) for w in caught if "has delivered nothing" in str(w.message)]


def test_watchdog_warns_once_per_stall_naming_worker_and_pid(monkeypatch):
    import warnings
    monkeypatch.setenv("BLAZE_DATALOADER_WATCHDOG", "0.3")
    it = iter(DataLoader(Stalls(hold=1.5), batch_size=1, num_workers=2))
    pids = [w.pid for w in it._pool.workers]
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [b.item() for b in it]                     # timeout=0 still waits for the slow batch
    assert got == [0.0, 1.0, 2.0] and time.monotonic() - t0 < 10
    (msg,) = _stall_warnings(caught)
    assert f"worker 1 (pid {pids[1]}) has delivered nothing for" in msg and "BLAZE_DATALOADER_WATCHDOG=0.3" in msg


def test_watchdog_off_and_bad_values(monkeypatch):
    import warnings
    monkeypatch.setenv("BLAZE_DATALOADER_WATCHDOG", "0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(list(DataLoader(Stalls(hold=0.5), batch_size=1, num_workers=1))) == 3
    assert _stall_warnings(caught) == []
    monkeypatch.setenv("BLAZE_DATALOADER_WATCHDOG", "soon")
    with pytest.raises(ValueError, match="BLAZE_DATALOADER_WATCHDOG='soon': expected a number of seconds >= 0"):
        iter(DataLoader(Stalls(hold=0), batch_size=1, num_workers=1))


def test_hung_worker_is_reported_then_its_death_raises(monkeypatch):
    import signal
    import threading
    import warnings
    monkeypatch.setenv("BLAZE_DATALOADER_WATCHDOG", "0.2")
    it = iter(DataLoader(Stalls(hold=120), batch_size=3, num_workers=1))
    pid = it._pool.workers[0].pid
    seen = threading.Event()
    shown = warnings.showwarning

    def kill_after_the_warning(message, *args, **kwargs):
        if "has delivered nothing" in str(message):
            seen.set()
            os.kill(pid, signal.SIGKILL)                  # what an operator does with the pid it names
        return shown(message, *args, **kwargs)
    def kill_anyway():                                    # bounds the test if no warning ever comes
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    backstop = threading.Timer(8.0, kill_anyway)
    backstop.start()
    t0 = time.monotonic()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        warnings.showwarning = kill_after_the_warning
        with pytest.raises(RuntimeError, match=rf"worker 0 \(pid {pid}\) exited unexpectedly .*SIGKILL"):
            next(it)
    backstop.cancel()
    assert seen.is_set() and time.monotonic() - t0 < 10
