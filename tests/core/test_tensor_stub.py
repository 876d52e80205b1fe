"""blaze/_tensor.pyi lists every Tensor member where a reader (or an IDE) looks; it must be current."""
import ast
import pathlib

import blaze
from blaze import _tensor_stub

STUB = pathlib.Path(blaze.__file__).parent / "_tensor.pyi"


def test_stub_is_current():
    assert STUB.read_text() == _tensor_stub.render(), \
        "blaze/_tensor.pyi is stale: run `python -m blaze._tensor_stub > blaze/_tensor.pyi`"


def test_stub_declares_the_attached_methods():
    tree = ast.parse(STUB.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    declared = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    declared |= {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}
    public = {n for n in vars(blaze.Tensor) if not n.startswith("_")}
    assert public <= declared
    assert {"add", "exp", "logit", "softmax", "view", "backward"} <= declared


def test_the_tensor_module_is_not_shadowed_by_the_factory():
    import importlib
    module = importlib.import_module("blaze._tensor")  # the class's home, as torch/_tensor.py
    assert module.Tensor is blaze.Tensor
    assert blaze.tensor([1.0]).tolist() == [1.0]  # blaze.tensor stays PyTorch's factory function
