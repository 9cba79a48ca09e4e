"""Outdoor backgrounds from location words, and the scene reading shared with interiors."""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

from comfyvn.render.builtin import interiors
from comfyvn.render.builtin.palette import RGB, TIME_WORDS, WEATHER_WORDS, mix, rng, shade, vertical_gradient, words
from comfyvn.render.builtin.sky import Stage, glow, haze_band, paint_clouds, paint_lights, paint_sky, paint_weather

INTERIOR_WORDS = {
    "room", "classroom", "cafe", "caf", "coffee", "library", "bedroom", "tavern", "inn", "bar", "pub", "office",
    "kitchen", "hall", "hallway", "corridor", "shop", "store", "apartment", "house", "home", "living", "throne",
    "chamber", "church", "chapel", "hospital", "study", "dorm", "indoor", "indoors", "inside", "interior",
    "restaurant", "diner", "lounge", "basement", "attic", "bathroom", "clinic", "lab", "laboratory", "studio",
}
OUTDOOR_KINDS: tuple[tuple[str, set[str]], ...] = (
    ("castle", {"castle", "palace", "fortress", "citadel", "kingdom", "keep"}),
    ("beach", {"beach", "shore", "coast", "seaside", "bay", "island"}),
    ("sea", {"sea", "ocean", "harbor", "harbour", "port", "lake", "pier", "dock", "river", "waterfront"}),
    ("mountains", {"mountain", "mountains", "peak", "peaks", "cliff", "cliffs", "valley", "alps", "summit",
                   "canyon", "hills", "highlands"}),
    ("forest", {"forest", "woods", "wood", "jungle", "grove", "woodland", "trees", "glade", "swamp"}),
    ("city", {"city", "street", "town", "downtown", "alley", "rooftop", "station", "village", "school",
              "campus", "market", "avenue", "road", "plaza", "square", "crossing", "neon", "urban", "bridge"}),
    ("field", {"field", "meadow", "park", "garden", "countryside", "farm", "plains", "grassland", "outside"}),
)


@dataclass(frozen=True)
class Scene:
    kind: str  # interior or an outdoor kind
    time: str
    weather: str
    words: tuple[str, ...]


def read_scene(location: str, time_of_day: str | None, weather: str | None) -> Scene:
    """Decide what to draw from the location text and the optional time and weather."""
    ws = words(location)
    time = next((TIME_WORDS[w] for w in words(time_of_day) if w in TIME_WORDS), None)
    time = time or next((TIME_WORDS[w] for w in ws if w in TIME_WORDS), "afternoon")
    sky = next((WEATHER_WORDS[w] for w in words(weather) if w in WEATHER_WORDS), None)
    sky = sky or next((WEATHER_WORDS[w] for w in ws if w in WEATHER_WORDS), "clear")
    wordset = set(ws)
    if wordset & INTERIOR_WORDS and "rooftop" not in wordset and "outside" not in wordset:
        kind = "interior"
    else:
        kind = next((k for k, keys in OUTDOOR_KINDS if wordset & keys), "field")
    return Scene(kind, time, sky, tuple(ws))


def ridge(st: Stage, base: float, amp: float, rough: float, steps: int = 7) -> list[tuple[float, float]]:
    """A jagged skyline by midpoint displacement, from the left to the right edge."""
    r = st.rnd
    pts = [base - amp * (0.2 + 0.8 * r.random()) * (k % 2) for k in range(5)]
    spread = amp * 0.6
    for _ in range(steps):
        nxt = []
        for a, b in zip(pts, pts[1:]):
            nxt += [a, (a + b) / 2 + (r.random() - 0.5) * spread]
        pts = nxt + [pts[-1]]
        spread *= rough
    n = len(pts) - 1
    return [(st.w * i / n, y) for i, y in enumerate(pts)]


def fill_below(st: Stage, line: list[tuple[float, float]], color: RGB) -> None:
    st.draw.polygon([*line, (st.w, st.h), (0, st.h)], fill=color)


def hills(st: Stage, base: float, amp: float, color: RGB, phase: float) -> None:
    w = st.w
    line = [(x, base - amp * (0.6 * math.sin(x / w * 5.1 + phase) + 0.4 * math.sin(x / w * 11.3 + phase * 2)))
            for x in range(0, w + 16, 16)]
    fill_below(st, line, color)


def pine(d: ImageDraw.ImageDraw, x: float, ground: float, height: float, color: RGB) -> None:
    width = height * 0.42
    d.rectangle((x - width * 0.06, ground - height * 0.15, x + width * 0.06, ground), fill=shade(color, 0.7))
    light = shade(color, 1.12)
    for k in range(3):
        top = ground - height * (1.0 - k * 0.22)
        bottom = ground - height * (0.12 + (2 - k) * 0.2)
        half = width * (0.5 + k * 0.25) * 0.75
        d.polygon([(x, top), (x + half, bottom), (x - half, bottom)], fill=color)
        d.polygon([(x, top), (x - half, bottom), (x - half * 0.2, bottom - (bottom - top) * 0.08)], fill=light)


def round_tree(d: ImageDraw.ImageDraw, x: float, ground: float, height: float, color: RGB) -> None:
    d.rectangle((x - height * 0.05, ground - height * 0.45, x + height * 0.05, ground), fill=(70, 50, 40))
    rad = height * 0.32
    for dx, dy, k in ((-0.5, 0.1, 0.9), (0.5, 0.1, 0.9), (0.0, -0.25, 1.0), (0.0, 0.2, 0.85)):
        c = shade(color, k)
        cx, cy = x + dx * rad, ground - height * 0.68 + dy * rad
        d.ellipse((cx - rad * 0.75, cy - rad * 0.7, cx + rad * 0.75, cy + rad * 0.7), fill=c)


def draw_path(st: Stage, horizon_y: float, color: RGB) -> None:
    """A dirt path winding from the foreground to the horizon."""
    w, h = st.w, st.h
    bend = (st.rnd.random() - 0.5) * w * 0.3
    left, right = [], []
    for k in range(21):
        t = k / 20  # 0 at the horizon, 1 at the bottom edge
        y = horizon_y + (h - horizon_y) * t
        cx = w * 0.5 + bend * math.sin(t * math.pi) * (1 - t * 0.5)
        half = w * (0.004 + 0.16 * t * t)
        left.append((cx - half, y))
        right.append((cx + half, y))
    st.draw.polygon([*left, *reversed(right)], fill=color)
    st.draw.line(left, fill=shade(color, 0.85), width=max(1, h // 300))


def outdoor_field(st: Stage, hy: float) -> None:
    r = st.rnd
    grass = (96, 150, 70)
    hills(st, hy - st.h * 0.04, st.h * 0.05, st.ground(st.haze((110, 150, 120), 0.6)), r.random() * 6)
    hills(st, hy, st.h * 0.05, st.ground(st.haze((100, 150, 90), 0.35)), r.random() * 6)
    haze_band(st, hy, st.h * 0.1, 0.0)
    d = st.draw
    for _ in range(6):
        x = r.random() * st.w
        round_tree(d, x, hy + st.h * 0.03, st.h * (0.07 + 0.04 * r.random()), st.lit(st.haze((70, 120, 60), 0.3)))
    hills(st, hy + st.h * 0.08, st.h * 0.05, st.ground(grass), r.random() * 6)
    draw_path(st, hy + st.h * 0.06, st.ground((190, 170, 130)))
    d = st.draw
    for side in (0.08, 0.9):
        round_tree(d, st.w * (side + 0.04 * r.random()), st.h * 1.02, st.h * 0.6, st.lit((60, 110, 56)))


def outdoor_forest(st: Stage, hy: float) -> None:
    r = st.rnd
    d = st.draw
    far, mid, near = (76, 120, 96), (46, 96, 64), (30, 70, 46)
    fill_below(st, [(0, hy), (st.w, hy)], st.ground((70, 110, 60)))
    for layer, (color, size, count, depth) in enumerate(((far, 0.22, 40, 0.55), (mid, 0.34, 22, 0.3))):
        c = st.lit(st.haze(color, depth))
        ground = hy + st.h * 0.03 * (layer + 1)
        for _ in range(count):
            pine(d, r.random() * st.w, ground, st.h * size * (0.7 + 0.5 * r.random()), c)
        haze_band(st, ground, st.h * 0.12, 0.3 - 0.3 * layer)
        d = st.draw
    hills(st, hy + st.h * 0.12, st.h * 0.02, st.ground((70, 112, 56)), r.random() * 6)
    draw_path(st, hy + st.h * 0.1, st.ground((150, 124, 90)))
    d = st.draw
    for x in (0.02, 0.11, 0.88, 0.97):
        pine(d, st.w * (x + 0.02 * (r.random() - 0.5)), st.h * 1.05, st.h * (0.85 + 0.2 * r.random()),
             st.lit(near))


def outdoor_mountains(st: Stage, hy: float) -> None:
    far = ridge(st, hy - st.h * 0.02, st.h * 0.4, 0.55)
    color = st.lit(st.haze((110, 120, 150), 0.45))
    fill_below(st, far, color)
    mask = Image.new("L", st.image.size, 0)
    ImageDraw.Draw(mask).polygon([*far, (st.w, st.h), (0, st.h)], fill=255)
    snow_line = min(y for _, y in far) + st.h * 0.1
    cap = Image.new("L", st.image.size, 0)
    ImageDraw.Draw(cap).polygon([(0, 0), (st.w, 0), *reversed(ridge(st, snow_line, st.h * 0.03, 0.6, 5))], fill=255)
    st.image.paste(st.lit((240, 242, 250)), (0, 0), ImageChops.multiply(mask, cap))
    haze_band(st, hy, st.h * 0.2, 0.5)
    fill_below(st, ridge(st, hy + st.h * 0.06, st.h * 0.12, 0.5), st.ground(st.haze((70, 100, 90), 0.25)))
    haze_band(st, hy + st.h * 0.12, st.h * 0.08, 0.0)
    hills(st, hy + st.h * 0.2, st.h * 0.04, st.ground((70, 110, 60)), st.rnd.random() * 6)
    d = st.draw
    for x in (0.05, 0.93):
        pine(d, st.w * x, st.h * 1.04, st.h * 0.5, st.lit((36, 72, 50)))


def outdoor_sea(st: Stage, hy: float, beach: bool) -> None:
    r, w, h = st.rnd, st.w, st.h
    top, mid, low = st.sky_colors()
    sea = st.lit((30, 90, 150), 0.7)
    st.image.paste(Image.new("RGB", (w, h - int(hy))), (0, int(hy)))
    st.image.paste(vertical_gradient(w, h - int(hy), [(0.0, mix(low, sea, 0.5)), (1.0, shade(sea, 0.7))]),
                   (0, int(hy)))
    if not beach:
        st.draw.polygon([(0, hy - h * 0.05), (w * 0.12, hy - h * 0.06), (w * 0.22, hy - h * 0.02), (w * 0.3, hy),
                         (0, hy)], fill=st.lit(st.haze((80, 100, 110), 0.5)))
    d = st.draw
    sun_x = {"dawn": 0.22, "morning": 0.3, "noon": 0.55, "afternoon": 0.72, "evening": 0.66, "night": 0.78}[st.time]
    shine = mix(low, (255, 240, 200), 0.6) if st.time != "night" else (200, 210, 235)
    for k in range(int(h * 0.45 / max(h / 240, 1))):
        t = r.random()
        y = hy + (h - hy) * t
        half = w * (0.01 + 0.06 * t) * r.random()
        cx = w * sun_x + (r.random() - 0.5) * w * 0.05 * (1 + 2 * t)
        d.line((cx - half, y, cx + half, y), fill=mix(shine, sea, 0.2 + 0.5 * t), width=max(1, int(h / 500)))
    for _ in range(int(w * h / 6000)):
        t = r.random() ** 0.7
        y = hy + (h - hy) * t
        x = r.random() * w
        half = w * (0.004 + 0.02 * t)
        d.arc((x - half, y - half * 0.3, x + half, y + half * 0.3), 200, 340, fill=mix(sea, (230, 240, 250), 0.35),
              width=max(1, int(h / 400)))
    if beach:
        sand = st.lit((232, 212, 166))
        line = [(x, h * 0.8 - h * 0.03 * math.sin(x / w * 4 + 1) - h * 0.05 * x / w) for x in range(0, w + 16, 16)]
        foam = [(x, y - h * 0.012) for x, y in line]
        d.line(foam, fill=st.lit((240, 248, 255)), width=max(2, int(h / 120)))
        fill_below(st, line, sand)
        palm(st, w * 0.88, h * 1.0, h * 0.75)


def palm(st: Stage, x: float, ground: float, height: float) -> None:
    d = st.draw
    trunk = st.lit((110, 80, 56))
    leaf = st.lit((50, 110, 60))
    pts = [(x - height * 0.25 * (t ** 2), ground - height * t) for t in (i / 10 for i in range(11))]
    for i, (a, b) in enumerate(zip(pts, pts[1:])):
        d.line((a, b), fill=shade(trunk, 0.9 + 0.1 * (i % 2)), width=int(height * (0.07 - 0.003 * i)))
    tx, ty = pts[-1]
    for angle in (200, 235, 270, 305, 340, 20, 160):
        a = math.radians(angle)
        ex, ey = tx + math.cos(a) * height * 0.38, ty + math.sin(a) * height * 0.22 + height * 0.1
        mx, my = (tx + ex) / 2, (ty + ey) / 2 - height * 0.06
        nx, ny = -math.sin(a) * height * 0.04, math.cos(a) * height * 0.04
        d.polygon([(tx, ty), (mx + nx, my + ny), (ex, ey), (mx - nx, my - ny)], fill=leaf)


def outdoor_city(st: Stage, hy: float) -> None:
    r, w, h = st.rnd, st.w, st.h
    night = st.time in ("night", "evening") or st.weather == "storm"
    for depth, (tone, tall, width) in enumerate((((120, 130, 160), 0.36, 0.07), ((70, 78, 100), 0.28, 0.1))):
        d = st.draw
        layer_color = st.lit(st.haze(tone, 0.5 - 0.3 * depth))
        x = -r.random() * w * 0.05
        base = hy + h * 0.06 * depth
        while x < w:
            bw = w * width * (0.6 + 0.8 * r.random())
            color = shade(layer_color, 0.9 + 0.2 * r.random())
            top = base - h * tall * (0.35 + 0.65 * r.random())
            d.rectangle((x, top, x + bw, h), fill=color)
            if r.random() < 0.3:
                d.rectangle((x + bw * 0.4, top - h * 0.04, x + bw * 0.45, top), fill=color)
            win = bw / 7
            for wy in range(int(top + win), int(base + h * 0.2), int(win * 1.8)):
                for k in range(3):
                    lit_on = night and r.random() < 0.45
                    fill = (255, 214, 120) if lit_on else mix(color, st.sky_colors()[1], 0.35 if not night else 0.05)
                    wx = x + win * (1 + 2 * k)
                    d.rectangle((wx, wy, wx + win, wy + win * 0.9), fill=mix(fill, color, 0.25 * depth))
            x += bw + w * 0.004
        if depth == 0:
            haze_band(st, base + h * 0.04, h * 0.14, 0.35)
    d = st.draw
    d.rectangle((0, h * 0.82, w, h), fill=st.lit((70, 70, 78)))
    d.rectangle((0, h * 0.8, w, h * 0.83), fill=st.lit((150, 146, 140)))
    for k in range(0, 10):
        d.rectangle((w * (k / 9) - w * 0.03, h * 0.915, w * (k / 9) + w * 0.03, h * 0.925),
                    fill=st.lit((220, 220, 200)))
    for lx in (0.12, 0.5, 0.88):
        x = w * lx
        d.rectangle((x - w * 0.003, h * 0.5, x + w * 0.003, h * 0.81), fill=(40, 44, 52))
        d.rectangle((x - w * 0.012, h * 0.49, x + w * 0.012, h * 0.505), fill=(50, 54, 64))
        if night:
            glow(st.image, x, h * 0.51, h * 0.16, (255, 210, 130), 0.55)
            glow(st.image, x, h * 0.81, h * 0.12, (255, 200, 120), 0.3)


def outdoor_castle(st: Stage, hy: float) -> None:
    r, w, h = st.rnd, st.w, st.h
    hills(st, hy, h * 0.03, st.ground(st.haze((100, 130, 100), 0.5)), r.random() * 6)
    d = st.draw
    stone = st.lit(st.haze((120, 116, 130), 0.3))
    roof = st.lit(st.haze((120, 50, 60), 0.3))
    cx, ground = w * (0.35 + 0.3 * r.random()), hy + h * 0.02
    d.rectangle((cx - w * 0.12, ground - h * 0.16, cx + w * 0.12, ground), fill=stone)
    step = w * 0.012
    for k in range(int(w * 0.24 / step / 2) + 1):
        bx = cx - w * 0.12 + k * step * 2
        d.rectangle((bx, ground - h * 0.175, bx + step, ground - h * 0.16), fill=stone)
    for tx, tall, tw in ((-0.12, 0.26, 0.03), (0.12, 0.26, 0.03), (-0.04, 0.34, 0.035), (0.05, 0.3, 0.028)):
        x = cx + w * tx
        d.rectangle((x - w * tw, ground - h * tall, x + w * tw, ground), fill=shade(stone, 0.93))
        d.polygon([(x - w * tw * 1.25, ground - h * tall), (x + w * tw * 1.25, ground - h * tall),
                   (x, ground - h * (tall + 0.1))], fill=roof)
        d.line((x, ground - h * (tall + 0.1), x, ground - h * (tall + 0.14)), fill=(60, 60, 60), width=max(1, w // 900))
        d.polygon([(x, ground - h * (tall + 0.14)), (x + w * 0.015, ground - h * (tall + 0.13)),
                   (x, ground - h * (tall + 0.12))], fill=st.lit((200, 60, 60)))
        for wy in (0.3, 0.55):
            win = (255, 210, 120) if st.dark or st.time == "evening" else shade(stone, 0.5)
            d.rectangle((x - w * 0.005, ground - h * tall * (1 - wy), x + w * 0.005,
                         ground - h * tall * (1 - wy) + h * 0.025), fill=win)
    d.rectangle((cx - w * 0.018, ground - h * 0.06, cx + w * 0.018, ground), fill=shade(stone, 0.45))
    haze_band(st, ground, h * 0.1, 0.0)
    hills(st, hy + h * 0.12, h * 0.05, st.ground((80, 130, 66)), r.random() * 6)
    draw_path(st, hy + h * 0.1, st.ground((170, 150, 116)))


def render(location: str, time_of_day: str | None, weather: str | None, width: int, height: int,
           seed: int) -> Image.Image:
    """Draw the background (supersampled when small enough, for smooth edges)."""
    scene = read_scene(location, time_of_day, weather)
    scale = 2 if width * height <= 2_100_000 else 1
    st = Stage(Image.new("RGB", (width * scale, height * scale)), scene.time, scene.weather,
               rng("background", location.strip().lower(), scene.time, scene.weather, seed), list(scene.words))
    if scene.kind == "interior":
        interiors.draw_interior(st)
    else:
        hy = st.h * {"sea": 0.56, "beach": 0.56, "mountains": 0.6}.get(scene.kind, 0.62)
        paint_sky(st, hy / st.h)
        paint_lights(st, hy / st.h)
        paint_clouds(st, hy / st.h)
        if scene.kind in ("sea", "beach"):
            outdoor_sea(st, hy, scene.kind == "beach")
        else:
            {"field": outdoor_field, "forest": outdoor_forest, "mountains": outdoor_mountains,
             "city": outdoor_city, "castle": outdoor_castle}[scene.kind](st, hy)
        paint_weather(st)
    image = st.image
    if scale > 1:
        image = image.reduce(scale)
    return image
