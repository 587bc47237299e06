"""projects_gaff: two-stream MiT + GAFF fusion for RGB, thermal and event detection.

Imports are lazy so that light tools (the study runner) start without torch;
``add_gaff_config`` registers the backbone the config names.
"""

__all__ = ["add_gaff_config"]


def __getattr__(name: str):
    if name == "add_gaff_config":
        from .config import add_gaff_config

        return add_gaff_config
    raise AttributeError(f"module 'projects_gaff' has no attribute {name!r}")
