"""What each rank started by ``blaze run`` executes first: torchrun's variables, then the user's script.

The MPI launcher tells each process its place in its own variables (Open MPI's
``OMPI_COMM_WORLD_*``, Hydra's ``PMI_*``); torchrun-style scripts read RANK, WORLD_SIZE and
LOCAL_RANK, so they are set from those before the script runs, as ``__main__``.
"""
from __future__ import annotations

import os
import runpy
import sys

_SOURCES = {  # torchrun's name -> the launcher variables that carry it, in order of preference
    "RANK": ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"),
    "WORLD_SIZE": ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
    "LOCAL_RANK": ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"),
    "LOCAL_WORLD_SIZE": ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"),
}


def rank_env(environ) -> dict:
    """torchrun's variables for this process, from the MPI launcher's (a single process when absent)."""
    out = {}
    for name, sources in _SOURCES.items():
        value = next((environ[s] for s in sources if s in environ), None)
        out[name] = value if value is not None else ("1" if "SIZE" in name else "0")
    # local device = local rank: each rank sees its own GPU as device 0
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    local = int(out["LOCAL_RANK"])
    if visible:
        devices = [d for d in visible.split(",") if d.strip()]
        if int(out["LOCAL_WORLD_SIZE"]) > 1 and local < len(devices):
            out["CUDA_VISIBLE_DEVICES"] = devices[local]
    elif int(out["LOCAL_WORLD_SIZE"]) > 1:
        out["CUDA_VISIBLE_DEVICES"] = str(local)
    return out


def main(argv) -> None:
    os.environ.update(rank_env(os.environ))
    status_dir = os.environ.pop("BLAZE_RUN_STATUS_DIR", None)
    code = 1
    try:
        if argv and argv[0] == "-m":
            sys.argv = argv[1:]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
            runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
        raise
    finally:
        if status_dir:  # how this rank ended, for blaze run's exit status (a killed rank writes nothing)
            with open(os.path.join(status_dir, os.environ["RANK"]), "w") as f:
                f.write(str(code))


if __name__ == "__main__":
    main(sys.argv[1:])
