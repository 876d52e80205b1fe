"""nn cases for perf/torch_parity.py: modules (torch weights copied into blaze), activations, losses,
attention and the functional helpers. Outputs, input gradients, parameter gradients and buffers
(running stats) are compared."""
from __future__ import annotations

import numpy as np
import torch

import blaze
from perf.torch_parity import (ATOL, RTOL, LIBS, Mismatch, backward, check_grads, compare, fcase, flat,
                               convert, weights_for, Const)

R = np.random.default_rng(1)


def rn(*shape, scale=1.0):
    return R.standard_normal(shape) * scale


def ri(hi, *shape):
    return R.integers(0, hi, shape)


def mcase(name, make, inputs, fwd=None, train=False, steps=1, grad=True, atol=ATOL, rtol=RTOL):
    """Module case: ``make(T, nn)`` built in torch (seed 0), its state_dict copied into blaze.

    ``steps`` forward passes run (train mode updates running stats each time); the last one's
    outputs and gradients (inputs and named parameters) are compared, then every buffer.
    """
    fwd = fwd or (lambda m, *xs: m(*xs))

    def run():
        torch.manual_seed(0)
        mt = make(torch, torch.nn).double()
        mb = make(blaze, blaze.nn).double()
        sd = mt.state_dict()
        kb = set(mb.state_dict())
        if set(sd) != kb:
            raise Mismatch(f"state_dict keys: only torch {sorted(set(sd) - kb)}, only blaze {sorted(kb - set(sd))}")
        mb.load_state_dict({k: blaze.tensor(v.detach().numpy().copy()) for k, v in sd.items()})
        mt.train(train)
        mb.train(train)
        res = {}
        for lname, m in (("blaze", mb), ("torch", mt)):
            T = LIBS[lname]
            for s in range(steps):
                xs = [convert(T, a, grad) for a in inputs]
                out = flat(fwd(m, *xs))
            res[lname] = (xs, out, m)
        (bx, bo, _), (tx, to, _) = res["blaze"], res["torch"]
        if len(bo) != len(to):
            raise Mismatch(f"output count blaze {len(bo)} vs torch {len(to)}")
        for i, (b, t) in enumerate(zip(bo, to)):
            compare(f"out[{i}]", b, t, atol, rtol)
        if grad:
            ws = weights_for(to)
            if backward(torch, to, ws):
                backward(blaze, bo, ws)
                check_grads("grad", bx, tx, atol * 10, rtol * 10)
                pb = dict(mb.named_parameters())
                for k, p in mt.named_parameters():
                    gb, gt = pb[k].grad, p.grad
                    if gb is None and gt is None:
                        continue
                    compare(f"param-grad {k}", np.zeros(tuple(p.shape)) if gb is None else gb,
                            np.zeros(tuple(p.shape)) if gt is None else gt, atol * 10, rtol * 10, check_dtype=False)
        bb = dict(mb.named_buffers())
        for k, v in mt.named_buffers():
            compare(f"buffer {k}", bb[k], v, atol, rtol, check_dtype=False)
    return name, run


def nn_cases(add):
    x4 = rn(2, 4, 9, 9)
    # linear / conv
    add(mcase("Linear", lambda T, nn: nn.Linear(5, 3), [rn(2, 4, 5)]))
    add(mcase("Linear-nobias", lambda T, nn: nn.Linear(5, 3, bias=False), [rn(4, 5)]))
    add(mcase("Bilinear", lambda T, nn: nn.Bilinear(3, 4, 2), [rn(5, 3), rn(5, 4)]))
    add(mcase("Conv1d-stride-pad-dil", lambda T, nn: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2), [rn(2, 4, 11)]))
    add(mcase("Conv1d-same-groups", lambda T, nn: nn.Conv1d(4, 6, 4, padding="same", groups=2), [rn(2, 4, 10)]))
    add(mcase("Conv1d-reflect", lambda T, nn: nn.Conv1d(4, 2, 3, padding=1, padding_mode="reflect"), [rn(2, 4, 8)]))
    convs = {"stride": dict(stride=2, padding=1), "same-even-k": dict(kernel_size=4, padding="same"),
             "same-dilation": dict(padding="same", dilation=2), "groups": dict(groups=2, padding=(1, 0)),
             "depthwise": dict(groups=4, out_channels=8), "rect": dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2)),
             "circular": dict(padding=1, padding_mode="circular"), "replicate": dict(padding=2, padding_mode="replicate"),
             "valid-nobias": dict(padding="valid", bias=False)}
    for name, kw in convs.items():
        kw = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kw}
        add(mcase(f"Conv2d-{name}", lambda T, nn, kw=kw: nn.Conv2d(**kw), [x4]))
    tconvs = {"stride2": dict(stride=2), "out-pad": dict(stride=2, padding=1, output_padding=1),
              "groups-dil": dict(groups=2, dilation=2, stride=3, output_padding=2), "rect": dict(kernel_size=(2, 3), stride=(2, 1))}
    for name, kw in tconvs.items():
        kw = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kw}
        add(mcase(f"ConvTranspose2d-{name}", lambda T, nn, kw=kw: nn.ConvTranspose2d(**kw), [rn(2, 4, 5, 6)]))
    add(mcase("ConvTranspose2d-output_size", lambda T, nn: nn.ConvTranspose2d(4, 2, 3, stride=2),
              [rn(1, 4, 5, 5)], fwd=lambda m, x: m(x, output_size=[12, 12])))
    add(mcase("ConvTranspose1d", lambda T, nn: nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1),
              [rn(2, 4, 7)]))

    # pooling
    ties = np.round(rn(2, 3, 7, 7))  # integer-valued: many ties in each window
    pools = {"MaxPool2d-basic": lambda nn: nn.MaxPool2d(2), "MaxPool2d-ceil": lambda nn: nn.MaxPool2d(3, 2, ceil_mode=True),
             "MaxPool2d-pad-ceil": lambda nn: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
             "MaxPool2d-dil": lambda nn: nn.MaxPool2d(2, 1, dilation=2),
             "MaxPool2d-indices": lambda nn: nn.MaxPool2d(3, 2, padding=1, return_indices=True),
             "MaxPool2d-indices-ceil": lambda nn: nn.MaxPool2d(2, 2, ceil_mode=True, return_indices=True),
             "AvgPool2d-basic": lambda nn: nn.AvgPool2d(3, 2), "AvgPool2d-pad": lambda nn: nn.AvgPool2d(3, 2, padding=1),
             "AvgPool2d-nocip": lambda nn: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
             "AvgPool2d-ceil": lambda nn: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True),
             "AvgPool2d-ceil-nocip": lambda nn: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
             "AvgPool2d-divisor": lambda nn: nn.AvgPool2d(2, divisor_override=3),
             "AdaptiveAvgPool2d-3x4": lambda nn: nn.AdaptiveAvgPool2d((3, 4)),
             "AdaptiveAvgPool2d-5": lambda nn: nn.AdaptiveAvgPool2d(5),
             "AdaptiveAvgPool2d-None": lambda nn: nn.AdaptiveAvgPool2d((None, 2)),
             "AdaptiveAvgPool2d-up": lambda nn: nn.AdaptiveAvgPool2d(10)}
    for name, mk in pools.items():
        add(mcase(name, lambda T, nn, mk=mk: mk(nn), [ties if "Max" in name else rn(2, 3, 7, 7)]))
    add(mcase("MaxPool1d-ceil-idx", lambda T, nn: nn.MaxPool1d(3, 2, padding=1, ceil_mode=True, return_indices=True),
              [np.round(rn(2, 3, 8))]))
    add(mcase("AvgPool1d-nocip", lambda T, nn: nn.AvgPool1d(3, 2, padding=1, count_include_pad=False), [rn(2, 3, 8)]))
    add(mcase("AdaptiveAvgPool1d", lambda T, nn: nn.AdaptiveAvgPool1d(3), [rn(2, 3, 7)]))
    ups = {"nearest-x2": dict(scale_factor=2), "nearest-size": dict(size=(7, 5)), "nearest-1.5": dict(scale_factor=1.5),
           "bilinear-ac": dict(scale_factor=2, mode="bilinear", align_corners=True),
           "bilinear-noac": dict(scale_factor=2, mode="bilinear", align_corners=False),
           "bilinear-size-noac": dict(size=(7, 3), mode="bilinear", align_corners=False),
           "bilinear-size-ac": dict(size=(7, 3), mode="bilinear", align_corners=True),
           "nearest-exact": dict(size=(7, 5), mode="nearest-exact")}
    for name, kw in ups.items():
        add(mcase(f"Upsample-{name}", lambda T, nn, kw=kw: nn.Upsample(**kw), [rn(2, 2, 4, 4)]))
    add(mcase("UpsamplingBilinear2d", lambda T, nn: nn.UpsamplingBilinear2d(scale_factor=2), [rn(1, 2, 3, 3)]))
    add(mcase("UpsamplingNearest2d", lambda T, nn: nn.UpsamplingNearest2d(size=(5, 6)), [rn(1, 2, 3, 3)]))

    # normalization (train: several steps so running stats accumulate)
    for tr in (True, False):
        for mom in (0.1, None):
            add(mcase(f"BatchNorm2d-train={tr}-mom={mom}", lambda T, nn, mom=mom: nn.BatchNorm2d(3, momentum=mom),
                      [rn(4, 3, 5, 5) * 2 + 1], train=tr, steps=3))
            add(mcase(f"BatchNorm1d-2d-train={tr}-mom={mom}", lambda T, nn, mom=mom: nn.BatchNorm1d(3, momentum=mom),
                      [rn(6, 3) + 0.5], train=tr, steps=3))
        add(mcase(f"BatchNorm1d-3d-train={tr}", lambda T, nn: nn.BatchNorm1d(3), [rn(4, 3, 5)], train=tr, steps=2))
        add(mcase(f"BatchNorm2d-noaffine-train={tr}", lambda T, nn: nn.BatchNorm2d(3, affine=False), [rn(4, 3, 2, 2)],
                  train=tr, steps=2))
        add(mcase(f"BatchNorm2d-no-running-train={tr}", lambda T, nn: nn.BatchNorm2d(3, track_running_stats=False),
                  [rn(4, 3, 2, 2)], train=tr))
        add(mcase(f"InstanceNorm2d-affine-train={tr}", lambda T, nn: nn.InstanceNorm2d(3, affine=True),
                  [rn(2, 3, 4, 4)], train=tr))
    add(mcase("LayerNorm", lambda T, nn: nn.LayerNorm(5), [rn(3, 4, 5)]))
    add(mcase("LayerNorm-2d-shape", lambda T, nn: nn.LayerNorm((4, 5), eps=1e-3), [rn(3, 4, 5)]))
    add(mcase("LayerNorm-nobias", lambda T, nn: nn.LayerNorm(5, bias=False), [rn(3, 5)]))
    add(mcase("LayerNorm-noaffine", lambda T, nn: nn.LayerNorm(5, elementwise_affine=False), [rn(3, 5)]))
    add(mcase("GroupNorm", lambda T, nn: nn.GroupNorm(2, 4), [rn(3, 4, 3, 3)]))
    add(mcase("GroupNorm-3d-input", lambda T, nn: nn.GroupNorm(3, 6, eps=1e-3), [rn(3, 6, 5)]))
    add(mcase("RMSNorm", lambda T, nn: nn.RMSNorm(5), [rn(3, 4, 5)]))
    add(mcase("RMSNorm-eps-2d", lambda T, nn: nn.RMSNorm((4, 5), eps=1e-2), [rn(3, 4, 5) * 0.1]))
    add(mcase("LocalResponseNorm", lambda T, nn: nn.LocalResponseNorm(3), [rn(2, 5, 3, 3)]))
    add(mcase("Embedding-padding_idx", lambda T, nn: nn.Embedding(7, 4, padding_idx=2), [np.array([[0, 2, 6], [2, 2, 1]])]))
    add(mcase("Embedding-neg-padding_idx", lambda T, nn: nn.Embedding(7, 4, padding_idx=-1), [np.array([6, 1, 6])]))
    add(mcase("Embedding-max_norm", lambda T, nn: nn.Embedding(7, 4, max_norm=1.0), [np.array([0, 3, 3])]))

    # recurrent
    for kind in ("RNN", "LSTM", "GRU"):
        for bf in (False, True):
            for h0 in (False, True):
                def mk(T, nn, kind=kind, bf=bf):
                    return getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=bf)
                x = rn(2, 5, 3) if bf else rn(5, 2, 3)
                ins = [x]
                if h0:
                    ins.append(rn(4, 2, 4))
                    if kind == "LSTM":
                        ins.append(rn(4, 2, 4))

                def fwd(m, x, *hs, kind=kind):
                    if not hs:
                        return m(x)
                    return m(x, (hs[0], hs[1]) if kind == "LSTM" else hs[0])
                add(mcase(f"{kind}-2layer-bidir-bf={bf}-h0={h0}", mk, ins, fwd=fwd))
        add(mcase(f"{kind}-unbatched", lambda T, nn, kind=kind: getattr(nn, kind)(3, 4), [rn(5, 3)]))
        add(mcase(f"{kind}Cell", lambda T, nn, kind=kind: getattr(nn, kind + "Cell")(3, 4), [rn(2, 3)]))
    add(mcase("LSTM-proj", lambda T, nn: nn.LSTM(3, 4, proj_size=2), [rn(5, 2, 3)]))
    add(mcase("RNN-relu-nobias", lambda T, nn: nn.RNN(3, 4, nonlinearity="relu", bias=False), [rn(5, 2, 3)]))

    # attention / transformer
    E, S, L, B = 8, 5, 4, 2
    q, kv = rn(L, B, E), rn(S, B, E)
    bmask = R.random((L, S)) < 0.3
    bmask[:, 0] = False
    kpm = np.zeros((B, S), bool)
    kpm[1, -2:] = True
    fmask = rn(L, S)
    mha = {"self-avg": (lambda m, q: m(q, q, q), [q]),
           "cross-no-avg": (lambda m, q, k: m(q, k, k, average_attn_weights=False), [q, kv]),
           "bool-mask": (lambda m, q, k, am: m(q, k, k, attn_mask=am), [q, kv, Const(bmask)]),
           "float-mask": (lambda m, q, k, am: m(q, k, k, attn_mask=am), [q, kv, Const(fmask)]),
           "kpm": (lambda m, q, k, p: m(q, k, k, key_padding_mask=p), [q, kv, Const(kpm)]),
           "kpm+mask+noweights": (lambda m, q, k, am, p: m(q, k, k, attn_mask=am, key_padding_mask=p, need_weights=False),
                                  [q, kv, Const(bmask), Const(kpm)]),
           "3d-mask": (lambda m, q, k, am: m(q, k, k, attn_mask=am), [q, kv, Const(rn(B * 2, L, S))]),
           "causal-mask": (lambda m, q, cm: m(q, q, q, attn_mask=cm, is_causal=True), [q, Const(np.triu(np.full((L, L), -np.inf), 1))])}
    for name, (fwd, ins) in mha.items():
        add(mcase(f"MHA-{name}", lambda T, nn: nn.MultiheadAttention(E, 2), ins, fwd=fwd))
    add(mcase("MHA-batch_first-kdim", lambda T, nn: nn.MultiheadAttention(E, 4, kdim=3, vdim=6, batch_first=True),
              [rn(B, L, E), rn(B, S, 3), rn(B, S, 6)], fwd=lambda m, q, k, v: m(q, k, v)))
    add(mcase("MHA-bias_kv-zero_attn", lambda T, nn: nn.MultiheadAttention(E, 2, add_bias_kv=True, add_zero_attn=True),
              [q, kv], fwd=lambda m, q, k: m(q, k, k)))
    for nf in (False, True):
        for act in ("relu", "gelu"):
            add(mcase(f"TransformerEncoderLayer-nf={nf}-{act}",
                      lambda T, nn, nf=nf, act=act: nn.TransformerEncoderLayer(E, 2, 16, dropout=0.1, activation=act,
                                                                                norm_first=nf, batch_first=True),
                      [rn(B, S, E), Const(np.triu(np.ones((S, S), bool), 1)), Const(kpm)],
                      fwd=lambda m, x, am, p: m(x, src_mask=am, src_key_padding_mask=p)))
            add(mcase(f"TransformerDecoderLayer-nf={nf}-{act}",
                      lambda T, nn, nf=nf, act=act: nn.TransformerDecoderLayer(E, 2, 16, activation=act, norm_first=nf),
                      [rn(L, B, E), rn(S, B, E), Const(np.triu(np.full((L, L), -np.inf), 1)), Const(kpm)],
                      fwd=lambda m, t, mem, tm, p: m(t, mem, tgt_mask=tm, memory_key_padding_mask=p)))
    add(mcase("TransformerEncoder-2layers-norm", lambda T, nn: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(E, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(E)), [rn(B, S, E)]))

    # activations (modules; PReLU has a parameter)
    acts = {"ReLU": (), "ReLU6": (), "LeakyReLU": (0.2,), "ELU": (0.7,), "SELU": (), "CELU": (1.3,), "GELU": (),
            "GELU-tanh": None, "SiLU": (), "Mish": (), "Tanh": (), "Sigmoid": (), "LogSigmoid": (), "Softplus": (2.0, 5.0),
            "Softsign": (), "Tanhshrink": (), "Softmax": (1,), "LogSoftmax": (0,), "Softmin": (-1,),
            "Hardtanh": (-0.5, 0.7), "Hardswish": (), "Hardsigmoid": (), "Threshold": (0.1, -2.0), "Hardshrink": (0.4,),
            "Softshrink": (0.4,), "GLU": (1,), "PReLU": ()}
    xa = np.concatenate([rn(3, 6) * 3, np.array([[0.0, -3, 3, 0.5, -0.5, 20]])])  # kinks at 0, +-3, 20 (softplus)
    for name, args in acts.items():
        if args is None:
            add(mcase("act/GELU-tanh", lambda T, nn: nn.GELU(approximate="tanh"), [xa]))
            continue
        add(mcase(f"act/{name}", lambda T, nn, name=name, args=args: getattr(nn, name)(*args), [xa]))
    add(mcase("act/PReLU-channels", lambda T, nn: nn.PReLU(4, init=0.1), [rn(2, 4, 3)]))
    fcase("act/F.gelu-softmax-dtype", lambda T, F, a: (F.gelu(a, approximate="tanh"), F.softmax(a, dim=0),
                                                      F.log_softmax(a, -1), F.elu(a, alpha=2.0), F.leaky_relu(a)), xa)
    fcase("act/F.relu6-hardtanh-sigmoid", lambda T, F, a: (F.relu6(a), F.hardtanh(a), F.logsigmoid(a), F.softplus(a, beta=0.5)), xa)


def loss_cases(add):
    C = 4
    logits, tgt = rn(6, C), np.array([0, 3, 1, 1, 2, 3])
    tgt_ign = np.array([0, -100, 1, 3, -100, 2])
    w = Const(np.array([0.5, 2.0, 1.0, 0.3]))
    soft = Const((lambda p: p / p.sum(1, keepdims=True))(np.abs(rn(6, C))))
    nd, ndt = rn(2, C, 3, 2), ri(C, 2, 3, 2)
    ndt_ign = ndt.copy()
    ndt_ign[0, 1, 1] = 2
    ndt_ign[1, 0, 0] = -100
    red = ("mean", "sum", "none")
    for r in red:
        add(mcase(f"loss/CE-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(reduction=r), [logits, tgt]))
        add(mcase(f"loss/CE-weight-ignore-ls-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(
            weight=T.tensor(w.a), ignore_index=-100, label_smoothing=0.2, reduction=r), [logits, tgt_ign]))
        add(mcase(f"loss/CE-ignore=1-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(ignore_index=1, reduction=r), [logits, tgt]))
        add(mcase(f"loss/CE-weight-ls-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(weight=T.tensor(w.a), label_smoothing=0.1,
                                                                                  reduction=r), [logits, tgt]))
        add(mcase(f"loss/CE-soft-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(reduction=r), [logits, soft]))
        add(mcase(f"loss/CE-soft-weight-ls-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(
            weight=T.tensor(w.a), label_smoothing=0.3, reduction=r), [logits, soft]))
        add(mcase(f"loss/CE-Nd-weight-ignore-ls-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(
            weight=T.tensor(w.a), label_smoothing=0.1, reduction=r), [nd, ndt_ign]))
        add(mcase(f"loss/CE-Nd-soft-{r}", lambda T, nn, r=r: nn.CrossEntropyLoss(reduction=r),
                  [nd, Const(np.moveaxis(np.eye(C)[ndt], -1, 1) * 0.7 + 0.3 / C)]))
        add(mcase(f"loss/NLL-weight-ignore-{r}", lambda T, nn, r=r: nn.NLLLoss(weight=T.tensor(w.a), reduction=r),
                  [logits, tgt_ign]))
        add(mcase(f"loss/NLL-Nd-{r}", lambda T, nn, r=r: nn.NLLLoss(reduction=r, ignore_index=2), [nd, ndt]))
        p, y = 1 / (1 + np.exp(-rn(3, 5))), Const(R.random((3, 5)))
        add(mcase(f"loss/BCE-{r}", lambda T, nn, r=r: nn.BCELoss(reduction=r), [p, y]))
        add(mcase(f"loss/BCE-weight-{r}", lambda T, nn, r=r: nn.BCELoss(weight=T.tensor(np.arange(1.0, 6)), reduction=r), [p, y]))
        add(mcase(f"loss/BCE-saturated-{r}", lambda T, nn, r=r: nn.BCELoss(reduction=r),
                  [np.array([0.0, 1.0, 0.5, 1e-20]), Const(np.array([0.0, 1.0, 1.0, 1.0]))]))
        add(mcase(f"loss/BCEWithLogits-posw-{r}", lambda T, nn, r=r: nn.BCEWithLogitsLoss(
            pos_weight=T.tensor(np.array([1.0, 2, 0.5, 3, 1])), weight=T.tensor(np.array([[1.0], [2], [0.5]])), reduction=r),
            [rn(3, 5) * 5, y]))
        add(mcase(f"loss/BCEWithLogits-large-{r}", lambda T, nn, r=r: nn.BCEWithLogitsLoss(reduction=r),
                  [np.array([-800.0, 800, 0, 30]), Const(np.array([1.0, 0, 0.5, 0.2]))]))
        lp = np.log((lambda p: p / p.sum(1, keepdims=True))(np.abs(rn(3, 4)) + 0.1))
        tp = (lambda p: p / p.sum(1, keepdims=True))(np.abs(rn(3, 4)))
        tp[0, 1] = 0.0  # 0 * log 0 must be 0
        for lt in (False, True):
            add(mcase(f"loss/KLDiv-log_target={lt}-{r}", lambda T, nn, r=r, lt=lt: nn.KLDivLoss(reduction=r, log_target=lt),
                      [lp, np.log(tp + 1e-3) if lt else Const(tp)]))
        for beta in (1.0, 0.5, 0.0):
            add(mcase(f"loss/SmoothL1-beta={beta}-{r}", lambda T, nn, r=r, b=beta: nn.SmoothL1Loss(reduction=r, beta=b),
                      [rn(3, 4), rn(3, 4)]))
        for delta in (1.0, 0.3, 2.5):
            add(mcase(f"loss/Huber-delta={delta}-{r}", lambda T, nn, r=r, d=delta: nn.HuberLoss(reduction=r, delta=d),
                      [rn(3, 4) * 2, rn(3, 4)]))
        for name in ("MSELoss", "L1Loss", "SoftMarginLoss"):
            tg = Const(np.sign(rn(3, 4))) if name == "SoftMarginLoss" else rn(3, 4)
            add(mcase(f"loss/{name}-{r}", lambda T, nn, r=r, name=name: getattr(nn, name)(reduction=r), [rn(3, 4), tg]))
        add(mcase(f"loss/MarginRanking-{r}", lambda T, nn, r=r: nn.MarginRankingLoss(margin=0.3, reduction=r),
                  [rn(5), rn(5), Const(np.sign(rn(5)))]))
        add(mcase(f"loss/CosineEmbedding-{r}", lambda T, nn, r=r: nn.CosineEmbeddingLoss(margin=0.2, reduction=r),
                  [rn(5, 3), rn(5, 3), Const(np.array([1.0, -1, 1, -1, -1]))]))
        for li in (True, False):
            for full in (False, True):
                add(mcase(f"loss/PoissonNLL-log={li}-full={full}-{r}",
                          lambda T, nn, r=r, li=li, full=full: nn.PoissonNLLLoss(log_input=li, full=full, reduction=r),
                          [rn(3, 4) if li else np.abs(rn(3, 4)), Const(np.array([[0.0, 1, 2, 5]] * 3))]))
    add(mcase("loss/KLDiv-batchmean", lambda T, nn: nn.KLDivLoss(reduction="batchmean"), [rn(3, 4), np.abs(rn(3, 4))]))
    add(mcase("loss/KLDiv-batchmean-logt", lambda T, nn: nn.KLDivLoss(reduction="batchmean", log_target=True),
              [rn(3, 4), rn(3, 4)]))
    add(mcase("loss/MSE-broadcast-target-grad", lambda T, nn: nn.MSELoss(), [rn(3, 4), rn(3, 4)]))
    fcase("loss/F.CE-unbatched", lambda T, F, a, t: F.cross_entropy(a, t), rn(5), np.array(2))
    fcase("loss/F.CE-all-ignored", lambda T, F, a, t: F.cross_entropy(a, t, ignore_index=1), rn(2, 3), np.array([1, 1]))
    fcase("loss/F.nll-all-ignored-sum", lambda T, F, a, t: F.nll_loss(a, t, ignore_index=1, reduction="sum"),
          rn(2, 3), np.array([1, 1]))


def functional_cases():
    B, H, L, S, D = 2, 2, 4, 5, 3
    q, k, v = rn(B, H, L, D), rn(B, H, S, D), rn(B, H, S, D)
    bm = R.random((L, S)) < 0.6
    bm[:, 0] = True  # True = attend; every row keeps one key
    sd = {"plain": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v),
          "causal": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
          "bool-mask": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=T.tensor(bm)),
          "float-mask": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=T.tensor(bm * 1.5 - 1)),
          "bcast-mask-4d": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=T.tensor(bm[None, None])),
          "scale": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.3),
          "causal-scale": lambda T, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=2.0),
          "3d": lambda T, F, q, k, v: F.scaled_dot_product_attention(q[0], k[0], v[0]),
          "gqa": lambda T, F, q, k, v: F.scaled_dot_product_attention(T.cat([q, q], 1), k, v, enable_gqa=True)}
    for name, f in sd.items():
        fcase(f"sdpa/{name}", f, q, k, v)
    fcase("sdpa/causal-square", lambda T, F, q: F.scaled_dot_product_attention(q, q, q, is_causal=True), q)
    x = rn(2, 3, 4, 5)
    interp = {"nearest-size": dict(size=(6, 7)), "nearest-sf": dict(scale_factor=(1.5, 2)),
              "nearest-sf-rec": dict(scale_factor=1.7, recompute_scale_factor=True),
              "nearest-down": dict(size=(3, 2)), "nearest-exact": dict(size=(7, 3), mode="nearest-exact"),
              "bilinear-ac": dict(size=(7, 9), mode="bilinear", align_corners=True),
              "bilinear-noac": dict(size=(7, 9), mode="bilinear", align_corners=False),
              "bilinear-down": dict(size=(3, 3), mode="bilinear"),
              "bilinear-sf-noac": dict(scale_factor=1.5, mode="bilinear", align_corners=False),
              "bilinear-sf-ac": dict(scale_factor=2.5, mode="bilinear", align_corners=True)}
    for name, kw in interp.items():
        fcase(f"interpolate/{name}", lambda T, F, a, kw=kw: F.interpolate(a, **kw), x)
    fcase("interpolate/1d-linear", lambda T, F, a: (F.interpolate(a, size=7, mode="linear"),
                                                   F.interpolate(a, scale_factor=2, mode="linear", align_corners=True)), rn(2, 3, 4))
    fcase("interpolate/1d-nearest", lambda T, F, a: F.interpolate(a, size=7), rn(2, 3, 4))
    for mode in ("constant", "reflect", "replicate", "circular"):
        fcase(f"pad/{mode}-4d", lambda T, F, a, mode=mode: F.pad(a, (1, 2, 2, 1), mode=mode), x)
        fcase(f"pad/{mode}-3d", lambda T, F, a, mode=mode: F.pad(a, (2, 3), mode=mode), rn(2, 3, 4))
    fcase("pad/constant-value-3dims", lambda T, F, a: F.pad(a, (1, 0, 0, 2, 1, 1), value=-2.5), x)
    fcase("pad/circular-neg", lambda T, F, a: F.pad(a, (-1, 2), mode="circular"), rn(2, 3, 4))
    for p in (2, 1, float("inf"), 3):
        fcase(f"normalize/p={p}", lambda T, F, a, p=p: (F.normalize(a, p=p, dim=1), F.normalize(a, p=p, dim=-1, eps=0.5)), x)
    fcase("normalize/zero-row", lambda T, F, a: F.normalize(a), np.array([[0.0, 0.0], [3.0, 4.0]]))
    fcase("one_hot", lambda T, F, i: (F.one_hot(i), F.one_hot(i, num_classes=6)), np.array([[0, 3], [2, 2]]), grad=False)
    fcase("cosine_similarity", lambda T, F, a, b: (F.cosine_similarity(a, b), F.cosine_similarity(a, b[:1], dim=-1, eps=1e-3)),
          rn(4, 5), rn(4, 5))
    fcase("cosine_similarity/zero", lambda T, F, a, b: F.cosine_similarity(a, b), np.array([[0.0, 0], [1, 2]]),
          np.array([[1.0, 2], [0, 0]]))
    fcase("pairwise_distance", lambda T, F, a, b: (F.pairwise_distance(a, b), F.pairwise_distance(a, b, p=1, keepdim=True)),
          rn(4, 5), rn(4, 5))
    fcase("cdist", lambda T, F, a, b: (T.cdist(a, b) if hasattr(T, "cdist") else F.cdist(a, b)), rn(4, 3), rn(5, 3))
    fcase("pixel_shuffle", lambda T, F, a: (F.pixel_shuffle(a, 2), F.pixel_unshuffle(F.pixel_shuffle(a, 2), 2)), rn(1, 8, 2, 3))
    fcase("F.embedding", lambda T, F, i, w: F.embedding(i, w, padding_idx=0), np.array([[0, 2], [1, 0]]), rn(3, 4))
    fcase("F.linear-1d-weight-bias", lambda T, F, a, w, b: F.linear(a, w, b), rn(3, 4), rn(2, 4), rn(2))
    fcase("F.conv2d-functional", lambda T, F, a, w: F.conv2d(a, w, stride=(2, 1), padding=(0, 2), groups=2),
          rn(1, 4, 6, 5), rn(4, 2, 3, 3))
    fcase("F.max_pool2d-indices", lambda T, F, a: F.max_pool2d(a, 2, 2, return_indices=True), np.round(rn(1, 2, 5, 5)))
    fcase("F.layer_norm-nobias", lambda T, F, a, w: F.layer_norm(a, (4,), w), rn(3, 4), rn(4))
    fcase("F.group_norm-noaffine", lambda T, F, a: F.group_norm(a, 2), rn(2, 4, 3))
    fcase("F.batch_norm-eval", lambda T, F, a, m, v: F.batch_norm(a, m, v, training=False),
          rn(4, 3), Const(rn(3)), Const(np.abs(rn(3))))
    fcase("F.dropout-eval", lambda T, F, a: (F.dropout(a, 0.5, training=False), F.dropout(a, 0.0)), rn(3, 4))
    fcase("F.glu-softmin", lambda T, F, a: (F.glu(a, 0), F.softmin(a, 1)), rn(4, 3))


def zoo_cases(add):
    """Issue 13's model-zoo layers: 3-D conv/pool, adaptive max, LP, unpool, padding, fold, ..."""
    x5 = rn(2, 4, 5, 6, 7)
    conv3 = {"basic": dict(), "stride-pad": dict(stride=2, padding=1), "groups-dil": dict(groups=2, dilation=(2, 1, 1)),
             "same": dict(kernel_size=(2, 3, 4), padding="same"), "rect-nobias": dict(kernel_size=(1, 3, 2), bias=False)}
    for name, kw in conv3.items():
        kw = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kw}
        add(mcase(f"Conv3d-{name}", lambda T, nn, kw=kw: nn.Conv3d(**kw), [x5]))
    add(mcase("Conv3d-reflect-unbatched", lambda T, nn: nn.Conv3d(4, 2, 3, padding=1, padding_mode="reflect"), [x5[0]]))
    tconv3 = {"basic": dict(), "stride-outpad": dict(stride=2, padding=1, output_padding=1),
              "groups-dil": dict(groups=2, dilation=(2, 1, 2), stride=(1, 2, 1))}
    for name, kw in tconv3.items():
        kw = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, **kw}
        add(mcase(f"ConvTranspose3d-{name}", lambda T, nn, kw=kw: nn.ConvTranspose3d(**kw), [rn(2, 4, 3, 4, 3)]))
    ties5 = np.round(rn(2, 3, 5, 6, 7))
    pools3 = {"MaxPool3d-basic": lambda nn: nn.MaxPool3d(2), "MaxPool3d-pad-ceil-idx": lambda nn: nn.MaxPool3d(
        3, 2, padding=1, ceil_mode=True, return_indices=True), "MaxPool3d-dil": lambda nn: nn.MaxPool3d((2, 2, 3), 1, dilation=2),
        "AvgPool3d-basic": lambda nn: nn.AvgPool3d(2), "AvgPool3d-pad-ceil": lambda nn: nn.AvgPool3d(3, 2, 1, ceil_mode=True),
        "AvgPool3d-pad-ceil-nocip": lambda nn: nn.AvgPool3d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        "AvgPool3d-divisor": lambda nn: nn.AvgPool3d((2, 3, 2), (1, 2, 2), divisor_override=5),
        "AdaptiveAvgPool3d": lambda nn: nn.AdaptiveAvgPool3d((2, 4, 3)), "AdaptiveAvgPool3d-None": lambda nn: nn.AdaptiveAvgPool3d((None, 4, 9)),
        "AdaptiveMaxPool3d-idx": lambda nn: nn.AdaptiveMaxPool3d((2, 4, 3), return_indices=True),
        "LPPool3d": lambda nn: nn.LPPool3d(2, 2)}
    for name, mk in pools3.items():
        add(mcase(name, lambda T, nn, mk=mk: mk(nn), [ties5 if "Max" in name else np.abs(x5) + 0.1]))
    add(mcase("AdaptiveMaxPool2d-idx", lambda T, nn: nn.AdaptiveMaxPool2d((4, None), return_indices=True), [np.round(rn(2, 3, 7, 5))]))
    add(mcase("AdaptiveMaxPool2d-up", lambda T, nn: nn.AdaptiveMaxPool2d(9), [rn(3, 7, 5)]))
    add(mcase("AdaptiveMaxPool1d-idx", lambda T, nn: nn.AdaptiveMaxPool1d(4, return_indices=True), [np.round(rn(2, 3, 9))]))
    add(mcase("LPPool1d-p3", lambda T, nn: nn.LPPool1d(3, 3, 2), [np.abs(rn(2, 3, 9)) + 0.1]))
    add(mcase("LPPool2d-p2-ceil", lambda T, nn: nn.LPPool2d(2, (2, 3), ceil_mode=True), [rn(2, 3, 7, 8)]))
    for nd, shape in ((1, (2, 3, 9)), (2, (2, 3, 7, 6)), (3, (2, 2, 5, 4, 6))):
        def unpool(m, x, nd=nd):
            T = blaze if isinstance(x, blaze.Tensor) else torch
            pool = getattr(T.nn.functional, f"max_pool{nd}d")
            out, idx = pool(x, 2, 2, return_indices=True)
            return m(out, idx), m(out, idx, output_size=tuple(x.shape[-nd:]))
        add(mcase(f"MaxUnpool{nd}d", lambda T, nn, nd=nd: getattr(nn, f"MaxUnpool{nd}d")(2), [rn(*shape)], fwd=unpool))


def zoo_layer_cases(add):
    """Issue 13: padding layers, shuffles, fold, distances, Softmax2d, EmbeddingBag."""
    x3, x4, x5 = rn(2, 3, 5), rn(2, 3, 4, 5), rn(1, 2, 3, 4, 5)
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
        for nd, x in ((1, x3), (2, x4), (3, x5)):
            pad = (2, 1, 0, 3, 1, 2)[:2 * nd]
            args = (pad, 1.5) if kind == "Constant" else (pad,)
            add(mcase(f"{kind}Pad{nd}d", lambda T, nn, c=f"{kind}Pad{nd}d", a=args: getattr(nn, c)(*a), [x]))
            if nd == 2:
                add(mcase(f"{kind}Pad2d-int-unbatched", lambda T, nn, c=f"{kind}Pad2d", k=kind:
                          getattr(nn, c)(*((1, -0.5) if k == "Constant" else (1,))), [x4[0]]))
    add(mcase("PixelShuffle", lambda T, nn: nn.PixelShuffle(2), [rn(2, 8, 3, 2)]))
    add(mcase("PixelUnshuffle", lambda T, nn: nn.PixelUnshuffle(3), [rn(2, 6, 3)]))
    add(mcase("ChannelShuffle", lambda T, nn: nn.ChannelShuffle(3), [rn(2, 6, 2, 3)]))
    add(mcase("Softmax2d", lambda T, nn: nn.Softmax2d(), [x4]))
    add(mcase("CosineSimilarity", lambda T, nn: nn.CosineSimilarity(dim=-1, eps=1e-3), [rn(3, 4, 5), rn(3, 4, 5)]))
    add(mcase("PairwiseDistance-p1-keepdim", lambda T, nn: nn.PairwiseDistance(p=1.0, keepdim=True), [rn(4, 5), rn(4, 5)]))
    add(mcase("PairwiseDistance", lambda T, nn: nn.PairwiseDistance(), [rn(4, 5), rn(4, 5)]))
    folds = {"basic": dict(kernel_size=2), "all": dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))}
    for name, kw in folds.items():
        add(mcase(f"Unfold-{name}", lambda T, nn, kw=kw: nn.Unfold(**kw), [rn(2, 3, 5, 6)]))
        ref = torch.nn.functional.unfold(torch.zeros(2, 3, 5, 6), **kw)
        add(mcase(f"Fold-{name}", lambda T, nn, kw=kw: nn.Fold((5, 6), **kw), [rn(*ref.shape)]))
    add(mcase("Unfold-unbatched", lambda T, nn: nn.Unfold(3, padding=1), [rn(2, 4, 4)]))
    ids, offs = np.array([1, 2, 4, 5, 2, 2, 8, 0, 9]), np.array([0, 2, 2, 4, 7])
    psw = rn(9)
    for mode in ("sum", "mean", "max"):
        add(mcase(f"EmbeddingBag-{mode}-offsets", lambda T, nn, m=mode: nn.EmbeddingBag(10, 3, mode=m),
                  [Const(ids), Const(offs)]))
        add(mcase(f"EmbeddingBag-{mode}-2d-padidx", lambda T, nn, m=mode: nn.EmbeddingBag(10, 3, mode=m, padding_idx=2),
                  [Const(np.array([[1, 2, 4], [2, 2, 2], [5, 0, 2]]))]))
        add(mcase(f"EmbeddingBag-{mode}-last-offset-padidx", lambda T, nn, m=mode: nn.EmbeddingBag(
            10, 3, mode=m, include_last_offset=True, padding_idx=2), [Const(ids), Const(np.append(offs, 9))]))
    add(mcase("EmbeddingBag-sum-psw", lambda T, nn: nn.EmbeddingBag(10, 3, mode="sum"), [Const(ids), Const(offs), psw],
              fwd=lambda m, i, o, w: m(i, o, per_sample_weights=w)))
    add(mcase("EmbeddingBag-max_norm", lambda T, nn: nn.EmbeddingBag(10, 3, max_norm=0.5), [Const(ids), Const(offs)]))


def zoo_loss_cases(add):
    """Issue 13's losses: CTC, triplet, hinge, multi-label/multi-class margin, Gaussian NLL."""
    T_, N, C = 7, 3, 5
    logits = rn(T_, N, C)
    tg2, tl, il = np.array([[1, 2, 2], [3, 0, 0], [4, 1, 4]]), np.array([3, 1, 3]), np.array([7, 5, 6])
    tg1 = np.concatenate([tg2[i, :tl[i]] for i in range(N)])
    for r in ("mean", "sum", "none"):
        fcase(f"loss/F.ctc-2d-{r}", lambda T, F, x, r=r: F.ctc_loss(x.log_softmax(2), T.tensor(tg2), T.tensor(il),
                                                                   T.tensor(tl), reduction=r), logits)
    fcase("loss/F.ctc-1d-targets-blank4", lambda T, F, x: F.ctc_loss(x.log_softmax(2), T.tensor(tg1 % 4), tuple(il),
                                                                   tuple(tl), blank=4), logits)
    fcase("loss/F.ctc-empty-target", lambda T, F, x: F.ctc_loss(x.log_softmax(2), T.tensor(tg2), T.tensor(il),
                                                               T.tensor([3, 0, 2]), reduction="none"), logits)
    fcase("loss/F.ctc-impossible-zero_inf", lambda T, F, x: F.ctc_loss(x.log_softmax(2), T.tensor(np.array([[1, 1, 1, 1]] * N)),
                                                                      T.tensor([3, 7, 7]), T.tensor([4, 4, 2]),
                                                                      reduction="sum", zero_infinity=True), logits)
    fcase("loss/F.ctc-unbatched", lambda T, F, x: F.ctc_loss(x.log_softmax(1), T.tensor(tg2[0]), T.tensor(7), T.tensor(3)),
          logits[:, 0])
    add(mcase("loss/CTCLoss-module", lambda T, nn: nn.CTCLoss(blank=1), [rn(T_, N, C)],
              fwd=lambda m, x: m(x.log_softmax(2), (blaze if isinstance(x, blaze.Tensor) else torch).tensor(tg2 % 1 + 2 + tg2 % 2),
                                 tuple(il), tuple(tl))))
    a, p_, n_ = rn(5, 4), rn(5, 4), rn(5, 4)
    for r in ("mean", "sum", "none"):
        add(mcase(f"loss/TripletMargin-{r}", lambda T, nn, r=r: nn.TripletMarginLoss(margin=2.0, reduction=r), [a, p_, n_]))
        add(mcase(f"loss/TripletMargin-p1-swap-{r}", lambda T, nn, r=r: nn.TripletMarginLoss(p=1, swap=True, reduction=r),
                  [a, p_, n_]))
        add(mcase(f"loss/TripletMarginWithDistance-cos-{r}", lambda T, nn, r=r: nn.TripletMarginWithDistanceLoss(
            distance_function=lambda x, y: 1 - (blaze if isinstance(x, blaze.Tensor) else torch).nn.functional.cosine_similarity(x, y),
            margin=0.5, swap=True, reduction=r), [a, p_, n_]))
        add(mcase(f"loss/HingeEmbedding-{r}", lambda T, nn, r=r: nn.HingeEmbeddingLoss(margin=0.7, reduction=r),
                  [rn(3, 4), Const(np.sign(rn(3, 4)))]))
        add(mcase(f"loss/MultiLabelMargin-{r}", lambda T, nn, r=r: nn.MultiLabelMarginLoss(reduction=r),
                  [rn(3, 5) * 0.5, Const(np.array([[3, 0, -1, 1, 2], [1, 2, 3, 4, 0], [4, 4, -1, 0, 0]]))]))
        add(mcase(f"loss/MultiLabelSoftMargin-w-{r}", lambda T, nn, r=r: nn.MultiLabelSoftMarginLoss(
            weight=T.tensor(np.array([1.0, 2, 0.5, 1, 3])), reduction=r), [rn(3, 5), Const((rn(3, 5) > 0) * 1.0)]))
        for pp in (1, 2):
            add(mcase(f"loss/MultiMargin-p{pp}-w-{r}", lambda T, nn, r=r, pp=pp: nn.MultiMarginLoss(
                p=pp, margin=0.8, weight=T.tensor(np.array([1.0, 2, 0.5, 1, 3])), reduction=r),
                [rn(4, 5) * 0.5, Const(np.array([0, 4, 2, 2]))]))
        add(mcase(f"loss/GaussianNLL-{r}", lambda T, nn, r=r: nn.GaussianNLLLoss(reduction=r),
                  [rn(3, 4), rn(3, 4), np.abs(rn(3, 4)) + 0.1]))
    add(mcase("loss/GaussianNLL-full-eps-var-per-row", lambda T, nn: nn.GaussianNLLLoss(full=True, eps=0.2),
              [rn(3, 4), rn(3, 4), np.abs(rn(3)) * 0.3]))
    add(mcase("loss/GaussianNLL-homoscedastic", lambda T, nn: nn.GaussianNLLLoss(), [rn(3, 4), rn(3, 4), np.abs(rn(3, 1)) + 0.1]))
    add(mcase("loss/MultiMargin-unbatched", lambda T, nn: nn.MultiMarginLoss(), [rn(5), Const(np.array(3))]))
    add(mcase("loss/MultiLabelMargin-unbatched", lambda T, nn: nn.MultiLabelMarginLoss(), [rn(4), Const(np.array([2, 0, -1, 3]))]))


def zoo_functional_cases():
    """Issue 13: grid_sample / affine_grid, channel_shuffle, gumbel_softmax (deterministic when saturated)."""
    x = rn(2, 3, 5, 6)
    grid = np.clip(rn(2, 4, 7, 2) * 0.8, -1.3, 1.3)
    grid[0, 0, :3] = [[-1.0, -1.0], [1.0, 1.0], [0.2, 1.2]]          # edges and out-of-range points
    for mode in ("bilinear", "nearest"):
        for pm in ("zeros", "border", "reflection"):
            for ac in (False, True):
                fcase(f"grid_sample/{mode}-{pm}-ac={ac}", lambda T, F, a, g, m=mode, pm=pm, ac=ac:
                      F.grid_sample(a, g, mode=m, padding_mode=pm, align_corners=ac), x, grid if mode == "bilinear" else Const(grid))
    g5 = np.clip(rn(2, 3, 2, 4, 3) * 0.8, -1.3, 1.3)
    for mode in ("bilinear", "nearest"):
        for pm in ("zeros", "border", "reflection"):
            fcase(f"grid_sample/5d-{mode}-{pm}", lambda T, F, a, g, m=mode, pm=pm: F.grid_sample(
                a, g, mode=m, padding_mode=pm, align_corners=pm == "border"), rn(2, 2, 3, 4, 5),
                g5 if mode == "bilinear" else Const(g5))
    fcase("grid_sample/reflection-far", lambda T, F, a, g: F.grid_sample(a, g, padding_mode="reflection"), x,
          rn(2, 3, 4, 2) * 3)
    theta = rn(2, 2, 3) * 0.5 + np.array([[1.0, 0, 0], [0, 1, 0]])
    for ac in (False, True):
        fcase(f"affine_grid/2d-ac={ac}", lambda T, F, t, ac=ac: F.affine_grid(t, (2, 3, 4, 5), align_corners=ac), theta)
        fcase(f"affine_grid/3d-ac={ac}", lambda T, F, t, ac=ac: F.affine_grid(t, (2, 1, 3, 4, 2), align_corners=ac),
              rn(2, 3, 4))
    fcase("affine_grid+grid_sample", lambda T, F, a, t: F.grid_sample(a, F.affine_grid(t, (2, 3, 6, 4), align_corners=False),
                                                                       align_corners=False), x, theta)
    fcase("channel_shuffle", lambda T, F, a: F.channel_shuffle(a, 2), rn(2, 4, 3))
    fcase("gumbel_softmax-hard-saturated", lambda T, F, a: F.gumbel_softmax(a * 1000, tau=0.5, hard=True), np.eye(4)[[1, 3, 0]])


def register(cases):
    """Add the nn cases to ``cases`` (functional cases register through fcase directly)."""
    nn_cases(cases.append)
    loss_cases(cases.append)
    zoo_cases(cases.append)
    zoo_layer_cases(cases.append)
    zoo_loss_cases(cases.append)
    functional_cases()
    zoo_functional_cases()
