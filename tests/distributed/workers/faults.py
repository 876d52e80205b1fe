"""Run on N ranks with a mode: a rank that dies, raises, hangs, or is interrupted.

kill:    rank 1 SIGKILLs itself; the others must get DistBackendError from their next collective.
raise:   rank 1 raises; the same must follow (blaze's excepthook turns the exception into a failure).
hang:    rank 0 all-reduces while rank 1 waits to receive: the watchdog must end the job after 2 s.
sleep:   every rank writes its pid to <dir> and sleeps (the launcher's signal forwarding is tested).
"""
import datetime
import os
import signal
import sys
import time

import blaze
import blaze.distributed as dist

mode = sys.argv[1]
timeout = datetime.timedelta(seconds=2 if mode == "hang" else 60)
dist.init_process_group(timeout=timeout)
rank = dist.get_rank()
dist.all_reduce(blaze.ones(2))

if mode in ("kill", "raise"):
    if rank == 1:
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ValueError("rank 1 fails on purpose")
    start = time.monotonic()
    try:
        for _ in range(1000):
            dist.all_reduce(blaze.ones(1000))
        print(f"NO ERROR {rank}", flush=True)
    except dist.DistBackendError as e:
        print(f"SURVIVOR {rank} {time.monotonic() - start:.3f} {e}", flush=True)
    os._exit(0)
elif mode == "hang":
    if rank == 0:
        dist.all_reduce(blaze.ones(2))
    else:
        dist.recv(blaze.ones(2), src=0)
    print(f"NOT STOPPED {rank}", flush=True)
elif mode == "sleep":
    with open(os.path.join(sys.argv[2], f"{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
    print(f"NOT STOPPED {rank}", flush=True)
