"""DDP on 2 ranks with half batches equals 1 process on the full batch (workers/ddp.py): SGD and Adam,
with and without no_sync, SyncBatchNorm; bucketing order, module. prefix, unused parameters, the sampler."""
from ._launch import ROOT, launch, ok_lines


def test_ddp_equivalence_two_ranks():
    rc, out, err = launch(2, "ddp.py", timeout=240)
    assert rc == 0, f"stdout:\n{out}\nstderr:\n{err}"
    lines = ok_lines(out)
    assert len(lines) == 2 and all(int(line.split()[2]) > 100 for line in lines), out


def test_example_trains_on_two_ranks():
    rc, out, err = launch(2, ROOT / "examples" / "ddp.py", "--epochs", "1", "--limit-train", "512",
                          "--limit-test", "500", timeout=240)
    assert rc == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "2 rank(s), 512 training images, 256 per rank per epoch, global batch 128" in out
    acc = float(out.split("test accuracy: ")[1].split("%")[0])
    assert acc > 25.0  # 4 Adam steps from scratch: 49.6% measured; chance is 10%
