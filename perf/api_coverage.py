"""API coverage: which of PyTorch's public names blaze has, namespace by namespace.

Run (PyTorch in a scratch environment, as for ``torch_parity.py``)::

    PYTHONPATH=$PWD /path/to/torch-venv/bin/python perf/api_coverage.py [--missing NAMESPACE] [--markdown]

The list is derived from the installed PyTorch, not written by hand: the documented torch
functions and Tensor methods (those with a docstring; undocumented ones are aten internals such
as ``torch.batch_norm_elemt``), every class in ``torch.nn.modules.__all__``, every public
callable of ``torch.nn.functional`` and ``torch.nn.init``, the optimizers and LR schedulers,
and ``torch.utils.data.__all__``. Names in an excluded area (complex, sparse, quantized, jit/fx,
backend internals, ...; see ``EXCLUDED``, each with its reason, and the README's "Out of scope")
are counted apart. A name counts as covered when blaze has an attribute of that name in the
matching namespace; behaviour is ``torch_parity*.py``'s business.
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import sys

if __package__ in (None, ""):  # `python perf/api_coverage.py` from the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import blaze  # noqa: E402

# (pattern over the name, reason). Matched with re.search against the bare name.
EXCLUDED = [
    (r"complex|conj|^angle$|^polar$|view_as_real|^imag$|^real$|^resolve_neg$|^is_neg$|^isreal$|_neg_bit|"
     r"^cfloat$|^cdouble$|^chalf$",
     "complex numbers: blaze has no complex dtypes"),
    (r"(?i)sparse|coalesce|^indices$|^values$|crow_|col_indices|row_indices|^sspaddmm$|^smm$|^hspmm$|_nnz|"
     r"dense_dim|^to_dense$|^saddmm$|^dsmm$|^spmm$|^index_reduce|sparse_mask|^is_coalesced$",
     "sparse tensors: out of scope"),
    (r"quantiz|^q_|^int_repr$|qscheme|fbgemm|^qr_|qparams|^is_quantized$|^quantized", "quantized tensors: out of scope"),
    (r"^jit|^fx|^compile$|^compiled_with_cxx11_abi$|^export$|^vmap$|^func$|^cond$|^while_loop$",
     "TorchScript / FX / torch.compile / functorch transforms: out of scope"),
    (r"^index$", "Tensor.index binds functorch first-class dims (functorch.dim): out of scope with functorch"),
    (r"^cudnn_|^miopen_|^mkldnn|^native_|_foreach_|^fused_|^xpu|^mps|^npu|^hpu|^ipu|^mtia|^privateuse1|"
     r"nnpack|^is_vulkan|^vulkan|^cpu_|^sym_|^Sym|^use_deterministic|^is_warn_always|^set_warn_always",
     "backend- or compiler-internal entry points"),
    (r"^names$|^rename|^refine_names$|^align_to$|^align_as$|^has_names$|unflatten_dense",
     "named tensors: prototype in PyTorch, out of scope"),
    (r"^nested|^is_nested$|nested_tensor|to_padded_tensor", "nested tensors: prototype in PyTorch, out of scope"),
    (r"^import_ir_module|^parse_ir$|^parse_schema$|type_comment$|^unify_type_list$|^fork$|^wait$",
     "TorchScript runtime helpers exported at the top level"),
    (r"torch_function|^boolean_dispatch$|^assert_int_or_pair$", "the __torch_function__ protocol and private helpers"),
    (r"DataPipe|datapipe|^DataChunk$|validation|^non_deterministic$",
     "DataPipes: deprecated in PyTorch for torchdata, out of scope"),
    (r"^_", "private names PyTorch lists in __all__"),
    (r"^storage$|^untyped_storage$|^storage_type$|^is_set_to$|^set_$|^is_storage$|^from_file$|^module_load$|"
     r"^record_stream$|^to_mkldnn$",
     "Storage objects: a blaze tensor owns a NumPy array or device buffer (data_ptr, storage_offset exist)"),
    (r"^scaled_mm$|^scaled_grouped_mm$|^grouped_mm$", "float8 scaled and grouped (MoE) GEMMs: not yet"),
    (r"^indices_copy$|^values_copy$", "sparse tensors: out of scope (copies of a sparse tensor's parts)"),
    (r"^hash_tensor$", "its result is uint64, a dtype blaze does not have"),
    (r"^lobpcg$", "iterative eigensolver for large sparse symmetric problems: sparse tensors are out of scope"),
]
EXCLUDED = [(re.compile(p), why) for p, why in EXCLUDED]


def _excluded(name):
    for pattern, why in EXCLUDED:
        if pattern.search(name):
            return why
    return None


def _documented(obj, name):
    value = getattr(obj, name, None)
    return value is not None and bool((getattr(value, "__doc__", None) or "").strip())


def _public(ns):
    return sorted(n for n in dir(ns) if not n.startswith("_"))


def torch_functions():
    out = []
    for n in _public(torch):
        v = getattr(torch, n)
        if callable(v) and not inspect.isclass(v) and not inspect.ismodule(v) and _documented(torch, n):
            out.append(n)
    return out


def tensor_methods():
    return [n for n in _public(torch.Tensor) if _documented(torch.Tensor, n)]


def _subclasses_in(module, base):
    return [n for n in _public(module) if inspect.isclass(getattr(module, n))
            and issubclass(getattr(module, n), base) and getattr(module, n) is not base]


def namespaces():
    """(row name, torch names, blaze namespace getter)."""
    import torch.nn.functional as F
    import torch.nn.init as init
    import torch.optim as optim
    import torch.optim.lr_scheduler as sched
    import torch.utils.data as data

    def blaze_attr(*path):
        def get():
            ns = blaze
            for p in path:
                ns = getattr(ns, p)
            return ns
        return get

    return [
        ("torch functions", torch_functions(), blaze_attr()),
        ("Tensor methods", tensor_methods(), blaze_attr("Tensor")),
        ("nn modules", sorted(torch.nn.modules.__all__), blaze_attr("nn")),
        ("nn.functional", [n for n in _public(F) if callable(getattr(F, n)) and not inspect.ismodule(getattr(F, n))
                           and not inspect.isclass(getattr(F, n))
                           and getattr(getattr(F, n), "__module__", "").startswith("torch")], blaze_attr("nn", "functional")),
        ("nn.init", [n for n in _public(init) if inspect.isfunction(getattr(init, n))
                     and getattr(init, n).__module__ == init.__name__], blaze_attr("nn", "init")),
        ("optimizers", _subclasses_in(optim, optim.Optimizer), blaze_attr("optim")),
        ("LR schedulers", sorted(set(_subclasses_in(sched, sched.LRScheduler)) | {"LRScheduler", "ReduceLROnPlateau"}
                                 - {"_LRScheduler"}), blaze_attr("optim", "lr_scheduler")),
        ("utils.data", sorted(data.__all__), _utils_data),
    ]


def _utils_data():
    try:
        import blaze.utils.data as d
        return d
    except ImportError:
        return blaze.data


def coverage():
    rows = []
    for title, names, get in namespaces():
        try:
            ns = get()
        except (AttributeError, ImportError):
            ns = None
        counted = [n for n in names if _excluded(n) is None]
        missing = [n for n in counted if ns is None or not hasattr(ns, n)]
        rows.append({"namespace": title, "torch": len(names), "excluded": len(names) - len(counted),
                     "counted": len(counted), "covered": len(counted) - len(missing), "missing": missing})
    return rows


def table(rows, markdown=False):
    head = ("namespace", "torch", "excluded", "counted", "blaze has", "coverage")
    total_counted = sum(r["counted"] for r in rows)
    total_cov = sum(r["covered"] for r in rows)
    body = [(r["namespace"], r["torch"], r["excluded"], r["counted"], r["covered"],
             f"{100.0 * r['covered'] / max(r['counted'], 1):.1f}%") for r in rows]
    body.append(("all", sum(r["torch"] for r in rows), sum(r["excluded"] for r in rows), total_counted, total_cov,
                 f"{100.0 * total_cov / max(total_counted, 1):.1f}%"))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
        return "\n".join(lines)
    fmt = "{:<16} {:>6} {:>9} {:>8} {:>10} {:>9}"
    return "\n".join([fmt.format(*head)] + [fmt.format(*row) for row in body])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--missing", metavar="NAMESPACE", help="list the missing names of one row ('all' for every row)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    rows = coverage()
    print(f"torch {torch.__version__}")
    print(table(rows, args.markdown))
    if args.missing:
        for r in rows:
            if args.missing in ("all", r["namespace"]):
                print(f"\nmissing in {r['namespace']} ({len(r['missing'])}):")
                print("  " + " ".join(r["missing"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
