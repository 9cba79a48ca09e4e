"""Faces for the 28 SillyTavern expression labels: eyes, brows, mouth and marks per label.

Coordinates are in the sprite's design space (512 x 1024); a ``Pen`` maps them to pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import ImageDraw, ImageFont

from comfyvn.render.builtin.palette import RGB, mix, shade

# label: (eyes, brows, mouth, marks)
FACES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "admiration": ("sparkle", "raised", "o", ("sparkles",)),
    "amusement": ("happy", "neutral", "smirk", ()),
    "anger": ("angry", "angry", "teeth", ("vein",)),
    "annoyance": ("half", "annoyed", "pout", ()),
    "approval": ("open", "raised", "smile", ()),
    "caring": ("closed", "soft", "soft", ("blush",)),
    "confusion": ("uneven", "one_raised", "wavy", ("question",)),
    "curiosity": ("look_up", "one_raised", "o", ()),
    "desire": ("half", "sad", "smile", ("blush",)),
    "disappointment": ("half", "sad", "frown", ("gloom",)),
    "disapproval": ("half", "low", "flat", ()),
    "disgust": ("squint", "angry", "tongue", ()),
    "embarrassment": ("aside", "sad", "wavy", ("blush",)),
    "excitement": ("sparkle", "raised", "grin", ("sparkles",)),
    "fear": ("wide", "sad", "open", ("sweat", "gloom")),
    "gratitude": ("happy", "sad", "soft", ("blush",)),
    "grief": ("closed_sad", "sad", "wail", ("tears", "gloom")),
    "joy": ("happy", "raised", "grin", ()),
    "love": ("heart", "raised", "smile", ("blush", "hearts")),
    "nervousness": ("wide", "sad", "wavy", ("sweat",)),
    "neutral": ("open", "neutral", "small", ()),
    "optimism": ("open", "raised", "grin", ()),
    "pride": ("closed", "raised", "smirk", ()),
    "realization": ("open", "raised", "o", ("exclaim",)),
    "relief": ("closed", "sad", "smile", ("sweat",)),
    "remorse": ("down", "sad", "frown", ("gloom",)),
    "sadness": ("sad", "sad", "frown", ("tears",)),
    "surprise": ("wide", "raised", "open", ()),
}
EXPRESSIONS: tuple[str, ...] = tuple(sorted(FACES))
ALIASES = {"happy": "joy", "happiness": "joy", "sad": "sadness", "angry": "anger", "mad": "anger",
           "surprised": "surprise", "shock": "surprise", "shocked": "surprise", "scared": "fear",
           "afraid": "fear", "blush": "embarrassment", "embarrassed": "embarrassment", "calm": "neutral",
           "default": "neutral", "smile": "joy", "laugh": "amusement", "cry": "sadness", "crying": "sadness",
           "nervous": "nervousness", "confused": "confusion", "curious": "curiosity", "proud": "pride",
           "disgusted": "disgust", "excited": "excitement", "worried": "nervousness", "annoyed": "annoyance"}

INK: RGB = (46, 32, 40)
EYES_Y, EYE_DX, MOUTH_Y, BROW_Y = 250.0, 44.0, 306.0, 208.0


def normalise(expression: str | None) -> str:
    """The known label for an expression name; unknown names give "neutral"."""
    key = (expression or "").strip().lower()
    if key in FACES:
        return key
    return ALIASES.get(key, "neutral")


@dataclass
class Pen:
    """Maps design units to pixels on a draw surface."""

    draw: ImageDraw.ImageDraw
    scale: float
    ox: float = 0.0
    oy: float = 0.0

    def p(self, x: float, y: float) -> tuple[float, float]:
        return (self.ox + x * self.scale, self.oy + y * self.scale)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (*self.p(x0, y0), *self.p(x1, y1))

    def w(self, n: float) -> int:
        return max(1, round(n * self.scale))

    def pts(self, points) -> list[tuple[float, float]]:
        return [self.p(x, y) for x, y in points]


def _eye(pen: Pen, cx: float, style: str, side: int, iris: RGB, skin: RGB) -> None:
    d, y = pen.draw, EYES_Y
    if style in ("happy", "closed", "closed_sad"):
        if style == "happy":
            d.arc(pen.box(cx - 20, y - 8, cx + 20, y + 22), 200, 340, fill=INK, width=pen.w(5))
        else:
            d.arc(pen.box(cx - 20, y - 14, cx + 20, y + 10), 20, 160, fill=INK, width=pen.w(5))
        return
    if style == "squint":
        d.line(pen.pts([(cx + 20 * side, y - 8), (cx - 14 * side, y + 2), (cx + 20 * side, y + 10)]),
               fill=INK, width=pen.w(5), joint="curve")
        return
    if style == "heart":
        r = 14
        d.ellipse(pen.box(cx - r * 1.4, y - r, cx, y + r * 0.3), fill=(226, 60, 100))
        d.ellipse(pen.box(cx, y - r, cx + r * 1.4, y + r * 0.3), fill=(226, 60, 100))
        d.polygon(pen.pts([(cx - r * 1.35, y - 2), (cx + r * 1.35, y - 2), (cx, y + r * 1.6)]), fill=(226, 60, 100))
        d.ellipse(pen.box(cx - 13, y - 9, cx - 6, y - 2), fill=(255, 230, 240))
        return
    wide = style == "wide"
    rx, ry = (22, 27) if wide else (19, 24)
    d.ellipse(pen.box(cx - rx, y - ry, cx + rx, y + ry), fill=(252, 252, 255))
    look_x = {"aside": -9, "look_up": 7}.get(style, 0)
    look_y = {"look_up": -8, "down": 8}.get(style, 2)
    ir = 10 if wide else 16
    ix, iy = cx + look_x, y + look_y
    d.ellipse(pen.box(ix - ir, iy - ir * 1.3, ix + ir, iy + ir * 1.2), fill=iris)
    d.ellipse(pen.box(ix - ir, iy - ir * 1.3, ix + ir, iy), fill=shade(iris, 0.7))
    d.ellipse(pen.box(ix - ir * 0.45, iy - ir * 0.6, ix + ir * 0.45, iy + ir * 0.5), fill=INK)
    d.ellipse(pen.box(ix - ir * 0.75, iy - ir * 1.0, ix - ir * 0.1, iy - ir * 0.35), fill=(255, 255, 255))
    d.ellipse(pen.box(ix + ir * 0.3, iy + ir * 0.35, ix + ir * 0.6, iy + ir * 0.65), fill=(255, 255, 255))
    if style == "sparkle":
        for sx, sy, s in ((ix - 6, iy - 9, 7), (ix + 6, iy + 6, 4)):
            d.polygon(pen.pts([(sx, sy - s), (sx + s * 0.3, sy), (sx, sy + s), (sx - s * 0.3, sy)]), fill=(255, 255, 255))
            d.polygon(pen.pts([(sx - s, sy), (sx, sy + s * 0.3), (sx + s, sy), (sx, sy - s * 0.3)]), fill=(255, 255, 255))
    lid_top = y - ry - 4
    if style in ("half", "down"):
        d.rectangle(pen.box(cx - rx - 2, lid_top, cx + rx + 2, y - 4), fill=skin)
        d.line(pen.pts([(cx - rx - 3, y - 4), (cx + rx + 3, y - 4)]), fill=INK, width=pen.w(5))
        return
    if style in ("sad", "angry", "uneven"):
        outer = cx + rx * side
        inner = cx - rx * side
        if style == "sad" or (style == "uneven" and side > 0):
            tri = [(outer + 3 * side, lid_top), (outer + 3 * side, y - 2), (inner, lid_top)]
        else:
            tri = [(inner - 3 * side, lid_top), (inner - 3 * side, y - 4), (outer, lid_top)]
        d.polygon(pen.pts(tri), fill=skin)
        d.line(pen.pts([tri[1], tri[2]]), fill=INK, width=pen.w(5))
        return
    d.arc(pen.box(cx - rx - 2, y - ry - 1, cx + rx + 2, y + ry), 195, 345, fill=INK, width=pen.w(6))
    d.line(pen.pts([(cx + (rx + 1) * side, y - ry * 0.5), (cx + (rx + 7) * side, y - ry * 0.75)]), fill=INK,
           width=pen.w(4))


BROWS = {  # (inner dy, outer dy)
    "neutral": (0, 0), "raised": (-10, -8), "angry": (12, -8), "annoyed": (7, -2), "sad": (-10, 6),
    "soft": (-5, 3), "low": (6, 6), "one_raised": (0, 0),
}


def _brows(pen: Pen, style: str, hair: RGB) -> None:
    color = shade(hair, 0.55)
    for side in (-1, 1):
        cx = 256 + EYE_DX * side
        inner_dy, outer_dy = BROWS[style]
        if style == "one_raised" and side > 0:
            inner_dy, outer_dy = -14, -16
        pen.draw.line(pen.pts([(cx - 16 * side, BROW_Y + inner_dy), (cx + 6 * side, BROW_Y - 3 + (inner_dy + outer_dy) / 2),
                               (cx + 22 * side, BROW_Y + outer_dy)]), fill=color, width=pen.w(6), joint="curve")


def _mouth(pen: Pen, style: str) -> None:
    d, x, y = pen.draw, 256.0, MOUTH_Y
    red, tongue = (150, 50, 60), (230, 120, 130)
    if style == "small":
        d.arc(pen.box(x - 10, y - 8, x + 10, y + 4), 30, 150, fill=INK, width=pen.w(4))
    elif style in ("smile", "soft"):
        r = 18 if style == "smile" else 12
        d.arc(pen.box(x - r, y - r * 0.9, x + r, y + r * 0.5), 15, 165, fill=INK, width=pen.w(4))
    elif style == "grin":
        d.chord(pen.box(x - 22, y - 18, x + 22, y + 18), 0, 180, fill=red, outline=INK, width=pen.w(3))
        d.chord(pen.box(x - 12, y + 4, x + 12, y + 18), 180, 360, fill=tongue)
        d.rectangle(pen.box(x - 18, y, x + 18, y + 4), fill=(255, 255, 255))
    elif style == "frown":
        d.arc(pen.box(x - 16, y - 2, x + 16, y + 16), 200, 340, fill=INK, width=pen.w(4))
    elif style == "flat":
        d.line(pen.pts([(x - 14, y + 2), (x + 14, y + 2)]), fill=INK, width=pen.w(4))
    elif style == "o":
        d.ellipse(pen.box(x - 7, y - 4, x + 7, y + 10), fill=red, outline=INK, width=pen.w(3))
    elif style in ("open", "wail"):
        top = y - 6 if style == "open" else y
        d.ellipse(pen.box(x - 14, top, x + 14, y + 26), fill=red, outline=INK, width=pen.w(3))
        d.chord(pen.box(x - 9, y + 12, x + 9, y + 26), 180, 360, fill=tongue)
    elif style == "wavy":
        pts = [(x - 18 + i * 6, y + (3 if i % 2 else -3)) for i in range(7)]
        d.line(pen.pts(pts), fill=INK, width=pen.w(4), joint="curve")
    elif style == "smirk":
        d.line(pen.pts([(x - 14, y + 3), (x + 4, y + 3), (x + 15, y - 6)]), fill=INK, width=pen.w(4), joint="curve")
    elif style == "teeth":
        d.rectangle(pen.box(x - 18, y - 4, x + 18, y + 12), fill=(255, 255, 255), outline=INK, width=pen.w(3))
        d.line(pen.pts([(x - 18, y + 4), (x + 18, y + 4)]), fill=INK, width=pen.w(2))
        for k in (-9, 0, 9):
            d.line(pen.pts([(x + k, y - 4), (x + k, y + 12)]), fill=INK, width=pen.w(2))
    elif style == "pout":
        d.arc(pen.box(x - 9, y, x + 9, y + 10), 200, 340, fill=INK, width=pen.w(4))
        d.line(pen.pts([(x + 10, y + 4), (x + 14, y + 1)]), fill=INK, width=pen.w(3))
    elif style == "tongue":
        d.arc(pen.box(x - 18, y - 2, x + 18, y + 14), 200, 340, fill=INK, width=pen.w(4))
        d.chord(pen.box(x - 7, y - 2, x + 9, y + 16), 0, 180, fill=tongue, outline=INK, width=pen.w(2))


def _heart(pen: Pen, x: float, y: float, r: float, color: RGB) -> None:
    d = pen.draw
    d.ellipse(pen.box(x - r, y - r * 0.7, x, y + r * 0.3), fill=color)
    d.ellipse(pen.box(x, y - r * 0.7, x + r, y + r * 0.3), fill=color)
    d.polygon(pen.pts([(x - r * 0.97, y - 0.1 * r), (x + r * 0.97, y - 0.1 * r), (x, y + r)]), fill=color)


def _star(pen: Pen, x: float, y: float, r: float, color: RGB) -> None:
    pts = [(x + math.cos(math.pi * k / 4 - math.pi / 2) * (r if k % 2 == 0 else r * 0.3),
            y + math.sin(math.pi * k / 4 - math.pi / 2) * (r if k % 2 == 0 else r * 0.3)) for k in range(8)]
    pen.draw.polygon(pen.pts(pts), fill=color)


def _marks(pen: Pen, marks: tuple[str, ...], skin: RGB, accent: RGB) -> None:
    d = pen.draw
    for mark in marks:
        if mark == "blush":
            for side in (-1, 1):
                cx = 256 + 62 * side
                d.ellipse(pen.box(cx - 22, 272, cx + 22, 290), fill=mix(skin, (240, 110, 130), 0.55))
                for k in (-8, 0, 8):
                    d.line(pen.pts([(cx + k + 3, 274), (cx + k - 3, 288)]), fill=mix(skin, (210, 70, 100), 0.7),
                           width=pen.w(2))
        elif mark == "tears":
            for side in (-1, 1):
                cx = 256 + (EYE_DX + 12) * side
                d.line(pen.pts([(cx, 262), (cx + 2 * side, 300), (cx + 4 * side, 330)]), fill=(120, 180, 240),
                       width=pen.w(7), joint="curve")
                d.ellipse(pen.box(cx + 4 * side - 6, 322, cx + 4 * side + 6, 338), fill=(150, 200, 250))
        elif mark == "sweat":
            x, y = 352, 180
            d.polygon(pen.pts([(x, y), (x - 11, y + 24), (x + 11, y + 24)]), fill=(150, 200, 245))
            d.ellipse(pen.box(x - 11, y + 14, x + 11, y + 36), fill=(150, 200, 245))
            d.ellipse(pen.box(x - 5, y + 20, x - 1, y + 28), fill=(235, 245, 255))
        elif mark == "vein":
            x, y = 320, 140
            for a in (45, 135, 225, 315):
                t = math.radians(a)
                d.arc(pen.box(x + math.cos(t) * 12 - 9, y + math.sin(t) * 12 - 9, x + math.cos(t) * 12 + 9,
                              y + math.sin(t) * 12 + 9), a + 90, a + 270, fill=(220, 40, 50), width=pen.w(5))
        elif mark == "gloom":
            for k in range(5):
                x = 206 + k * 25
                d.line(pen.pts([(x, 150), (x, 190 - 8 * (k % 2))]), fill=(110, 120, 190), width=pen.w(4))
        elif mark == "question":
            font_px = max(8, round(72 * pen.scale))
            d.text(pen.p(392, 92), "?", fill=(80, 80, 110), font=ImageFont.load_default(size=font_px),
                   stroke_width=pen.w(3), stroke_fill=(255, 255, 255))
        elif mark == "exclaim":
            d.polygon(pen.pts([(392, 70), (414, 70), (408, 140), (398, 140)]), fill=(230, 70, 60))
            d.ellipse(pen.box(395, 148, 411, 164), fill=(230, 70, 60))
        elif mark == "sparkles":
            for x, y, r in ((116, 150, 16), (398, 120, 20), (410, 260, 12), (100, 270, 10)):
                _star(pen, x, y, r, (255, 226, 120))
        elif mark == "hearts":
            for x, y, r in ((398, 130, 18), (120, 150, 13), (420, 200, 10)):
                _heart(pen, x, y, r, (232, 80, 120))
        else:
            _star(pen, 400, 140, 10, accent)


def draw_face(pen: Pen, expression: str, *, skin: RGB, hair: RGB, iris: RGB, accent: RGB) -> None:
    """Eyes, brows, mouth and marks for an expression label (unknown labels draw neutral)."""
    eyes, brows, mouth, marks = FACES[normalise(expression)]
    d = pen.draw
    d.line(pen.pts([(258, 276), (254, 284)]), fill=shade(skin, 0.75), width=pen.w(3))
    for side in (-1, 1):
        _eye(pen, 256 + EYE_DX * side, eyes, side, iris, skin)
    _brows(pen, brows, hair)
    _mouth(pen, mouth)
    _marks(pen, marks, skin, accent)
