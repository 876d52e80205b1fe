"""Fused in-place optimizer steps (SGD, Adam, AdamW, RMSprop, Adagrad) over flat parameter/grad/state buffers.

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
from blaze.kernels.registry import Tunable, config_for, launch_options, register

FLOATS = ("float32", "float16", "bfloat16")


@triton.jit
def _sgd_kernel(p_ptr, g_ptr, buf_ptr, N, lr, momentum, dampening, weight_decay,
                HAS_WD: tl.constexpr, MOMENTUM: tl.constexpr, FIRST: tl.constexpr,
                NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # read p, g (+ buf unless FIRST); write p (+ buf)
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = offs < N
    p = tl.load(p_ptr + offs, mask=m).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=m).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    if MOMENTUM:
        if FIRST:          # PyTorch: buf = clone(grad) on the first step, no dampening
            buf = g
        else:
            buf = tl.load(buf_ptr + offs, mask=m) * momentum + (1.0 - dampening) * g
        tl.store(buf_ptr + offs, buf, mask=m)
        if NESTEROV:
            g = g + momentum * buf
        else:
            g = buf
    tl.store(p_ptr + offs, (p - lr * g).to(p_ptr.dtype.element_ty), mask=m)


@triton.jit
def _adam_kernel(p_ptr, g_ptr, m_ptr, v_ptr, vmax_ptr, N, lr, beta1, beta2, eps, weight_decay,
                 step_size, bc2_sqrt,
                 HAS_WD: tl.constexpr, DECOUPLED: tl.constexpr, AMSGRAD: tl.constexpr,
                 MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # read p, g, m, v (+ vmax); write p, m, v (+ vmax)
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
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
        v = tl.maximum(tl.load(vmax_ptr + offs, mask=mask), v)
        tl.store(vmax_ptr + offs, v, mask=mask)
    denom = tl.sqrt(v) / bc2_sqrt + eps
    tl.store(p_ptr + offs, (p - step_size * (m / denom)).to(p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rmsprop_kernel(p_ptr, g_ptr, sq_ptr, gavg_ptr, buf_ptr, N, lr, alpha, eps, weight_decay, momentum,
                    HAS_WD: tl.constexpr, CENTERED: tl.constexpr, MOMENTUM: tl.constexpr,
                    MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # read p, g, sq (+ gavg, + buf); write p, sq (+ gavg, + buf): 5-9 accesses per element
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    sq = tl.load(sq_ptr + offs, mask=mask) * alpha + (1.0 - alpha) * g * g   # mul_(alpha).addcmul_(g, g, 1-alpha)
    tl.store(sq_ptr + offs, sq, mask=mask)
    if CENTERED:       # grad_avg.lerp_(grad, 1 - alpha); avg = sqrt(square_avg - grad_avg^2)
        ga = tl.load(gavg_ptr + offs, mask=mask)
        ga = ga + (1.0 - alpha) * (g - ga)
        tl.store(gavg_ptr + offs, ga, mask=mask)
        sq = sq - ga * ga
    step = g / (tl.sqrt(sq) + eps)
    if MOMENTUM:       # buf.mul_(momentum).addcdiv_(grad, avg)
        step = tl.load(buf_ptr + offs, mask=mask) * momentum + step
        tl.store(buf_ptr + offs, step, mask=mask)
    tl.store(p_ptr + offs, (p - lr * step).to(p_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _adagrad_kernel(p_ptr, g_ptr, sum_ptr, N, clr, eps, weight_decay,
                    HAS_WD: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    # read p, g, sum; write p, sum: 5 accesses per element
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    p = tl.load(p_ptr + offs, mask=mask).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if HAS_WD:
        g = g + weight_decay * p
    acc = tl.load(sum_ptr + offs, mask=mask) + g * g                           # addcmul_(g, g, value=1)
    tl.store(sum_ptr + offs, acc, mask=mask)
    tl.store(p_ptr + offs, (p - clr * (g / (tl.sqrt(acc) + eps))).to(p_ptr.dtype.element_ty), mask=mask)


def _contiguous(buf) -> bool:
    want = 1
    for size, stride in reversed(list(zip(buf.shape, buf.strides))):
        if size != 1 and stride != want:
            return False
        want *= size
    return True


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
        if not _contiguous(buf):
            raise ValueError(f"{name}: fused optimizer steps need contiguous buffers, got strides {tuple(buf.strides)}")


def _launch(kernel, n, args, dtype, config, **flags):
    if n == 0:
        return
    cfg = config or config_for("optim", dict(numel=n, dtype=str(dtype)))
    meta, opts = launch_options(cfg)
    kernel[(triton.cdiv(n, meta["BLOCK"]),)](*args, **flags, **meta, **opts)


# PyTorch's wording for each hyper-parameter that must not be negative
_HYPER_NAMES = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
                "weight_decay": "weight_decay value", "alpha": "alpha value", "lr_decay": "lr_decay value"}


def _check_nonnegative(**values):
    for name, v in values.items():
        if v < 0:
            raise ValueError(f"Invalid {_HYPER_NAMES[name]}: {v}")


def sgd_step(param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
             weight_decay=0.0, maximize=False, first_step=False, config=None):
    """One in-place ``torch.optim.SGD`` step on a flat buffer.

    Args:
        param, grad: same shape, contiguous, float32/float16/bfloat16.
        momentum_buffer: float32, required when momentum != 0.
        first_step: the buffer does not exist yet: it is set to the (decayed) gradient,
            like PyTorch's ``buf = clone(grad)``, without dampening.
    Returns:
        param.
    """
    _check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_step: momentum != 0 needs a float32 momentum_buffer")
    states = [("momentum_buffer", momentum_buffer)] if momentum != 0 else []
    _check_flat(param, grad, states)
    _launch(_sgd_kernel, numel(param.shape),
            (param, grad, momentum_buffer if momentum != 0 else param, numel(param.shape),
             float(lr), float(momentum), float(dampening), float(weight_decay)),
            param.dtype, config, HAS_WD=weight_decay != 0, MOMENTUM=momentum != 0, FIRST=bool(first_step),
            NESTEROV=bool(nesterov), MAXIMIZE=bool(maximize))
    return param


def adam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, amsgrad=False, max_exp_avg_sq=None, maximize=False, decoupled=False,
              config=None):
    """One in-place ``torch.optim.Adam`` step (``decoupled=True``: AdamW) on a flat buffer.

    Args:
        param, grad: same shape, contiguous, float32/float16/bfloat16.
        exp_avg, exp_avg_sq (, max_exp_avg_sq with amsgrad): float32 state, zeros at step 1.
        step: the step count after this step's increment (1 on the first step); bias
            corrections 1 - beta**step are computed here in float64, as PyTorch does.
    Returns:
        param.
    """
    beta1, beta2 = betas
    _check_nonnegative(lr=lr, eps=eps, weight_decay=weight_decay)
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"Invalid beta parameters: {betas}")
    if int(step) < 1:
        raise ValueError(f"adam_step: step counts from 1, got {step}")
    if amsgrad and max_exp_avg_sq is None:
        raise ValueError("adam_step: amsgrad=True needs a float32 max_exp_avg_sq buffer")
    states = [("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    states += [("max_exp_avg_sq", max_exp_avg_sq)] if amsgrad else []
    _check_flat(param, grad, states)
    bc1 = 1.0 - beta1 ** int(step)
    bc2 = 1.0 - beta2 ** int(step)
    n = numel(param.shape)
    _launch(_adam_kernel, n,
            (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else exp_avg_sq, n,
             float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
             float(lr / bc1), math.sqrt(bc2)),
            param.dtype, config, HAS_WD=weight_decay != 0, DECOUPLED=bool(decoupled), AMSGRAD=bool(amsgrad),
            MAXIMIZE=bool(maximize))
    return param


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
               weight_decay=1e-2, amsgrad=False, max_exp_avg_sq=None, maximize=False, config=None):
    """One in-place ``torch.optim.AdamW`` step: :func:`adam_step` with decoupled weight decay
    (default 1e-2, like PyTorch)."""
    return adam_step(param, grad, exp_avg, exp_avg_sq, step, lr=lr, betas=betas, eps=eps,
                     weight_decay=weight_decay, amsgrad=amsgrad, max_exp_avg_sq=max_exp_avg_sq,
                     maximize=maximize, decoupled=True, config=config)


def rmsprop_step(param, grad, square_avg, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, grad_avg=None, momentum_buffer=None, config=None):
    """One in-place ``torch.optim.RMSprop`` step on a flat buffer.

    Args:
        param, grad: same shape, contiguous, float32/float16/bfloat16.
        square_avg: float32 state (zeros before step 1); grad_avg: float32, required when
            ``centered``; momentum_buffer: float32 (zeros before step 1), required when momentum > 0.
    Returns:
        param.
    """
    _check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
    if centered and grad_avg is None:
        raise ValueError("rmsprop_step: centered=True needs a float32 grad_avg buffer")
    if momentum > 0 and momentum_buffer is None:
        raise ValueError("rmsprop_step: momentum > 0 needs a float32 momentum_buffer")
    states = [("square_avg", square_avg)] + ([("grad_avg", grad_avg)] if centered else []) + \
        ([("momentum_buffer", momentum_buffer)] if momentum > 0 else [])
    _check_flat(param, grad, states)
    n = numel(param.shape)
    _launch(_rmsprop_kernel, n,
            (param, grad, square_avg, grad_avg if centered else square_avg,
             momentum_buffer if momentum > 0 else square_avg, n, float(lr), float(alpha), float(eps),
             float(weight_decay), float(momentum)),
            param.dtype, config, HAS_WD=weight_decay != 0, CENTERED=bool(centered), MOMENTUM=momentum > 0,
            MAXIMIZE=bool(maximize))
    return param


def adagrad_step(param, grad, state_sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 maximize=False, config=None):
    """One in-place ``torch.optim.Adagrad`` step on a flat buffer.

    Args:
        param, grad: same shape, contiguous, float32/float16/bfloat16.
        state_sum: float32 accumulator (``initial_accumulator_value`` before step 1).
        step: the step count after this step's increment (1 on the first step); the decayed
            rate lr / (1 + (step - 1) * lr_decay) is computed here in float64, as PyTorch does.
    Returns:
        param.
    """
    _check_nonnegative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
    if int(step) < 1:
        raise ValueError(f"adagrad_step: step counts from 1, got {step}")
    _check_flat(param, grad, [("state_sum", state_sum)])
    n = numel(param.shape)
    clr = lr / (1 + (int(step) - 1) * lr_decay)
    _launch(_adagrad_kernel, n, (param, grad, state_sum, n, float(clr), float(eps), float(weight_decay)),
            param.dtype, config, HAS_WD=weight_decay != 0, MAXIMIZE=bool(maximize))
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
