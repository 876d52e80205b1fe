from . import clip_grad, convert_parameters, spectral_norm  # noqa
