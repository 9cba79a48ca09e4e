"""Interior backgrounds: a back wall with a window onto the scene's sky, a floor, and furniture by room type."""

from __future__ import annotations

import math

from PIL import Image

from comfyvn.render.builtin.palette import RGB, mix, shade, vertical_gradient
from comfyvn.render.builtin.sky import Stage, glow, paint_clouds, paint_lights, paint_sky, paint_weather

ROOMS: tuple[tuple[str, set[str]], ...] = (
    ("classroom", {"classroom", "school", "lecture", "lab", "laboratory"}),
    ("cafe", {"cafe", "caf", "coffee", "restaurant", "diner", "shop", "store", "lounge", "bakery"}),
    ("library", {"library", "study", "archive", "bookstore", "books"}),
    ("bedroom", {"bedroom", "dorm", "bed", "apartment", "attic"}),
    ("tavern", {"tavern", "inn", "pub", "bar", "kitchen", "basement"}),
    ("hall", {"throne", "castle", "palace", "chapel", "church", "temple", "chamber", "hall", "hallway"}),
)
INDOOR_LIGHT = {"dawn": 0.85, "morning": 1.0, "noon": 1.0, "afternoon": 0.97, "evening": 0.8, "night": 0.58}
WARM = (255, 196, 130)


def room_type(words: list[str]) -> str:
    wordset = set(words)
    return next((name for name, keys in ROOMS if wordset & keys), "room")


def lit(st: Stage, color: RGB) -> RGB:
    """Indoor light: dimmer and warmer in the evening and at night (lamps are on)."""
    f = INDOOR_LIGHT[st.time] * (0.88 if st.weather in ("rain", "storm", "clouds") else 1.0)
    warm = 0.22 if st.time in ("evening", "night") else 0.05
    return mix(shade(color, f), WARM, warm)


def lamp(st: Stage, x: float, y: float, size: float) -> None:
    strength = 0.75 if st.time in ("evening", "night") or st.weather == "storm" else 0.35
    glow(st.image, x, y, size, (255, 214, 150), strength, 1.6)


def window(st: Stage, box: tuple[float, float, float, float], frame: RGB, curtain: RGB | None) -> None:
    """A window showing the sky, far hills or roofs, and the weather."""
    x0, y0, x1, y1 = (int(v) for v in box)
    view = Stage(Image.new("RGB", (x1 - x0, y1 - y0)), st.time, st.weather, st.rnd, st.words)
    hz = 0.78
    paint_sky(view, hz)
    paint_lights(view, hz)
    paint_clouds(view, hz, count=3)
    far = view.lit(view.haze((90, 110, 120), 0.45))
    vd = view.draw
    vw, vh = view.w, view.h
    x = 0.0
    while x < vw:
        bw = vw * (0.1 + 0.15 * st.rnd.random())
        vd.rectangle((x, vh * (hz - 0.05 - 0.2 * st.rnd.random()), x + bw, vh), fill=far)
        x += bw
    paint_weather(view)
    st.image.paste(view.image, (x0, y0))
    d = st.draw
    bar = max(2, int((x1 - x0) * 0.035))
    d.rectangle((x0, y0, x1, y1), outline=frame, width=bar)
    d.rectangle(((x0 + x1) / 2 - bar / 2, y0, (x0 + x1) / 2 + bar / 2, y1), fill=frame)
    d.rectangle((x0, (y0 + y1) / 2 - bar / 2, x1, (y0 + y1) / 2 + bar / 2), fill=frame)
    d.rectangle((x0 - bar, y1, x1 + bar, y1 + bar * 1.5), fill=shade(frame, 0.85))
    if curtain:
        span = (x1 - x0) * 0.22
        for left in (True, False):
            cx = x0 - bar * 2 if left else x1 + bar * 2
            edge = cx + span if left else cx - span
            pts = [(cx, y0 - bar * 3), (edge, y0 - bar * 3), (cx + (edge - cx) * 0.45, y1 + bar * 4), (cx, y1 + bar * 4)]
            d.polygon(pts, fill=curtain)
            for k in range(1, 4):
                fx = cx + (edge - cx) * 0.11 * k
                d.line((fx, y0 - bar * 3, fx, y1 + bar * 4), fill=shade(curtain, 0.82), width=max(1, bar // 2))
        d.rectangle((x0 - bar * 4, y0 - bar * 4, x1 + bar * 4, y0 - bar * 3), fill=shade(frame, 0.6))


def floor(st: Stage, fy: float, color: RGB, planks: bool = True) -> None:
    w, h = st.w, st.h
    st.image.paste(vertical_gradient(w, h - int(fy), [(0.0, lit(st, shade(color, 0.75))), (1.0, lit(st, color))]),
                   (0, int(fy)))
    d = st.draw
    seam = lit(st, shade(color, 0.7))
    lw = max(1, int(h / 500))
    if planks:
        for k in range(-14, 15):
            d.line((w / 2 + k * w * 0.045, fy, w / 2 + k * w * 0.11, h), fill=seam, width=lw)
    y, gap = fy, h * 0.025
    while y < h:
        d.line((0, y, w, y), fill=seam, width=lw)
        gap *= 1.35
        y += gap
    d.rectangle((0, fy - h * 0.02, w, fy), fill=lit(st, shade(color, 0.55)))


def wall(st: Stage, fy: float, upper: RGB, lower: RGB | None) -> None:
    w = st.w
    st.image.paste(vertical_gradient(w, int(fy), [(0.0, lit(st, shade(upper, 0.9))), (1.0, lit(st, upper))]), (0, 0))
    if lower:
        d = st.draw
        d.rectangle((0, fy * 0.72, w, fy), fill=lit(st, lower))
        d.rectangle((0, fy * 0.72, w, fy * 0.735), fill=lit(st, shade(lower, 0.75)))


def books(st: Stage, box: tuple[float, float, float, float], rows: int) -> None:
    x0, y0, x1, y1 = box
    d = st.draw
    wood = lit(st, (92, 58, 36))
    d.rectangle(box, fill=wood)
    shelf_h = (y1 - y0) / rows
    palette = [(150, 40, 40), (40, 70, 130), (50, 110, 70), (190, 150, 60), (110, 60, 110), (200, 190, 170),
               (60, 50, 40), (170, 90, 50)]
    for row in range(rows):
        top, bottom = y0 + row * shelf_h + shelf_h * 0.08, y0 + (row + 1) * shelf_h - shelf_h * 0.06
        d.rectangle((x0 + shelf_h * 0.08, top, x1 - shelf_h * 0.08, bottom), fill=lit(st, (50, 30, 20)))
        x = x0 + shelf_h * 0.1
        while x < x1 - shelf_h * 0.3:
            bw = shelf_h * (0.1 + 0.12 * st.rnd.random())
            bh = (bottom - top) * (0.7 + 0.28 * st.rnd.random())
            color = lit(st, st.rnd.choice(palette))
            d.rectangle((x, bottom - bh, x + bw, bottom), fill=color)
            d.line((x, bottom - bh * 0.8, x + bw, bottom - bh * 0.8), fill=shade(color, 1.3), width=max(1, int(bw / 8)))
            x += bw + shelf_h * 0.01
        d.rectangle((x0, bottom, x1, bottom + shelf_h * 0.06), fill=shade(wood, 1.15))


def desk(st: Stage, x: float, y: float, width: float, color: RGB) -> None:
    d = st.draw
    leg = lit(st, (90, 96, 104))
    d.rectangle((x - width * 0.42, y, x - width * 0.38, y + width * 0.5), fill=leg)
    d.rectangle((x + width * 0.38, y, x + width * 0.42, y + width * 0.5), fill=leg)
    d.polygon([(x - width * 0.45, y), (x + width * 0.45, y), (x + width * 0.5, y + width * 0.08),
               (x - width * 0.5, y + width * 0.08)], fill=lit(st, color))
    d.rectangle((x - width * 0.5, y + width * 0.08, x + width * 0.5, y + width * 0.11), fill=lit(st, shade(color, 0.7)))


def classroom(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    wall(st, fy, (232, 226, 204), (150, 176, 150))
    floor(st, fy, (176, 134, 92))
    d = st.draw
    d.rectangle((w * 0.14, h * 0.12, w * 0.6, h * 0.47), fill=lit(st, (120, 86, 54)))
    d.rectangle((w * 0.15, h * 0.135, w * 0.59, h * 0.455), fill=lit(st, (44, 82, 62)))
    chalk = lit(st, (220, 230, 220))
    for k in range(5):
        y = h * (0.18 + 0.05 * k)
        x = w * (0.18 + 0.02 * st.rnd.random())
        d.line((x, y, x + w * (0.1 + 0.2 * st.rnd.random()), y + h * 0.004), fill=chalk, width=max(1, h // 400))
    d.ellipse((w * 0.45, h * 0.2, w * 0.53, h * 0.33), outline=chalk, width=max(1, h // 400))
    cx, cy, cr = w * 0.37, h * 0.06, h * 0.04
    d.ellipse((cx - cr, cy - cr, cx + cr, cy + cr), fill=lit(st, (250, 250, 245)), outline=lit(st, (60, 60, 60)),
              width=max(1, h // 300))
    d.line((cx, cy, cx, cy - cr * 0.7), fill=(40, 40, 40), width=max(1, h // 400))
    d.line((cx, cy, cx + cr * 0.5, cy), fill=(40, 40, 40), width=max(1, h // 400))
    for x in (0.68, 0.84):
        window(st, (w * x, h * 0.1, w * (x + 0.13), h * 0.5), lit(st, (230, 230, 226)), None)
    for row, (y, size) in enumerate(((0.76, 0.16), (0.9, 0.22))):
        for k in range(3 + row):
            x = w * ((k + 0.5) / (3 + row))
            desk(st, x, h * y, w * size, (196, 160, 110))


def cafe(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    wall(st, fy, (226, 196, 160), (120, 78, 50))
    floor(st, fy, (150, 100, 66))
    window(st, (w * 0.06, h * 0.12, w * 0.36, h * 0.52), lit(st, (90, 60, 40)), lit(st, (170, 60, 50)))
    d = st.draw
    d.rectangle((w * 0.64, h * 0.1, w * 0.92, h * 0.34), fill=lit(st, (40, 40, 38)), outline=lit(st, (120, 80, 50)),
                width=max(2, h // 150))
    for k in range(5):
        y = h * (0.14 + 0.038 * k)
        d.line((w * 0.67, y, w * (0.75 + 0.06 * st.rnd.random()), y), fill=lit(st, (230, 220, 200)),
               width=max(1, h // 400))
        d.line((w * 0.85, y, w * 0.89, y), fill=lit(st, (240, 200, 120)), width=max(1, h // 400))
    d.rectangle((w * 0.55, h * 0.5, w, fy + h * 0.08), fill=lit(st, (110, 70, 46)))
    d.rectangle((w * 0.53, h * 0.48, w, h * 0.51), fill=lit(st, (70, 44, 30)))
    d.rectangle((w * 0.7, h * 0.42, w * 0.77, h * 0.48), fill=lit(st, (60, 60, 66)))
    for x in (0.2, 0.45, 0.72):
        d.line((w * x, 0, w * x, h * 0.16), fill=(40, 36, 34), width=max(1, h // 300))
        d.polygon([(w * (x - 0.03), h * 0.2), (w * (x + 0.03), h * 0.2), (w * (x + 0.012), h * 0.16),
                   (w * (x - 0.012), h * 0.16)], fill=lit(st, (50, 80, 70)))
        lamp(st, w * x, h * 0.21, h * 0.22)
    for x, size in ((0.18, 0.1), (0.42, 0.12)):
        d = st.draw
        tx, ty = w * x, h * 0.84
        d.rectangle((tx - w * 0.006, ty, tx + w * 0.006, ty + h * 0.14), fill=lit(st, (50, 40, 34)))
        d.ellipse((tx - w * size / 2, ty - h * 0.025, tx + w * size / 2, ty + h * 0.025), fill=lit(st, (180, 130, 90)))
        d.ellipse((tx - w * 0.012, ty - h * 0.04, tx + w * 0.012, ty - h * 0.01), fill=lit(st, (245, 245, 240)))


def library(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    wall(st, fy, (120, 70, 56), None)
    floor(st, fy, (120, 80, 56))
    books(st, (w * 0.0, h * 0.04, w * 0.36, fy), 5)
    books(st, (w * 0.64, h * 0.04, w, fy), 5)
    window(st, (w * 0.42, h * 0.08, w * 0.58, h * 0.5), lit(st, (80, 50, 34)), lit(st, (120, 40, 46)))
    d = st.draw
    d.rectangle((w * 0.25, h * 0.82, w * 0.75, h * 0.86), fill=lit(st, (110, 70, 44)))
    d.rectangle((w * 0.27, h * 0.86, w * 0.29, h), fill=lit(st, (80, 50, 34)))
    d.rectangle((w * 0.71, h * 0.86, w * 0.73, h), fill=lit(st, (80, 50, 34)))
    d.rectangle((w * 0.6, h * 0.74, w * 0.605, h * 0.82), fill=lit(st, (180, 150, 60)))
    d.chord((w * 0.575, h * 0.72, w * 0.63, h * 0.78), 180, 360, fill=lit(st, (40, 110, 70)))
    lamp(st, w * 0.6, h * 0.76, h * 0.2)


def bedroom(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    tone = st.rnd.choice(((214, 200, 226), (200, 222, 214), (236, 214, 196), (206, 216, 236)))
    wall(st, fy, tone, shade(tone, 0.85))
    floor(st, fy, (178, 138, 100))
    window(st, (w * 0.5, h * 0.1, w * 0.74, h * 0.48), lit(st, (245, 245, 240)), lit(st, shade(tone, 0.7)))
    d = st.draw
    d.ellipse((w * 0.3, h * 0.82, w * 0.8, h * 0.98), fill=lit(st, shade(tone, 0.75)))
    d.rectangle((w * 0.02, h * 0.4, w * 0.05, h * 0.82), fill=lit(st, (140, 96, 64)))
    d.rectangle((w * 0.02, h * 0.58, w * 0.38, h * 0.78), fill=lit(st, (245, 245, 248)))
    d.rectangle((w * 0.05, h * 0.52, w * 0.13, h * 0.6), fill=lit(st, (250, 250, 252)), outline=lit(st, (200, 200, 210)))
    blanket = lit(st, st.rnd.choice(((90, 120, 180), (190, 90, 110), (120, 160, 110))))
    d.rectangle((w * 0.12, h * 0.57, w * 0.38, h * 0.8), fill=blanket)
    d.rectangle((w * 0.12, h * 0.57, w * 0.14, h * 0.8), fill=shade(blanket, 1.2))
    d.rectangle((w * 0.4, h * 0.6, w * 0.47, h * 0.74), fill=lit(st, (140, 96, 64)))
    d.rectangle((w * 0.43, h * 0.54, w * 0.44, h * 0.6), fill=lit(st, (80, 80, 80)))
    d.polygon([(w * 0.41, h * 0.55), (w * 0.46, h * 0.55), (w * 0.45, h * 0.5), (w * 0.42, h * 0.5)],
              fill=lit(st, (250, 236, 200)))
    lamp(st, w * 0.435, h * 0.53, h * 0.18)
    d = st.draw
    d.rectangle((w * 0.83, h * 0.14, w * 0.95, h * 0.34), fill=lit(st, (250, 250, 250)), outline=lit(st, (90, 70, 60)),
                width=max(2, h // 200))
    d.polygon([(w * 0.84, h * 0.33), (w * 0.88, h * 0.24), (w * 0.91, h * 0.29), (w * 0.94, h * 0.22),
               (w * 0.94, h * 0.33)], fill=lit(st, (120, 170, 140)))


def tavern(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    wall(st, fy, (120, 82, 54), (86, 56, 38))
    floor(st, fy, (110, 74, 50))
    d = st.draw
    for k in range(0, 24):
        d.line((w * k / 23, 0, w * k / 23, fy * 0.72), fill=lit(st, (96, 64, 42)), width=max(1, h // 360))
    for y in (0.0, 0.09):
        d.rectangle((0, h * y, w, h * (y + 0.045)), fill=lit(st, (64, 40, 28)))
    window(st, (w * 0.06, h * 0.18, w * 0.2, h * 0.42), lit(st, (64, 40, 28)), None)
    d = st.draw
    d.rectangle((w * 0.38, h * 0.24, w * 0.62, fy), fill=lit(st, (120, 116, 112)))
    for row in range(8):
        for k in range(6):
            bx = w * (0.38 + 0.04 * k + (0.02 if row % 2 else 0))
            by = h * 0.24 + row * (fy - h * 0.24) / 8
            d.rectangle((bx, by, bx + w * 0.04, by + (fy - h * 0.24) / 8), outline=lit(st, (90, 86, 84)),
                        width=max(1, h // 500))
    d.rectangle((w * 0.43, h * 0.46, w * 0.57, fy), fill=(30, 20, 16))
    d.rectangle((w * 0.36, h * 0.22, w * 0.64, h * 0.25), fill=lit(st, (70, 46, 32)))
    for k in range(5):
        fx = w * (0.45 + 0.025 * k)
        d.polygon([(fx - w * 0.012, fy), (fx + w * 0.012, fy), (fx, fy - h * (0.08 + 0.07 * st.rnd.random()))],
                  fill=(255, 150 + 20 * (k % 3), 50))
    glow(st.image, w * 0.5, fy - h * 0.05, h * 0.45, (255, 150, 70), 0.55, 1.5)
    d = st.draw
    for x in (0.74, 0.86):
        d.rounded_rectangle((w * x, h * 0.6, w * (x + 0.1), fy + h * 0.06), radius=w * 0.02, fill=lit(st, (130, 86, 50)))
        for band in (0.66, 0.78):
            d.rectangle((w * x, h * band, w * (x + 0.1), h * (band + 0.012)), fill=lit(st, (70, 66, 62)))
    for x in (0.28, 0.72):
        d.rectangle((w * (x - 0.01), h * 0.3, w * (x + 0.01), h * 0.36), fill=lit(st, (255, 220, 150)))
        lamp(st, w * x, h * 0.33, h * 0.18)
    d = st.draw
    d.rectangle((w * 0.1, h * 0.86, w * 0.9, h * 0.9), fill=lit(st, (100, 66, 40)))
    d.rectangle((w * 0.1, h * 0.9, w * 0.9, h * 0.92), fill=lit(st, (70, 46, 30)))


def hall(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    stone = (150, 146, 150)
    wall(st, fy, stone, None)
    d = st.draw
    for row in range(14):
        y = fy * row / 14
        d.line((0, y, w, y), fill=lit(st, shade(stone, 0.8)), width=max(1, h // 500))
        for k in range(20):
            x = w * (k + (0.5 if row % 2 else 0)) / 20
            d.line((x, y, x, y + fy / 14), fill=lit(st, shade(stone, 0.8)), width=max(1, h // 500))
    floor(st, fy, (130, 124, 120), planks=False)
    d = st.draw
    d.polygon([(w * 0.44, fy), (w * 0.56, fy), (w * 0.7, h), (w * 0.3, h)], fill=lit(st, (150, 30, 40)))
    for x in (0.32, 0.68):
        top, bottom = h * 0.14, h * 0.52
        d.rectangle((w * (x - 0.04), top, w * (x + 0.04), bottom), fill=lit(st, (40, 40, 60)))
        d.pieslice((w * (x - 0.04), top - w * 0.04, w * (x + 0.04), top + w * 0.04), 180, 360,
                   fill=lit(st, (40, 40, 60)))
        window(st, (w * (x - 0.035), top, w * (x + 0.035), bottom), lit(st, (90, 86, 90)), None)
    d = st.draw
    for x in (0.12, 0.88):
        d.rectangle((w * (x - 0.035), 0, w * (x + 0.035), fy), fill=lit(st, (176, 172, 176)))
        d.rectangle((w * (x - 0.005), 0, w * (x + 0.005), fy), fill=lit(st, (150, 146, 150)))
    for x in (0.2, 0.8, 0.5):
        d.polygon([(w * (x - 0.04), h * 0.04), (w * (x + 0.04), h * 0.04), (w * (x + 0.04), h * 0.36),
                   (w * x, h * 0.32), (w * (x - 0.04), h * 0.36)], fill=lit(st, (130, 30, 40)))
        d.ellipse((w * (x - 0.02), h * 0.14, w * (x + 0.02), h * 0.14 + w * 0.04), fill=lit(st, (220, 180, 70)))
    for x in (0.2, 0.8):
        d.rectangle((w * (x - 0.006), h * 0.42, w * (x + 0.006), h * 0.48), fill=(60, 50, 40))
        lamp(st, w * x, h * 0.41, h * 0.16)


def room(st: Stage, fy: float) -> None:
    w, h = st.w, st.h
    wall(st, fy, (222, 210, 186), (170, 140, 110))
    floor(st, fy, (166, 122, 84))
    window(st, (w * 0.38, h * 0.1, w * 0.62, h * 0.46), lit(st, (245, 245, 240)), lit(st, (110, 130, 150)))
    books(st, (w * 0.04, h * 0.2, w * 0.2, fy), 4)
    d = st.draw
    d.rectangle((w * 0.74, h * 0.16, w * 0.86, h * 0.32), fill=lit(st, (90, 70, 56)))
    d.rectangle((w * 0.75, h * 0.175, w * 0.85, h * 0.305), fill=lit(st, (150, 180, 200)))
    d.ellipse((w * 0.8, h * 0.19, w * 0.83, h * 0.24), fill=lit(st, (250, 230, 160)))
    sofa = lit(st, (110, 80, 120))
    d.rounded_rectangle((w * 0.6, h * 0.6, w * 0.96, h * 0.86), radius=h * 0.04, fill=sofa)
    d.rounded_rectangle((w * 0.62, h * 0.7, w * 0.94, h * 0.82), radius=h * 0.03, fill=shade(sofa, 1.15))
    d.rectangle((w * 0.28, h * 0.66, w * 0.3, h * 0.95), fill=lit(st, (60, 60, 60)))
    d.polygon([(w * 0.26, h * 0.66), (w * 0.32, h * 0.66), (w * 0.31, h * 0.58), (w * 0.27, h * 0.58)],
              fill=lit(st, (250, 236, 200)))
    lamp(st, w * 0.29, h * 0.63, h * 0.2)
    d = st.draw
    px, py = w * 0.5, h * 0.9
    d.polygon([(px - w * 0.03, py - h * 0.08), (px + w * 0.03, py - h * 0.08), (px + w * 0.022, py),
               (px - w * 0.022, py)], fill=lit(st, (170, 100, 70)))
    for k in range(7):
        a = math.radians(200 + k * 23)
        d.ellipse((px + math.cos(a) * w * 0.04 - w * 0.015, py - h * 0.13 + math.sin(a) * h * 0.06 - h * 0.02,
                   px + math.cos(a) * w * 0.04 + w * 0.015, py - h * 0.13 + math.sin(a) * h * 0.06 + h * 0.02),
                  fill=lit(st, (60, 130, 70)))


def draw_interior(st: Stage) -> None:
    """Draw the room the location words name (a generic room when none matches)."""
    kind = room_type(st.words)
    fy = st.h * 0.7
    {"classroom": classroom, "cafe": cafe, "library": library, "bedroom": bedroom, "tavern": tavern,
     "hall": hall, "room": room}[kind](st, fy)
