"""Test-wide set-up: Triton kernels run through the interpreter unless a GPU is present.

TRITON_INTERPRET must be set before Triton is imported, so it is decided here, once.
"""
import os
import shutil


def _gpu_present() -> bool:
    return shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidia0")


if "TRITON_INTERPRET" not in os.environ and not _gpu_present():
    os.environ["TRITON_INTERPRET"] = "1"
