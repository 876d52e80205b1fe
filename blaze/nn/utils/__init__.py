"""nn utilities: gradient clipping, parameter vectors, spectral normalization, packed sequences (rnn)."""
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_  # noqa: F401
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from .spectral_norm import remove_spectral_norm, spectral_norm  # noqa: F401
from . import clip_grad, convert_parameters, rnn  # noqa: F401
