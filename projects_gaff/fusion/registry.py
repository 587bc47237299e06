"""``FUSION_REGISTRY``: the fusion methods by their ``MODEL.FUSION.TYPE`` name; each is a
class with ``from_spec(spec, channels)`` whose ``forward(x_rgb, x_aux)`` returns the fused map."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from detectron2.utils.registry import Registry

NO_FUSION = "none"  # MODEL.FUSION.TYPE of a model whose stages all run unfused
T = TypeVar("T", bound=type)


class FusionRegistry(Registry):
    """Detectron2's registry, keyed by config names ("gaff", "add", ...), not class names."""

    def register_as(self, name: str) -> Callable[[T], T]:
        def deco(cls: T) -> T:
            self._do_register(name, cls)
            return cls

        return deco

    def types(self) -> tuple[str, ...]:
        """Every valid ``MODEL.FUSION.TYPE``: the registered methods and ``"none"``."""
        return (*(name for name, _ in self), NO_FUSION)


FUSION_REGISTRY = FusionRegistry("FUSION")
