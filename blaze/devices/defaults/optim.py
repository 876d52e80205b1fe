"""Defaults of the ``optim`` group over the core tier: SGD, Adam/AdamW, RMSprop and Adagrad steps;
and of the ``foreach`` group: the same steps over lists (one primitive call, looping here),
zeroing and clipping a list of gradients.

Same arguments and in-place results as the cpu reference (blaze/devices/cpu/optim.py, which
follows PyTorch's ``_single_tensor_<name>``): the new values are computed in float32 (float64
stays float64) and written back into ``param`` and its state with ``assign``, which casts, so a
float16/bfloat16 parameter is rounded once per step, not once per op.
"""
from __future__ import annotations

import math
import numbers

from ._util import acc, dtype_of


def _sq(be, a):
    return be.binary("mul", a, a)


def _lerp(be, a, b, w):
    """a + w * (b - a): PyTorch's ``lerp_``."""
    return be.binary("add", a, be.binary("mul", be.binary("sub", b, a), w))


def _nth(step, i):
    """Parameter ``i``'s count: a shared int, or its own capturable count array."""
    return step[i] if isinstance(step, (list, tuple)) else step


class OptimDefaults:
    def _count(self, step) -> int:
        """The count a step uses: an int the caller already incremented, or a capturable step count
        (a 0-d array) incremented here; read on the host, so this default is not graph-capturable."""
        if isinstance(step, numbers.Number):
            return int(step)
        self.assign(step, self.binary("add", acc(self, step), 1.0))
        return int(self.to_numpy(step))

    def _grad(self, p, grad, maximize, weight_decay):
        g = acc(self, grad)
        if maximize:
            g = self.unary("neg", g)
        if weight_decay != 0:
            g = self.binary("add", g, self.binary("mul", p, weight_decay))
        return g

    def sgd_step(self, param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, first_step=False):
        p = acc(self, param)
        g = self._grad(p, grad, maximize, weight_decay)
        if momentum != 0:
            if first_step:  # buf = clone(grad): no dampening on the first step
                buf = g
            else:
                buf = self.binary("add", self.binary("mul", acc(self, momentum_buffer), momentum),
                                  self.binary("mul", g, 1 - dampening) if dampening != 0 else g)
            self.assign(momentum_buffer, buf)
            g = self.binary("add", g, self.binary("mul", buf, momentum)) if nesterov else buf
        self.assign(param, self.binary("sub", p, self.binary("mul", g, lr)))
        return param

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, step, max_exp_avg_sq=None, *, lr=1e-3,
                  betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
        beta1, beta2 = betas
        step = self._count(step)
        step_size = lr / (1 - beta1 ** step)    # bias corrections as float64 Python scalars, as PyTorch
        bc2_sqrt = math.sqrt(1 - beta2 ** step)
        p = acc(self, param)
        g = self._grad(p, grad, maximize, 0.0 if decoupled else weight_decay)
        if decoupled and weight_decay != 0:  # AdamW: decay the weights, not the gradient
            p = self.binary("mul", p, 1 - lr * weight_decay)
        m = _lerp(self, acc(self, exp_avg), g, 1 - beta1)
        v = self.binary("add", self.binary("mul", acc(self, exp_avg_sq), beta2), self.binary("mul", _sq(self, g), 1 - beta2))
        self.assign(exp_avg, m)
        self.assign(exp_avg_sq, v)
        if amsgrad:
            v = self.binary("maximum", acc(self, max_exp_avg_sq), v)
            self.assign(max_exp_avg_sq, v)
        denom = self.binary("add", self.binary("div", self.unary("sqrt", v), bc2_sqrt), eps)
        self.assign(param, self.binary("sub", p, self.binary("mul", self.binary("div", m, denom), step_size)))
        return param

    def rmsprop_step(self, param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr=1e-2, alpha=0.99,
                     eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        p = acc(self, param)
        g = self._grad(p, grad, maximize, weight_decay)
        sq = self.binary("add", self.binary("mul", acc(self, square_avg), alpha), self.binary("mul", _sq(self, g), 1 - alpha))
        self.assign(square_avg, sq)
        if centered:
            g_avg = _lerp(self, acc(self, grad_avg), g, 1 - alpha)
            self.assign(grad_avg, g_avg)
            sq = self.binary("sub", sq, _sq(self, g_avg))
        step = self.binary("div", g, self.binary("add", self.unary("sqrt", sq), eps))
        if momentum > 0:
            step = self.binary("add", self.binary("mul", acc(self, momentum_buffer), momentum), step)
            self.assign(momentum_buffer, step)
        self.assign(param, self.binary("sub", p, self.binary("mul", step, lr)))
        return param

    def adagrad_step(self, param, grad, state_sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                     maximize=False):
        p = acc(self, param)
        g = self._grad(p, grad, maximize, weight_decay)
        clr = lr / (1 + (self._count(step) - 1) * lr_decay)
        s = self.binary("add", acc(self, state_sum), _sq(self, g))
        self.assign(state_sum, s)
        std = self.binary("add", self.unary("sqrt", s), eps)
        self.assign(param, self.binary("sub", p, self.binary("mul", self.binary("div", g, std), clr)))
        return param

    # -- the foreach group: lists of arrays of one device and dtype ------------------------------
    def sgd_foreach(self, params, grads, momentum_buffers=None, *, lr, momentum=0.0, dampening=0.0,
                    nesterov=False, weight_decay=0.0, maximize=False, first_step=False):
        for i, (p, g) in enumerate(zip(params, grads)):
            self.sgd_step(p, g, None if momentum_buffers is None else momentum_buffers[i], lr=lr, momentum=momentum,
                          dampening=dampening, nesterov=nesterov, weight_decay=weight_decay, maximize=maximize,
                          first_step=first_step)

    def adam_foreach(self, params, grads, exp_avgs, exp_avg_sqs, step, max_exp_avg_sqs=None, *, lr=1e-3,
                     betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                     decoupled=False):
        for i, (p, g) in enumerate(zip(params, grads)):
            self.adam_step(p, g, exp_avgs[i], exp_avg_sqs[i], _nth(step, i),
                           None if max_exp_avg_sqs is None else max_exp_avg_sqs[i], lr=lr, betas=betas, eps=eps,
                           weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled=decoupled)

    def rmsprop_foreach(self, params, grads, square_avgs, grad_avgs=None, momentum_buffers=None, *, lr=1e-2,
                        alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        for i, (p, g) in enumerate(zip(params, grads)):
            self.rmsprop_step(p, g, square_avgs[i], None if grad_avgs is None else grad_avgs[i],
                              None if momentum_buffers is None else momentum_buffers[i], lr=lr, alpha=alpha, eps=eps,
                              weight_decay=weight_decay, momentum=momentum, centered=centered, maximize=maximize)

    def adagrad_foreach(self, params, grads, state_sums, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                        eps=1e-10, maximize=False):
        for i, (p, g, s) in enumerate(zip(params, grads, state_sums)):
            self.adagrad_step(p, g, s, _nth(step, i), lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                              maximize=maximize)

    def _zero_one(self, a):
        self.assign(a, self.full(tuple(a.shape), 0, dtype_of(a)))

    def zero_foreach(self, arrays):
        for a in arrays:
            self._zero_one(a)

    def clip_norm_foreach(self, arrays, max_norm, norm_type):
        """Scale ``arrays`` in place by min(1, max_norm / (norm + 1e-6)), norm their joint
        ``norm_type``-norm (``inf``: the largest magnitude); returns the norm, a 0-d array."""
        total = None
        for a in arrays:
            x = self.unary("abs", acc(self, a))
            if math.isinf(norm_type):
                part = self.reduce("amax", x, None, False)
                total = part if total is None else self.binary("maximum", total, part)
            else:
                part = self.reduce("sum", self.binary("pow", x, float(norm_type)), None, False)
                total = part if total is None else self.binary("add", total, part)
        if not math.isinf(norm_type):
            total = self.binary("pow", total, 1.0 / float(norm_type))
        coef = self.binary("minimum", self.binary("mul", self.binary("pow", self.binary("add", total, 1e-6), -1.0),
                                                  float(max_norm)), 1.0)
        for a in arrays:
            self.assign(a, self.binary("mul", acc(self, a), coef))
        return total
