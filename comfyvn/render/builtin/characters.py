"""Character sprites: a stylised figure drawn once per character, then only the face per expression.

The figure lives in a 512 x 1024 design space, fitted into the requested size (centred, feet at
the bottom) and drawn supersampled, so edges are smooth after the final reduction.
"""

from __future__ import annotations

import math

from PIL import Image, ImageChops, ImageDraw, ImageFont

from comfyvn.render.builtin.faces import Pen, draw_face
from comfyvn.render.builtin.palette import RGB, Look, mix, rng, shade, vertical_gradient

FACE_BOX = (60, 50, 460, 380)  # design units redrawn per expression
WHITE: RGB = (246, 246, 250)


def _poly(pen: Pen, points, fill: RGB, line: float = 3.0) -> None:
    pen.draw.polygon(pen.pts(points), fill=fill, outline=shade(fill, 0.5), width=pen.w(line))


def _oval(pen: Pen, box, fill: RGB, line: float = 3.0) -> None:
    pen.draw.ellipse(pen.box(*box), fill=fill, outline=shade(fill, 0.5), width=pen.w(line))


def _mirror(points) -> list[tuple[float, float]]:
    return [(512 - x, y) for x, y in points]


def _back_hair(pen: Pen, look: Look) -> None:
    hair, style = look.hair, look.hair_style
    if style == "long":
        _poly(pen, [(142, 200), (370, 200), (396, 650), (330, 618), (256, 640), (182, 618), (116, 650)], hair)
    elif style == "bob":
        _poly(pen, [(142, 200), (370, 200), (380, 372), (330, 360), (256, 366), (182, 360), (132, 372)], hair)
    elif style == "ponytail":
        _poly(pen, [(318, 132), (398, 190), (428, 380), (392, 580), (370, 440), (336, 250)], hair)
    elif style == "twintails":
        tail = [(176, 168), (112, 250), (84, 450), (118, 640), (138, 450), (168, 290)]
        _poly(pen, tail, hair)
        _poly(pen, _mirror(tail), hair)
    _oval(pen, (138, 90, 374, 330), hair)


def _ties(pen: Pen, look: Look) -> None:
    if look.hair_style == "twintails":
        for x in (166, 346):
            _oval(pen, (x - 14, 164, x + 14, 192), look.accent)
    elif look.hair_style == "ponytail":
        _oval(pen, (332, 136, 360, 164), look.accent)


def _head(pen: Pen, skin: RGB) -> None:
    for x in (158, 354):
        _oval(pen, (x - 14, 232, x + 14, 282), skin)
    pts = []
    for k in range(49):
        t = math.pi * k / 48  # lower half, right to left
        taper = 1 - 0.22 * math.sin(t) ** 3
        pts.append((256 + 98 * math.cos(t) * taper, 230 + 118 * math.sin(t)))
    for k in range(1, 24):
        t = math.pi + math.pi * k / 24
        pts.append((256 + 98 * math.cos(t), 230 + 112 * math.sin(t)))
    _poly(pen, pts, skin)


def _bangs(pen: Pen, look: Look, seed: int) -> None:
    hair = look.hair
    r = rng("bangs", seed)
    fringe = []
    for k in range(9):
        x = 352 - k * 23.5
        fringe.append((x, 196 + 10 * r.random() if k % 2 == 0 else 162 + 10 * r.random()))
    top = [(150, 250), (144, 170), (172, 112), (216, 88), (256, 82), (296, 88), (340, 112), (368, 170), (362, 250)]
    _poly(pen, [*top, (354, 226), *fringe, (156, 226)], hair)
    side = [(150, 160), (182, 170), (176, 300), (160, 330), (146, 270)]
    _poly(pen, side, hair)
    _poly(pen, _mirror(side), hair)
    shine = shade(hair, 1.3)
    pen.draw.arc(pen.box(176, 108, 336, 200), 205, 250, fill=shine, width=pen.w(8))
    pen.draw.arc(pen.box(176, 108, 336, 200), 262, 290, fill=shine, width=pen.w(8))


def _arms(pen: Pen, look: Look, long_sleeves: bool) -> None:
    arm = [(158, 420), (128, 460), (112, 640), (120, 700), (146, 700), (154, 630), (178, 470)]
    sleeve = [(160, 410), (124, 456), (108, 660 if long_sleeves else 520), (152, 660 if long_sleeves else 520),
              (182, 470)]
    for flip in (False, True):
        f = _mirror if flip else list
        _poly(pen, f(arm), look.skin)
        hx = 380 if flip else 132
        _oval(pen, (hx - 20, 690, hx + 20, 742), look.skin)
        _poly(pen, f(sleeve), WHITE if look.outfit == "uniform" else look.clothes)


TORSO = [(206, 384), (306, 384), (358, 408), (372, 452), (350, 560), (332, 652), (180, 652), (162, 560), (140, 452),
         (154, 408)]


def _outfit(pen: Pen, look: Look) -> None:
    c, accent, skin = look.clothes, look.accent, look.skin
    legs = [(194, 860), (244, 860), (240, 1030), (198, 1030)]
    kind = look.outfit
    if kind == "hoodie":
        _oval(pen, (176, 340, 336, 420), shade(c, 0.85))
    _poly(pen, [(232, 300), (280, 300), (282, 400), (230, 400)], skin)
    pen.draw.polygon(pen.pts([(232, 318), (280, 318), (280, 344), (256, 356), (232, 344)]), fill=shade(skin, 0.85))
    _arms(pen, look, kind in ("jacket", "robe", "hoodie"))
    if kind in ("dress", "uniform"):
        for leg in (legs, _mirror(legs)):
            _poly(pen, leg, skin)
            if kind == "uniform":
                _poly(pen, [(leg[0][0], 930), (leg[1][0], 930), leg[2], leg[3]], (40, 40, 56))
        skirt_c = c if kind == "dress" else shade(c, 0.8)
        hem = 900 if kind == "dress" else 830
        _poly(pen, [(180, 640), (332, 640), (388, hem), (124, hem)], skirt_c)
        if kind == "uniform":
            for k in range(1, 8):
                x0, x1 = 180 + k * 19, 124 + k * 33
                pen.draw.line(pen.pts([(x0, 650), (x1, hem)]), fill=shade(skirt_c, 0.7), width=pen.w(3))
        else:
            pen.draw.line(pen.pts([(128, hem - 14), (384, hem - 14)]), fill=accent, width=pen.w(8))
        _poly(pen, TORSO, c if kind == "dress" else WHITE)
    elif kind == "robe":
        _poly(pen, [(180, 640), (332, 640), (378, 1030), (134, 1030)], c)
        pen.draw.line(pen.pts([(256, 660), (256, 1030)]), fill=shade(c, 0.7), width=pen.w(3))
        _poly(pen, TORSO, c)
    else:
        pants = (56, 58, 74) if kind == "hoodie" else shade(c, 0.45)
        _poly(pen, [(180, 640), (332, 640), (336, 1030), (262, 1030), (256, 760), (250, 1030), (176, 1030)], pants)
        _poly(pen, TORSO, c if kind == "hoodie" else WHITE)
    if kind == "dress":
        _poly(pen, [(222, 384), (290, 384), (256, 430)], skin, 2)
        _oval(pen, (240, 420, 272, 446), accent)
    elif kind == "uniform":
        _poly(pen, [(206, 384), (306, 384), (350, 410), (330, 470), (256, 520), (182, 470), (162, 410)], c)
        _poly(pen, [(222, 386), (290, 386), (256, 470)], WHITE, 2)
        pen.draw.line(pen.pts([(186, 460), (256, 508), (326, 460)]), fill=WHITE, width=pen.w(5))
        _poly(pen, [(256, 470), (222, 450), (214, 500)], accent)
        _poly(pen, [(256, 470), (290, 450), (298, 500)], accent)
        _poly(pen, [(248, 470), (264, 470), (270, 540), (242, 540)], accent)
    elif kind == "jacket":
        _poly(pen, [(248, 400), (264, 400), (272, 520), (256, 540), (240, 520)], accent, 2)
        panel = [(206, 384), (154, 408), (140, 452), (162, 560), (180, 652), (250, 652), (250, 540), (226, 430)]
        lapel = [(206, 384), (226, 430), (246, 480), (212, 404)]
        for f in (list, _mirror):
            _poly(pen, f(panel), c)
            _poly(pen, f(lapel), shade(c, 1.15), 2)
    elif kind == "robe":
        _poly(pen, [(220, 384), (292, 384), (256, 480)], skin, 2)
        pen.draw.line(pen.pts([(214, 386), (262, 500), (300, 386)]), fill=accent, width=pen.w(10))
        _poly(pen, [(180, 610), (332, 610), (334, 650), (178, 650)], accent)
    elif kind == "hoodie":
        _poly(pen, [(200, 560), (312, 560), (324, 630), (188, 630)], shade(c, 0.88))
        for x in (240, 272):
            pen.draw.line(pen.pts([(x, 400), (x, 470)]), fill=WHITE, width=pen.w(4))


def _accessory(pen: Pen, look: Look, seed: int) -> None:
    pick = rng("accessory", seed).randrange(3)
    if pick == 1:
        _poly(pen, [(318, 120), (344, 108), (350, 136), (326, 146)], look.accent, 2)
    elif pick == 2:
        _poly(pen, [(300, 110), (330, 90), (334, 130)], look.accent, 2)
        _poly(pen, [(340, 118), (372, 106), (364, 146)], look.accent, 2)


def _label(pen: Pen, name: str, look: Look, y: float = 986) -> None:
    text = name if len(name) <= 24 else name[:23] + "\u2026"
    size = 30.0
    font = ImageFont.load_default(size=max(6, round(size * pen.scale)))
    while size > 10 and font.getlength(text) > 420 * pen.scale:
        size -= 2
        font = ImageFont.load_default(size=max(6, round(size * pen.scale)))
    half = font.getlength(text) / pen.scale / 2 + 18
    box = pen.box(256 - half, y - 24, 256 + half, y + 24)
    pen.draw.rounded_rectangle(box, radius=pen.w(14), fill=(34, 30, 44), outline=look.accent, width=pen.w(3))
    pen.draw.text(pen.p(256, y), text, fill=(250, 250, 252), font=font, anchor="mm")


class Figure:
    """A character's body drawn once; ``with_face`` adds one expression."""

    def __init__(self, name: str, look: Look, width: int, height: int, seed: int, label: bool = True) -> None:
        self.look = look
        self.ss = 2 if width * height <= 1_100_000 else 1
        self.scale = min(width / 512, height / 1024)
        ox, oy = (width - 512 * self.scale) / 2, height - 1024 * self.scale
        ss = self.ss
        big = Image.new("RGBA", (width * ss, height * ss), (*shade(look.hair, 0.5), 0))
        pen = Pen(ImageDraw.Draw(big), self.scale * ss, ox * ss, oy * ss)
        _back_hair(pen, look)
        _outfit(pen, look)
        _head(pen, look.skin)
        _bangs(pen, look, seed)
        _ties(pen, look)
        _accessory(pen, look, seed)
        self._shade(big, pen)
        x0, y0, x1, y1 = FACE_BOX
        self.face_at = (max(0, math.floor(ox + x0 * self.scale)), max(0, math.floor(oy + y0 * self.scale)))
        end = (min(width, math.ceil(ox + x1 * self.scale)), min(height, math.ceil(oy + y1 * self.scale)))
        end = (max(end[0], self.face_at[0] + 1), max(end[1], self.face_at[1] + 1))
        crop = (self.face_at[0] * ss, self.face_at[1] * ss, end[0] * ss, end[1] * ss)
        self.face_base = big.crop(crop)
        self.face_origin = (ox * ss - crop[0], oy * ss - crop[1])
        if label:
            _label(pen, name, look)
        self.base = big.reduce(ss) if ss > 1 else big

    def _shade(self, big: Image.Image, pen: Pen) -> None:
        """Cel shading: darken the figure's right side along a diagonal."""
        mask = Image.new("L", big.size, 0)
        ImageDraw.Draw(mask).polygon(pen.pts([(300, 0), (600, 0), (600, 1100), (360, 1100), (330, 500)]), fill=56)
        shadow = ImageChops.multiply(big.getchannel("A"), mask)
        big.paste((40, 24, 70), (0, 0), shadow)

    def with_face(self, expression: str) -> Image.Image:
        face = self.face_base.copy()
        pen = Pen(ImageDraw.Draw(face), self.scale * self.ss, *self.face_origin)
        look = self.look
        draw_face(pen, expression, skin=look.skin, hair=look.hair, iris=look.eyes, accent=look.accent)
        out = self.base.copy()
        out.paste(face.reduce(self.ss) if self.ss > 1 else face, self.face_at)
        return out


def portrait(figure: Figure, name: str, expression: str, size: int) -> Image.Image:
    """Head and shoulders on a soft backdrop in the character's colours, with the name."""
    look = figure.look
    sprite = figure.with_face(expression)
    top = round(sprite.height * 0.045)
    crop = sprite.crop((0, top, size, top + size))
    out = Image.new("RGBA", (size, size))
    out.paste(vertical_gradient(size, size, [(0.0, mix(look.accent, (255, 255, 255), 0.55)),
                                             (1.0, mix(look.clothes, (255, 255, 255), 0.35))]))
    d = ImageDraw.Draw(out)
    d.ellipse((size * 0.1, size * 0.06, size * 0.9, size * 0.86), fill=mix(look.accent, (255, 255, 255), 0.75))
    out.alpha_composite(crop)
    pen = Pen(ImageDraw.Draw(out), size / 512)
    _label(pen, name, look, y=478)
    return out
