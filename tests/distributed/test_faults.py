"""A rank that dies, raises or hangs gives the others a clear error within the timeout, never a hang;
Ctrl-C on ``blaze run`` stops every rank (workers/faults.py)."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ._launch import ROOT, WORKERS, launch


@pytest.mark.parametrize("mode,n", [("kill", 3), ("raise", 2)])
def test_dead_rank_is_an_error_on_the_survivors(mode, n):
    rc, out, err = launch(n, "faults.py", mode, timeout=90)
    survivors = [line for line in out.splitlines() if line.startswith("SURVIVOR")]
    assert len(survivors) == n - 1, f"stdout:\n{out}\nstderr:\n{err}"
    for line in survivors:
        _, rank, seconds, message = line.split(" ", 3)
        assert float(seconds) < 30 and "a peer process died" in message and "all_reduce" in message, line
    assert rc != 0  # the job as a whole failed
    if mode == "raise":
        assert "rank 1 fails on purpose" in err


def test_hang_is_ended_by_the_watchdog():
    start = time.monotonic()
    rc, out, err = launch(2, "faults.py", "hang", timeout=90)
    assert rc != 0 and "NOT STOPPED" not in out
    # both ranks' watchdogs run out at 2 s; whichever reports first takes the job down
    assert re.search(r"watchdog caught collective operation timeout: (all_reduce|recv)\(shape=\[2\]", err), err
    assert "Timeout(ms)=2000" in err
    assert time.monotonic() - start < 60


def test_ctrl_c_stops_every_rank(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "blaze.cli", "run", "-n", "2", str(WORKERS / "faults.py"), "sleep",
                             str(tmp_path)], env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 90
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(0.5)  # the pid files are written; let the writes finish
        pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "NOT STOPPED" not in out
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.2)
    assert not alive, f"ranks still running after Ctrl-C: {alive}"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by mpiexec) counts as stopped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
