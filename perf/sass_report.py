"""Static GPU quality on Hopper, no GPU needed: registers, spills, shared memory, tensor cores, occupancy.

    PYTHONPATH=. python perf/sass_report.py [--filter conv] [--out perf/results/sass_sm90]

Every launcher runs in compile-only mode (tests/kernels/compile_util.py): each launch at the
config the launcher picks (the heuristic; an empty tuning cache) compiles for sm_90a, and the
report takes ptxas's register and spill counts, Triton's shared memory, and the MMA family
of the PTX (wgmma / mma.sync / none). Shapes: the perf suite's cuda sizes
(perf/cases/ops.py), the GPU model benchmarks' layers (perf/bench_gpu_models.py: GPT-2 small
at batch 8 x 1024 tokens and the ResNet-style CNN at batch 128 on 32x32 images, both bf16
autocast) and the rows of issue 19's table. Writes ``OUT.md`` (table) and ``OUT.json``.

A spill is a store to local memory (L1/L2-backed) in the inner loop: the 2 KiB-per-thread
conv spills of issue 19 cost a trip through L1 for every reload.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Hopper (sm_90) per-SM limits, CUDA occupancy calculator for compute capability 9.0:
# 64 K 32-bit registers allocated per warp in units of 256, 64 warps, 32 blocks, 228 KiB of
# shared memory of which a block may use 227 KiB, plus 1 KiB the runtime reserves per block.
HOPPER = dict(regs=65536, reg_unit=256, warps=64, blocks=32, smem=228 * 1024, smem_reserved=1024)
SMEM_PER_BLOCK = 227 * 1024

# Kernels that must run on Hopper's warpgroup MMA with 16-bit operands.
MMA_KERNELS = ("matmul:_matmul_kernel", "conv:_conv_kernel", "conv:_conv_wgrad_kernel",
               "attention:_attn_fwd_kernel", "attention:_attn_bwd_dkdv_kernel", "attention:_attn_bwd_dq_kernel")

GPT2 = dict(batch=8, seq=1024, d=768, heads=12, vocab=50257)  # perf/bench_gpu_models.py GPT2_SMALL x SIZES
# (C_in, C_out, H=W of the input, stride) of every conv of the ResNet-style CNN at batch 128, 32x32:
# stem, then one block per width (64, 128, 256, 512) with a stride-2 1x1 shortcut where it widens.
RESNET_BATCH = 128
RESNET_CONVS = [(3, 64, 32, 1, 3), (64, 64, 16, 1, 3),
                (64, 128, 16, 2, 3), (128, 128, 8, 1, 3), (64, 128, 16, 2, 1),
                (128, 256, 8, 2, 3), (256, 256, 4, 1, 3), (128, 256, 8, 2, 1),
                (256, 512, 4, 2, 3), (512, 512, 2, 1, 3), (256, 512, 4, 2, 1)]


def occupancy(regs: int, smem: int, num_warps: int) -> dict:
    """Theoretical warps per SM on Hopper and what limits it ("regs", "smem", "warps", "blocks")."""
    h = HOPPER
    per_warp = -(-max(regs, 1) * 32 // h["reg_unit"]) * h["reg_unit"]
    limits = dict(warps=h["warps"] // num_warps, blocks=h["blocks"],  # ties name the hardware cap
                  regs=(h["regs"] // per_warp) // num_warps, smem=h["smem"] // (smem + h["smem_reserved"]))
    limiter = min(limits, key=limits.get)
    return dict(warps_per_sm=limits[limiter] * num_warps, limiter=limiter)


def _z(shape, dt="float32"):
    import ml_dtypes
    import numpy as np

    from blaze.kernels.buffer import HostBuffer
    # np.zeros maps untouched pages: a 8192 x 50257 bf16 logits buffer costs no memory here
    return HostBuffer(np.zeros(shape, ml_dtypes.bfloat16 if dt == "bfloat16" else dt))


def _t(buf):
    from blaze.kernels.buffer import HostBuffer
    return HostBuffer(buf.array.T)  # nn.Linear passes weight.T as a strided view


def _linear(M, K, N, dt, act=None, bias=True, res=False, backward=True):
    """x (M, K) @ w(N, K).T + b, as nn.Linear calls it, and its backward."""
    from blaze.kernels import matmul as MM

    def run():
        x, w = _z((M, K), dt), _z((N, K), dt)
        b, r = (_z((N,), dt) if bias else None), (_z((M, N), dt) if res else None)
        MM.matmul(x, _t(w), b, r, activation=act, save_preact=act is not None)
        if backward:
            MM.matmul_backward(_z((M, N), dt), x, _t(w), preact=_z((M, N), dt) if act else None,
                               activation=act, need_bias=bias)
    return run


def _conv(N, C, O, HW, stride, k, dt, passes=("forward", "input", "weight")):
    from blaze.kernels import conv as CV

    def run():
        pad = k // 2
        x, w = _z((N, C, HW, HW), dt), _z((O, C, k, k), dt)
        P = (HW + 2 * pad - k) // stride + 1
        geo = dict(stride=(stride, stride), padding=(pad, pad))
        if "forward" in passes:
            CV.conv2d(x, w, **geo)
        if "input" in passes:
            CV.conv2d_backward_input(_z((N, O, P, P), dt), w, x.shape, **geo)
        if "weight" in passes:
            CV.conv2d_backward_weight(_z((N, O, P, P), dt), x, w.shape, **geo)
    return run


def _attention(B, H, S, D, dt, causal, backward=True):
    from blaze.kernels import attention as A

    def run():
        q, k, v, do = (_z((B, H, S, D), dt) for _ in range(4))
        o, lse = A.attention(q, k, v, causal=causal)
        if backward:
            A.attention_backward(do, q, k, v, o, _z((B, H, S)), causal=causal)
    return run


def _rows_op(kind, M, N, dt):
    from blaze.kernels import layernorm as LN, loss as L, softmax as S

    def run():
        x = _z((M, N), dt)
        if kind == "softmax":
            S.softmax_backward(x, S.softmax(x), log=False)
        elif kind == "layer_norm":
            w = _z((N,), dt)
            LN.layer_norm_backward(x, x, w, *LN.layer_norm(x, w, w)[1:])
        else:
            t = _z((M,), "int64")
            L.cross_entropy_backward(_z((M,)), x, t, L.cross_entropy(x, t)[1])
    return run


def cases() -> list:
    """[(name, thunk)]: the issue's rows, the perf suite's cuda shapes, the GPU models' layers."""
    from blaze.kernels import matmul as MM
    bf, f16 = "bfloat16", "float16"
    out = [
        ("issue conv2d fp16 32x64x56x56 k3 o64", _conv(32, 64, 64, 56, 1, 3, f16, ("forward",))),
        ("issue conv2d bf16 32x256x14x14 k3 o256", _conv(32, 256, 256, 14, 1, 3, bf, ("forward",))),
        ("extra conv2d fp32 32x64x56x56 k3 o64 fwd+bwd", _conv(32, 64, 64, 56, 1, 3, "float32")),
        ("issue matmul fp32 1024^3", lambda: MM.matmul(_z((1024, 1024)), _z((1024, 1024)))),
        ("issue matmul fp32 1024^3 tf32", lambda: MM.matmul(_z((1024, 1024)), _z((1024, 1024)), allow_tf32=True)),
        ("issue attention bf16 B8 H12 T1024 D64 causal", _attention(8, 12, 1024, 64, bf, True)),
    ]
    # perf suite, cuda sizes (perf/cases/ops.py)
    for n in (1024, 2048, 4096):
        out.append((f"perf matmul bf16 {n}^3", lambda n=n: MM.matmul(_z((n, n), bf), _z((n, n), bf))))
    for m in (2048, 8192):
        out.append((f"perf linear_gelu bf16 {m}x768->3072", _linear(m, 768, 3072, bf, "gelu", backward=False)))
    for c, hw in ((64, 56), (128, 28), (256, 14)):
        out.append((f"perf conv2d bf16 32x{c}x{hw}x{hw} k3 o{c}", _conv(32, c, c, hw, 1, 3, bf, ("forward",))))
    for n in (1024, 8192, 32768):
        out.append((f"perf softmax fp32 4096x{n}", _rows_op("softmax", 4096, n, "float32")))
    for n in (768, 4096):
        out.append((f"perf layernorm fp32 8192x{n}", _rows_op("layer_norm", 8192, n, "float32")))
    for d in (64, 128):
        for s in (1024, 4096):
            for c in (True, False):
                out.append((f"perf attention bf16 B4 H16 S{s} D{d} causal={c}", _attention(4, 16, s, d, bf, c)))
    out.append(("perf cross_entropy bf16 8192x50257", _rows_op("cross_entropy", 8192, 50257, bf)))
    # GPT-2 small training step (bf16 autocast): every GEMM with its backward, attention, norms, loss
    M, d, V = GPT2["batch"] * GPT2["seq"], GPT2["d"], GPT2["vocab"]
    out += [
        ("gpt2 qkv linear bf16", _linear(M, d, 3 * d, bf)),
        ("gpt2 proj linear bf16 +residual", _linear(M, d, d, bf, res=True)),
        ("gpt2 fc linear bf16 gelu_tanh", _linear(M, d, 4 * d, bf, "gelu_tanh")),
        ("gpt2 fc2 linear bf16 +residual", _linear(M, 4 * d, d, bf, res=True)),
        ("gpt2 lm head bf16", _linear(M, d, V, bf, bias=False)),
        ("gpt2 attention bf16 causal", _attention(GPT2["batch"], GPT2["heads"], GPT2["seq"], d // GPT2["heads"], bf,
                                                  True)),
        ("gpt2 layer_norm bf16", _rows_op("layer_norm", M, d, bf)),
        ("gpt2 cross_entropy bf16", _rows_op("cross_entropy", M, V, bf)),
    ]
    for C, O, hw, s, k in RESNET_CONVS:
        for pss in ("forward", "input", "weight")[:: 2 if C == 3 else 1]:  # the stem needs no input grad
            out.append((f"resnet conv bf16 {C}->{O} k{k} s{s} @{hw} {pss}",
                        _conv(RESNET_BATCH, C, O, hw, s, k, bf, (pss,))))
    out.append(("resnet fc linear bf16", _linear(RESNET_BATCH, 512, 10, bf)))
    return out


# The CI subset (tests/kernels/test_sass.py): one shape per distinct heuristic tile of each core
# kernel and dtype, about a minute of cold compiles on 2 cores.
CI_CASES = ("issue conv2d fp16", "issue conv2d bf16", "extra conv2d fp32", "issue matmul fp32 1024^3", "issue attention",
            "perf matmul bf16 4096", "perf linear_gelu bf16 8192", "perf attention bf16 B4 H16 S1024 D128 causal=False",
            "perf softmax fp32 4096x8192", "perf layernorm fp32 8192x768", "perf cross_entropy",
            "resnet conv bf16 64->128 k3 s2 @16 input", "resnet conv bf16 64->64 k3 s1 @16 weight", "gpt2 fc linear")


def ci_cases() -> list:
    return [(name, fn) for name, fn in cases() if name.startswith(CI_CASES)]


def filtered_cases() -> list:
    """cases() whose name contains $SASS_REPORT_FILTER (set by --filter for the compile children)."""
    return [(name, fn) for name, fn in cases() if os.environ.get("SASS_REPORT_FILTER", "") in name]


# Config-space audit (--configs): every config of the tuning spaces on one GPU-sized problem per
# pass and dtype; those that spill are listed in the kernel's Tunable.spills (shown "[pruned]")
# and the audit fails on any other.
AUDIT_PROBLEMS = {
    "matmul": [dict(M=4096, N=4096, K=4096, Z=1, dtype=dt) for dt in ("bfloat16", "float32")],
    "conv2d": [dict(which=w, batch=32, C=64, H=56, W=56, O=64, KH=3, KW=3, SH=1, SW=1, PH=1, PW=1, DH=1, DW=1,
                    groups=1, dtype=dt) for w in ("forward", "input", "weight") for dt in ("bfloat16", "float32")],
    "attention": [dict(B=4, H=16, S_q=1024, S_k=1024, D=d, dtype="bfloat16", causal=True) for d in (64, 128)],
    "attention_backward": [dict(B=4, H=16, S_q=1024, S_k=1024, D=d, dtype="bfloat16", causal=True)
                           for d in (64, 128)],
}


def config_cases() -> list:
    """[(name, thunk)]: each tunable's every config on its AUDIT_PROBLEMS, via its make_problem."""
    from blaze.kernels.registry import tunables
    from blaze.tuning.tuner import load_kernels
    load_kernels()
    out = []
    for name, problems in AUDIT_PROBLEMS.items():
        t = tunables()[name]
        for problem in problems:
            label = " ".join(str(problem[k]) for k in ("which", "dtype", "D") if k in problem)
            kept = t.space(problem)
            for cfg in t.configs:
                out.append((f"{name} {label} {cfg}{'' if cfg in kept else ' [pruned]'}",
                            lambda t=t, problem=problem, cfg=cfg: t.make_problem(problem, _z)(cfg)))
    return [(n, fn) for n, fn in out if os.environ.get("SASS_REPORT_FILTER", "") in n]


def dtype_of(rec: dict) -> str:
    """The element type of the kernel's first pointer argument ("fp16", "bf16", "fp32")."""
    return next((t[1:] for t in rec["signature"].values() if t.startswith("*")), "")


def row(rec: dict) -> dict:
    """One report row from a compile record (see compile_util.compile_only with stats)."""
    r = dict(case=rec["case"], kernel=rec["kernel"].replace("blaze.kernels.", ""), dtype=dtype_of(rec),
             ok=rec["ok"], config={k: v for k, v in rec["constexprs"].items() if k.startswith(("BLOCK", "GROUP"))},
             num_warps=rec.get("num_warps", rec["options"].get("num_warps", 4)),
             num_stages=rec["options"].get("num_stages", 3))  # Triton's defaults
    if rec["ok"]:
        r.update({k: rec[k] for k in ("regs", "spill_stores", "spill_loads", "stack", "smem", "mma", "mma_type")})
        r.update(occupancy(rec["regs"], rec["smem"], rec["num_warps"]))
    else:
        r["error"] = rec["error"][-500:]
    return r


def _config_str(r: dict) -> str:
    c = r["config"]
    tile = "x".join(str(c[k]) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K", "BLOCK_D") if k in c)
    return f"{tile} w{r.get('num_warps', '?')} s{r.get('num_stages', '?')}"


def format_row(r: dict) -> str:
    if not r["ok"]:
        return f"| {r['case']} | {r['kernel']} | {r['dtype']} | {_config_str(r)} | compile error | | | | |"
    mma = r["mma"] + (f" {r['mma_type']}" if r["mma_type"] else "")
    return (f"| {r['case']} | {r['kernel']} | {r['dtype']} | {_config_str(r)} | {r['regs']} | "
            f"{r['spill_stores']} / {r['spill_loads']} | {r['smem'] / 1024:.1f} KB | {mma} | "
            f"{r['warps_per_sm']} ({r['limiter']}) |")


HEADER = ("| case | kernel | dtype | tile, warps, stages | regs | spill st / ld (B) | smem | tensor cores | "
          "warps/SM (limit) |\n|---|---|---|---|---|---|---|---|---|")


def problems(rows: list, need_wgmma: bool = True) -> list:
    """The CI rule: every row compiles, none spills or overflows shared memory, 16-bit GEMM-like
    kernels use wgmma.

    Returns one message per violation, each holding the report row. ``need_wgmma=False`` (the
    tuning-space audit): small-tile configs may run on mma.sync if they time faster.
    """
    out = []
    for r in rows:
        if not r["ok"]:
            out.append(f"compile error: {format_row(r)}\n{r['error']}")
        elif r["spill_stores"] or r["spill_loads"]:
            out.append(f"spills: {format_row(r)}")
        elif r["smem"] > SMEM_PER_BLOCK:
            out.append(f"shared memory over Hopper's {SMEM_PER_BLOCK // 1024} KiB a block: {format_row(r)}")
        elif need_wgmma and r["kernel"] in MMA_KERNELS and r["dtype"] in ("fp16", "bf16") and r["mma"] != "wgmma":
            out.append(f"no wgmma: {format_row(r)}")
    return out


def collect(ref: str = "perf.sass_report:cases", shards: int | None = None, timeout: float = 1800) -> list:
    """Report rows for every launch of the cases ``ref`` names (see compile_util.run_cases)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.kernels.compile_util import run_cases
    shards = shards or max(1, min(8, len(os.sched_getaffinity(0))))
    return [row(rec) for rec in run_cases(ref, shards=shards, timeout=timeout, stats=True)
            if rec["kernel"] != "<launcher>" or not rec["ok"]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("perf", "results", "sass_sm90"), help="path prefix (.md, .json)")
    ap.add_argument("--ci", action="store_true", help="only the CI subset")
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    ap.add_argument("--configs", action="store_true", help="audit every config of the tuning spaces instead")
    ap.add_argument("--shards", type=int, default=None, help="parallel compile processes (default: CPUs, <= 8)")
    args = ap.parse_args(argv)
    from tests.kernels.compile_util import cuda_compile_unavailable
    reason = cuda_compile_unavailable()
    if reason:
        print(f"cannot compile for sm_90 here: {reason}", file=sys.stderr)
        return 2
    t0 = time.time()
    os.environ["SASS_REPORT_FILTER"] = args.filter
    which = "config_cases" if args.configs else "ci_cases" if args.ci else "filtered_cases"
    rows = collect(f"perf.sass_report:{which}", args.shards)
    order = {name: i for i, (name, _) in enumerate(config_cases() if args.configs else cases())}
    rows.sort(key=lambda r: (order.get(r["case"], len(order)), r["kernel"]))
    bad = problems([r for r in rows if not r["case"].endswith("[pruned]")], need_wgmma=not args.configs)
    table = "\n".join([HEADER] + [format_row(r) for r in rows])
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".md", "w") as f:
        what = "every tuning-space config ([pruned]: in Tunable.spills)" if args.configs else "heuristic configs"
        f.write(f"sm_90a, compile-only (Triton's ptxas -v), {what}; {len(rows)} rows, "
                f"{len(bad)} violations\n\n{table}\n")
    with open(args.out + ".json", "w") as f:
        json.dump(dict(target="sm_90a", hopper_limits=HOPPER, rows=rows), f, indent=None if args.configs else 1)
    print(table)
    print(f"\n{len(rows)} rows in {time.time() - t0:.0f}s, {len(bad)} violations -> {args.out}.md/.json")
    for msg in bad:
        print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
