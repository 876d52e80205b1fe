"""``blaze.onnx.export``: trace the model once (twice with dynamic axes), translate each op through
the table in ``blaze/onnx/ops.py`` and write the model with the official ``onnx`` package."""
from __future__ import annotations

import itertools

import numpy as np

from ..device import CPU
from .._tensor import Tensor
from .tracer import Record, SymDim, Tracer, UnsupportedOperatorError, flat_tensors, merge_traces

DEFAULT_OPSET = 17  # LayerNormalization arrived in 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("blaze.onnx.export needs the onnx package: pip install 'blaze[onnx]' (onnx, "
                          "onnxruntime)") from None
    return onnx


class Graph:
    """Names, nodes and initializers of the ONNX graph being built; helpers the op table uses."""

    def __init__(self, onnx, opset, params, do_constant_folding):
        self.onnx, self.h, self.opset = onnx, onnx.helper, opset
        self.nodes, self.inits = [], []
        self.names: dict[int, str] = {}
        self.params = params                    # id(tensor) -> qualified parameter / buffer name
        self.consts: dict[int, Tensor] = {}     # folded values, emitted when first used
        self.live: set[int] = set()             # ids of tensors that depend on the graph inputs
        self.fold = do_constant_folding
        self.axes: list = []                    # (value in run 1, in run 2, input name, axis) per dynamic axis
        self._dims: dict = {}
        self.aliases: dict[int, Tensor] = {}   # id(array) -> the tensor the graph knows it as
        self.refused: dict[int, str] = {}      # outputs the graph cannot provide (max_pool2d's indices)
        self._ids = itertools.count()
        self.rec: Record | None = None

    def fresh(self, hint="t"):
        return f"{hint}_{next(self._ids)}"

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.fresh(op) for _ in range(n_out)]
        self.nodes.append(self.h.make_node(op, [i or "" for i in inputs], outs, name=self.fresh("n_" + op), **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, array, hint="const"):
        name = self.fresh(hint)
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values):
        return self.const(np.asarray(values, np.int64), "ints")

    def scalar(self, value, np_dtype):
        if isinstance(value, SymDim):
            return self.node("Cast", [self.node("Reshape", [self.dim(value), self.ints([])])],
                             to=self.h.np_dtype_to_tensor_dtype(np.dtype(np_dtype)))
        return self.const(np.asarray(value, np_dtype), "scalar")

    # -- tensors -----------------------------------------------------------------------------
    def value(self, t):
        """The ONNX name of a traced tensor: a computed value, a parameter, or a constant."""
        name = self.names.get(id(t))
        if name is not None:
            return name
        if id(t) in self.refused:
            rec = self.rec
            raise UnsupportedOperatorError(f"blaze.onnx.export: {self.refused[id(t)]} cannot be exported (used by "
                                           f"{rec.key} at {rec.path})")
        alias = self.aliases.get(id(t._data))
        if alias is not None and alias is not t and alias._version[0] == t._version[0]:
            return self.value(alias)  # t.detach() and the like: the same array under another Tensor
        if id(t) in self.params:
            name = self.params[id(t)]
        elif id(t) in self.consts:
            name = self.fresh("folded")
        else:
            name = self._dynamic_constant(t)
            if name is None and t.numel() > 1 and _uniform(t):  # zeros_like & co.: a scalar expanded
                name = self.node("Expand", [self.const(_host(t).reshape(-1)[:1].reshape(())), self.shape(t.shape)])
            if name is not None:
                self.names[id(t)] = name
                return name
            name = self.fresh("const")
        self.inits.append(self.onnx.numpy_helper.from_array(_host(t), name))
        self.names[id(t)] = name
        return name

    def check_constant(self, t):
        """Refuse a constant made in forward whose values differ between the runs (it follows the inputs)."""
        rec = self.rec
        if rec is None or rec.twin is None or id(t) in self.params or id(t) in self.consts or id(t) in self.live:
            return
        for a, b in zip(flat_tensors(rec.args), flat_tensors(rec.twin)):
            if a is t and a.shape == b.shape and not _same_values(a, b):
                raise UnsupportedOperatorError(
                    f"blaze.onnx.export: {rec.key} at {rec.path} uses a tensor of shape {list(a.shape)} computed from "
                    "the inputs outside the traced ops (argmax, nonzero, sort, .item(), .numpy() and the like are "
                    "not recorded); its traced value would be frozen into the graph")

    def _dynamic_constant(self, t):
        """A tensor made inside forward whose shape follows the inputs: ``arange(n)`` becomes Range.

        One whose values follow the inputs came from an op outside the trace: refused.
        """
        self.check_constant(t)
        rec = self.rec
        if rec is None or rec.twin is None:
            return None
        for a, b in zip(flat_tensors(rec.args), flat_tensors(rec.twin)):
            if a is t and a.shape != b.shape:
                if _uniform(a) and _uniform(b) and _same_values(a.reshape(-1)[:1], b.reshape(-1)[:1]):
                    shape = [x if x == y else SymDim(x, y) for x, y in zip(a.shape, b.shape)]
                    return self.node("Expand", [self.const(_host(a).reshape(-1)[:1].reshape(())), self.shape(shape)])
                if a.ndim == 1 and not a.dtype.is_floating_point and _is_arange(a) and _is_arange(b):
                    n = self.node("Squeeze", [self.dim(SymDim(a.shape[0], b.shape[0])), self.ints([0])])
                    zero, one = (self.const(np.asarray(v, a.dtype.np)) for v in (0, 1))
                    return self.node("Range", [zero, self.node("Cast", [n], to=self.h.np_dtype_to_tensor_dtype(
                        a.dtype.np)), one])
                raise UnsupportedOperatorError(
                    f"blaze.onnx.export: {rec.key} at {rec.path} uses a tensor of shape {list(a.shape)} created "
                    f"inside forward whose shape follows the input size ({list(b.shape)} in the second run); "
                    "only blaze.arange and uniform fills (zeros_like, full) of a dynamic size can be exported; build "
                    "other constants from the inputs")

    # -- sizes ---------------------------------------------------------------------------------
    def dim(self, v):
        """A 1-D int64 tensor of one element holding size ``v`` (a SymDim reads the inputs' shapes)."""
        if not isinstance(v, SymDim):
            return self.ints([int(v)])
        key = (int(v), v.other)
        if key not in self._dims:
            self._dims[key] = self._resolve(v)
        return self._dims[key]

    def _resolve(self, v):
        seen, uniq = set(), []
        for a, b, inp, ax, _ in self.axes:
            if (a, b) not in seen:
                seen.add((a, b))
                uniq.append((a, b, inp, ax))
        for n in range(1, min(3, len(uniq)) + 1):
            for combo in itertools.combinations(uniq, n):
                pa, pb = int(np.prod([c[0] for c in combo])), int(np.prod([c[1] for c in combo]))
                if int(v) % pa == 0 and v.other % pb == 0 and int(v) // pa == v.other // pb:
                    out = None
                    for _, _, inp, ax in combo:
                        d = self.node("Gather", [self.node("Shape", [inp]), self.ints([ax])], axis=0)
                        out = d if out is None else self.node("Mul", [out, d])
                    k = int(v) // pa
                    return out if k == 1 else self.node("Mul", [out, self.ints([k])])
        rec = self.rec
        raise UnsupportedOperatorError(
            f"blaze.onnx.export: {rec.key if rec else 'an op'} at {rec.path if rec else 'the model'} uses a size "
            f"({int(v)}, then {v.other}) that is no product of the dynamic axes")

    def shape(self, values):
        """A 1-D int64 shape tensor; static entries are constants, SymDims are computed."""
        if not any(isinstance(v, SymDim) for v in values):
            return self.ints([int(v) for v in values])
        return self.node("Concat", [self.dim(v) for v in values], axis=0)


def _uniform(t):
    a = _host(t)
    return a.size > 0 and bool((a == a.reshape(-1)[0]).all())


def _same_values(a, b):
    return np.array_equal(_host(a), _host(b), equal_nan=a.dtype.is_floating_point)


def _is_arange(t):
    a = t.detach().cpu()._data
    return np.array_equal(a, np.arange(a.shape[0]))


def _host(t):
    a = t.detach().cpu()._data
    return np.ascontiguousarray(a.astype(np.float32) if t.dtype.name == "bfloat16" else a)


def _as_args(args):
    if isinstance(args, Tensor):
        return (args,), {}
    args = tuple(args)
    if args and isinstance(args[-1], dict):  # PyTorch's convention: a trailing dict holds kwargs
        return args[:-1], dict(args[-1])
    return args, {}


def _second_inputs(args, kwargs, dynamic):
    """Inputs for run two: every dynamic axis grown (each named axis by its own step) and every value
    changed, so sizes and constants that follow the inputs show up as differences between the runs."""
    step = {}
    leaves = flat_tensors((args, kwargs))
    rng = np.random.default_rng(0)

    def grow(t, spec):
        a = t.detach().cpu()._data
        for ax, sym in (spec or {}).items():
            n = a.shape[ax]
            # axes named alike grow alike; unnamed ones (a list in dynamic_axes) grow alike when equal in size
            key = ("size", n) if "_dynamic_axes_" in sym else sym
            new = n + step.setdefault(key, len(step) + 1)
            a = np.take(a, np.arange(new) % max(n, 1), axis=ax)  # repeats valid values (token ids stay in range)
        # a permutation keeps integer inputs valid (token ids, class indices) and moves every arg-max
        a = rng.permutation(a.reshape(-1)).reshape(a.shape)
        if t.dtype.is_floating_point:
            a = a * 1.25 + 0.5
        return Tensor._make(np.ascontiguousarray(a, dtype=a.dtype), CPU, t.dtype).to(t.device)

    new = {id(t): grow(t, dynamic.get(i)) for i, t in enumerate(leaves)}

    def rebuild(o):
        if isinstance(o, Tensor):
            return new[id(o)]
        if isinstance(o, (tuple, list)):
            return type(o)(rebuild(x) for x in o)
        if isinstance(o, dict):
            return {k: rebuild(x) for k, x in o.items()}
        return o
    return rebuild(args), rebuild(kwargs)


def _dynamic_spec(dynamic_axes, names):
    """{leaf index: {axis: symbol}} from PyTorch's dynamic_axes ({name: {axis: symbol} | [axes]})."""
    spec = {}
    for name, axes in (dynamic_axes or {}).items():
        if not isinstance(axes, dict):
            axes = {int(a): f"{name}_dynamic_axes_{int(a) + 1}" for a in axes}
        spec[name] = {int(a): str(s) for a, s in axes.items()}
    return spec


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=None,
           do_constant_folding=True, kwargs=None, verbose=False):
    """Export ``model`` to ONNX by running it once on ``args`` (as ``torch.onnx.export``, TorchScript style).

    Args:
        model: a ``blaze.nn.Module`` (run in eval mode, without gradients; its mode is restored).
        args: a tensor or a tuple of inputs (nested tuples allowed; a trailing dict holds keyword inputs).
        f: a path or a binary file object to write the model to.
        input_names / output_names: names of the flattened input and output tensors.
        dynamic_axes: ``{name: {axis: "symbol"}}`` or ``{name: [axes]}`` for sizes that vary (batch, sequence).
        opset_version: ONNX opset, 17 (default) or later.
        do_constant_folding: precompute ops whose inputs are all parameters or constants.
    Raises:
        UnsupportedOperatorError: an op with no ONNX translation, naming the op and the module path.

    Example::

        >>> blaze.onnx.export(model, blaze.randn(1, 1, 28, 28), "model.onnx", input_names=["x"],
        ...                   output_names=["logits"], dynamic_axes={"x": {0: "batch"}})
    """
    from . import ops
    onnx = _onnx()
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if opset < 17:
        raise ValueError(f"blaze.onnx.export supports opset_version 17 or later, got {opset}")
    args, kw = _as_args(args)
    kw.update(kwargs or {})
    leaves = flat_tensors((args, kw))
    in_names = list(input_names or [])
    in_names += [f"input_{i}" for i in range(len(in_names), len(leaves))]
    spec = _dynamic_spec(dynamic_axes, in_names)
    unknown = set(spec) - set(in_names) - set(output_names or [])
    if unknown:
        raise ValueError(f"dynamic_axes names {sorted(unknown)} are neither input nor output names")
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        t1 = Tracer(model, ops.CAPTURED)
        out1 = t1.run(args, kw)
        records = t1.records
        a2, k2 = _second_inputs(args, kw, {i: spec[n] for i, n in enumerate(in_names) if n in spec})
        t2 = Tracer(model, ops.CAPTURED)
        try:
            out2 = t2.run(a2, k2)
        except UnsupportedOperatorError:
            raise
        except Exception as e:
            shapes = [list(t.shape) for t in flat_tensors((a2, k2))]
            raise RuntimeError(f"blaze.onnx.export runs the model a second time with the dynamic axes grown and the "
                               f"input values changed (input shapes {shapes}) to tell sizes and constants that follow "
                               f"the inputs; that run failed: {e}. Give axes that must stay equal the same name in "
                               "dynamic_axes") from e
        merge_traces(records, t2.records)
        leaves2 = flat_tensors((a2, k2))
    finally:
        for m, training in modes.items():
            m.training = training
    outs = flat_tensors(out1)
    params = {}
    for name, p in itertools.chain(model.named_parameters(), model.named_buffers()):
        params.setdefault(id(p), name)
    g = Graph(onnx, opset, params, do_constant_folding)
    g.aliases = {id(t._data): t for t in itertools.chain(leaves, model.parameters(), model.buffers())}
    g.aliases.update(t1.by_data)
    inputs = []
    for i, (t, name) in enumerate(zip(leaves, in_names)):
        g.names[id(t)] = name
        g.live.add(id(t))
        dims = list(t.shape)
        for ax, sym in spec.get(name, {}).items():
            dims[ax] = sym
            g.axes.append((t.shape[ax], leaves2[i].shape[ax], name, ax, sym))
        inputs.append(onnx.helper.make_tensor_value_info(name, _elem(onnx, t), dims))
    for rec in _needed(records, outs, g.aliases):
        g.rec = rec
        ops.translate(g, rec)
    g.rec = None
    out_names = list(output_names or [])
    out_names += [f"output_{i}" for i in range(len(out_names), len(outs))]
    outputs = []
    outs2 = flat_tensors(out2)
    for o, o2, name in zip(outs, outs2, out_names):
        g.nodes.append(onnx.helper.make_node("Identity", [g.value(o)], [name], name=g.fresh("n_output")))
        dims = [d if d == d2 else _axis_name(g, d, d2, spec.get(name, {}).get(ax), name, ax)
                for ax, (d, d2) in enumerate(zip(o.shape, o2.shape))]
        for ax, sym in spec.get(name, {}).items():
            dims[ax] = sym
        outputs.append(onnx.helper.make_tensor_value_info(name, _elem(onnx, o), dims))
    graph = onnx.helper.make_graph(g.nodes, type(model).__name__, inputs, outputs, g.inits)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="blaze", producer_version=_version())
    onnx.checker.check_model(proto)
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    onnx.save(proto, f)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))


def _version():
    from .. import __version__
    return __version__


def _elem(onnx, t):
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(np.float32) if t.dtype.name == "bfloat16" else t.dtype.np)


def _axis_name(g, a, b, given, out_name, ax):
    if given:
        return given
    for v1, v2, _, _, sym in g.axes:
        if (v1, v2) == (a, b):
            return sym
    return f"{out_name}_dim{ax}"


def _needed(records, outs, aliases):
    """The records whose outputs reach the model's outputs, in order (dead ops are not translated)."""
    need = set()

    def use(ts):
        for t in ts:
            need.add(id(t))
            if id(t._data) in aliases:
                need.add(id(aliases[id(t._data)]))
    use(outs)
    keep = []
    for rec in reversed(records):
        if any(id(o) in need for o in rec.outs if o is not None):
            keep.append(rec)
            use(rec.tensors())
    return keep[::-1]
