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
    """Run ``workers/<worker>`` on ``n`` ranks; returns (returncode, stdout, stderr)."""
    from blaze.distributed.launch import build_command
    cmd, full_env = build_command(n, str(WORKERS / worker), [str(a) for a in args], fault_tolerance=fault_tolerance)
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")])
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


def python() -> str:
    return sys.executable
