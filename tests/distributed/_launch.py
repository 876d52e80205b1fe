"""Start N ranks of a worker script through blaze's launcher, with a hard timeout (a hang is a failure)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mpi4py", reason="blaze.distributed's tests need mpi4py: pip install 'blaze[mpi]'")

WORKERS = Path(__file__).parent / "workers"
ROOT = Path(__file__).resolve().parents[2]


def launch(n: int, worker: str, *args, timeout: float = 120, env=None, fault_tolerance: bool = True):
    """Run ``blaze run -n n workers/<worker> args``; returns (returncode, stdout, stderr)."""
    cmd = [sys.executable, "-m", "blaze.cli", "run", "-n", str(n)] + ([] if fault_tolerance else
                                                                       ["--no-fault-tolerance"])
    cmd += [str(WORKERS / worker), *map(str, args)]  # an absolute path stays as it is
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    full_env.update(env or {})
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=str(ROOT))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{worker} on {n} ranks hung for {timeout} s\nstdout:\n{out}\nstderr:\n{err}")
    return proc.returncode, out, err


def ok_lines(out: str) -> list:
    return sorted(line for line in out.splitlines() if line.startswith("OK "))
