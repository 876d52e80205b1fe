"""``torch.autograd.profiler``'s names that code still imports from there; the profiler is ``blaze.profiler``."""
from ..profiler import EventList, FunctionEvent, FunctionEventAvg, profile, record_function

__all__ = ["profile", "record_function", "EventList", "FunctionEvent", "FunctionEventAvg"]
