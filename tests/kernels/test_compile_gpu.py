"""Every kernel of every kernel file compiles for a real Hopper GPU (sm_90), no GPU needed.

The interpreter runs code the GPU compiler rejects, so each launcher is called here in a
child process where launches become compiles (see compile_util): the exact specializations
a GPU run would build (dtype, constexpr flags, heuristic tile config, ints equal to 1 turned
into constants) go through Triton's real NVIDIA pipeline down to cubin. Values are zeros:
nothing executes. Shapes are GPU-sized so the GPU heuristics pick their real tiles.
"""
from __future__ import annotations

import os
import time

import pytest

from tests.kernels.compile_util import (cuda_compile_unavailable, failures_report, run_cases)

FLOATS = ("float32", "float16", "bfloat16")
ACTIVATIONS = (None, "relu", "gelu", "gelu_tanh", "silu", "tanh")
# Case-name substrings compiled by default (cold compile must stay near a minute on 2 cores).
CORE = ("matmul float16 act=gelu", "matmul_backward bfloat16 act=gelu", "matmul float32 plain",
        "conv2d float16 bias", "conv2d_backward bfloat16", "conv_transpose2d float32",
        "attention float16 D=64 causal=True mask=bool kpm=True", "attention bfloat16 D=128 causal=False mask=bfloat16",
        "attention float32 D=64 causal=False mask=False",
        "softmax float16 log=True", "layer_norm bfloat16", "rms_norm float32", "add_layer_norm float16",
        "cross_entropy float16 smoothing=0.1", "unary gelu_tanh bfloat16", "binary pow float32 scalar",
        "unary bitwise_not uint8", "binary floor_divide int32", "binary bitwise_and int64", "ternary where bfloat16", "cast float32->bfloat16",
        "reduce argmax bfloat16", "reduce var float16", "reduce sum int32", "scan float32",
        "index gather/scatter bfloat16", "index scatter_add/index_add float32", "index check_indices int64",
        "embedding float16 ids int64",
        "random bfloat16", "randint int64", "dropout float16", "bias_dropout_add bfloat16", "sgd float32 momentum",
        "adam bfloat16",
        "rmsprop float32 centered", "adagrad float16", "multi_tensor zero/clip bfloat16", "rnn steps bfloat16",
        "max_pool2d float16", "avg_pool2d bfloat16 divisor=1", "adaptive_avg_pool2d float32",
        "nms float32", "roi_align float32")


def cases():
    """[(name, thunk)]: one launcher call per specialization worth compiling."""
    import ml_dtypes
    import numpy as np

    from blaze.kernels import (attention as A, conv as C, elementwise as E, embedding as EM, index as I,
                               layernorm as LN, loss as L, matmul as MM, multi_tensor as MT, optim as O,
                               nms as NMS, pooling as P, roi_align as RA,
                               random as R, reduce as RD, rnn as RN, softmax as S)
    from blaze.kernels.buffer import HostBuffer

    def z(shape, dt="float32"):
        return HostBuffer(np.zeros(shape, ml_dtypes.bfloat16 if dt == "bfloat16" else dt))

    out = []
    full = bool(os.environ.get("BLAZE_COMPILE_ALL"))

    def add(name, fn):
        # Default run: the CORE cases (one per kernel x dtype and the flag-richest variant),
        # ~1.5 s of cold compile each; BLAZE_COMPILE_ALL=1 runs all ~700 specializations.
        if full or any(c in name for c in CORE):
            out.append((name, fn))

    def mm_cases(dt):
        a, b, bias, res = z((512, 256), dt), z((256, 384), dt), z((384,), dt), z((512, 384), dt)
        for act in ACTIVATIONS:
            add(f"matmul {dt} act={act} bias+res+preact",
                lambda act=act: MM.matmul(a, b, bias, res, activation=act, save_preact=act is not None))
            if act is not None:
                add(f"matmul_backward {dt} act={act}",
                    lambda act=act: MM.matmul_backward(z((512, 384), dt), a, b, preact=z((512, 384), dt),
                                                       activation=act, need_bias=True))
        add(f"matmul {dt} plain", lambda: MM.matmul(a, b))
        add(f"matmul {dt} batched small-M", lambda: MM.matmul(z((4, 16, 256), dt), b))
        add(f"matmul_backward {dt} plain", lambda: MM.matmul_backward(z((512, 384), dt), a, b, need_bias=True))
    for dt in FLOATS:
        mm_cases(dt)
    add("matmul float32 tf32", lambda: MM.matmul(z((512, 256)), z((256, 384)), allow_tf32=True))

    for dt in FLOATS:
        x, w = z((8, 16, 28, 28), dt), z((32, 16, 3, 3), dt)
        dy = z((8, 32, 28, 28), dt)
        add(f"conv2d {dt} bias", lambda x=x, w=w, dt=dt: C.conv2d(x, w, z((32,), dt), padding=(1, 1)))
        add(f"conv2d {dt} strided grouped", lambda x=x, dt=dt: C.conv2d(x, z((32, 8, 3, 3), dt), stride=(2, 2),
                                                                       groups=2))
        add(f"conv2d_backward {dt}", lambda x=x, w=w, dy=dy: (
            C.conv2d_backward_input(dy, w, x.shape, padding=(1, 1)),
            C.conv2d_backward_weight(dy, x, w.shape, padding=(1, 1)), C.conv2d_backward_bias(dy)))
        wt = z((16, 32, 3, 3), dt)
        add(f"conv_transpose2d {dt}", lambda x=x, wt=wt, dt=dt: (
            C.conv_transpose2d(x, wt, z((32,), dt), stride=(2, 2), padding=(1, 1), output_padding=(1, 1)),
            C.conv_transpose2d_backward(z((8, 32, 56, 56), dt), x, wt, stride=(2, 2), padding=(1, 1),
                                        output_padding=(1, 1), need_bias=True)))

    for dt in FLOATS:
        for D in (64, 128):
            q, k, v, do = (z((2, 4, 256, D), dt) for _ in range(4))
            for causal, mask, kpm in ((False, None, None), (True, None, None),
                                      (False, z((256, 256), dt), None), (True, z((1, 1, 256, 256), "bool"),
                                                                         z((2, 256), "bool"))):
                name = f"attention {dt} D={D} causal={causal} mask={mask is not None and mask.dtype} kpm={kpm is not None}"

                def fwd_bwd(q=q, k=k, v=v, do=do, causal=causal, mask=mask, kpm=kpm):
                    o, lse = A.attention(q, k, v, causal=causal, attn_mask=mask, key_padding_mask=kpm)
                    A.attention_backward(do, q, k, v, o, lse, causal=causal, attn_mask=mask, key_padding_mask=kpm)
                add(name, fwd_bwd)
    add("attention float32 D=256 S_q!=S_k", lambda: A.attention(z((1, 2, 100, 256)), z((1, 2, 77, 256)),
                                                              z((1, 2, 77, 256))))

    for dt in FLOATS:
        x = z((512, 1000), dt)
        for log in (False, True):
            add(f"softmax {dt} log={log}", lambda x=x, log=log: S.softmax_backward(x, S.softmax(x, log=log), log=log))
        add(f"softmax {dt} wide rows", lambda dt=dt: S.softmax(z((4, 50000), dt)))
        w, b = z((1000,), dt), z((1000,), dt)
        add(f"layer_norm {dt}", lambda x=x, w=w, b=b: LN.layer_norm_backward(x, x, w, *LN.layer_norm(x, w, b)[1:]))
        add(f"layer_norm {dt} no affine", lambda x=x: LN.layer_norm_backward(x, x, None, *LN.layer_norm(x, None, None)[1:]))
        add(f"rms_norm {dt}", lambda x=x, w=w: LN.rms_norm_backward(x, x, w, LN.rms_norm(x, w)[1]))
        add(f"layer_norm {dt} wide", lambda dt=dt: LN.layer_norm(z((8, 16384), dt), z((16384,), dt), z((16384,), dt)))

        def add_ln(x=x, w=w, b=b):
            y, h, mean, rstd = LN.add_layer_norm(x, x, w, b)
            LN.add_layer_norm_backward(x, x, h, w, mean, rstd)
        add(f"add_layer_norm {dt}", add_ln)
        add(f"add_layer_norm {dt} wide", lambda dt=dt: LN.add_layer_norm(z((8, 16384), dt), z((8, 16384), dt),
                                                                         z((16384,), dt), z((16384,), dt)))
        for smooth, weight in ((0.0, None), (0.1, z((1000,), "float32"))):
            add(f"cross_entropy {dt} smoothing={smooth} weight={weight is not None}",
                lambda x=x, smooth=smooth, weight=weight: L.cross_entropy_backward(
                    z((512,)), x, z((512,), "int64"),
                    L.cross_entropy(x, z((512,), "int64"), label_smoothing=smooth, weight=weight)[1],
                    label_smoothing=smooth, weight=weight))
    add("cross_entropy float32 vocab 50257 int32 targets",
        lambda: L.cross_entropy(z((8, 50257)), z((8,), "int32")))

    # elementwise: every op in fp32 (each OP id is its own specialization), the float ops in
    # fp16/bf16, int/bool rules in their dtypes, scalar operands, broadcasts and casts.
    x3 = {dt: z((64, 33, 7), dt) for dt in FLOATS}
    fops = [op for op, (s, arity) in E.ROWS.items() if arity == 1 and s.rule not in ("int", "bool")]
    for op in fops:
        add(f"unary {op} float32", lambda op=op: E.unary(op, x3["float32"]))
    for dt in ("float16", "bfloat16"):
        for op in ("identity", "exp", "gelu", "gelu_tanh", "silu", "erf", "round", "sign", "rsqrt"):
            add(f"unary {op} {dt}", lambda op=op, dt=dt: E.unary(op, x3[dt]))
    for op in ("neg", "abs", "sign", "square", "bitwise_not", "identity"):
        add(f"unary {op} int32", lambda op=op: E.unary(op, z((64, 33), "int32")))
    add("unary logical_not bool", lambda: E.unary("logical_not", z((64, 33), "bool")))
    # uint8 takes bitwise_not's (0 - x) - 1 branch (Triton 3.6's interpreter cannot run ~uint8)
    add("unary bitwise_not uint8", lambda: E.unary("bitwise_not", z((64, 33), "uint8")))
    for op, (s, arity) in E.ROWS.items():
        if arity != 2:
            continue
        if s.rule == "int":
            add(f"binary {op} int64", lambda op=op: E.binary(op, z((64, 33), "int64"), z((33,), "int64")))
        elif s.rule == "logical":
            add(f"binary {op} bool", lambda op=op: E.binary(op, z((64, 33), "bool"), z((64, 1), "bool")))
        else:
            add(f"binary {op} float32 bcast", lambda op=op: E.binary(op, x3["float32"], z((33, 1))))
            add(f"binary {op} float32 scalar", lambda op=op: E.binary(op, x3["float32"], 2.5))
    for dt in ("float16", "bfloat16"):
        for op in ("add", "mul", "div", "pow", "floor_divide", "remainder", "atan2", "lt"):
            add(f"binary {op} {dt}", lambda op=op, dt=dt: E.binary(op, x3[dt], x3[dt]))
    for op in ("add", "mul", "floor_divide", "remainder", "pow", "maximum"):
        add(f"binary {op} int32", lambda op=op: E.binary(op, z((64, 33), "int32"), 3))
    add("binary add fp16+fp32 promote", lambda: E.binary("add", x3["float16"], x3["float32"]))
    for dt in FLOATS:
        add(f"ternary where {dt}", lambda dt=dt: E.ternary("where", z((64, 33, 7), "bool"), x3[dt], 0.0))
        add(f"ternary clamp {dt}", lambda dt=dt: (
            E.ternary("clamp", x3[dt], -1.0, 1.0), E.ternary("clamp", x3[dt], x3[dt], x3[dt])))
    for src, dst in (("float32", "bfloat16"), ("bfloat16", "float32"), ("float16", "bfloat16"),
                     ("float32", "int32"), ("int64", "float16"), ("bool", "float32"), ("float32", "bool")):
        add(f"cast {src}->{dst}", lambda src=src, dst=dst: E.cast(z((64, 33), src),
                                                               np.dtype(ml_dtypes.bfloat16) if dst == "bfloat16" else dst))
    add("copy strided float16", lambda: E.copy(HostBuffer(np.zeros((64, 66), np.float16)[:, ::2]), z((64, 33), "float16")))
    add("fill bfloat16", lambda: E.fill(z((64, 33), "bfloat16"), 1.5))

    for dt in FLOATS + ("int32", "int64", "bool"):
        x = z((256, 300), dt)
        for op in RD.REDUCE_OPS:
            if dt == "bool" and op not in ("any", "all", "sum", "max"):
                continue
            add(f"reduce {op} {dt}", lambda op=op, x=x: (RD.reduce(op, x, 1), RD.reduce(op, x, 0), RD.reduce(op, x)))
        if dt != "bool":
            add(f"scan {dt}", lambda x=x: (RD.cumsum(x, 1), RD.cumprod(x, 0)))

    for dt in FLOATS + ("int64",):
        x, idx = z((64, 48), dt), z((64, 48), "int64")
        add(f"index gather/scatter {dt}", lambda x=x, idx=idx: (
            I.gather(x, 1, idx), I.scatter(x, 1, idx, x), I.index_select(x, 0, z((10,), "int64")),
            I.take(x, z((5, 3), "int64")), I.index_put_(x, z((7,), "int64"), z((7, 48), x.dtype)),
            I.copy_(z((48, 64), x.dtype), HostBuffer(x.array.T)), I.cat([x, x], dim=1),
            I.pad(x, (1, 2, 3, 0)), I.flip(x, (0, 1)), I.roll(x, (3,), (1,))))
    for dt in ("float32", "int32"):  # the atomic-add dtypes
        add(f"index scatter_add/index_add {dt}", lambda dt=dt: (
            I.scatter_add(z((64, 48), dt), 1, z((64, 48), "int64"), z((64, 48), dt)),
            I.index_add(z((64, 48), dt), 0, z((10,), "int64"), z((10, 48), dt)),
            I.index_put_(z((64, 48), dt), z((7,), "int64"), z((7, 48), dt), accumulate=True)))
    for dt in ("int64", "int32"):
        add(f"index check_indices {dt}", lambda dt=dt: I.check_indices(z((5, 7), dt), 6, "index"))

    for dt in FLOATS:
        for ids_dt in ("int64", "int32"):
            add(f"embedding {dt} ids {ids_dt}", lambda dt=dt, ids_dt=ids_dt: (
                EM.embedding(z((1000, 256), dt), z((4, 77), ids_dt)),
                EM.embedding_backward(z((4, 77, 256), dt), z((4, 77), ids_dt), 1000, padding_idx=0)))

    for dt in FLOATS + ("int32", "int64"):
        if dt in FLOATS:
            add(f"random {dt}", lambda dt=dt: (R.uniform_(z((1000,), dt)), R.normal_(z((33, 17), dt)),
                                               R.bernoulli_(z((1000,), dt))))
        add(f"randint {dt}", lambda dt=dt: R.randint_(z((1000,), dt), 0, 10))
    for dt in FLOATS:
        add(f"dropout {dt}", lambda dt=dt: (R.dropout(z((64, 33), dt), 0.1, 7, 0),
                                            R.dropout_backward(z((64, 33), dt), 0.1, 7, 0)))
        add(f"bias_dropout_add {dt}", lambda dt=dt: (R.bias_dropout_add(z((64, 33), dt), z((33,), dt), z((64, 33), dt),
                                                                        0.1, 7, 0),
                                                     R.bias_dropout_add(z((64, 33), dt), None, z((64, 33), dt), 0.0)))

    for dt in FLOATS:
        p = z((10000,), dt)
        add(f"sgd {dt} momentum nesterov", lambda p=p: O.sgd_step(p, p, z((10000,)), lr=0.1, momentum=0.9,
                                                                  nesterov=True, weight_decay=1e-4))
        add(f"sgd {dt} plain", lambda p=p: O.sgd_step(p, p, lr=0.1))
        add(f"adam {dt} amsgrad", lambda p=p: O.adam_step(p, p, z((10000,)), z((10000,)), 3, amsgrad=True,
                                                          max_exp_avg_sq=z((10000,))))
        add(f"adamw {dt}", lambda p=p: O.adamw_step(p, p, z((10000,)), z((10000,)), 1))
        add(f"rmsprop {dt} centered momentum", lambda p=p: O.rmsprop_step(
            p, p, z((10000,)), grad_avg=z((10000,)), momentum_buffer=z((10000,)), momentum=0.9, centered=True,
            weight_decay=1e-4))
        add(f"rmsprop {dt} plain", lambda p=p: O.rmsprop_step(p, p, z((10000,))))
        add(f"adagrad {dt}", lambda p=p: O.adagrad_step(p, p, z((10000,)), 2, lr_decay=0.1, weight_decay=1e-4))
        add(f"adam {dt} capturable", lambda p=p: O.adam_step(p, p, z((10000,)), z((10000,)), z(()), amsgrad=True,
                                                             max_exp_avg_sq=z((10000,)), weight_decay=1e-2))
        add(f"adagrad {dt} capturable", lambda p=p: O.adagrad_step(p, p, z((10000,)), z(()), lr_decay=0.1))
        add(f"multi_tensor zero/clip {dt}", lambda p=p: (MT.zero_([p, z((300,), dt)]), MT.clip_norm_(
            [p, z((300,), dt)], 1.0, 3.0, z((1,)), z((1,)), z((MT.partials_needed([p, z((300,), dt)]),)))))

    for dt in FLOATS:  # one LSTM/GRU/RNN time step at B=64, H=256, forward and backward
        def bh(g=1, dt=dt):
            return z((64, g * 256), dt)
        add(f"rnn steps {dt}", lambda bh=bh: (
            RN.lstm_step(bh(4), bh()), RN.lstm_step_backward(bh(), bh(), bh(4), bh(), bh(), dh_extra=bh()),
            RN.gru_step(bh(3), bh(3), bh()), RN.gru_step_backward(bh(), bh(3), bh(), bh(), dh_extra=bh()),
            RN.rnn_step(bh(), "tanh"), RN.rnn_step_backward(bh(), bh(), "relu", dh_extra=bh())))

    for dt in FLOATS:
        x = z((4, 16, 32, 32), dt)
        add(f"max_pool2d {dt}", lambda x=x: P.max_pool2d_backward(z((4, 16, 16, 16), x.dtype),
                                                                 P.max_pool2d(x, 2)[1], x.shape, 2))
        for div in (None, 1, 3):
            add(f"avg_pool2d {dt} divisor={div}", lambda x=x, div=div: (
                P.avg_pool2d(x, 3, 2, 1, divisor_override=div),
                P.avg_pool2d_backward(z((4, 16, 16, 16), x.dtype), x.shape, 3, 2, 1, divisor_override=div)))
        add(f"adaptive_avg_pool2d {dt}", lambda x=x: (P.adaptive_avg_pool2d(x, (7, 7)),
                                                      P.adaptive_avg_pool2d_backward(z((4, 16, 7, 7), x.dtype),
                                                                                     x.shape)))
    add("nms float32", lambda: NMS.nms_sorted(z((300, 4)), 0.5))
    add("roi_align float32", lambda: (
        RA.roi_align(z((2, 16, 32, 32)), z((8, 5)), (7, 7), 0.5, 2, True),
        RA.roi_align_backward(z((8, 16, 7, 7)), z((8, 5)), (2, 16, 32, 32), 0.5, 2, True)))
    return out


def test_every_kernel_compiles_for_sm90():
    reason = cuda_compile_unavailable()
    if reason:
        pytest.skip(reason)
    t0 = time.time()
    shards = max(1, min(8, len(os.sched_getaffinity(0))))
    records = run_cases("tests.kernels.test_compile_gpu:cases", shards=shards, timeout=600)
    kernels = {r["kernel"] for r in records if r["kernel"] != "<launcher>"}
    bad = [r for r in records if not r["ok"]]
    print(f"{len(records)} specializations of {len(kernels)} kernels in {time.time() - t0:.1f}s "
          f"({shards} processes), {len(bad)} failed")
    assert not bad, f"{len(bad)} of {len(records)} failed for sm_90:\n" + failures_report(bad)
    # every @triton.jit kernel defined by a kernel file was reached by some case above
    assert kernels >= _all_kernels(), f"kernels never compiled: {sorted(_all_kernels() - kernels)}"


def _all_kernels() -> set:
    """module:name of every top-level @triton.jit function named *_kernel in blaze/kernels/."""
    import ast
    root = os.path.join(os.path.dirname(__file__), "..", "..", "blaze", "kernels")
    found = set()
    for fname in sorted(os.listdir(root)):
        if not fname.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(root, fname)).read())
        for node in tree.body:
            if (isinstance(node, ast.FunctionDef) and node.name.endswith("_kernel")
                    and any("jit" in ast.unparse(d) for d in node.decorator_list)):
                found.add(f"blaze.kernels.{fname[:-3]}:{node.name}")
    return found
