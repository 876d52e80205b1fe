"""Graph nodes. Every differentiable op is a ``Function`` whose forward and backward sit side by side.

``Function.apply`` runs ``forward`` and, when grad mode is on and some input requires grad,
records the call as a node of the graph: the Function instance itself is the ``ctx`` handed
to ``forward``/``backward`` and becomes the outputs' ``grad_fn``. Edges point at the
*producer node at call time* (``grad_fn`` or a leaf's ``AccumulateGrad``), not at tensors,
so an in-place op that later re-points a tensor's ``grad_fn`` cannot make a cycle.
"""
from __future__ import annotations

import weakref

from .grad_mode import _state, no_grad

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call .backward() "
    "or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time "
    "or if you need to access saved tensors after calling backward.")


_TENSOR = []
# While an in-place op computes its new value: (version counter of its "original self", nodes
# that saved a tensor on that counter). See Tensor._inplace_apply.
_WATCH = [None]
# blaze.onnx's tracer while an export runs, else None: Function.apply and Tensor._inplace report to it
_TRACING = [None]
_NO_GRADS = tuple((False,) * n for n in range(8))


def _tensor_cls():
    if not _TENSOR:
        from .._tensor import Tensor
        _TENSOR.append(Tensor)
    return _TENSOR[0]


class Node:
    """Base of graph nodes: edges to the producers of the inputs, output hooks."""

    next_functions: tuple = ()
    _hooks: dict | None = None
    _n_outputs = 1

    def name(self) -> str:
        return type(self).__name__ + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def register_hook(self, fn, output_index: int = 0):
        if self._hooks is None:
            self._hooks = {}
        self._hooks.setdefault(output_index, []).append(fn)
        return _RemovableHandle(self._hooks[output_index], fn)


class _RemovableHandle:
    def __init__(self, lst, fn):
        self._lst, self._fn = lst, fn

    def remove(self):
        if self._fn in self._lst:
            self._lst.remove(self._fn)


class AccumulateGrad(Node):
    """The node behind a leaf that requires grad: adds incoming gradients into ``.grad``.

    It holds its leaf weakly: leaf -> node -> leaf would be a reference cycle per leaf,
    left for the garbage collector (measured: GC pauses tripled median step time).
    """

    _post_hooks: list | None = None  # Tensor.register_post_accumulate_grad_hook: hook(leaf) after .grad is set

    def __init__(self, variable):
        self._ref = weakref.ref(variable)

    @property
    def variable(self):
        return self._ref()

    def name(self) -> str:
        return "AccumulateGrad"


class Function(Node):
    """Base class of differentiable ops, and of user-defined ops as in ``torch.autograd.Function``.

    Subclasses define ``forward(ctx, *args, **kwargs)`` and ``backward(ctx, *grad_outputs)`` as
    static methods; ``backward`` returns one gradient per positional input of ``forward``
    (``None`` for inputs that are not tensors or need no gradient).

    Example::

        class Exp(blaze.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, gy):
                (y,) = ctx.saved_tensors
                return gy * y
    """

    # Internal ops compute on raw arrays, so running them under no_grad is unnecessary.
    _internal = False
    _saved: tuple | None = None
    _freed = False
    _materialize_grads = True
    _non_differentiable: tuple = ()

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    def name(self) -> str:
        name = type(self).__name__  # PyTorch: MulBackward0 for its own ops, ExpBackward for a custom Function
        return name if name.endswith("Backward") else name + ("Backward0" if self._internal else "Backward")

    # -- ctx API ---------------------------------------------------------------------------
    def save_for_backward(self, *tensors) -> None:
        self._saved = tuple((t, t._version[0]) if t is not None else (None, 0) for t in tensors)
        w = _WATCH[0]
        if w is not None and any(t is not None and t._version is w[0] for t in tensors):
            w[1].append(self)

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        if self._saved is None:
            return ()
        out = []
        for i, entry in enumerate(self._saved):
            t, version = entry[0], entry[1]
            if len(entry) == 3:  # one of this node's outputs, saved without a reference cycle
                t = t._shallow_copy()
                t._set_grad_fn(self, entry[2])
            if t is not None and t._version[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{t._type_name()} {list(t.shape)}], which is output {t._out_idx} of "
                    f"{t.grad_fn.name() if t.grad_fn is not None else 'a leaf'}, is at version {t._version[0]}; "
                    f"expected version {version} instead. Hint: the saved tensor {i} of {self.name()} was "
                    "changed after the forward pass.")
            out.append(t)
        return tuple(out)

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tuple(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:  # accepted for API parity; in-place is tracked by versions
        pass

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize_grads = bool(value)

    # -- recording ---------------------------------------------------------------------------
    # ``apply`` is ``_apply`` itself; while blaze.profiler records, it is swapped for a
    # wrapper that times each call (so an unprofiled op pays nothing, not even a check).
    @classmethod
    def _apply(cls, *args, **kwargs):
        Tensor = _TENSOR[0] if _TENSOR else _tensor_cls()
        ctx = cls.__new__(cls)
        record = False
        if _state.enabled:
            for a in args:
                if isinstance(a, Tensor) and a._rg:
                    record = True
                    break
        if record:
            needs, edges = [], []
            for a in args:
                if isinstance(a, Tensor) and a._rg:
                    needs.append(True)
                    edges.append(a._edge())
                else:
                    needs.append(False)
                    edges.append(None)
            ctx.needs_input_grad = tuple(needs)
        else:
            ctx.needs_input_grad = _NO_GRADS[len(args)] if len(args) < 8 else (False,) * len(args)
        if cls._internal:
            out = cls.forward(ctx, *args, **kwargs)
        else:
            with no_grad():
                out = cls.forward(ctx, *args, **kwargs)
            out = _detach_outputs(out, args, Tensor)
        if _TRACING[0] is not None:
            _TRACING[0].function(cls, ctx, args, out)
        if not record:
            return out
        ctx.next_functions = tuple(edges)
        saved = ctx._saved
        if isinstance(out, tuple):
            ctx._n_outputs = len(out)
            ctx._out_meta = [(o.shape, o.dtype, o.device) if isinstance(o, Tensor) else None for o in out]
            for i, o in enumerate(out):
                if isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in ctx._non_differentiable:
                    o._set_grad_fn(ctx, i)
        elif isinstance(out, Tensor):  # a custom forward may return a non-tensor: handed back as is
            if id(out) not in ctx._non_differentiable:
                out._set_grad_fn(ctx, 0)
            ctx._out_dtype = out._dtype  # the engine casts the incoming gradient to it
            if not cls._internal:
                ctx._out_shape = out._data.shape
        if saved:
            ctx._saved = _unlink_outputs(saved, out, Tensor)
        return out

    apply = _apply


def _unlink_outputs(saved, out, Tensor):
    """Replace saved outputs (output -> grad_fn -> saved output is a cycle) by aliases without a graph.

    ``saved_tensors`` re-attaches them to this node, which is alive whenever it is unpacked.
    """
    outs = out if isinstance(out, tuple) else (out,)
    ids = {id(o): i for i, o in enumerate(outs) if isinstance(o, Tensor)}
    if not any(t is not None and id(t) in ids for t, _ in saved):
        return saved
    return tuple((t._shallow_copy(), v, ids[id(t)]) if t is not None and id(t) in ids else (t, v) for t, v in saved)


def _detach_outputs(out, args, Tensor):
    """A custom forward may return its inputs or views of them: give each output its own identity."""
    def fix(o):
        if isinstance(o, Tensor) and any(o is a for a in args):
            return o._shallow_copy()
        return o
    return tuple(fix(o) for o in out) if isinstance(out, tuple) else fix(out)


def once_differentiable(fn):
    """Decorator for a custom backward that is not itself differentiable (runs under no_grad)."""
    import functools

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with no_grad():
            return fn(ctx, *grads)
    return wrapper
