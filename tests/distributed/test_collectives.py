"""Every collective, ReduceOp and dtype against NumPy on 2, 3 and 4 ranks (workers/collectives.py).

On 2 ranks the worker also runs cuda tensors on the emulated device, through the host-staged path.
"""
import pytest

from ._launch import launch, ok_lines


@pytest.mark.parametrize("n", [2, 3, 4])
def test_collectives_against_numpy(n):
    args = ["--cuda"] if n == 2 else []
    rc, out, err = launch(n, "collectives.py", *args, timeout=240)
    assert rc == 0, f"stdout:\n{out}\nstderr:\n{err}"
    lines = ok_lines(out)
    assert [line.split()[1] for line in lines] == [str(r) for r in range(n)], out
    assert all(int(line.split()[2]) > 300 for line in lines), lines  # the checks really ran
