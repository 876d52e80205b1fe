"""Optimizer steps of the CPU backend: the NumPy reference the fused kernels (kernels/optim.py) match.

Same names, arguments and in-place results as the cuda primitives: ``sgd_step``, ``adam_step``,
``rmsprop_step``, ``adagrad_step`` update ``param`` and its state arrays in place. float32 and
float64 arrays are updated in their own memory; float16/bfloat16 ones through float32 copies
written back once (NumPy's half math is slow and would round every op), as the kernels do.
Each body follows PyTorch's ``_single_tensor_<name>`` line by line (torch/optim/<name>.py).
"""
from __future__ import annotations

import math

import numpy as np


def _open(a):
    """The array to compute on: ``a`` itself for float32/float64, else a float32 copy."""
    return a if a is None or a.dtype in (np.float32, np.float64) else a.astype(np.float32)


def _close(a, work) -> None:
    if work is not a:
        a[...] = work


def _count(step) -> int:
    """The count a step uses: an int the caller already incremented, or a capturable step count
    (a 0-d array: the host copy of a device one, in a counted round trip) incremented here."""
    if isinstance(step, np.ndarray):
        step += 1
    return int(step)


def _grad(p, g, maximize, weight_decay):
    """The update's gradient: negated for ``maximize``, plus coupled L2 decay (a new array if changed)."""
    g = _open(g)
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    return g


class NumpyOptimPrimitives:
    def sgd_step(self, param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, first_step=False):
        p = _open(param)
        g = _grad(p, grad, maximize, weight_decay)
        if momentum != 0:
            buf = _open(momentum_buffer)
            if first_step:  # buf = clone(grad): no dampening on the first step
                np.copyto(buf, g)
            else:
                buf *= momentum
                buf += (1 - dampening) * g if dampening != 0 else g
            _close(momentum_buffer, buf)
            g = g + momentum * buf if nesterov else buf
        p -= lr * g
        _close(param, p)
        return param

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, step, max_exp_avg_sq=None, *, lr=1e-3,
                  betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
        beta1, beta2 = betas
        # bias corrections in float64 Python scalars, as PyTorch's non-capturable path
        step = _count(step)
        step_size = lr / (1 - beta1 ** step)
        bc2_sqrt = math.sqrt(1 - beta2 ** step)
        p = _open(param)
        g = _grad(p, grad, maximize, 0.0 if decoupled else weight_decay)
        if decoupled and weight_decay != 0:  # AdamW: decay the weights, not the gradient
            p *= 1 - lr * weight_decay
        m, v = _open(exp_avg), _open(exp_avg_sq)
        tmp = np.subtract(g, m)            # exp_avg.lerp_(grad, 1 - beta1)
        tmp *= 1 - beta1
        m += tmp
        np.multiply(g, g, out=tmp)         # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp
        if amsgrad:
            vmax = _open(max_exp_avg_sq)
            np.maximum(vmax, v, out=vmax)
            _close(max_exp_avg_sq, vmax)
            np.sqrt(vmax, out=tmp)
        else:
            np.sqrt(v, out=tmp)
        tmp /= bc2_sqrt                    # denom = sqrt(v) / sqrt(bc2) + eps
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size                   # param.addcdiv_(exp_avg, denom, value=-step_size)
        p -= tmp
        _close(exp_avg, m)
        _close(exp_avg_sq, v)
        _close(param, p)
        return param

    def rmsprop_step(self, param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr=1e-2, alpha=0.99,
                     eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        p = _open(param)
        g = _grad(p, grad, maximize, weight_decay)
        sq = _open(square_avg)
        tmp = np.multiply(g, g)            # square_avg.mul_(alpha).addcmul_(grad, grad, 1 - alpha)
        tmp *= 1 - alpha
        sq *= alpha
        sq += tmp
        _close(square_avg, sq)
        if centered:
            g_avg = _open(grad_avg)
            np.subtract(g, g_avg, out=tmp)  # grad_avg.lerp_(grad, 1 - alpha)
            tmp *= 1 - alpha
            g_avg += tmp
            _close(grad_avg, g_avg)
            np.multiply(g_avg, g_avg, out=tmp)  # avg = sqrt(square_avg - grad_avg^2)
            np.subtract(sq, tmp, out=tmp)
            avg = np.sqrt(tmp, out=tmp)
        else:
            avg = np.sqrt(sq, out=tmp)
        avg += eps
        np.divide(g, avg, out=avg)         # grad / avg
        if momentum > 0:
            buf = _open(momentum_buffer)
            buf *= momentum                # buf.mul_(momentum).addcdiv_(grad, avg)
            buf += avg
            _close(momentum_buffer, buf)
            np.multiply(buf, lr, out=avg)
        else:
            avg *= lr                      # param.addcdiv_(grad, avg, value=-lr)
        p -= avg
        _close(param, p)
        return param

    def adagrad_step(self, param, grad, state_sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                     maximize=False):
        p = _open(param)
        g = _grad(p, grad, maximize, weight_decay)
        clr = lr / (1 + (_count(step) - 1) * lr_decay)
        acc = _open(state_sum)
        tmp = np.multiply(g, g)            # state_sum.addcmul_(grad, grad, value=1)
        acc += tmp
        _close(state_sum, acc)
        np.sqrt(acc, out=tmp)              # std = sqrt(sum) + eps
        tmp += eps
        np.divide(g, tmp, out=tmp)         # param.addcdiv_(grad, std, value=-clr)
        tmp *= clr
        p -= tmp
        _close(param, p)
        return param
