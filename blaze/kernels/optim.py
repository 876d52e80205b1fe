"""Fused in-place optimizer steps (SGD, Adam, AdamW, RMSprop, Adagrad) over lists of parameter/grad/state buffers.

One launch per list (``*_multi``; ``*_step`` is a list of one): each kernel walks a table of
tensors (blaze/kernels/multi_tensor.py), as PyTorch's ``fused=True`` steps do.

One pass per step: SGD reads p, g (+ momentum buffer) and writes p (+ buffer): 3-5 accesses per
element instead of the 6-10 of an unfused chain of Tensor ops. Adam reads p, g, m, v
(+ v_max) and writes p, m, v (+ v_max). RMSprop reads p, g, v (+ grad average, momentum
buffer) and writes the same set; Adagrad reads p, g, sum and writes p, sum. Math in float32
whatever the param/grad dtype; optimizer state is float32. The formulas are PyTorch's
single-tensor ones (torch/optim/sgd.py, adam.py, rmsprop.py, adagrad.py; AdamW = Adam with
decoupled weight decay), step by step.
"""
from __future__ import annotations

import math

import triton
import triton.language as tl

from blaze.kernels.buffer import check_buffer
from blaze.kernels.index import move_heuristic, numel
from blaze.kernels.multi_tensor import column, contiguous, locate, table, tl_dtype
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")


@triton.jit
def _bias_correction(log_beta, step):
    """1 - beta ** step = -expm1(step * ln(beta)), ``log_beta`` = ln(beta) from the host in float64.
    1 - exp(y) in float32 would cancel: beta2 = 0.999 at step 1 keeps 2 of 7 digits (PyTorch's
    capturable pow loses 1e-5 there); the Taylor series below |y| = 0.5 (next term < 3e-7
    relative) and 1 - exp(y) above it keep float32 accuracy."""
    y = step * log_beta
    x = tl.maximum(y, -0.5)                  # the unused branch stays finite
    series = -x * (1.0 + x * (1 / 2 + x * (1 / 6 + x * (1 / 24 + x * (1 / 120 + x * (1 / 720 + x / 5040))))))
    return tl.where(y > -0.5, series, 1.0 - tl.exp(y))


@triton.jit
def _count_kernel(tab, T, S: tl.constexpr):
    # program t: step count of tensor t (column S, float32) += 1; PyTorch's capturable
    # ``_foreach_add_(state_steps, 1)``. A separate launch: the update's programs all read the
    # new count, and a grid has no barrier after which one of them could write it.
    s_ptr = column(tab, S, T, tl.program_id(0).to(tl.int64), tl.float32)
    tl.store(s_ptr, tl.load(s_ptr) + 1.0)


@triton.jit
def _sgd_kernel(tab, T, P, lr, momentum, dampening, weight_decay,
                P_DT: tl.constexpr, G_DT: tl.constexpr, HAS_WD: tl.constexpr, MOMENTUM: tl.constexpr,
                FIRST: tl.constexpr, NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # columns p, g, buf; read p, g (+ buf unless FIRST); write p (+ buf)
    t, offs, m = locate(tab, T, P, BLOCK, 3)
    p_ptr = column(tab, 0, T, t, P_DT)
    p = tl.load(p_ptr + offs, mask=m).to(tl.float32)
    g = tl.load(column(tab, 1, T, t, G_DT) + offs, mask=m).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    if MOMENTUM:
        buf_ptr = column(tab, 2, T, t, tl.float32)
        if FIRST:          # PyTorch: buf = clone(grad) on the first step, no dampening
            buf = g
        else:
            buf = tl.load(buf_ptr + offs, mask=m) * momentum + (1.0 - dampening) * g
        tl.store(buf_ptr + offs, buf, mask=m)
        if NESTEROV:
            g = g + momentum * buf
        else:
            g = buf
    tl.store(p_ptr + offs, (p - lr * g).to(P_DT), mask=m)


@triton.jit
def _adam_kernel(tab, T, P, lr, beta1, beta2, eps, weight_decay, step_size, bc2_sqrt, log_beta1, log_beta2,
                 P_DT: tl.constexpr, G_DT: tl.constexpr, HAS_WD: tl.constexpr, DECOUPLED: tl.constexpr,
                 AMSGRAD: tl.constexpr, MAXIMIZE: tl.constexpr, DEVICE_STEP: tl.constexpr, BLOCK: tl.constexpr):
    # columns p, g, m, v, vmax, step; read p, g, m, v (+ vmax, + step); write p, m, v (+ vmax)
    t, offs, mask = locate(tab, T, P, BLOCK, 6)
    if DEVICE_STEP:    # capturable: bias corrections of the count on the device, in float32
        step = tl.load(column(tab, 5, T, t, tl.float32))
        step_size = lr / _bias_correction(log_beta1, step)
        bc2_sqrt = tl.sqrt(_bias_correction(log_beta2, step))
    p_ptr = column(tab, 0, T, t, P_DT)
    m_ptr = column(tab, 2, T, t, tl.float32)
    v_ptr = column(tab, 3, T, t, tl.float32)
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(column(tab, 1, T, t, G_DT) + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        if DECOUPLED:      # AdamW: shrink the weights, leave the gradient alone
            p = p * (1.0 - lr * weight_decay)
        else:              # Adam: L2 penalty folded into the gradient
            g = g + weight_decay * p
    m = tl.load(m_ptr + offs, mask=mask)
    m = m + (1.0 - beta1) * (g - m)                  # exp_avg.lerp_(grad, 1 - beta1)
    v = tl.load(v_ptr + offs, mask=mask) * beta2 + (1.0 - beta2) * g * g
    tl.store(m_ptr + offs, m, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    if AMSGRAD:
        vmax_ptr = column(tab, 4, T, t, tl.float32)
        v = tl.maximum(tl.load(vmax_ptr + offs, mask=mask), v)
        tl.store(vmax_ptr + offs, v, mask=mask)
    denom = tl.sqrt(v) / bc2_sqrt + eps
    tl.store(p_ptr + offs, (p - step_size * (m / denom)).to(P_DT), mask=mask)


@triton.jit
def _rmsprop_kernel(tab, T, P, lr, alpha, eps, weight_decay, momentum,
                    P_DT: tl.constexpr, G_DT: tl.constexpr, HAS_WD: tl.constexpr, CENTERED: tl.constexpr,
                    MOMENTUM: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # columns p, g, sq, gavg, buf; read p, g, sq (+ gavg, + buf); write p, sq (+ gavg, + buf)
    t, offs, mask = locate(tab, T, P, BLOCK, 5)
    p_ptr = column(tab, 0, T, t, P_DT)
    sq_ptr = column(tab, 2, T, t, tl.float32)
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(column(tab, 1, T, t, G_DT) + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    sq = tl.load(sq_ptr + offs, mask=mask) * alpha + (1.0 - alpha) * g * g   # mul_(alpha).addcmul_(g, g, 1-alpha)
    tl.store(sq_ptr + offs, sq, mask=mask)
    if CENTERED:       # grad_avg.lerp_(grad, 1 - alpha); avg = sqrt(square_avg - grad_avg^2)
        gavg_ptr = column(tab, 3, T, t, tl.float32)
        ga = tl.load(gavg_ptr + offs, mask=mask)
        ga = ga + (1.0 - alpha) * (g - ga)
        tl.store(gavg_ptr + offs, ga, mask=mask)
        sq = sq - ga * ga
    step = g / (tl.sqrt(sq) + eps)
    if MOMENTUM:       # buf.mul_(momentum).addcdiv_(grad, avg)
        buf_ptr = column(tab, 4, T, t, tl.float32)
        step = tl.load(buf_ptr + offs, mask=mask) * momentum + step
        tl.store(buf_ptr + offs, step, mask=mask)
    tl.store(p_ptr + offs, (p - lr * step).to(P_DT), mask=mask)


@triton.jit
def _adagrad_kernel(tab, T, P, clr, eps, weight_decay, lr_decay,
                    P_DT: tl.constexpr, G_DT: tl.constexpr, HAS_WD: tl.constexpr, MAXIMIZE: tl.constexpr,
                    DEVICE_STEP: tl.constexpr, BLOCK: tl.constexpr):
    # columns p, g, sum, step; read p, g, sum (+ step); write p, sum: 5 accesses per element
    t, offs, mask = locate(tab, T, P, BLOCK, 4)
    if DEVICE_STEP:    # capturable: clr = lr / (1 + (step - 1) * lr_decay), clr passed as lr
        clr = clr / (1.0 + (tl.load(column(tab, 3, T, t, tl.float32)) - 1.0) * lr_decay)
    p_ptr = column(tab, 0, T, t, P_DT)
    sum_ptr = column(tab, 2, T, t, tl.float32)
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(column(tab, 1, T, t, G_DT) + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    acc = tl.load(sum_ptr + offs, mask=mask) + g * g                           # addcmul_(g, g, value=1)
    tl.store(sum_ptr + offs, acc, mask=mask)
    tl.store(p_ptr + offs, (p - clr * (g / (tl.sqrt(acc) + eps))).to(P_DT), mask=mask)


def _check_flat(param, grad, states):
    check_buffer("param", param, dtypes=FLOATS)
    check_buffer("grad", grad, dtypes=FLOATS)
    named = [("param", param), ("grad", grad)]
    for name, buf in states:
        check_buffer(name, buf, dtypes=("float32",))
        named.append((name, buf))
    for name, buf in named:
        if tuple(buf.shape) != tuple(param.shape):
            raise ValueError(f"{name}: shape {tuple(buf.shape)} differs from param shape {tuple(param.shape)}")
        if not contiguous(buf):
            raise ValueError(f"{name}: fused optimizer steps need contiguous buffers, got strides {tuple(buf.strides)}")


def _columns(params, grads, named_states):
    """Validate the lists and return the kernel's columns (a missing state column repeats params:
    the kernel's flags keep it unread)."""
    named = [(name, None if col is None else list(col)) for name, col in named_states]
    for name, col in [("grads", grads)] + named:
        if col is not None and len(col) != len(params):
            raise ValueError(f"{name}: {len(col)} tensors for {len(params)} params")
    for i, (p, g) in enumerate(zip(params, grads)):
        _check_flat(p, g, [(name, col[i]) for name, col in named if col is not None])
    for name, col in (("params", params), ("grads", grads)):
        if len({str(b.dtype) for b in col}) > 1:
            raise ValueError(f"{name}: one dtype per multi-tensor step, got {sorted({str(b.dtype) for b in col})}")
    return [list(params), list(grads)] + [col if col is not None else list(params) for _, col in named]


def _launch(kernel, columns, scalars, config, count=None, **flags):
    """One launch over every tensor of ``columns`` (blaze/kernels/multi_tensor.py's table); with
    ``count`` (the index of a column of step counts, capturable) one launch adds 1 to each first."""
    n = sum(numel(b.shape) for b in columns[0])
    if count is None and n == 0:
        return
    cfg = config or config_for("optim", dict(numel=max(n, 1), dtype=str(columns[0][0].dtype)))
    meta, opts = launch_options(cfg)
    tab, T, P = table(columns, meta["BLOCK"])
    if count is not None:
        _count_kernel[(T,)](tab, T, S=count)
    if P:
        kernel[(P,)](tab, T, P, *map(float, scalars), P_DT=tl_dtype(columns[0][0]), G_DT=tl_dtype(columns[1][0]),
                     **flags, **meta, **opts)


def _step_column(step, params):
    """(column, on device) for a step argument: an int count (host; the column repeats params,
    unread), or capturable float32 one-element buffers, one per param, counting on the device."""
    if not isinstance(step, (list, tuple)):
        return list(params), False
    if len(step) != len(params):
        raise ValueError(f"steps: {len(step)} tensors for {len(params)} params")
    for s in step:
        check_buffer("step", s, dtypes=("float32",))
        if numel(s.shape) != 1:
            raise ValueError(f"step: a capturable step count has one element, got shape {tuple(s.shape)}")
    return list(step), True


# PyTorch's wording for each hyper-parameter that must not be negative
_HYPER_NAMES = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
                "weight_decay": "weight_decay value", "alpha": "alpha value", "lr_decay": "lr_decay value"}


def _check_nonnegative(**values):
    for name, v in values.items():
        if v < 0:
            raise ValueError(f"Invalid {_HYPER_NAMES[name]}: {v}")


def sgd_multi(params, grads, momentum_buffers=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
              weight_decay=0.0, maximize=False, first_step=False, config=None):
    """One in-place ``torch.optim.SGD`` step on lists of buffers: one launch.

    Args:
        params, grads: lists of contiguous buffers (pairwise same shape), one float dtype each.
        momentum_buffers: float32 list, required when momentum != 0.
        first_step: the buffers do not hold a momentum yet: they are set to the (decayed)
            gradient, like PyTorch's ``buf = clone(grad)``, without dampening.
    """
    _check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    if momentum != 0 and (momentum_buffers is None or any(b is None for b in momentum_buffers)):
        raise ValueError("sgd_step: momentum != 0 needs a float32 momentum_buffer")
    cols = _columns(params, grads, [("momentum_buffer", momentum_buffers if momentum != 0 else None)])
    _launch(_sgd_kernel, cols, (lr, momentum, dampening, weight_decay), config, HAS_WD=weight_decay != 0,
            MOMENTUM=momentum != 0, FIRST=bool(first_step), NESTEROV=bool(nesterov), MAXIMIZE=bool(maximize))


def sgd_step(param, grad, momentum_buffer=None, **kw):
    """:func:`sgd_multi` on one buffer (``momentum_buffer`` float32, required when momentum != 0).
    Returns param."""
    sgd_multi([param], [grad], None if momentum_buffer is None else [momentum_buffer], **kw)
    return param


def adam_multi(params, grads, exp_avgs, exp_avg_sqs, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=0.0, amsgrad=False, max_exp_avg_sqs=None, maximize=False, decoupled=False,
               config=None):
    """One in-place ``torch.optim.Adam`` step (``decoupled=True``: AdamW) on lists of buffers: one launch.

    Args:
        params, grads: lists of contiguous buffers (pairwise same shape), one float dtype each.
        exp_avgs, exp_avg_sqs (, max_exp_avg_sqs with amsgrad): float32 state, zeros at step 1.
        step: the step count of every tensor after this step's increment (1 on the first step);
            bias corrections 1 - beta**step are computed here in float64, as PyTorch does. Or
            (PyTorch's ``capturable=True``) a list of float32 one-element buffers, one per param,
            holding the counts before this step: one more launch increments them and the kernel
            computes the bias corrections from them in float32, so a CUDA graph replay advances them.
    """
    beta1, beta2 = betas
    _check_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"Invalid beta parameters: {betas}")
    steps, on_device = _step_column(step, params)
    if not on_device and int(step) < 1:
        raise ValueError(f"adam_step: step counts from 1, got {step}")
    if amsgrad and (max_exp_avg_sqs is None or any(b is None for b in max_exp_avg_sqs)):
        raise ValueError("adam_step: amsgrad=True needs a float32 max_exp_avg_sq buffer")
    cols = _columns(params, grads, [("exp_avg", exp_avgs), ("exp_avg_sq", exp_avg_sqs),
                                    ("max_exp_avg_sq", max_exp_avg_sqs if amsgrad else None)])
    bc1 = 1.0 - beta1 ** (1 if on_device else int(step))
    bc2 = 1.0 - beta2 ** (1 if on_device else int(step))
    logs = tuple(math.log(b) if b > 0 else -1e4 for b in betas)      # beta 0: exp(-1e4 * step) is 0
    _launch(_adam_kernel, cols + [steps], (lr, beta1, beta2, eps, weight_decay, lr / bc1, math.sqrt(bc2)) + logs,
            config, count=len(cols) if on_device else None, HAS_WD=weight_decay != 0, DECOUPLED=bool(decoupled),
            AMSGRAD=bool(amsgrad), MAXIMIZE=bool(maximize), DEVICE_STEP=on_device)


def _as_steps(step):
    """A single-tensor step's count: an int, or one capturable count buffer (made a list of one)."""
    return [step] if hasattr(step, "data_ptr") else step


def adam_step(param, grad, exp_avg, exp_avg_sq, step, *, max_exp_avg_sq=None, **kw):
    """:func:`adam_multi` on one buffer (``step``: an int, or a capturable count buffer). Returns param."""
    adam_multi([param], [grad], [exp_avg], [exp_avg_sq], _as_steps(step),
               max_exp_avg_sqs=None if max_exp_avg_sq is None else [max_exp_avg_sq], **kw)
    return param


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=1e-2, amsgrad=False, max_exp_avg_sq=None, maximize=False, config=None):
    """One in-place ``torch.optim.AdamW`` step: :func:`adam_step` with decoupled weight decay
    (default 1e-2, like PyTorch)."""
    return adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=lr, betas=betas, eps=eps,
                     weight_decay=weight_decay, amsgrad=amsgrad, max_exp_avg_sq=max_exp_avg_sq,
                     maximize=maximize, decoupled=True, config=config)


def rmsprop_multi(params, grads, square_avgs, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                  centered=False, maximize=False, grad_avgs=None, momentum_buffers=None, config=None):
    """One in-place ``torch.optim.RMSprop`` step on lists of buffers: one launch.

    Args:
        params, grads: lists of contiguous buffers (pairwise same shape), one float dtype each.
        square_avgs: float32 state (zeros before step 1); grad_avgs: float32, required when
            ``centered``; momentum_buffers: float32 (zeros before step 1), required when momentum > 0.
    """
    _check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
    if centered and (grad_avgs is None or any(b is None for b in grad_avgs)):
        raise ValueError("rmsprop_step: centered=True needs a float32 grad_avg buffer")
    if momentum > 0 and (momentum_buffers is None or any(b is None for b in momentum_buffers)):
        raise ValueError("rmsprop_step: momentum > 0 needs a float32 momentum_buffer")
    cols = _columns(params, grads, [("square_avg", square_avgs), ("grad_avg", grad_avgs if centered else None),
                                    ("momentum_buffer", momentum_buffers if momentum > 0 else None)])
    _launch(_rmsprop_kernel, cols, (lr, alpha, eps, weight_decay, momentum), config, HAS_WD=weight_decay != 0,
            CENTERED=bool(centered), MOMENTUM=momentum > 0, MAXIMIZE=bool(maximize))


def rmsprop_step(param, grad, square_avg, *, grad_avg=None, momentum_buffer=None, **kw):
    """:func:`rmsprop_multi` on one buffer. Returns param."""
    rmsprop_multi([param], [grad], [square_avg], grad_avgs=None if grad_avg is None else [grad_avg],
                  momentum_buffers=None if momentum_buffer is None else [momentum_buffer], **kw)
    return param


def adagrad_multi(params, grads, state_sums, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                  maximize=False, config=None):
    """One in-place ``torch.optim.Adagrad`` step on lists of buffers: one launch.

    Args:
        params, grads: lists of contiguous buffers (pairwise same shape), one float dtype each.
        state_sums: float32 accumulators (``initial_accumulator_value`` before step 1).
        step: the step count after this step's increment (1 on the first step); the decayed
            rate lr / (1 + (step - 1) * lr_decay) is computed here in float64, as PyTorch does.
            Or capturable count buffers, as :func:`adam_multi`'s (the rate in float32 on the device).
    """
    _check_nonnegative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
    steps, on_device = _step_column(step, params)
    if not on_device and int(step) < 1:
        raise ValueError(f"adagrad_step: step counts from 1, got {step}")
    cols = _columns(params, grads, [("state_sum", state_sums)])
    clr = lr if on_device else lr / (1 + (int(step) - 1) * lr_decay)
    _launch(_adagrad_kernel, cols + [steps], (clr, eps, weight_decay, lr_decay), config,
            count=len(cols) if on_device else None, HAS_WD=weight_decay != 0, MAXIMIZE=bool(maximize),
            DEVICE_STEP=on_device)


def adagrad_step(param, grad, state_sum, step, **kw):
    """:func:`adagrad_multi` on one buffer (``step``: an int, or a capturable count buffer). Returns param."""
    adagrad_multi([param], [grad], [state_sum], _as_steps(step), **kw)
    return param


def _make_optim_problem(problem, new_buffer):
    n = problem["numel"]
    p, g = new_buffer((n,), problem.get("dtype", "float32")), new_buffer((n,), problem.get("dtype", "float32"))
    m, v = new_buffer((n,), "float32"), new_buffer((n,), "float32")
    # random-filled v may be negative and give NaN params: the timing of a memory-bound pass is the same
    return lambda config: adam_step(p, g, m, v, 1, config=config)


OPTIM = register(Tunable(
    name="optim",
    configs=[dict(BLOCK=b, num_warps=w) for b in (512, 1024, 2048, 4096) for w in (2, 4, 8)],
    heuristic=move_heuristic,
    make_problem=_make_optim_problem,
    doc="fused SGD / Adam / AdamW / RMSprop / Adagrad steps over flat float32 buffers",
    problem_keys=("numel", "dtype"),
))
