"""Colours, seeded randomness and word parsing shared by the built-in renderer.

Everything here is deterministic: hashes are SHA-256 of the text, never Python's ``hash()``.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
from dataclasses import dataclass

from PIL import Image

from comfyvn.core.errors import InvalidInput

RGB = tuple[int, int, int]

MIN_SIZE = 16
MAX_SIZE = 4096

# Named colours that appearance text may use ("red hair", "navy coat").
COLOR_WORDS: dict[str, RGB] = {
    "red": (196, 48, 52), "crimson": (160, 24, 48), "scarlet": (214, 40, 40), "ginger": (214, 104, 48),
    "auburn": (140, 58, 36), "orange": (232, 124, 40), "yellow": (238, 204, 72), "gold": (222, 176, 64),
    "golden": (222, 176, 64), "blonde": (240, 212, 128), "blond": (240, 212, 128), "green": (64, 150, 80),
    "emerald": (30, 130, 90), "olive": (118, 124, 60), "teal": (40, 140, 140), "cyan": (80, 196, 214),
    "blue": (56, 96, 196), "azure": (80, 150, 230), "navy": (36, 48, 100), "purple": (120, 64, 168),
    "violet": (144, 92, 200), "lavender": (180, 150, 220), "pink": (236, 140, 176), "rose": (214, 96, 130),
    "white": (236, 236, 240), "silver": (196, 200, 212), "grey": (128, 128, 136), "gray": (128, 128, 136),
    "black": (40, 38, 46), "dark": (52, 44, 52), "brown": (112, 72, 44), "chestnut": (122, 60, 36),
    "beige": (214, 196, 160), "cream": (240, 228, 200), "maroon": (110, 30, 44),
}
HAIR_COLORS: tuple[RGB, ...] = (
    (52, 42, 48), (96, 60, 40), (150, 92, 52), (226, 196, 120), (178, 58, 50), (210, 120, 150),
    (80, 110, 190), (200, 204, 214), (110, 80, 160), (60, 130, 110), (232, 150, 80), (40, 44, 72),
)
SKIN_TONES: tuple[RGB, ...] = (
    (255, 226, 206), (250, 214, 186), (236, 192, 160), (214, 160, 120), (176, 120, 86), (128, 86, 60),
)
SKIN_WORDS = {"pale": 0, "fair": 0, "light": 1, "tan": 3, "tanned": 3, "olive": 2, "brown": 4, "dark": 5}
EYE_COLORS: tuple[RGB, ...] = (
    (70, 120, 200), (60, 140, 90), (120, 70, 40), (150, 70, 170), (190, 60, 60), (200, 150, 40), (60, 150, 160),
)
CLOTHING_WORDS = ("dress", "shirt", "coat", "jacket", "robe", "uniform", "clothes", "hoodie", "armor", "armour",
                  "cloak", "suit", "sweater", "blouse", "outfit", "kimono", "top", "vest", "tunic", "skirt")

# Sky gradient stops (top, middle, horizon) per time of day.
SKIES: dict[str, tuple[RGB, RGB, RGB]] = {
    "dawn": ((70, 86, 150), (206, 150, 170), (252, 200, 150)),
    "morning": ((96, 160, 226), (150, 200, 240), (222, 236, 246)),
    "noon": ((48, 120, 214), (104, 168, 236), (190, 220, 246)),
    "afternoon": ((66, 132, 210), (136, 182, 230), (236, 222, 190)),
    "evening": ((52, 50, 120), (196, 96, 110), (252, 160, 80)),
    "night": ((8, 12, 34), (22, 32, 70), (46, 60, 104)),
}
TIME_WORDS: dict[str, str] = {
    "dawn": "dawn", "sunrise": "dawn", "daybreak": "dawn", "morning": "morning", "day": "noon",
    "noon": "noon", "midday": "noon", "daytime": "noon", "afternoon": "afternoon", "dusk": "evening",
    "evening": "evening", "sunset": "evening", "twilight": "evening", "night": "night",
    "midnight": "night", "nighttime": "night", "moonlit": "night",
}
WEATHER_WORDS: dict[str, str] = {
    "rain": "rain", "rainy": "rain", "raining": "rain", "drizzle": "rain", "snow": "snow",
    "snowy": "snow", "snowing": "snow", "blizzard": "snow", "fog": "fog", "foggy": "fog", "mist": "fog",
    "misty": "fog", "haze": "fog", "cloud": "clouds", "clouds": "clouds", "cloudy": "clouds",
    "overcast": "clouds", "storm": "storm", "stormy": "storm", "thunder": "storm", "thunderstorm": "storm",
    "lightning": "storm", "clear": "clear", "sunny": "clear",
}


def words(text: str | None) -> list[str]:
    """Lower-case words of a text, in order."""
    return re.findall(r"[a-z]+", (text or "").lower())


def seed_int(*parts: object) -> int:
    """A stable 64-bit integer from any parts (their ``str``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from the parts; same parts, same sequence."""
    return random.Random(seed_int(*parts))


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend from ``a`` (t=0) to ``b`` (t=1)."""
    t = min(max(t, 0.0), 1.0)
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def shade(c: RGB, f: float) -> RGB:
    """Darken (f < 1) or lighten (f > 1, towards white) a colour."""
    if f <= 1.0:
        return (round(c[0] * f), round(c[1] * f), round(c[2] * f))
    return mix(c, (255, 255, 255), f - 1.0)


def rgba(c: RGB, a: int = 255) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], a)


def check_size(width: int, height: int) -> None:
    """Raise InvalidInput unless both sides are integers within 16..4096."""
    for label, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIZE <= value <= MAX_SIZE:
            raise InvalidInput(
                f"{label} must be an integer from {MIN_SIZE} to {MAX_SIZE} pixels, got {value!r}; "
                f"pass a size in that range.",
                details={"field": label, "value": repr(value), "min": MIN_SIZE, "max": MAX_SIZE},
            )


def png_bytes(image: Image.Image) -> bytes:
    """Encode as PNG (zlib level 6; deterministic for the same pixels)."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def vertical_gradient(width: int, height: int, stops: list[tuple[float, RGB]]) -> Image.Image:
    """An RGB image whose rows blend through ``stops`` ((position 0..1, colour), sorted)."""
    column = Image.new("RGB", (1, height))
    pixels = []
    for y in range(height):
        t = y / max(height - 1, 1)
        for (p0, c0), (p1, c1) in zip(stops, stops[1:]):
            if t <= p1:
                pixels.append(mix(c0, c1, (t - p0) / max(p1 - p0, 1e-6)))
                break
        else:
            pixels.append(stops[-1][1])
    column.putdata(pixels)
    return column.resize((width, height), Image.Resampling.NEAREST)


@dataclass(frozen=True)
class Look:
    """A character's colours and style, derived from the name and appearance words."""

    skin: RGB
    hair: RGB
    eyes: RGB
    clothes: RGB
    accent: RGB
    hair_style: str  # short, bob, long, ponytail, twintails
    outfit: str  # dress, uniform, jacket, robe, hoodie


HAIR_STYLES = ("short", "bob", "long", "ponytail", "twintails")
OUTFITS = ("dress", "uniform", "jacket", "robe", "hoodie")
OUTFIT_WORDS = {"dress": "dress", "gown": "dress", "skirt": "dress", "uniform": "uniform", "sailor": "uniform",
                "school": "uniform", "jacket": "jacket", "coat": "jacket", "suit": "jacket", "blazer": "jacket",
                "robe": "robe", "cloak": "robe", "kimono": "robe", "tunic": "robe", "armor": "robe",
                "armour": "robe", "hoodie": "hoodie", "sweater": "hoodie", "shirt": "jacket"}


def _color_before(ws: list[str], targets: tuple[str, ...] | set[str]) -> RGB | None:
    """The colour word closest before a target word ("long red hair" -> red)."""
    for i, w in enumerate(ws):
        if w in targets:
            for j in range(i - 1, max(i - 4, -1), -1):
                if ws[j] in COLOR_WORDS:
                    return COLOR_WORDS[ws[j]]
    return None


def character_look(name: str, appearance: str | None = None) -> Look:
    """The palette and style for a character: stable per name, overridden by appearance words."""
    r = rng("look", name.strip().lower())
    skin = SKIN_TONES[r.randrange(4)]
    hair = r.choice(HAIR_COLORS)
    eyes = r.choice(EYE_COLORS)
    hue_pick = r.random()
    clothes = mix(r.choice(list(COLOR_WORDS.values())), (90, 90, 110), 0.15 + 0.1 * hue_pick)
    accent = r.choice(((220, 60, 70), (240, 200, 80), (80, 170, 220), (240, 240, 240), (60, 60, 80)))
    hair_style = r.choice(HAIR_STYLES)
    outfit = r.choice(OUTFITS)
    ws = words(appearance)
    hair = _color_before(ws, ("hair", "haired", "ponytail", "twintails", "braid", "bob")) or hair
    eyes = _color_before(ws, ("eyes", "eyed")) or eyes
    worn = _color_before(ws, set(CLOTHING_WORDS))
    if worn is not None:
        clothes = worn
        if worn == accent:
            accent = (240, 240, 240)
    for i, w in enumerate(ws):
        if w in SKIN_WORDS and i + 1 < len(ws) and ws[i + 1] in ("skin", "skinned", "complexion"):
            skin = SKIN_TONES[SKIN_WORDS[w]]
        if w in OUTFIT_WORDS:
            outfit = OUTFIT_WORDS[w]
        about_hair = any(n in ("hair", "haired") for n in ws[i + 1:i + 3])
        if w in ("short", "pixie", "cropped") and about_hair:
            hair_style = "short"
        elif w in ("long", "flowing") and about_hair:
            hair_style = "long"
        elif w in ("ponytail", "twintails", "bob"):
            hair_style = w
        elif w == "pigtails":
            hair_style = "twintails"
    return Look(skin, hair, eyes, clothes, accent, hair_style, outfit)
