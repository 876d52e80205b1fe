"""Functional forms of the nn layers, as ``torch.nn.functional``."""
from .activation import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .misc import *  # noqa: F401,F403
from .conv3d import *  # noqa: F401,F403
from .pooling_nd import *  # noqa: F401,F403
from .fold import *  # noqa: F401,F403
from .embedding_bag import *  # noqa: F401,F403
from .margin import *  # noqa: F401,F403
from .ctc import *  # noqa: F401,F403
from .vision import *  # noqa: F401,F403
