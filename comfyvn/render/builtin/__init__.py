"""The built-in renderer: real PNGs drawn with Pillow when no ComfyUI server is configured.

Public API (stable; every function is deterministic, same inputs give identical bytes)::

    from comfyvn.render.builtin import (EXPRESSIONS, render_background, render_portrait,
                                        render_sprite, render_sprite_set)

    render_background("forest at night", weather="rain")       # 1280x720 RGB PNG
    render_sprite("Alice", expression="joy", appearance="red hair, blue dress")  # 512x1024 RGBA PNG
    render_sprite_set("Alice", ["neutral", "joy", "anger"])     # {expression: PNG}, body drawn once
    render_portrait("Alice", expression="joy", size=512)        # square head and shoulders

See docs/render-builtin.md.
"""

from __future__ import annotations

from comfyvn.render.builtin import backgrounds
from comfyvn.render.builtin.characters import Figure, portrait
from comfyvn.render.builtin.faces import EXPRESSIONS, normalise
from comfyvn.render.builtin.palette import character_look, check_size, png_bytes

__all__ = ["EXPRESSIONS", "render_background", "render_portrait", "render_sprite", "render_sprite_set"]


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        from comfyvn.core.errors import InvalidInput

        raise InvalidInput(f"{field} must be text, got {type(value).__name__}; pass a string.",
                           details={"field": field})
    return value


def render_background(location: str, *, time_of_day: str | None = None, weather: str | None = None,
                      width: int = 1280, height: int = 720, seed: int = 0) -> bytes:
    """An RGB PNG background for a location; time of day and weather also read from its words."""
    check_size(width, height)
    image = backgrounds.render(_text(location, "location"), time_of_day, weather, width, height, int(seed))
    return png_bytes(image)


def _figure(name: str, width: int, height: int, seed: int, appearance: str | None, label: bool = True) -> Figure:
    _text(name, "name")
    return Figure(name, character_look(name, appearance), width, height, int(seed), label=label)


def render_sprite(name: str, *, expression: str = "neutral", width: int = 512, height: int = 1024, seed: int = 0,
                  appearance: str | None = None) -> bytes:
    """An RGBA PNG sprite (transparent around the figure) with the name on a label."""
    check_size(width, height)
    return png_bytes(_figure(name, width, height, seed, appearance).with_face(normalise(expression)))


def render_sprite_set(name: str, expressions: list[str], *, width: int = 512, height: int = 1024, seed: int = 0,
                      appearance: str | None = None) -> dict[str, bytes]:
    """Sprites for several expressions, keyed by the names given; the body is drawn once."""
    check_size(width, height)
    figure = _figure(name, width, height, seed, appearance)
    return {expr: png_bytes(figure.with_face(normalise(expr))) for expr in expressions}


def render_portrait(name: str, *, expression: str = "neutral", size: int = 512, seed: int = 0,
                    appearance: str | None = None) -> bytes:
    """A square head-and-shoulders PNG on a backdrop in the character's colours."""
    check_size(size, size)
    figure = _figure(name, size, size * 2, seed, appearance, label=False)
    return png_bytes(portrait(figure, name, normalise(expression), size))
