"""The cpu device's intra-op workers (blaze/devices/cpu/parallel.py) and the ops cut over them:
the same results with 1, 2 and 3 workers, BLAS pinned to one thread only inside a region,
errors surfaced, no nesting, a fresh pool after fork."""
import os
import threading

import numpy as np
import pytest

import blaze
import blaze.nn.functional as F
from blaze.devices.cpu import parallel

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture
def workers(monkeypatch):
    """Force the worker count (the machine's BLAS pool size is whatever CI has)."""
    def use(n):
        monkeypatch.setattr(parallel, "num_workers", lambda: n)
        for mod in ("attention", "conv", "rnn"):
            monkeypatch.setattr(f"blaze.devices.cpu.{mod}.num_workers", lambda: n)
    return use


def test_chunks_cover_the_range_evenly():
    assert parallel.chunks(8, 3) == [(0, 2), (2, 5), (5, 8)]
    assert parallel.chunks(2, 5) == [(0, 1), (1, 2)]
    assert parallel.chunks(0, 2) == [(0, 0)]


def test_parallel_for_runs_every_piece_once_with_blas_pinned(workers):
    workers(2)
    seen, threads, blas = [0] * 6, set(), []
    libs = parallel._blas_controllers()

    def piece(i):
        seen[i] += 1
        threads.add(threading.current_thread().name)
        blas.append([lib.num_threads for lib in libs])
    before = [lib.num_threads for lib in libs]
    parallel.parallel_for(piece, 6)
    assert seen == [1] * 6
    assert threads <= {threading.current_thread().name, "blaze-cpu-0"}   # the caller and its one helper
    assert all(n == [1] * len(libs) for n in blas)
    assert [lib.num_threads for lib in libs] == before          # restored after the region


@pytest.mark.parametrize("n", [2, 3])
def test_pieces_run_at_the_same_time_on_n_threads(workers, n):
    """Each piece waits for the others at a barrier: it passes only if n threads run them at once."""
    workers(n)
    barrier, names = threading.Barrier(n, timeout=10), set()

    def piece(i):
        names.add(threading.current_thread().name)
        barrier.wait()
    for _ in range(20):
        parallel.parallel_for(piece, n)
    assert len(names) == n


def test_a_failing_piece_raises_in_the_caller_and_restores_blas(workers):
    workers(2)
    libs = parallel._blas_controllers()
    before = [lib.num_threads for lib in libs]

    def piece(i):
        if i == 3:
            raise ValueError("piece 3")
    with pytest.raises(ValueError, match="piece 3"):
        parallel.parallel_for(piece, 5)
    assert [lib.num_threads for lib in libs] == before
    assert parallel._state["active"] == 0


def test_pieces_inside_a_worker_run_serially(workers):
    workers(2)
    inner = []

    def piece(i):
        me = threading.current_thread().name
        parallel.parallel_for(lambda j: inner.append((me, threading.current_thread().name)), 3)
    parallel.parallel_for(piece, 2)
    assert len(inner) == 6 and all(a == b for a, b in inner)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_gets_its_own_pool(workers):
    workers(2)
    parallel.parallel_for(lambda i: None, 2)                     # the parent's pool exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                                  # child: would hang on the parent's pool
        try:
            out = []
            parallel.parallel_for(out.append, 4)
            os.write(w, str(sorted(out)).encode())
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 100) == b"[0, 1, 2, 3]" and status == 0


def _sdpa_grads(q, k, v, do, **kw):
    ts = [blaze.tensor(a, requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ts, **kw)
    y.backward(blaze.tensor(do))
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("causal", [True, False])
def test_attention_is_the_same_on_any_worker_count(workers, causal):
    rng = np.random.default_rng(0)
    q, k, v, do = (rng.standard_normal((3, 2, 130, 16)).astype(np.float32) for _ in range(4))
    mask = None if causal else rng.random((3, 1, 130, 130)) > 0.3
    kw = dict(is_causal=True) if causal else dict(attn_mask=blaze.tensor(mask))
    results = []
    for n in (1, 2, 3):
        workers(n)
        results.append(_sdpa_grads(q, k, v, do, **kw))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_attention_with_keys_shared_over_heads_sums_their_gradients(workers):
    """k, v of (B, 1, S, D) broadcast over 4 heads: dk is the sum over the heads, as for an expanded k."""
    workers(2)
    rng = np.random.default_rng(1)
    q, do = rng.standard_normal((2, 4, 40, 8)), rng.standard_normal((2, 4, 40, 8))
    k, v = rng.standard_normal((2, 1, 40, 8)), rng.standard_normal((2, 1, 40, 8))
    shared = _sdpa_grads(q, k, v, do, is_causal=True)
    kx, vx = np.repeat(k, 4, axis=1), np.repeat(v, 4, axis=1)
    expanded = _sdpa_grads(q, kx, vx, do, is_causal=True)
    np.testing.assert_allclose(shared[0], expanded[0], atol=1e-12)
    np.testing.assert_allclose(shared[2], expanded[2].sum(1, keepdims=True), atol=1e-10)
    np.testing.assert_allclose(shared[3], expanded[3].sum(1, keepdims=True), atol=1e-10)


def _conv_grads(x, w, g):
    xt, wt = blaze.tensor(x, requires_grad=True), blaze.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, padding=1)
    y.backward(blaze.tensor(g))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


def test_conv_is_the_same_on_any_worker_count(workers, monkeypatch):
    from blaze.devices.cpu import conv
    monkeypatch.setattr(conv, "_COLS_ELEMS", 2000)               # several batch chunks at a small size
    rng = np.random.default_rng(2)
    x, w, g = rng.standard_normal((5, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((5, 4, 9, 9))
    results = []
    for n in (1, 2, 3):
        workers(n)
        results.append(_conv_grads(x, w, g))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_recurrent_layers_are_the_same_on_any_worker_count(workers, monkeypatch, mode):
    from blaze.devices.cpu import rnn
    monkeypatch.setattr(rnn, "_MIN_ROWS", 1)
    rng = np.random.default_rng(3)
    blaze.manual_seed(0)
    m = getattr(blaze.nn, mode)(6, 5).double()
    x, g = rng.standard_normal((7, 5, 6)), rng.standard_normal((7, 5, 5))
    results = []
    for n in (1, 2, 3):
        workers(n)
        m.zero_grad()
        xt = blaze.tensor(x, requires_grad=True)
        m(xt)[0].backward(blaze.tensor(g))
        results.append([xt.grad.numpy()] + [p.grad.numpy().copy() for p in m.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, atol=1e-12)



def test_set_num_threads_sets_the_workers():
    before = blaze.get_num_threads()
    try:
        blaze.set_num_threads(1)
        assert parallel.num_workers() == 1
        blaze.set_num_threads(3)
        assert parallel.num_workers() == 3
    finally:
        blaze.set_num_threads(before)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_cpu_matmul_of_a_batch_by_a_matrix_keeps_the_dtype(dtype):
    """(..., K) @ (K, N) runs as one 2-D GEMM on cpu; the result keeps the inputs' dtype and values."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 6))
    dt = getattr(blaze, dtype)
    y = blaze.tensor(a).to(dt) @ blaze.tensor(b).to(dt)
    assert y.dtype is dt and tuple(y.shape) == (3, 4, 6)
    ref = blaze.tensor(a).to(dt).double().numpy() @ blaze.tensor(b).to(dt).double().numpy()
    np.testing.assert_allclose(y.double().numpy(), ref, rtol=2e-2 if dtype != "float32" else 1e-5, atol=2e-2)


def test_the_pool_keeps_its_size_whatever_the_piece_count(workers):
    workers(2)
    parallel.parallel_for(lambda i: None, 2)
    pool = parallel._state["pool"]
    for n in (3, 5, 2):
        parallel.parallel_for(lambda i: None, n)
        assert parallel._state["pool"] is pool and pool.size == 2


def test_a_region_started_while_another_thread_holds_the_workers_runs_serially(workers):
    workers(2)
    inside, release = threading.Event(), threading.Event()
    other = threading.Thread(target=parallel.parallel_for,
                             args=(lambda i: (inside.set(), release.wait(10)), 2))
    other.start()
    try:
        assert inside.wait(10)
        me, names = threading.current_thread().name, []
        parallel.parallel_for(lambda i: names.append(threading.current_thread().name), 3)
        assert names == [me] * 3
    finally:
        release.set()
        other.join(10)
    out = []
    parallel.parallel_for(out.append, 4)                          # the workers are free again
    assert sorted(out) == [0, 1, 2, 3]


def test_resizing_starts_new_helpers_and_ends_the_old(workers):
    workers(3)
    parallel.parallel_for(lambda i: None, 3)
    old = parallel._state["pool"]
    workers(2)
    parallel.parallel_for(lambda i: None, 2)
    assert parallel._state["pool"] is not old and parallel._state["pool"].size == 2
    for _ in range(100):
        if not any(t.is_alive() for t in threading.enumerate() if t.name == "blaze-cpu-1"):
            break
        threading.Event().wait(0.05)
    assert not any(t.name == "blaze-cpu-1" for t in threading.enumerate())

