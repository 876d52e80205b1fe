"""The cpu device's malloc settings (blaze/devices/cpu/memory.py): freed tensor memory is reused."""
import os
import subprocess
import sys

import pytest

from blaze.devices.cpu import memory

# a step's worth of temporaries: four 4 MiB arrays made, touched and freed, 8 times; prints the
# page faults of the last 7 rounds (the first one may fault the heap in)
_PROGRAM = """
import resource, numpy as np, blaze
blaze.ones(2) + 1                      # the cpu device starts
def step():
    arrays = [np.empty(1 << 20, np.float32) for _ in range(4)]
    for a in arrays:
        a.fill(1.0)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(7):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(**env):
    out = subprocess.run([sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not memory._glibc(), reason="mallopt's thresholds are glibc's")
def test_freed_memory_is_reused_without_page_faults():
    tuned, untuned = _faults(), _faults(BLAZE_CPU_MALLOC="0")
    assert untuned > 7 * 1024, untuned        # glibc's defaults give the 16 MiB back and fault it in again
    assert tuned < 100, tuned


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv("BLAZE_CPU_MALLOC", "0")
    assert memory._apply() is False
