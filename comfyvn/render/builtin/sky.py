"""Sky, light and weather layers for built-in backgrounds.

All functions draw onto a ``Stage`` (an RGB image plus the scene's time, weather and seeded RNG).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFilter

from comfyvn.render.builtin.palette import RGB, SKIES, mix, shade, vertical_gradient

# How bright lit surfaces are, and the colour light takes, per time of day.
LIGHT: dict[str, tuple[float, RGB, float]] = {
    "dawn": (0.82, (255, 170, 150), 0.18),
    "morning": (1.0, (255, 246, 230), 0.05),
    "noon": (1.04, (255, 255, 255), 0.0),
    "afternoon": (0.96, (255, 220, 170), 0.1),
    "evening": (0.7, (250, 130, 90), 0.22),
    "night": (0.34, (40, 60, 120), 0.3),
}
_RADIAL: list[Image.Image] = []


@dataclass
class Stage:
    """The canvas being drawn and the facts of the scene."""

    image: Image.Image
    time: str
    weather: str
    rnd: random.Random
    words: list[str] = field(default_factory=list)

    @property
    def w(self) -> int:
        return self.image.width

    @property
    def h(self) -> int:
        return self.image.height

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.image)

    @property
    def dark(self) -> bool:
        return self.time == "night" or self.weather == "storm"

    def lit(self, color: RGB, amount: float = 1.0) -> RGB:
        """A surface colour as the scene's light shows it (``amount`` 0 = unlit, 1 = fully)."""
        bright, tint, tint_amount = LIGHT[self.time]
        if self.weather in ("clouds", "rain", "fog"):
            bright *= 0.86
        elif self.weather == "storm":
            bright *= 0.62
        out = mix(shade(color, min(bright, 1.0)), tint, tint_amount)
        return mix(color, out, amount)

    def sky_colors(self) -> tuple[RGB, RGB, RGB]:
        top, mid, low = SKIES[self.time]
        if self.weather in ("clouds", "rain", "fog", "snow"):
            grey = shade((150, 156, 168), LIGHT[self.time][0])
            top, mid, low = mix(top, grey, 0.6), mix(mid, grey, 0.6), mix(low, grey, 0.5)
        elif self.weather == "storm":
            grey = shade((70, 74, 90), LIGHT[self.time][0] + 0.2)
            top, mid, low = mix(top, grey, 0.8), mix(mid, grey, 0.75), mix(low, grey, 0.65)
        return top, mid, low

    def ground(self, color: RGB) -> RGB:
        """A ground colour, white-covered in snow, as the light shows it."""
        return self.lit(mix(color, (236, 240, 248), 0.75) if self.weather == "snow" else color)

    def haze(self, color: RGB, depth: float) -> RGB:
        """Blend a far colour towards the horizon sky (aerial perspective; depth 0 near .. 1 far)."""
        return mix(color, self.sky_colors()[2], depth)


def radial(size: int, strength: float = 1.0, power: float = 2.0) -> Image.Image:
    """An L mask, bright in the centre and fading to 0 at the edge."""
    if not _RADIAL:
        _RADIAL.append(Image.radial_gradient("L"))
    lut = [round(strength * 255 * max(0.0, 1 - v / 181) ** power) for v in range(256)]  # 181 = edge
    return _RADIAL[0].point(lut).resize((max(size, 1), max(size, 1)), Image.Resampling.BILINEAR)


def glow(image: Image.Image, cx: float, cy: float, radius: float, color: RGB, strength: float = 0.8,
         power: float = 2.0) -> None:
    """Soft light around a point."""
    r = max(int(radius), 1)
    image.paste(color, (int(cx) - r, int(cy) - r), radial(2 * r, strength, power))


def paint_sky(st: Stage, horizon: float) -> None:
    """Gradient sky down to ``horizon`` (fraction of height), then the horizon colour below."""
    top, mid, low = st.sky_colors()
    st.image.paste(vertical_gradient(st.w, st.h, [(0.0, top), (horizon * 0.55, mid), (horizon, low), (1.0, low)]))


def paint_lights(st: Stage, horizon: float) -> None:
    """Stars, the sun or the moon."""
    w, h, r = st.w, st.h, st.rnd
    overcast = st.weather in ("clouds", "rain", "storm", "snow", "fog")
    d = st.draw
    if st.time == "night" and not overcast:
        for _ in range(int(w * h / 9000)):
            x, y = r.random() * w, (r.random() ** 1.6) * h * horizon * 0.95
            size = w / 1500 * (0.6 + 1.6 * r.random() ** 4)
            d.ellipse((x - size, y - size, x + size, y + size), fill=mix((255, 255, 240), (180, 200, 255), r.random()))
    place = {"dawn": (0.22, 0.92), "morning": (0.3, 0.42), "noon": (0.55, 0.16), "afternoon": (0.72, 0.35),
             "evening": (0.66, 0.86), "night": (0.78, 0.2)}[st.time]
    cx, cy = place[0] * w, place[1] * h * horizon
    if st.time == "night":
        rad = h * 0.05
        glow(st.image, cx, cy, rad * 5, (150, 170, 220), 0.35 if not overcast else 0.15)
        if not overcast:
            mask = Image.new("L", (int(rad * 2) + 2, int(rad * 2) + 2), 0)
            md = ImageDraw.Draw(mask)
            md.ellipse((0, 0, rad * 2, rad * 2), fill=255)
            md.ellipse((rad * 0.55, -rad * 0.25, rad * 2.4, rad * 1.7), fill=0)
            st.image.paste((250, 246, 222), (int(cx - rad), int(cy - rad)), mask)
        return
    rad = h * (0.06 if st.time in ("dawn", "evening") else 0.045)
    color = (255, 190, 110) if st.time in ("dawn", "evening") else (255, 250, 228)
    if overcast:
        glow(st.image, cx, cy, rad * 6, mix(color, (255, 255, 255), 0.5), 0.3)
        return
    glow(st.image, cx, cy, rad * 9, color, 0.55, 2.6)
    glow(st.image, cx, cy, rad * 2.2, (255, 255, 240), 0.6)
    d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=mix(color, (255, 255, 255), 0.5))


def paint_clouds(st: Stage, horizon: float, count: int | None = None) -> None:
    """Soft clouds: drawn at a quarter size, blurred, scaled up."""
    w, h, r = st.w, st.h, st.rnd
    heavy = st.weather in ("clouds", "rain", "storm", "snow")
    if count is None:
        count = {"clear": 3, "fog": 2}.get(st.weather, 10 if heavy else 4)
    lw, lh = max(w // 4, 4), max(h // 4, 4)
    top, mid, low = st.sky_colors()
    base = mix((255, 255, 255), low, 0.2)
    if st.time == "night":
        base = mix((110, 120, 150), top, 0.35)
    elif st.time in ("evening", "dawn"):
        base = (252, 186, 160)
    if st.weather == "storm":
        base = shade(base, 0.5)
    elif heavy:
        base = shade(base, 0.86)
    layer = Image.new("RGBA", (lw, lh), (*base, 0))
    d = ImageDraw.Draw(layer)
    for _ in range(count):
        cx, cy = r.random() * lw, (0.12 + 0.55 * r.random()) * lh * horizon
        span = lw * (0.14 + 0.16 * r.random()) * (1.6 if heavy else 1.0)
        alpha = int(210 + 40 * r.random()) if heavy else int(170 + 60 * r.random())
        flat = cy + span * 0.12
        for k in range(6):
            px = cx + (k / 5 - 0.5) * span * 0.8
            pr = span * (0.14 + 0.16 * math.sin(math.pi * (k + 0.5) / 6)) * (0.75 + 0.5 * r.random())
            d.ellipse((px - pr, flat - pr * 1.4, px + pr, flat + pr * 0.2), fill=(*base, alpha))
        d.rectangle((cx - span * 0.42, flat - span * 0.05, cx + span * 0.42, flat), fill=(*base, alpha))
    layer = layer.filter(ImageFilter.GaussianBlur(max(lw / 400, 0.8))).resize((w, h), Image.Resampling.BILINEAR)
    st.image.paste(layer, (0, 0), layer)


def paint_weather(st: Stage, box: tuple[int, int, int, int] | None = None) -> None:
    """Rain, snow, fog or storm over the whole image or only ``box`` (a window)."""
    x0, y0, x1, y1 = box or (0, 0, st.w, st.h)
    bw, bh = x1 - x0, y1 - y0
    r = st.rnd
    weather = st.weather
    if weather not in ("rain", "storm", "snow", "fog"):
        return
    layer = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    unit = max(st.w / 1280, 0.25)
    if weather in ("rain", "storm"):
        n = int(bw * bh / (1400 if weather == "storm" else 2000) / unit / unit)
        color = (200, 210, 230) if not st.dark else (150, 160, 190)
        for _ in range(n):
            x, y = r.random() * (bw + bh * 0.3), r.random() * bh
            ln = (14 + 30 * r.random()) * unit
            d.line((x, y, x - ln * 0.25, y + ln), fill=(*color, int(70 + 90 * r.random())), width=max(1, round(unit)))
    if weather == "storm" and box is None:
        bx = (0.2 + 0.6 * r.random()) * bw
        pts = [(bx, 0.0)]
        while pts[-1][1] < bh * 0.55:
            px, py = pts[-1]
            pts.append((px + (r.random() - 0.5) * 60 * unit, py + (20 + 40 * r.random()) * unit))
        glow(st.image, bx, bh * 0.15, bh * 0.5, (200, 210, 255), 0.35)
        d.line(pts, fill=(255, 255, 255, 240), width=max(2, round(3 * unit)), joint="curve")
    if weather == "snow":
        n = int(bw * bh / 2600 / unit / unit)
        for _ in range(n):
            x, y = r.random() * bw, r.random() * bh
            s = (1.2 + 3.5 * r.random() ** 2) * unit
            d.ellipse((x - s, y - s, x + s, y + s), fill=(255, 255, 255, int(170 + 80 * r.random())))
    if weather == "fog":
        fog = mix((220, 224, 230), st.sky_colors()[2], 0.4)
        mask = vertical_gradient(1, 64, [(0.0, (40, 40, 40)), (0.55, (170, 170, 170)), (1.0, (120, 120, 120))])
        layer.paste(fog, (0, 0), mask.convert("L").resize((bw, bh), Image.Resampling.BILINEAR))
    base = st.image.crop((x0, y0, x1, y1)).convert("RGBA")
    base.alpha_composite(layer)
    st.image.paste(base.convert("RGB"), (x0, y0))


def haze_band(st: Stage, y: float, height: float, strength: float = 0.5) -> None:
    """A band of mist along a line (between depth layers); thicker in fog."""
    if st.weather == "fog":
        strength = min(1.0, strength + 0.45)
    band = vertical_gradient(1, 32, [(0.0, (0, 0, 0)), (0.6, (255, 255, 255)), (1.0, (0, 0, 0))]).convert("L")
    band = band.point([round(v * strength) for v in range(256)]).resize((st.w, max(int(height), 1)))
    st.image.paste(st.sky_colors()[2], (0, int(y - height * 0.6)), band)
