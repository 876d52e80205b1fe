"""Placeholder: filled in by the conv/pool/RNN/attention work."""
__all__ = []
