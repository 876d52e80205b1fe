"""Optimizer, lr_scheduler and clip_grad cases for perf/torch_parity.py.

Optimizers: identical parameters (two groups) and, each step, gradient = fixed noise + 0.3 * param
(so the trajectory feeds back into the gradients); parameters and state compared after every
step. Schedulers: the lr (and, for OneCycleLR, the momentum / beta1) of every group after each
of 30 steps, plus get_last_lr().
"""
from __future__ import annotations

import numpy as np
import torch

import blaze
from perf.torch_parity import LIBS, Mismatch, compare

R = np.random.default_rng(2)
P0 = [R.standard_normal((3, 4)), R.standard_normal(5), R.standard_normal((2, 2))]
NOISE = [[R.standard_normal(p.shape) for p in P0] for _ in range(6)]


def opt_case(name, make, steps=5, maximize_second=False):
    """``make(optim, groups)`` -> optimizer over two parameter groups [p0, p1] and [p2]."""
    def run():
        traj = {}
        for lname, T in LIBS.items():
            ps = [T.tensor(p.copy(), requires_grad=True) for p in P0]
            opt = make(T.optim, [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}])
            seq = []
            for s in range(steps):
                opt.zero_grad()
                for p, n in zip(ps, NOISE[s]):
                    p.grad = T.tensor(n + 0.3 * p.detach().numpy())
                opt.step()
                seq.append([p.detach().numpy().copy() for p in ps])
            traj[lname] = seq
        for s, (bs, ts) in enumerate(zip(traj["blaze"], traj["torch"])):
            for i, (b, t) in enumerate(zip(bs, ts)):
                compare(f"step {s + 1} param {i}", b, t, 1e-10, 1e-9)
    return name, run


def optimizer_cases(add):
    sgd = {"plain": dict(lr=0.1), "momentum": dict(lr=0.1, momentum=0.9),
           "dampening": dict(lr=0.1, momentum=0.9, dampening=0.3),
           "nesterov-wd": dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
           "wd-maximize": dict(lr=0.1, momentum=0.5, weight_decay=0.1, maximize=True),
           "momentum-dampening-wd": dict(lr=0.1, momentum=0.8, dampening=0.5, weight_decay=0.05)}
    for n, kw in sgd.items():
        add(opt_case(f"optim/SGD-{n}", lambda O, g, kw=kw: O.SGD(g, **kw)))
    adam = {"default": dict(lr=0.01), "amsgrad": dict(lr=0.01, amsgrad=True),
            "wd-betas": dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, eps=1e-6),
            "maximize-amsgrad": dict(lr=0.01, amsgrad=True, maximize=True)}
    for n, kw in adam.items():
        add(opt_case(f"optim/Adam-{n}", lambda O, g, kw=kw: O.Adam(g, **kw)))
        add(opt_case(f"optim/AdamW-{n}", lambda O, g, kw=kw: O.AdamW(g, **kw)))
    add(opt_case("optim/AdamW-default-wd", lambda O, g: O.AdamW(g, lr=0.1)))
    rms = {"default": dict(lr=0.01), "centered": dict(lr=0.01, centered=True),
           "momentum": dict(lr=0.01, momentum=0.9), "centered-momentum-wd": dict(lr=0.01, centered=True, momentum=0.5,
                                                                                 weight_decay=0.1, alpha=0.9)}
    for n, kw in rms.items():
        add(opt_case(f"optim/RMSprop-{n}", lambda O, g, kw=kw: O.RMSprop(g, **kw)))
    ada = {"default": dict(lr=0.1), "lr_decay": dict(lr=0.1, lr_decay=0.5),
           "lr_decay-wd-iav": dict(lr=0.1, lr_decay=0.1, weight_decay=0.2, initial_accumulator_value=0.3, eps=1e-5)}
    for n, kw in ada.items():
        add(opt_case(f"optim/Adagrad-{n}", lambda O, g, kw=kw: O.Adagrad(g, **kw)))


def new_optimizer_cases(add):
    """Issue 13's optimizers: several settings each, incl. weight_decay, maximize and each flag."""
    table = {
        "Adadelta": {"default": dict(), "rho-eps-wd": dict(lr=0.5, rho=0.7, eps=1e-4, weight_decay=0.1),
                     "maximize": dict(lr=2.0, maximize=True)},
        "Adamax": {"default": dict(lr=0.01), "wd-betas": dict(lr=0.02, betas=(0.7, 0.9), weight_decay=0.1, eps=1e-4),
                   "maximize": dict(lr=0.02, maximize=True)},
        "NAdam": {"default": dict(lr=0.01), "wd": dict(lr=0.01, weight_decay=0.1),
                  "decoupled-wd": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
                  "momentum_decay-maximize": dict(lr=0.01, momentum_decay=0.05, betas=(0.8, 0.95), maximize=True)},
        "RAdam": {"default": dict(lr=0.01), "wd": dict(lr=0.01, weight_decay=0.1, betas=(0.9, 0.5)),
                  "decoupled-wd-maximize": dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True,
                                                maximize=True, betas=(0.8, 0.6))},
        "ASGD": {"default": dict(lr=0.05), "t0-lambd-alpha": dict(lr=0.1, lambd=0.1, alpha=0.5, t0=2),
                 "wd-maximize": dict(lr=0.05, weight_decay=0.1, maximize=True, t0=0)},
        "Rprop": {"default": dict(lr=0.05), "etas-sizes": dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.01, 0.2)),
                  "maximize": dict(lr=0.05, maximize=True)},
        "Adafactor": {"default": dict(lr=0.01), "wd-d-eps": dict(lr=0.05, weight_decay=0.1, d=2.0, eps=(1e-6, 1e-2)),
                      "beta2_decay-maximize": dict(lr=0.05, beta2_decay=-0.5, maximize=True)},
    }
    for opt_name, settings in table.items():
        for n, kw in settings.items():
            add(opt_case(f"optim/{opt_name}-{n}", lambda O, g, kw=kw, c=opt_name: getattr(O, c)(g, **kw), steps=6))
            add(mlp_case(f"optim/{opt_name}-{n}-mlp", lambda O, ps, kw=kw, c=opt_name: getattr(O, c)(ps, **kw)))
    lb = {"default": dict(), "strong_wolfe": dict(line_search_fn="strong_wolfe"),
          "history3-lr": dict(lr=0.5, history_size=3, max_iter=7),
          "strong_wolfe-history2-maxeval": dict(line_search_fn="strong_wolfe", history_size=2, max_eval=9)}
    for n, kw in lb.items():
        add(mlp_case(f"optim/LBFGS-{n}-mlp", lambda O, ps, kw=kw: O.LBFGS(ps, **kw), steps=3, closure=True))


_MLP = [R.standard_normal((6, 4)) * 0.5, R.standard_normal(6) * 0.1, R.standard_normal((1, 6)) * 0.5,
        R.standard_normal(1) * 0.1]
_X, _Y = R.standard_normal((16, 4)), R.standard_normal((16, 1))


def mlp_case(name, make, steps=8, closure=False):
    """A 4-6-1 tanh MLP on fixed data, MSE loss, real backward passes (float64); parameters after
    every step (for LBFGS: every step(closure), each running its own inner iterations)."""
    def run():
        traj = {}
        for lname, T in LIBS.items():
            ps = [T.tensor(a.copy(), requires_grad=True) for a in _MLP]
            x, y = T.tensor(_X), T.tensor(_Y)
            opt = make(T.optim, ps)

            def loss_fn():
                opt.zero_grad()
                h = T.tanh(x @ ps[0].T + ps[1])
                loss = ((h @ ps[2].T + ps[3] - y) ** 2).mean()
                loss.backward()
                return loss
            seq = []
            for _ in range(steps):
                if closure:
                    opt.step(loss_fn)
                else:
                    loss_fn()
                    opt.step()
                seq.append([p.detach().numpy().copy() for p in ps])
            traj[lname] = seq
        for s, (bs, ts) in enumerate(zip(traj["blaze"], traj["torch"])):
            for i, (b, t) in enumerate(zip(bs, ts)):
                compare(f"step {s + 1} param {i}", b, t, 1e-9, 1e-8)
    return name, run


def sched_case(name, make, steps=30, opt="sgd", metrics=None, epochs=None):
    """``make(lr_scheduler, opt)``: lr (and momentum / betas) per group after each step."""
    def run():
        rec = {}
        for lname, T in LIBS.items():
            ps = [T.tensor(p.copy(), requires_grad=True) for p in P0]
            groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}]
            o = T.optim.Adam(groups, lr=0.1) if opt == "adam" else T.optim.SGD(groups, lr=0.1, momentum=0.9)
            sch = make(T.optim.lr_scheduler, o)
            seq = [[g["lr"] for g in o.param_groups]]
            for s in range(steps):
                o.step()
                if metrics is not None:
                    sch.step(metrics[s])
                elif epochs is not None:
                    sch.step(epochs[s])
                else:
                    sch.step()
                row = [g["lr"] for g in o.param_groups]
                row += [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in o.param_groups]
                if metrics is None:
                    row += list(sch.get_last_lr())
                seq.append(row)
            rec[lname] = seq
        for s, (b, t) in enumerate(zip(rec["blaze"], rec["torch"])):
            if len(b) != len(t) or not np.allclose(b, t, rtol=1e-12, atol=1e-15):
                raise Mismatch(f"after step {s}: blaze {b} vs torch {t}")
    return name, run


def scheduler_cases(add):
    mk = {"LambdaLR": lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e),
          "LambdaLR-list": lambda L, o: L.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]),
          "MultiplicativeLR": lambda L, o: L.MultiplicativeLR(o, lambda e: 0.9),
          "StepLR": lambda L, o: L.StepLR(o, 7, gamma=0.5),
          "MultiStepLR-dup": lambda L, o: L.MultiStepLR(o, [5, 10, 10, 20], gamma=0.3),
          "ExponentialLR": lambda L, o: L.ExponentialLR(o, 0.9),
          "CosineAnnealingLR": lambda L, o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
          "CosineAnnealingLR-past-Tmax": lambda L, o: L.CosineAnnealingLR(o, T_max=7),
          "LinearLR": lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=12),
          "OneCycleLR-cos": lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=31),
          "OneCycleLR-linear-3phase": lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=31, anneal_strategy="linear",
                                                                three_phase=True, pct_start=0.25),
          "OneCycleLR-epochs": lambda L, o: L.OneCycleLR(o, max_lr=0.3, epochs=5, steps_per_epoch=7, div_factor=10,
                                                         final_div_factor=100, base_momentum=0.8, max_momentum=0.95),
          "OneCycleLR-no-momentum-cycle": lambda L, o: L.OneCycleLR(o, max_lr=0.3, total_steps=40, cycle_momentum=False),
          "SequentialLR": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=5), L.ExponentialLR(o, 0.9)], [5]),
          "SequentialLR-3": lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.5, 0.5, 3),
                                                             L.StepLR(o, 4), L.CosineAnnealingLR(o, 6)], [4, 12])}
    for name, f in mk.items():
        add(sched_case(f"sched/{name}", f))
    new_scheduler_cases(add)
    add(sched_case("sched/OneCycleLR-adam-betas", lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=31), opt="adam"))
    plateau = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.91, 0.92, 0.93, 0.5, 0.5, 0.5, 0.5, 0.49, 0.49, 0.49, 0.49, 0.49,
               0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    pm = {"min": dict(patience=2), "max-abs": dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs"),
          "cooldown-minlr": dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.02, 0.01]),
          "rel-eps": dict(patience=0, factor=0.5, threshold=0.1, eps=0.01)}
    for name, kw in pm.items():
        add(sched_case(f"sched/ReduceLROnPlateau-{name}", lambda L, o, kw=kw: L.ReduceLROnPlateau(o, **kw),
                       metrics=plateau))


class _Halving:
    """A callable object as CyclicLR's scale_fn (its state_dict keeps such objects' attributes)."""

    def __init__(self):
        self.base = 0.5

    def __call__(self, x):
        return self.base ** (x - 1)


def new_scheduler_cases(add):
    """Issue 13's schedulers: lr (and momentum / beta1) sequences, incl. step(epoch) jumps."""
    mk = {"ConstantLR": lambda L, o: L.ConstantLR(o),
          "ConstantLR-factor": lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=7),
          "PolynomialLR": lambda L, o: L.PolynomialLR(o, total_iters=12),
          "PolynomialLR-power2": lambda L, o: L.PolynomialLR(o, total_iters=20, power=2.0),
          "CyclicLR-triangular": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4),
          "CyclicLR-triangular2-down": lambda L, o: L.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], step_size_up=3,
                                                               step_size_down=5, mode="triangular2"),
          "CyclicLR-exp_range": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5, mode="exp_range", gamma=0.97,
                                                        base_momentum=0.7, max_momentum=0.95),
          "CyclicLR-scale_fn-iterations": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=_Halving(),
                                                                  scale_mode="iterations", cycle_momentum=False),
          "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=6),
          "CosineAnnealingWarmRestarts-Tmult2-etamin": lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                                 eta_min=0.001),
          "ChainedScheduler": lambda L, o: L.ChainedScheduler([L.ConstantLR(o, factor=0.5, total_iters=4),
                                                               L.ExponentialLR(o, 0.9)]),
          "ChainedScheduler-3": lambda L, o: L.ChainedScheduler([L.LinearLR(o, 0.2, total_iters=6),
                                                                 L.CosineAnnealingLR(o, T_max=10),
                                                                 L.MultiplicativeLR(o, lambda e: 0.98)], optimizer=o),
          "Sequential-of-Polynomial-Constant": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.25, 3),
                                                                               L.PolynomialLR(o, 15, 1.5)], [6])}
    for name, f in mk.items():
        add(sched_case(f"sched/{name}", f))
    add(sched_case("sched/CyclicLR-adam-betas", lambda L, o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4), opt="adam"))
    frac = [e + b / 4 for e in range(8) for b in range(4)][:30]
    add(sched_case("sched/CosineAnnealingWarmRestarts-fractional-epochs",
                   lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01), epochs=frac))
    add(sched_case("sched/CosineAnnealingWarmRestarts-fractional-Tmult1",
                   lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3), epochs=frac))
    jumps = [3, 1, 7, 12, 0, 25, 5, 5, 19, 2] * 3
    for name, f in {"ConstantLR": lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=6),
                    "PolynomialLR": lambda L, o: L.PolynomialLR(o, total_iters=20, power=0.5)}.items():
        add(sched_case(f"sched/{name}-step-epoch", f, epochs=jumps))


def clip_case(name, norm_type, max_norm=1.0, fn="norm"):
    def run():
        res = {}
        for lname, T in LIBS.items():
            ps = [T.tensor(p.copy(), requires_grad=True) for p in P0]
            for p, n in zip(ps, NOISE[0]):
                p.grad = T.tensor(n * 3)
            if fn == "norm":
                ret = T.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
            else:
                ret = T.nn.utils.clip_grad_value_(ps, 0.5)
            res[lname] = (ret, [p.grad.numpy().copy() for p in ps])
        (rb, gb), (rt, gt) = res["blaze"], res["torch"]
        if (rt is None) != (rb is None):
            raise Mismatch(f"return blaze {rb!r} vs torch {rt!r}")
        if rt is not None:
            compare("return", rb, rt, 1e-12, 1e-10)
        for i, (b, t) in enumerate(zip(gb, gt)):
            compare(f"grad {i}", b, t, 1e-12, 1e-10)
    return name, run


def register(cases):
    """Add the optimizer / scheduler / clip cases to ``cases``."""
    optimizer_cases(cases.append)
    new_optimizer_cases(cases.append)
    scheduler_cases(cases.append)
    for nt in (2, 1, float("inf"), 3.0, "inf"):
        cases.append(clip_case(f"clip_grad_norm_/p={nt}", nt))
    cases.append(clip_case("clip_grad_norm_/no-clip", 2, max_norm=100.0))
    cases.append(clip_case("clip_grad_value_", 2, fn="value"))
