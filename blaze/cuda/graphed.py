"""Graphed callables and a graphed training step, built on blaze/cuda/graphs.py's CUDAGraph.

``make_graphed_callables`` follows ``torch.cuda.make_graphed_callables``: forward and backward of
each callable in two graphs, wrapped in an autograd Function. ``GraphedTrainStep`` is PyTorch's
whole-network capture recipe (warm up, ``zero_grad(set_to_none=True)``, capture forward +
backward + ``optimizer.step()``, then copy new data into the static inputs and replay) in one object.
"""
from __future__ import annotations

from ..autograd import grad as _autograd_grad
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from .._tensor import Tensor
from .graphs import CUDAGraph, graph, graph_pool_handle

def _params(fn):
    return [p for p in fn.parameters() if p.requires_grad] if hasattr(fn, "parameters") else []


def _static(t: Tensor) -> Tensor:
    s = t.detach().clone()
    return s.requires_grad_(t.requires_grad)


def _graph_one(fn, args, num_warmup_iters, pool):
    params = _params(fn)
    diff = [a for a in args if a.requires_grad] + params
    for _ in range(num_warmup_iters):             # compiles kernels, picks configs, uploads tables
        outs = _as_tuple(fn(*args))
        _grads_of(outs, diff)
    static_in = [_static(a) for a in args]
    diff_in = [a for a in static_in if a.requires_grad] + params
    fwd, bwd = CUDAGraph(), CUDAGraph()
    with graph(fwd, pool=pool):
        static_out = _as_tuple(fn(*static_in))
    static_gout = [o.detach().clone() if o.requires_grad else None for o in static_out]
    with graph(bwd, pool=pool):
        static_gin = _grads_of(static_out, diff_in, static_gout)
    n_in = len(static_in)

    class Graphed(Function):
        @staticmethod
        def forward(ctx, *inputs):
            with no_grad():
                for s, x in zip(static_in, inputs[:n_in]):
                    if s is not x:
                        s.copy_(x)
            fwd.replay()
            return tuple(o.detach() for o in static_out)

        @staticmethod
        def backward(ctx, *gouts):
            with no_grad():
                for s, g in zip(static_gout, gouts):
                    if s is not None and g is not None:
                        s.copy_(g)
            bwd.replay()
            it = iter(static_gin)
            grads = [next(it) if s.requires_grad else None for s in static_in] + [next(it) for _ in params]
            return tuple(None if g is None else g.detach().clone() for g in grads)

    def graphed(*inputs):
        outs = Graphed.apply(*inputs, *params)
        return outs[0] if len(outs) == 1 else outs
    return graphed


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _grads_of(outs, wrt, gouts=None):
    outs_g = [(o, None if gouts is None else gouts[i]) for i, o in enumerate(outs) if o.requires_grad]
    if not outs_g or not wrt:
        return []
    from ..ops.creation import ones_like
    gs = [g if g is not None else ones_like(o) for o, g in outs_g]
    got = _autograd_grad([o for o, _ in outs_g], wrt, grad_outputs=gs, allow_unused=True)
    return [g if g is not None else _zeros_like(w) for g, w in zip(got, wrt)]


def _zeros_like(t):
    from ..ops.creation import zeros_like
    return zeros_like(t)


def graphed_callables(callables, sample_args, num_warmup_iters=3):
    single = not isinstance(callables, tuple)
    fns = (callables,) if single else callables
    args = (sample_args,) if single else sample_args
    if len(fns) != len(args):
        raise ValueError(f"make_graphed_callables: {len(fns)} callables but {len(args)} sample_args tuples")
    pool = graph_pool_handle()
    out = []
    for fn, a in zip(fns, args):
        if not all(isinstance(t, Tensor) and t.device.type == "cuda" for t in a):
            raise TypeError("make_graphed_callables: sample_args must be tuples of cuda Tensors")
        g = _graph_one(fn, tuple(a), num_warmup_iters, pool)
        if hasattr(fn, "forward"):
            fn.forward = g
            g = fn
        out.append(g)
    return out[0] if single else tuple(out)


class GraphedTrainStep:
    """A fixed-shape training step captured into one CUDA graph (PyTorch's whole-network recipe).

    Args:
        model: the module (its parameters are updated in place).
        loss_fn: ``loss_fn(model, *inputs) -> scalar loss``.
        optimizer: any blaze optimizer. SGD, RMSprop, Adam, AdamW and Adagrad steps are captured
            too: Adam's, AdamW's and Adagrad's groups get ``capturable=True`` here (their step counts
            move to the device, so each replay advances them). Optimizers whose step count is read
            on the host (Adamax, NAdam, ... : blaze's composed ones) step eagerly after each replay.
        sample_inputs: cuda tensors of the step's fixed shapes (the static inputs start as copies).
        num_warmup_iters: eager steps before the capture (real training steps, as in PyTorch's recipe).

    Calling the object copies its arguments into the static inputs, replays, and returns the
    static loss tensor (overwritten by the next call)::

        step = blaze.cuda.GraphedTrainStep(model, lambda m, x, y: F.cross_entropy(m(x), y), opt, (x0, y0))
        for x, y in loader:
            loss = step(x, y)
    """

    def __init__(self, model, loss_fn, optimizer, sample_inputs, num_warmup_iters: int = 3):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.static_inputs = [t.detach().clone() for t in sample_inputs]
        # PyTorch's recipe asks the user for capturable=True; this object exists to capture the whole
        # step, and capturable changes only where the count lives (and rounds the bias corrections
        # in float32), so it turns it on rather than refusing the optimizer
        self.captures_optimizer = optimizer._graph_capture != "never"
        if optimizer._graph_capture == "capturable":
            optimizer._enable_capturable()
        self.warmup_losses = [self._eager_step().item() for _ in range(num_warmup_iters)]
        optimizer.zero_grad(set_to_none=True)  # the capture allocates .grad in the graph's pool
        self.graph = CUDAGraph()
        with graph(self.graph):
            self.static_loss = self.loss_fn(self.model, *self.static_inputs)
            self.static_loss.backward()
            if self.captures_optimizer:
                self.optimizer.step()

    def _eager_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model, *self.static_inputs)
        loss.backward()
        self.optimizer.step()
        return loss

    def __call__(self, *inputs) -> Tensor:
        with no_grad():
            for s, x in zip(self.static_inputs, inputs):
                s.copy_(x)
        self.graph.replay()
        if not self.captures_optimizer:
            self.optimizer.step()
        return self.static_loss
