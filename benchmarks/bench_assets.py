"""Asset registry speed: search in a 100,000-asset project, registration rate, index rebuild.

In a fresh runtime root:
1. ``registration``: 10,000 small distinct PNGs through ``AssetRegistry.add_many`` in batches of
   250 (hash, file, sidecar, index row, events), previews deferred to the background worker (not
   waited for); then 1,000 more through ``add_bytes`` one at a time, reported separately.
2. ``rebuild``: 100,000 sidecars (written by this script, tags and meta varied) read back into a
   fresh index with ``AssetRegistry.rebuild_index()``.
3. ``query``: 200 filtered searches (``type`` + ``tag`` + ``q``, 50 results) through the Python API,
   then over HTTP against a real server process on a loopback port; p50/p95 of each.

Goals: query p95 < 5 ms (Python) and < 20 ms (HTTP); registration >= 500 assets/s (judged on the
batched registration, the way a folder of 10,000 PNGs is registered; the one-at-a-time rate is
reported beside it); rebuild of 100,000 < 60 s. Prints JSON.

    python benchmarks/bench_assets.py [--assets 100000] [--register 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TYPES = ["background", "character.sprite", "character.portrait", "cg", "music", "sfx", "voice", "ui"]
TAGS = [f"tag{n:02d}" for n in range(40)]
WORDS = ["beach", "forest", "castle", "night", "rain", "smile", "angry", "school", "street", "ocean",
         "sunset", "winter", "garden", "library", "station", "rooftop"]
GOALS = {"query_p95_ms": 5.0, "http_p95_ms": 20.0, "register_per_s": 500.0, "rebuild_seconds": 60.0}


def _png(n: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (n % 256, (n // 256) % 256, (n // 65536) % 256)).save(buffer, "PNG")
    return buffer.getvalue()


def bench_register(count: int, single: int = 1000, batch: int = 250) -> dict:
    """``count`` PNGs through ``add_many`` in batches (a folder import), then ``single`` more one
    ``add_bytes`` call each (an upload at a time)."""
    from comfyvn.assets import previews
    from comfyvn.assets.registry import registry
    from comfyvn.projects.store import create_project

    images = [_png(n) for n in range(count + single)]
    create_project({"id": "bench_register"}, exist_ok=True)
    found = registry("bench_register").open()
    started = time.perf_counter()
    for first in range(0, count, batch):
        found.add_many([{"data": data, "name": f"sprite {first + n}.png", "type": "character.sprite",
                         "tags": ["bench", TAGS[(first + n) % 40]]} for n, data in enumerate(images[first:first + batch])])
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for n, data in enumerate(images[count:]):
        found.add_bytes(data, name=f"single {n}.png", type="character.sprite", tags=["bench"])
    single_seconds = time.perf_counter() - started
    preview_started = time.perf_counter()
    previews.wait_idle(1800)
    return {"assets": count, "batch": batch, "seconds": round(seconds, 3), "assets_per_s": round(count / seconds, 1),
            "single_add_assets": single, "single_add_per_s": round(single / single_seconds, 1),
            "previews_done_after_s": round(time.perf_counter() - preview_started, 3)}


def _write_sidecars(project: str, count: int, rng: random.Random) -> None:
    """100,000 sidecars as the registry writes them (files themselves are not needed to index)."""
    import orjson

    from comfyvn.assets import paths
    from comfyvn.projects.store import create_project

    create_project({"id": project}, exist_ok=True)
    root = paths.asset_root(project)
    for n in range(count):
        asset_type = TYPES[n % len(TYPES)]
        words = rng.sample(WORDS, 2)
        rel = f"{paths.default_folder(asset_type)}/{n // 1000:03d}/{words[0]}-{words[1]}-{n}.png"
        digest = hashlib.sha256(str(n).encode()).hexdigest()
        sidecar = {"uid": digest[:24], "type": asset_type, "path": rel, "hash": digest, "bytes": 1000 + n,
                   "tags": sorted(rng.sample(TAGS, 3)), "license": "CC-BY-4.0" if n % 3 else None, "origin": "bench",
                   "version": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                   "meta": {"mime": "image/png", "character": rng.choice(["Ann", "Sera", "Mira", "Kai"])},
                   "preview": {"status": "ready"}, "provenance": {"seed": n}}
        target = root / (rel + paths.SIDECAR_SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(orjson.dumps(sidecar, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _queries(rng: random.Random, n: int) -> list[dict]:
    return [{"type": rng.choice(TYPES), "tag": rng.choice(TAGS), "q": rng.choice(WORDS)[:4], "limit": 50}
            for _ in range(n)]


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 3)


def bench_search(count: int, runtime: Path) -> dict:
    from comfyvn.assets.registry import registry

    rng = random.Random(7)
    started = time.perf_counter()
    _write_sidecars("bench", count, rng)
    written = time.perf_counter() - started
    found = registry("bench").open()
    started = time.perf_counter()
    indexed = found.rebuild_index()
    rebuild = time.perf_counter() - started
    queries = _queries(rng, 200)
    for query in queries[:20]:  # warm the page cache
        found.query(type=query["type"], tags=[query["tag"]], q=query["q"])
    times, hits = [], []
    for query in queries:
        t0 = time.perf_counter()
        result = found.query(type=query["type"], tags=[query["tag"]], q=query["q"], limit=50)
        times.append(time.perf_counter() - t0)
        hits.append(result["total"])
    http = _http_search(runtime, queries)
    return {"assets": indexed, "sidecars_written_s": round(written, 1), "rebuild_seconds": round(rebuild, 2),
            "query_p50_ms": _pct(times, 0.5), "query_p95_ms": _pct(times, 0.95),
            "median_matches": sorted(hits)[len(hits) // 2], **http}


def _http_search(runtime: Path, queries: list[dict]) -> dict:
    from benchmarks import serve

    with serve.server(runtime) as base, httpx.Client(base_url=base, timeout=30) as client:
        params = [{**q, "project": "bench"} for q in queries]
        for p in params[:20]:
            assert client.get("/assets", params=p).status_code == 200
        times = []
        for p in params:
            t0 = time.perf_counter()
            response = client.get("/assets", params=p)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
    return {"http_p50_ms": _pct(times, 0.5), "http_p95_ms": _pct(times, 0.95)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--register", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Path(tmp) / "runtime"
        os.environ["COMFYVN_RUNTIME_ROOT"] = str(runtime)
        for key in ("COMFYVN_LOG_DIR", "COMFYVN_CONFIG_DIR", "COMFYVN_DATA_DIR", "COMFYVN_CACHE_DIR"):
            os.environ.pop(key, None)
        registration = bench_register(args.register)
        search = bench_search(args.assets, runtime)
    result = {"benchmark": "assets", "registration": registration, "search": search, "goals": GOALS}
    result["single_add_meets_registration_goal"] = registration["single_add_per_s"] >= GOALS["register_per_s"]
    result["goal_met"] = (search["query_p95_ms"] < GOALS["query_p95_ms"] and search["http_p95_ms"] < GOALS["http_p95_ms"]
                          and registration["assets_per_s"] >= GOALS["register_per_s"]
                          and search["rebuild_seconds"] < GOALS["rebuild_seconds"])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
