"""Static GPU quality on Hopper, checked without a GPU: no register spills, wgmma where it applies.

The core kernels compile for sm_90a at the configs their launchers pick for the perf suite's
and the GPU model benchmarks' shapes (perf/sass_report.py's CI subset); ptxas's -v numbers
and the PTX decide. A spill sends registers to local memory in the inner loop, and a 16-bit
matmul / conv / attention kernel without wgmma runs at a fraction of Hopper's tensor rate.
"""
from __future__ import annotations

import os
import time

import pytest

from tests.kernels.compile_util import cuda_compile_unavailable, parse_ptxas_log

# 256x256 fp32 tiles on 4 warps: a 64 K-element accumulator for 128 threads cannot fit in 255 registers.
SPILLING = dict(BLOCK_M=256, BLOCK_N=256, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=2)
# 32-row key and query tiles: below the 64 rows of a warpgroup MMA, so Triton falls back to mma.sync.
NO_WGMMA = dict(BLOCK_M=32, BLOCK_N=32, num_warps=4, num_stages=2)


def check_cases():
    """perf/sass_report.py's CI subset plus two configs the check must reject."""
    from blaze.kernels import attention as A, matmul as MM
    from perf.sass_report import _z, ci_cases

    def attn_bwd():
        q = _z((2, 4, 512, 64), "bfloat16")
        A.attention_backward(q, q, q, q, q, _z((2, 4, 512)), causal=True, config=NO_WGMMA)
    return ci_cases() + [
        ("deliberate spill: matmul fp32 256x256 tile on 4 warps",
         lambda: MM.matmul(_z((1024, 1024)), _z((1024, 1024)), config=SPILLING)),
        ("deliberate mma.sync: attention backward bf16 32x32 tiles", attn_bwd),
    ]


@pytest.fixture(scope="module")
def rows():
    reason = cuda_compile_unavailable()
    if reason:
        pytest.skip(reason)
    from perf.sass_report import collect
    t0 = time.time()
    got = collect("tests.kernels.test_sass:check_cases", shards=max(1, min(4, len(os.sched_getaffinity(0)))),
                  timeout=900)
    print(f"{len(got)} report rows in {time.time() - t0:.1f}s")
    return got


def test_core_kernels_do_not_spill_and_use_wgmma(rows):
    from perf.sass_report import CI_CASES, problems
    real = [r for r in rows if not r["case"].startswith("deliberate")]
    assert not problems(real), "sm_90 static check failed:\n" + "\n".join(problems(real))
    for prefix in CI_CASES:  # every CI case compiled something
        assert any(r["case"].startswith(prefix) for r in real), f"no kernel compiled for {prefix!r}"
    mma = {(r["kernel"], r["dtype"]) for r in real if r["mma"] == "wgmma"}
    assert {("conv:_conv_kernel", "bf16"), ("conv:_conv_wgrad_kernel", "bf16"), ("matmul:_matmul_kernel", "bf16"),
            ("attention:_attn_bwd_dq_kernel", "bf16"), ("attention:_attn_fwd_kernel", "bf16")} <= mma


def test_check_rejects_a_spilling_config(rows):
    from perf.sass_report import problems
    (row,) = [r for r in rows if r["case"].startswith("deliberate spill")]
    assert row["spill_stores"] > 0 and row["regs"] == 255
    (msg,) = problems([row])
    assert msg.startswith("spills: | deliberate spill") and "matmul:_matmul_kernel" in msg and "256x256x32 w4" in msg


def test_check_rejects_16bit_attention_without_wgmma(rows):
    from perf.sass_report import problems
    bad = [r for r in rows if r["case"].startswith("deliberate mma.sync") and r["kernel"].endswith("dq_kernel")]
    assert bad and bad[0]["mma"] == "mma.sync"
    (msg,) = problems(bad)
    assert msg.startswith("no wgmma: | deliberate mma.sync") and "attention:_attn_bwd_dq_kernel | bf16" in msg


def test_ptxas_log_and_occupancy():
    from perf.sass_report import occupancy
    log = ("ptxas info    : Function properties for _conv_kernel\n"
           "    2064 bytes stack frame, 2052 bytes spill stores, 2508 bytes spill loads\n"
           "ptxas info    : Used 255 registers, used 1 barriers, 2064 bytes cumulative stack size\n")
    assert parse_ptxas_log(log) == dict(regs=255, spill_stores=2052, spill_loads=2508, stack=2064)
    assert parse_ptxas_log("ptxas info : 0 bytes gmem") is None
    # 255 regs -> 8192 per warp -> 8 warps per SM: one 8-warp block, two 4-warp blocks
    assert occupancy(255, 24 * 1024, 4) == dict(warps_per_sm=8, limiter="regs")
    assert occupancy(32, 0, 4) == dict(warps_per_sm=64, limiter="warps")
    # 100 KiB + 1 KiB reserved per block: two blocks in 228 KiB
    assert occupancy(64, 100 * 1024, 4) == dict(warps_per_sm=8, limiter="smem")


def test_tuner_never_times_a_config_known_to_spill():
    from blaze.kernels import matmul as MM
    from blaze.tuning.tuner import candidate_configs, get_tunable
    from perf.sass_report import AUDIT_PROBLEMS
    for name, audited in AUDIT_PROBLEMS.items():
        t = get_tunable(name)
        for problem in audited:
            space = candidate_configs(name, problem)
            assert len(space) > 1 and not [c for c in space if c in t.spills(problem)], (name, problem)
    # the spill lists are per dtype: 128x256 fp32 accumulators spill, bf16 ones fit
    wide = MM._cfg(128, 256, 64, 8, 8, 3)
    problem = dict(M=4096, N=4096, K=4096, Z=1)
    assert wide not in candidate_configs("matmul", dict(problem, dtype="float32"))
    assert wide in candidate_configs("matmul", dict(problem, dtype="bfloat16"))


@pytest.mark.parametrize("version", ["3.4.0", "3.6.0", "3.9.0"])
def test_conv_heuristic_is_never_a_pruned_config(monkeypatch, version):
    """Per Triton (its ptxas decides what spills), the conv heuristic's tile stays out of the
    spill list the tuner prunes, and the pruned space keeps configs to time."""
    import triton

    from blaze.kernels import conv as CV
    from perf.sass_report import AUDIT_PROBLEMS
    monkeypatch.setattr(triton, "__version__", version)
    monkeypatch.setattr(CV, "interpret", lambda: False)  # the GPU heuristic, also under TRITON_INTERPRET
    for problem in AUDIT_PROBLEMS["conv2d"]:
        assert CV.conv_heuristic(problem) not in CV.conv_spills(problem), (version, problem)
        assert len(CV.CONV2D.space(problem)) >= 3, (version, problem)
    fp32 = dict(AUDIT_PROBLEMS["conv2d"][1], dtype="float32")
    assert (CV.CONV_CONFIGS[0] in CV.conv_spills(fp32)) == (version != "3.9.0")  # 128x64x32 w8 s3 fp32
