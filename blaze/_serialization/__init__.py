"""The parts of ``blaze.serialization``: object trees (objtree), PyTorch's pickle (torch_pickle) and containers (torch_zip)."""
