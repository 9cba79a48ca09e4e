"""ComfyUI bridge overhead: what our job, bridge and asset registration add on top of ComfyUI.

In one run, against the ComfyUI-protocol test server (tests/support/comfy_server.py; real ComfyUI
cannot be installed here) on loopback:
- ``direct``: a 512x512 EmptyImage -> SaveImage graph posted straight to the server by a minimal
  client (POST /prompt, wait on the WebSocket for the final ``executing``, GET /history, GET /view);
- ``ours``: the same graph as a ``render.template`` job through ``POST /jobs/submit`` on a real
  ComfyVN server process, until the job (and so the asset registration) has finished, followed on
  ``/jobs/ws``.
Each run uses a new colour so ComfyUI's cache never answers. Goal: median added latency < 10 ms.

    python benchmarks/bench_bridge.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_MS = 10.0


def graph(color: int) -> dict:
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": color}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}}}


def direct(base: str, color: int) -> float:
    cid = uuid.uuid4().hex
    with connect(base.replace("http", "ws") + f"/ws?clientId={cid}", proxy=None) as ws, httpx.Client(base_url=base) as http:
        ws.recv()  # status on connect
        started = time.perf_counter()
        prompt_id = http.post("/prompt", json={"prompt": graph(color), "client_id": cid}).json()["prompt_id"]
        while True:
            message = ws.recv()
            if isinstance(message, str):
                data = json.loads(message)
                if data["type"] == "executing" and data["data"].get("node") is None \
                        and data["data"].get("prompt_id") == prompt_id:
                    break
        entry = {}
        while not entry:
            entry = http.get(f"/history/{prompt_id}").json().get(prompt_id) or {}
        image = entry["outputs"]["2"]["images"][0]
        http.get("/view", params=image).raise_for_status()
        return time.perf_counter() - started


def ours(base: str, ws, comfy_url: str, color: int) -> float:
    with httpx.Client(base_url=base) as http:
        started = time.perf_counter()
        job = http.post("/jobs/submit", json={"kind": "render.template", "params": {
            "template": "test_image", "url": comfy_url, "values": {"color": color}}}).json()["job"]
        while True:
            data = json.loads(ws.recv())
            if data.get("type") == "job" and data["job"]["id"] == job["id"] and data["job"]["state"] in (
                    "succeeded", "failed"):
                assert data["job"]["state"] == "succeeded", data["job"].get("error")
                return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from benchmarks import serve
    from tests.support.comfy_server import FakeComfyUI

    with tempfile.TemporaryDirectory() as tmp, FakeComfyUI(Path(tmp) / "comfy") as comfy, \
            serve.server(Path(tmp) / "runtime") as base:
        color = 1
        direct_times, our_times = [], []
        with connect(base.replace("http", "ws") + "/jobs/ws", proxy=None) as ws:
            ws.recv()  # snapshot
            for n in range(args.runs + 3):  # the first runs warm both sides up
                color += 1
                d = direct(comfy.base_url, color)
                color += 1
                o = ours(base, ws, comfy.base_url, color)
                if n >= 3:
                    direct_times.append(d)
                    our_times.append(o)
    added = [o - d for o, d in zip(our_times, direct_times)]
    med = statistics.median(added) * 1000
    print(json.dumps({"benchmark": "comfyui_bridge", "runs": args.runs,
                      "direct_median_ms": round(statistics.median(direct_times) * 1000, 2),
                      "ours_median_ms": round(statistics.median(our_times) * 1000, 2),
                      "added_median_ms": round(med, 2),
                      "added_p90_ms": round(sorted(added)[int(0.9 * len(added))] * 1000, 2),
                      "goal": f"added median < {GOAL_MS} ms", "goal_met": med < GOAL_MS}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
