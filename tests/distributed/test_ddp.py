"""DDP on 2 ranks with half batches equals 1 process on the full batch (workers/ddp.py): SGD and Adam,
with and without no_sync, SyncBatchNorm; bucketing order, module. prefix, unused parameters, the sampler."""
from ._launch import launch, ok_lines


def test_ddp_equivalence_two_ranks():
    rc, out, err = launch(2, "ddp.py", timeout=240)
    assert rc == 0, f"stdout:\n{out}\nstderr:\n{err}"
    lines = ok_lines(out)
    assert len(lines) == 2 and all(int(line.split()[2]) > 100 for line in lines), out
