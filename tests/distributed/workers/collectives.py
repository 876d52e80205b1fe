"""Run on N ranks: every collective, ReduceOp and dtype against a NumPy reference, uneven sizes, errors.

Each rank can rebuild every other rank's input (seeded by rank), so each checks the result
locally. Prints "OK <rank> <checks>" at the end; any failure raises (non-zero exit).
"""
import os
import sys
import warnings

import numpy as np

import blaze
import blaze.distributed as dist
from blaze.distributed import ReduceOp
from blaze.distributed.process_group import resolve

dist.init_process_group("mpi" if "--cuda" not in sys.argv else None)
rank, n = dist.get_rank(), dist.get_world_size()
checks = [0]

FLOATS = [blaze.float32, blaze.float64, blaze.float16, blaze.bfloat16]
INTS = [blaze.int8, blaze.uint8, blaze.int16, blaze.int32, blaze.int64]
ALL = FLOATS + INTS + [blaze.bool]
TOL = {"float32": 1e-6, "float64": 1e-12, "float16": 1e-3, "bfloat16": 1e-2}


def data(r, dtype, shape, salt=0):
    """Rank r's input: small values so that products of 4 ranks fit int8 exactly."""
    rng = np.random.default_rng(1000 * r + salt)
    if dtype is blaze.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        return rng.uniform(-2, 2, shape).astype(dtype.np).astype(np.float32)  # the values the tensor holds
    lo = 0 if dtype is blaze.uint8 else -3
    return rng.integers(lo, 4, shape).astype(dtype.np)


def tensor(a, dtype, device="cpu"):
    return blaze.tensor(a, dtype=dtype, device=device)


def reference(op, dtype, arrays):
    if dtype is blaze.bool:
        fn = {ReduceOp.SUM: np.any, ReduceOp.MAX: np.any, ReduceOp.BOR: np.any,
              ReduceOp.PRODUCT: np.all, ReduceOp.MIN: np.all, ReduceOp.BAND: np.all}.get(op)
        if op is ReduceOp.BXOR:
            return np.logical_xor.reduce(arrays, axis=0)
        return fn(arrays, axis=0)
    wide = np.stack(arrays).astype(np.float64 if dtype.is_floating_point else np.int64)
    out = {ReduceOp.SUM: lambda: wide.sum(0), ReduceOp.AVG: lambda: wide.sum(0) / n,
           ReduceOp.PRODUCT: lambda: wide.prod(0), ReduceOp.MIN: lambda: wide.min(0),
           ReduceOp.MAX: lambda: wide.max(0), ReduceOp.BAND: lambda: np.bitwise_and.reduce(wide, 0),
           ReduceOp.BOR: lambda: np.bitwise_or.reduce(wide, 0),
           ReduceOp.BXOR: lambda: np.bitwise_xor.reduce(wide, 0)}[op]()
    if op is ReduceOp.AVG and not dtype.is_floating_point:
        out = np.trunc(out)
    if not dtype.is_floating_point:
        out = out.astype(np.int64).astype(dtype.np)  # uint8 sums wrap, as in MPI
    return out


def check(got, want, dtype, what):
    got = np.asarray(got.float().numpy() if dtype.name == "bfloat16" else got.numpy(), dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    tol = TOL.get(dtype.name, 0)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol):
        raise AssertionError(f"rank {rank}: {what} {dtype.name}: got {got.ravel()[:6]} want {want.ravel()[:6]}")
    checks[0] += 1


def ops_for(dtype):
    ops = [ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX]
    if dtype is not blaze.bool:
        ops.append(ReduceOp.AVG)
    if not dtype.is_floating_point:
        ops += [ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR]
    return ops


def expect_error(kind, text, fn):
    try:
        fn()
    except kind as e:
        if text not in str(e):
            raise AssertionError(f"rank {rank}: error {e!r} lacks {text!r}") from None
        checks[0] += 1
        return
    raise AssertionError(f"rank {rank}: expected {kind.__name__} containing {text!r}")


# ---------------------------------------------------------------- launcher environment
assert os.environ["RANK"] == str(rank) and os.environ["WORLD_SIZE"] == str(n), os.environ
local = [None] * n
dist.all_gather_object(local, int(os.environ["LOCAL_RANK"]))  # one machine: local ranks are 0..n-1
assert sorted(local) == list(range(n)) and dist.get_local_rank() == local[rank], local
assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MASTER_ADDR"] and int(os.environ["MASTER_PORT"]) > 0

# ---------------------------------------------------------------- reductions: every op, every dtype
shape = (7,)  # not a multiple of any world size
for dtype in ALL:
    arrays = [data(r, dtype, shape) for r in range(n)]
    for op in ops_for(dtype):
        want = reference(op, dtype, arrays)
        t = tensor(arrays[rank], dtype)
        dist.all_reduce(t, op=op)
        check(t, want, dtype, f"all_reduce {op.name}")
        t = tensor(arrays[rank], dtype)
        w = dist.all_reduce(t, op=op, async_op=True)
        assert w.wait() and w.is_completed() and w.is_success() and w.result()[0] is t
        check(t, want, dtype, f"async all_reduce {op.name}")
        dst = n - 1
        t = tensor(arrays[rank], dtype)
        dist.reduce(t, dst=dst, op=op)
        check(t, want if rank == dst else arrays[rank], dtype, f"reduce {op.name}")
    # reduce_scatter_tensor and reduce_scatter (uneven pieces: rank i gets i + 1 elements)
    big = [data(r, dtype, (n * 3,), salt=1) for r in range(n)]
    want = reference(ReduceOp.SUM, dtype, big)
    out = blaze.zeros(3, dtype=dtype)
    dist.reduce_scatter_tensor(out, tensor(big[rank], dtype))
    check(out, want[rank * 3:rank * 3 + 3], dtype, "reduce_scatter_tensor")
    sizes = [i + 1 for i in range(n)]
    pieces = [[data(r, dtype, (sizes[i],), salt=10 + i) for i in range(n)] for r in range(n)]
    out = blaze.zeros(sizes[rank], dtype=dtype)
    op = ReduceOp.MAX
    dist.reduce_scatter(out, [tensor(p, dtype) for p in pieces[rank]], op=op)
    check(out, reference(op, dtype, [pieces[r][rank] for r in range(n)]), dtype, "reduce_scatter uneven")

# ---------------------------------------------------------------- data movement: every dtype
for dtype in ALL:
    arrays = [data(r, dtype, (2, 3), salt=2) for r in range(n)]
    mine = tensor(arrays[rank], dtype)
    src = n - 1
    t = tensor(arrays[rank], dtype)
    dist.broadcast(t, src=src)
    check(t, arrays[src], dtype, "broadcast")
    outs = [blaze.zeros(2, 3, dtype=dtype) for _ in range(n)]
    dist.all_gather(outs, mine)
    for r in range(n):
        check(outs[r], arrays[r], dtype, "all_gather")
    out = blaze.zeros(2 * n, 3, dtype=dtype)
    dist.all_gather_into_tensor(out, mine)
    check(out, np.concatenate(arrays), dtype, "all_gather_into_tensor")
    out = blaze.zeros(n, 2, 3, dtype=dtype)
    dist.all_gather_into_tensor(out, mine)  # stacked form
    check(out, np.stack(arrays), dtype, "all_gather_into_tensor stacked")
    gl = [blaze.zeros(2, 3, dtype=dtype) for _ in range(n)] if rank == 0 else None
    dist.gather(mine, gl, dst=0)
    if rank == 0:
        for r in range(n):
            check(gl[r], arrays[r], dtype, "gather")
    parts = [data(src, dtype, (2, 3), salt=20 + i) for i in range(n)]
    t = blaze.zeros(2, 3, dtype=dtype)
    dist.scatter(t, [tensor(p, dtype) for p in parts] if rank == src else None, src=src)
    check(t, parts[rank], dtype, "scatter")

# uneven: all_gather of rank-sized pieces, all_to_all_single with uneven splits
outs = [blaze.zeros(r + 1, 2) for r in range(n)]
dist.all_gather(outs, blaze.full((rank + 1, 2), float(rank)))
for r in range(n):
    check(outs[r], np.full((r + 1, 2), r), blaze.float32, "all_gather uneven")
send = [rank + s + 1 for s in range(n)]  # rows rank -> s
recv = [s + rank + 1 for s in range(n)]  # rows s -> rank
inp = blaze.cat([blaze.full((k, 2), 100.0 * rank + s) for s, k in enumerate(send)])
out = blaze.zeros(sum(recv), 2)
w = dist.all_to_all_single(out, inp, recv, send, async_op=True)
w.wait()
check(out, np.concatenate([np.full((k, 2), 100.0 * s + rank) for s, k in enumerate(recv)]), blaze.float32,
      "all_to_all_single uneven")
out = blaze.zeros(n * 2, dtype=blaze.int64)
dist.all_to_all_single(out, blaze.arange(n * 2) + 10 * rank)
check(out, np.concatenate([np.arange(rank * 2, rank * 2 + 2) + 10 * s for s in range(n)]), blaze.int64,
      "all_to_all_single even")
outs = [blaze.zeros(s + 1, dtype=blaze.int32) for s in range(n)]
dist.all_to_all(outs, [blaze.full((rank + 1,), 10 * rank + s, dtype=blaze.int32) for s in range(n)])
for s in range(n):
    check(outs[s], np.full(s + 1, 10 * s + rank), blaze.int32, "all_to_all")

# ---------------------------------------------------------------- point to point, objects, groups, barrier
right, left = (rank + 1) % n, (rank - 1) % n
w = dist.isend(blaze.full((5,), float(rank)), dst=right)
t = blaze.zeros(5)
sender = dist.recv(t, src=None)
w.wait()
assert sender == left, (sender, left)
check(t, np.full(5, left), blaze.float32, "send/recv ring")
w = dist.irecv(t, src=left, tag=7)
dist.send(blaze.full((5,), 2.0 * rank), dst=right, tag=7)
w.wait()
check(t, np.full(5, 2.0 * left), blaze.float32, "isend/irecv")
objs = [{"rank": rank}, "x" * rank] if rank == 1 else [None, None]
dist.broadcast_object_list(objs, src=1)
assert objs == [{"rank": 1}, "x"], objs
gathered = [None] * n
dist.all_gather_object(gathered, ("r", rank))
assert gathered == [("r", r) for r in range(n)]
sub = dist.new_group([0, n - 1])
if rank in (0, n - 1):
    t = blaze.ones(2) * (rank + 1)
    dist.all_reduce(t, group=sub)
    check(t, np.full(2, n + 1), blaze.float32, "new_group all_reduce")
    assert dist.get_world_size(sub) == 2 and dist.get_rank(sub) == (0 if rank == 0 else 1)
    t = blaze.full((3,), float(rank))
    dist.broadcast(t, src=n - 1, group=sub)  # src is a global rank, as PyTorch
    check(t, np.full(3, n - 1), blaze.float32, "new_group broadcast")
else:
    assert dist.get_rank(sub) == -1
dist.barrier()
w = dist.barrier(async_op=True)
while not w.is_completed():
    pass

# ---------------------------------------------------------------- errors, the same on every rank
# The default check is sampled: past a group's first 64 calls, only every 64th call is compared.
pg = resolve(None)
assert pg.check == "sampled" and pg.calls > 64, (pg.check, pg.calls)
pg.calls = 127  # the next call is the 128th, which the sampled check compares
expect_error(RuntimeError, "Detected mismatch between collectives on ranks",
             lambda: dist.all_reduce(blaze.ones(3 + (rank == 0))))
pg.check = "all"  # each error below needs the check on its own call
expect_error(RuntimeError, "dtype=float64",
             lambda: dist.all_reduce(blaze.ones(3, dtype=blaze.float64 if rank == 1 else blaze.float32)))
expect_error(RuntimeError, "op=MAX", lambda: dist.all_reduce(blaze.ones(3), op=ReduceOp.MAX if rank else ReduceOp.SUM))
expect_error(RuntimeError, "is running collective: broadcast",
             lambda: dist.broadcast(blaze.ones(2), 0) if rank == 0 else dist.all_reduce(blaze.ones(2)))
if n > 2:  # each rank's output_split_sizes must match what its peers send
    expect_error(RuntimeError, "expects", lambda: dist.all_to_all_single(
        blaze.zeros(n + (rank == 2)), blaze.zeros(n), [1] * (n - 1) + [1 + (rank == 2)], [1] * n))
expect_error(ValueError, "Tensors must be contiguous", lambda: dist.all_reduce(blaze.ones(3, 4).t()))
expect_error(ValueError, "ReduceOp.AVG is not supported for bool", lambda: dist.all_reduce(
    blaze.ones(2, dtype=blaze.bool), op=ReduceOp.AVG))
expect_error(ValueError, "Cannot use ReduceOp.BAND", lambda: dist.all_reduce(blaze.ones(2), op=ReduceOp.BAND))
expect_error(ValueError, "not part of group", lambda: dist.broadcast(blaze.ones(2), src=n))
expect_error(ValueError, "tensor_list must be a list of", lambda: dist.all_gather([blaze.ones(1)], blaze.ones(1)))
expect_error(ValueError, "twice", lambda: dist.init_process_group())
t = blaze.ones(3) * rank  # the group still works after the errors
dist.all_reduce(t)
check(t, np.full(3, n * (n - 1) / 2), blaze.float32, "all_reduce after errors")

# ---------------------------------------------------------------- cuda tensors: host-staged path, warned
if "--cuda" in sys.argv:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for dtype in (blaze.float32, blaze.bfloat16, blaze.int32):
            arrays = [data(r, dtype, (6,), salt=5) for r in range(n)]
            t = tensor(arrays[rank], dtype, "cuda")
            dist.all_reduce(t, op=ReduceOp.AVG if dtype.is_floating_point else ReduceOp.SUM)
            assert t.device.type == "cuda"
            op = ReduceOp.AVG if dtype.is_floating_point else ReduceOp.SUM
            check(t.cpu(), reference(op, dtype, arrays), dtype, "cuda all_reduce (staged)")
            t = tensor(arrays[rank], dtype, "cuda")
            dist.broadcast(t, src=0)
            check(t.cpu(), arrays[0], dtype, "cuda broadcast (staged)")
            out = blaze.zeros(n * 6, dtype=dtype, device="cuda")
            dist.all_gather_into_tensor(out, tensor(arrays[rank], dtype, "cuda"))
            check(out.cpu(), np.concatenate(arrays), dtype, "cuda all_gather_into_tensor (staged)")
    msgs = [str(w.message) for w in caught if "staged through host memory" in str(w.message)]
    assert len(msgs) == 1 and "emulated" in msgs[0], [str(w.message) for w in caught]
    checks[0] += 1

dist.destroy_process_group()
assert not dist.is_initialized()
print(f"OK {rank} {checks[0]}", flush=True)
