"""Optimizer steps of the cuda device: the fused kernels of blaze/kernels/optim.py.

``*_step`` updates one parameter, ``*_foreach`` a list of them in one launch (a kernel walking
a table of pointers, blaze/kernels/multi_tensor.py). Operands the kernels cannot take as they
are (a non-contiguous parameter, state loaded in a dtype other than float32) go through a
contiguous float32 copy that is written back after the step.
"""
from __future__ import annotations

import numpy as np

from ...kernels import elementwise as _ew
from ..defaults.optim import OptimDefaults
from ...kernels import multi_tensor as _mt
from ...kernels import optim as _opt
from ...kernels.buffer import HostBuffer
from .memory import DeviceArray
from .memory import _contig_strides as _strides



class _MappedTable:
    """A multi-tensor table in pinned host memory mapped into the device's address space: the
    kernel reads its few KB over PCIe, and writing it is a host memcpy, not a CUDA copy, so a
    table first built inside a CUDA graph capture (where host-to-device copies are refused)
    is still fine."""

    def __init__(self, host: np.ndarray):
        from cuda.bindings import driver

        from .memory import _check
        self.dtype, self.shape, self.strides = host.dtype, host.shape, (1,)
        self._host = _check(driver.cuMemHostAlloc(host.nbytes, driver.CU_MEMHOSTALLOC_DEVICEMAP))
        np.ctypeslib.as_array((np.ctypeslib.ctypes.c_int64 * host.size).from_address(int(self._host)))[:] = host
        self._dev = int(_check(driver.cuMemHostGetDevicePointer(self._host, 0)))

    def data_ptr(self) -> int:
        return self._dev

    def __del__(self):
        try:
            from cuda.bindings import driver
            driver.cuMemFreeHost(self._host)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _table_buffer(host: np.ndarray):
    from .memory import device
    # emulated: the host array itself is what the interpreter reads (the mapped memory's analogue)
    return HostBuffer(host) if device().emulated else _MappedTable(host)


_mt.install_uploader(_table_buffer)


class _Flat:
    """Kernel operands for lists of arrays: contiguous aliases where possible, else copies that
    :meth:`write_back` returns to the originals after the in-place step."""

    def __init__(self, be):
        self.be, self.back = be, []

    def __call__(self, a, f32=False):
        if a is None:
            return None
        want = np.dtype(np.float32) if f32 else a.dtype
        if a.is_contiguous() and a.dtype == want:
            return a
        tmp = self.be.cast(a, want) if a.dtype != want else self.be.copy(a)
        self.back.append((tmp, a))
        return tmp

    def many(self, arrays, f32=False):
        return None if arrays is None else [self(a, f32) for a in arrays]

    def write_back(self):
        for flat, orig in self.back:
            _ew.copy(flat.view_as(orig.shape, _strides(orig.shape)), orig)


def _one(a):
    return None if a is None else [a]


class TritonOptimPrimitives:
    # -- one parameter ---------------------------------------------------------------------
    def sgd_step(self, param, grad, momentum_buffer=None, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
                 weight_decay=0.0, maximize=False, first_step=False):
        """In-place SGD step; momentum state is kept float32 inside the kernel."""
        self.sgd_foreach([param], [grad], _one(momentum_buffer), lr=lr, momentum=momentum, dampening=dampening,
                         nesterov=nesterov, weight_decay=weight_decay, maximize=maximize, first_step=first_step)
        return param

    def adam_step(self, param, grad, exp_avg, exp_avg_sq, step, max_exp_avg_sq=None, *, lr=1e-3,
                  betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False):
        """In-place Adam/AdamW step; state in a dtype other than float32 round-trips through float32 copies."""
        self.adam_foreach([param], [grad], [exp_avg], [exp_avg_sq], _opt._as_steps(step), _one(max_exp_avg_sq),
                          lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                          decoupled=decoupled)
        return param

    def rmsprop_step(self, param, grad, square_avg, grad_avg=None, momentum_buffer=None, *, lr=1e-2, alpha=0.99,
                     eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        """In-place RMSprop step; state in a dtype other than float32 round-trips through float32 copies."""
        self.rmsprop_foreach([param], [grad], [square_avg], _one(grad_avg), _one(momentum_buffer), lr=lr,
                             alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                             maximize=maximize)
        return param

    def adagrad_step(self, param, grad, state_sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                     maximize=False):
        """In-place Adagrad step; a state sum in a dtype other than float32 goes through a float32 copy."""
        self.adagrad_foreach([param], [grad], [state_sum], _opt._as_steps(step), lr=lr, lr_decay=lr_decay,
                             weight_decay=weight_decay, eps=eps, maximize=maximize)
        return param

    # -- a list of parameters of one dtype: one launch ----------------------------------------
    def sgd_foreach(self, params, grads, momentum_buffers=None, *, lr, momentum=0.0, dampening=0.0,
                    nesterov=False, weight_decay=0.0, maximize=False, first_step=False):
        f = _Flat(self)
        _opt.sgd_multi(f.many(params), f.many(grads), f.many(momentum_buffers if momentum != 0 else None, True),
                       lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                       maximize=maximize, first_step=first_step)
        f.write_back()

    def adam_foreach(self, params, grads, exp_avgs, exp_avg_sqs, step, max_exp_avg_sqs=None, *, lr=1e-3,
                     betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
                     decoupled=False):
        f = _Flat(self)
        _opt.adam_multi(f.many(params), f.many(grads), f.many(exp_avgs, True), f.many(exp_avg_sqs, True), step,
                        max_exp_avg_sqs=f.many(max_exp_avg_sqs if amsgrad else None, True), lr=lr, betas=betas,
                        eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize, decoupled=decoupled)
        f.write_back()

    def rmsprop_foreach(self, params, grads, square_avgs, grad_avgs=None, momentum_buffers=None, *, lr=1e-2,
                        alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
        f = _Flat(self)
        _opt.rmsprop_multi(f.many(params), f.many(grads), f.many(square_avgs, True),
                           grad_avgs=f.many(grad_avgs if centered else None, True),
                           momentum_buffers=f.many(momentum_buffers if momentum > 0 else None, True), lr=lr,
                           alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered,
                           maximize=maximize)
        f.write_back()

    def adagrad_foreach(self, params, grads, state_sums, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                        eps=1e-10, maximize=False):
        f = _Flat(self)
        _opt.adagrad_multi(f.many(params), f.many(grads), f.many(state_sums, True), step, lr=lr, lr_decay=lr_decay,
                           weight_decay=weight_decay, eps=eps, maximize=maximize)
        f.write_back()

    def zero_foreach(self, arrays):
        """Zero every array (one dtype): one launch for the contiguous float ones, a fill for the others."""
        fast = [a.is_contiguous() and str(a.dtype) in _mt.TL_DTYPES for a in arrays]
        _mt.zero_([a for a, f in zip(arrays, fast) if f])
        for a, f in zip(arrays, fast):
            if not f:
                self._zero_one(a)

    def clip_norm_foreach(self, arrays, max_norm, norm_type):
        """Scale ``arrays`` (one dtype) in place by min(1, max_norm / (norm + 1e-6)), norm
        their joint ``norm_type``-norm; returns it as a 0-d array. Three launches for contiguous float32/float16/
        bfloat16 arrays (the default's composition for others), no host sync."""
        if any(not a.is_contiguous() or str(a.dtype) not in _mt.TL_DTYPES for a in arrays):
            return OptimDefaults.clip_norm_foreach(self, arrays, max_norm, norm_type)
        total, coef = DeviceArray.empty((), np.float32), DeviceArray.empty((), np.float32)
        partials = DeviceArray.empty((_mt.partials_needed(arrays),), np.float32)
        _mt.clip_norm_(arrays, max_norm, norm_type, total, coef, partials)
        return total
