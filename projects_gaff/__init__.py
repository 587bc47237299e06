"""projects_gaff: two-stream MiT + GAFF fusion for RGB, thermal and event detection."""

from . import backbone  # noqa: F401  (registers the backbones)
from .config import add_gaff_config

__all__ = ["add_gaff_config"]
