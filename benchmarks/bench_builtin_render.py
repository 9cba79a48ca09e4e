"""Built-in renderer speed: a 1280x720 background and a sprite set of 6 expressions, PNG bytes included.

Timed: ``render_background`` (city at night in the rain: sky, lights, two building layers, street
lamps, rain) and ``render_sprite_set`` with six expressions at 512x1024, each call returning encoded
PNGs. Prints JSON. ``--samples DIR`` also writes a few backgrounds, sprites and portraits there to look at.

    python benchmarks/bench_builtin_render.py [--repeat 7] [--samples /tmp/builtin_render_samples]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from comfyvn.render.builtin import (  # noqa: E402
    EXPRESSIONS,
    render_background,
    render_portrait,
    render_sprite,
    render_sprite_set,
)

GOAL_SECONDS = 1.0
SET = ["neutral", "joy", "sadness", "anger", "surprise", "embarrassment"]
SAMPLE_BACKGROUNDS = ["forest at night in the rain", "city at noon", "beach at sunset", "mountains in the morning",
                      "castle at dawn in the snow", "classroom in the afternoon", "cafe in the evening, rain",
                      "library at night", "bedroom in the morning", "tavern at night", "throne room",
                      "meadow in the fog", "harbor at dusk, storm"]
SAMPLE_CAST = [("Alice", "red hair, blue dress"), ("Kaito", "black hair, school uniform"),
               ("Mira", "long silver hair, purple robe"), ("Bob", None)]


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000, min(runs) * 1000


def write_samples(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, location in enumerate(SAMPLE_BACKGROUNDS):
        (folder / f"bg_{i:02d}.png").write_bytes(render_background(location))
        count += 1
    for name, appearance in SAMPLE_CAST:
        for expression in ("neutral", "joy", "anger", "love"):
            (folder / f"sprite_{name}_{expression}.png").write_bytes(
                render_sprite(name, expression=expression, appearance=appearance))
            count += 1
        (folder / f"portrait_{name}.png").write_bytes(render_portrait(name, expression="joy", appearance=appearance))
        count += 1
    for expression in EXPRESSIONS:
        (folder / f"face_{expression}.png").write_bytes(render_portrait("Alice", expression=expression, size=256,
                                                                        appearance="red hair, blue dress"))
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--samples", type=Path, default=None, help="also write sample PNGs to this folder")
    args = parser.parse_args()
    render_background("warm-up")  # first-call costs (font loading, imports) are not what we measure
    bg_median, bg_best = timed(lambda: render_background("city at night", weather="rain"), args.repeat)
    set_median, set_best = timed(lambda: render_sprite_set("Alice", SET, appearance="red hair"), args.repeat)
    result = {
        "benchmark": "builtin_render",
        "repeat": args.repeat,
        "background_1280x720_ms": {"median": round(bg_median, 1), "best": round(bg_best, 1)},
        "sprite_set_6x512x1024_ms": {"median": round(set_median, 1), "best": round(set_best, 1)},
        "total_ms": round(bg_median + set_median, 1),
        "goal": f"a 1280x720 background and a 6-expression sprite set in < {GOAL_SECONDS} s (median)",
        "goal_met": (bg_median + set_median) / 1000 < GOAL_SECONDS,
    }
    if args.samples:
        result["samples_written"] = write_samples(args.samples)
        result["samples_dir"] = str(args.samples)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
