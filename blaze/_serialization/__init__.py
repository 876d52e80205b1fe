"""The parts of ``blaze.serialization``: blaze's own format (blaze_format), whole-object trees and the
allow-list (objtree), PyTorch's pickle (torch_pickle) and its zip / legacy containers (torch_zip)."""
from ..device import device as _device


class CheckpointError(RuntimeError):
    """A file that cannot be read as a checkpoint (truncated, corrupt, or another format)."""

    __module__ = "blaze.serialization"


class MapLocationError(TypeError):
    """The caller's map_location misbehaved: an argument error, not a corrupt file."""


def device_str(value, what: str) -> str:
    """``value`` as a canonical device string, or ValueError naming ``what`` held it."""
    try:
        return str(_device(value))
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{what} {value!r} is not a device ({e})") from None
