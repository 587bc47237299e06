"""``FUSION_REGISTRY``: the fusion methods by their ``MODEL.FUSION.TYPE`` name.

A method is a class registered under its config name (``@FUSION_REGISTRY.register_as("add")``)
with a classmethod ``from_spec(spec, channels)``; its ``forward(x_rgb, x_aux)`` returns the
fused map. Importing :mod:`projects_gaff.fusion` registers every method of this package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from detectron2.utils.registry import Registry

NO_FUSION = "none"  # MODEL.FUSION.TYPE of a model whose stages all run unfused
T = TypeVar("T", bound=type)


class FusionRegistry(Registry):
    """Detectron2's registry, keyed by the config's short method names ("gaff", "add", ...)
    rather than by class names."""

    def register_as(self, name: str) -> Callable[[T], T]:
        def deco(cls: T) -> T:
            self._do_register(name, cls)
            return cls

        return deco

    def types(self) -> tuple[str, ...]:
        """Every valid ``MODEL.FUSION.TYPE``: the registered methods and ``"none"``."""
        return (*(name for name, _ in self), NO_FUSION)


FUSION_REGISTRY = FusionRegistry("FUSION")
