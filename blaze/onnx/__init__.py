"""ONNX export, as ``torch.onnx``: ``blaze.onnx.export(model, args, "model.onnx", ...)``.

Needs the ``onnx`` package (``pip install 'blaze[onnx]'``); it is imported on first export.
The ops the exporter can translate are the keys of ``blaze.onnx.ops.TABLE``.
"""
from .exporter import export
from .tracer import UnsupportedOperatorError

__all__ = ["export", "UnsupportedOperatorError"]
