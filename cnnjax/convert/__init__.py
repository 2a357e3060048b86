"""Weight import from other frameworks: `from_torchvision(name, state_dict) -> (module, variables)`."""

from cnnjax.convert.torchvision import SUPPORTED as TORCHVISION_MODELS
from cnnjax.convert.torchvision import from_torchvision, to_torchvision

__all__ = ["TORCHVISION_MODELS", "from_torchvision", "to_torchvision"]
