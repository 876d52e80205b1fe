"""The backward engine: a topological walk of the recorded graph, in reverse.

Gradients are ordinary Tensors, and each node's backward runs with grad mode set to
``create_graph``, so the backward pass itself is recorded when asked (double backward).
"""
from __future__ import annotations

from .function import _FREED_MSG, AccumulateGrad, _tensor_cls
from .grad_mode import set_grad_enabled


def _topo_order(roots):
    """Nodes reachable from ``roots``, each after every node that feeds it a gradient."""
    order, seen = [], set()
    for root in roots:
        if root is None or id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.next_functions))]
        while stack:
            node, it = stack[-1]
            for edge in it:
                if edge is not None and id(edge[0]) not in seen:
                    seen.add(id(edge[0]))
                    stack.append((edge[0], iter(edge[0].next_functions)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()  # producers after consumers: reverse post-order
    return order


def _check_grad(node, i, g, t_shape):
    if g is not None and t_shape is not None and tuple(g.shape) != tuple(t_shape):
        raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - got "
                           f"{list(g.shape)} but expected shape compatible with {list(t_shape)}")


def _edge_dtype(edge):
    node, idx = edge
    dtype = getattr(node, "_out_dtype", None)
    if dtype is None:
        meta = getattr(node, "_out_meta", None)
        dtype = meta[idx][1] if meta and meta[idx] is not None else None
    return dtype


def _edge_shape(edge):
    node, idx = edge
    if isinstance(node, AccumulateGrad):
        var = node.variable
        return var.shape if var is not None else None
    meta = getattr(node, "_out_meta", None)
    return meta[idx][0] if meta else getattr(node, "_out_shape", None)


def run_backward(tensors, grad_tensors, retain_graph=False, create_graph=False, inputs=None,
                 allow_unused=False, accumulate=True):
    """Propagate ``grad_tensors`` from ``tensors`` back through the graph.

    With ``accumulate`` (``Tensor.backward``) leaf gradients are added into ``.grad``; without
    it (``autograd.grad``) the gradients of ``inputs`` are returned and nothing is stored.
    """
    Tensor = _tensor_cls()
    buffers: dict[int, list] = {}
    roots = []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        node, idx = t._edge()
        roots.append(node)
        _add(buffers, node, idx, g)

    captured = {}
    if inputs is not None:
        targets = {}
        for k, x in enumerate(inputs):
            if not isinstance(x, Tensor) or not x.requires_grad:
                raise RuntimeError(f"One of the differentiated Tensors (input {k}) does not require grad")
            node, idx = x._edge()
            targets.setdefault(id(node), []).append((k, idx))
    stored = {id(g) for g in grad_tensors}

    with set_grad_enabled(create_graph):
        for node in _topo_order(roots):
            grads = buffers.pop(id(node), None)
            if grads is None:
                continue
            grads.pop()  # the node reference _add kept alive
            if node._hooks:
                for i, hooks in node._hooks.items():
                    for hook in hooks:
                        if grads[i] is not None:
                            r = hook(grads[i])
                            if r is not None:
                                if not isinstance(r, Tensor):
                                    raise TypeError(f"expected Variable, but hook returned '{type(r).__name__}'")
                                grads[i] = r
            if inputs is not None and id(node) in targets:
                for k, idx in targets[id(node)]:
                    captured[k] = grads[idx]
            if isinstance(node, AccumulateGrad):
                var = node.variable
                if accumulate and var is not None:
                    _accumulate(var, grads[0], create_graph, stored)
                    if node._post_hooks:
                        for hook in tuple(node._post_hooks):
                            hook(var)
                continue
            if node._freed:
                raise RuntimeError(_FREED_MSG)
            if node._materialize_grads and any(g is None for g in grads):
                grads = [g if g is not None else _zeros_for(node, i) for i, g in enumerate(grads)]
            result = node.backward(node, *grads)
            if not isinstance(result, tuple):
                result = (result,)
            edges = node.next_functions
            if len(result) != len(edges) and (len(result) < len(edges) or
                                              any(g is not None for g in result[len(edges):])):
                # extra Nones are dropped, as PyTorch; an extra gradient means backward lost track of inputs
                raise RuntimeError(f"function {node.name()} returned an incorrect number of gradients "
                                   f"(expected {len(edges)}, got {len(result)})")
            custom = not node._internal
            for i, edge in enumerate(edges):
                g = result[i]
                if edge is None or g is None:
                    continue
                if custom:  # user-written backward: check what it returned
                    if not isinstance(g, Tensor):
                        raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
                    _check_grad(node, i, g, _edge_shape(edge))
                dtype = _edge_dtype(edge)
                if dtype is not None and g._dtype is not dtype:
                    # a gradient has its input's dtype, as PyTorch's engine casts it: the bf16 operand of
                    # `x_fp32 + h_bf16` gets a bf16 gradient (leaves are cast in _accumulate)
                    g = g.to(dtype)
                _add(buffers, edge[0], edge[1], g)
            if not retain_graph and node._saved is not None:
                node._saved = None
                node._freed = True
    if inputs is None:
        return None
    out = []
    for k, x in enumerate(inputs):
        g = captured.get(k)
        if g is None and not allow_unused:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                               "Set allow_unused=True if this is the desired behavior.")
        out.append(g)
    return tuple(out)


def _add(buffers, node, idx, g):
    slot = buffers.get(id(node))
    if slot is None:
        slot = buffers[id(node)] = [None] * node._n_outputs
        slot.append(node)  # keep the node alive while its gradient waits
    slot[idx] = g if slot[idx] is None else slot[idx] + g


def _zeros_for(node, i):
    shape, dtype, device = node._out_meta[i]
    from .. import ops
    return ops.creation.zeros(shape, dtype=dtype, device=device)


def _accumulate(var, g, create_graph, stored):
    if g is None:
        return
    if g._data.shape != var._data.shape:
        raise RuntimeError(f"invalid gradient shape {list(g.shape)} for a leaf of shape {list(var.shape)}")
    orig = id(g)
    shared = orig in stored or g._base is not None
    if not create_graph and g._rg:
        g = g.detach()
    if g._dtype is not var._dtype:
        g = g.to(var._dtype)
    if var.grad is None:
        # A gradient object may reach several leaves (d(a+b)) or be a view: own a copy then.
        if shared:
            g = g.clone()
        stored.add(orig)
        var.grad = g
    else:
        var.grad = var.grad + g
