"""Run on 2 ranks: DDP on half batches equals 1 process on the full batch (SGD, Adam, no_sync, SyncBatchNorm).

Every rank also trains the single-process reference itself (same seed, full batches), so
the comparison needs no second launch. Prints "OK <rank> <checks>".
"""
import numpy as np

import blaze
import blaze.distributed as dist
import blaze.nn as nn
import blaze.nn.functional as F
from blaze.data import DistributedSampler
from blaze.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group()
rank, n = dist.get_rank(), dist.get_world_size()
checks = [0]
B, STEPS = 16, 4


class Net(nn.Module):
    def __init__(self, bn, spare=False):
        super().__init__()
        self.fc1 = nn.Linear(6, 8, bias=not bn)  # a bias before BatchNorm has zero gradient: Adam would amplify noise
        self.bn = nn.BatchNorm1d(8) if bn else nn.Identity()
        self.fc2 = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3)
        if spare:  # used only when asked: unused-parameter cases
            self.spare = nn.Linear(8, 3)

    def forward(self, x, use_spare=False):
        h = F.relu(self.fc2(F.relu(self.bn(self.fc1(x)))))
        return self.head(h) + (self.spare(h) if use_spare else 0)


def batches(step, micro):
    rng = np.random.default_rng(100 * step + micro)
    x = blaze.tensor(rng.normal(size=(B, 6)).astype(np.float32))
    y = blaze.tensor(rng.integers(0, 3, B))
    return x, y


def optimizer(kind, params):
    return blaze.optim.SGD(params, lr=0.1, momentum=0.9) if kind == "sgd" else blaze.optim.Adam(params, lr=0.01)


def close(a, b, what, tol=2e-5):
    a, b = np.asarray(a.detach().numpy()), np.asarray(b.detach().numpy())
    if not np.allclose(a, b, rtol=tol, atol=tol):
        raise AssertionError(f"rank {rank}: {what}: max diff {np.abs(a - b).max()}")
    checks[0] += 1


def train(kind, micro, bn):
    blaze.manual_seed(0)
    ref = Net(bn)
    blaze.manual_seed(0)
    local = Net(bn)
    with blaze.no_grad():  # rank 1 starts elsewhere: DDP must broadcast rank 0's parameters
        for p in local.parameters():
            p.add_(float(rank))
    if bn:
        local = nn.SyncBatchNorm.convert_sync_batchnorm(local)
        assert isinstance(local.bn, nn.SyncBatchNorm)
    model = DDP(local, bucket_cap_mb=200 / 2**20)  # ~200-byte buckets: several per backward
    assert len(model._buckets) > 2 and model._buckets[0].params[0] is local.head.bias  # reverse order
    opt_ref, opt = optimizer(kind, ref.parameters()), optimizer(kind, model.parameters())
    half = slice(rank * B // n, (rank + 1) * B // n)
    for step in range(STEPS):
        opt_ref.zero_grad()
        opt.zero_grad()
        for m in range(micro):
            x, y = batches(step, m)
            F.cross_entropy(ref(x), y).backward()
            if m < micro - 1:
                with model.no_sync():
                    F.cross_entropy(model(x[half]), y[half]).backward()
                g = [blaze.zeros(8, 6) for _ in range(n)]  # not averaged yet: the ranks differ
                dist.all_gather(g, local.fc1.weight.grad)
                assert not np.allclose(g[0].numpy(), g[1].numpy()), "no_sync() reduced the gradients"
            else:
                F.cross_entropy(model(x[half]), y[half]).backward()
        for p, q in zip(ref.parameters(), local.parameters()):
            if p.grad is not None:
                close(q.grad, p.grad, f"{kind} micro={micro} bn={bn} step {step} grad")
        opt_ref.step()
        opt.step()
    for (name, p), q in zip(ref.named_parameters(), local.parameters()):
        close(q, p, f"{kind} micro={micro} bn={bn} {name}")
    if bn:
        close(local.bn.running_mean, ref.bn.running_mean, "running_mean")
        close(local.bn.running_var, ref.bn.running_var, "running_var")
    return model


for kind, micro, bn in [("sgd", 1, False), ("adam", 1, False), ("sgd", 2, False), ("adam", 2, True),
                        ("sgd", 1, True)]:
    model = train(kind, micro, bn)

# state_dict keys carry the "module." prefix, as PyTorch's
keys = list(model.state_dict())
assert keys and all(k.startswith("module.") for k in keys) and "module.fc1.weight" in keys, keys

# unused parameters: an error without find_unused_parameters, the right gradients with it
blaze.manual_seed(0)
model = DDP(Net(False, spare=True))
x, y = batches(0, 0)
F.cross_entropy(model(x), y).backward()  # spare unused: its bucket never completes
try:
    model(x)
    raise AssertionError("expected the unfinished-reduction error")
except RuntimeError as e:
    assert "Expected to have finished reduction" in str(e) and "spare.weight" in str(e), e
    checks[0] += 1
blaze.manual_seed(0)
net = Net(False, spare=True)
model = DDP(net, find_unused_parameters=True)
for step in range(2):
    model.zero_grad()
    twin = Net(False, spare=True)  # the local gradient, without DDP
    twin.load_state_dict(net.state_dict())
    F.cross_entropy(twin(x, use_spare=(rank == 1)), y).backward()
    F.cross_entropy(model(x, use_spare=(rank == 1)), y).backward()  # spare used on rank 1 only
    ref = twin.spare.weight.grad if rank == 1 else blaze.zeros(3, 8)
    dist.all_reduce(ref)
    close(net.spare.weight.grad, ref / n, "spare grad averaged over the ranks that used it and zeros")
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()  # spare unused everywhere: its grad stays None
    assert net.spare.weight.grad is None and net.head.weight.grad is not None
    checks[0] += 1

# DistributedSampler with the real ranks: disjoint shares covering the dataset, equal in size
for size, drop_last in [(10, False), (11, True), (3, False)]:
    s = DistributedSampler(list(range(size)), shuffle=True, seed=3, drop_last=drop_last)
    s.set_epoch(2)
    shares = [None] * n
    dist.all_gather_object(shares, list(s))
    assert all(len(sh) == len(s) for sh in shares)
    flat = sorted(i for sh in shares for i in sh)
    if drop_last:
        assert len(set(flat)) == len(flat) == size - size % n
    else:
        assert set(flat) == set(range(size)) and len(flat) == -(-size // n) * n
    checks[0] += 1

dist.destroy_process_group()
print(f"OK {rank} {checks[0]}", flush=True)
