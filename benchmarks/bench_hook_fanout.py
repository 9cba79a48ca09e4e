"""Hook-bus fan-out to WebSocket subscribers on loopback.

Starts a real server (uvicorn, separate process) whose app adds one benchmark-only route that
emits ``on_modder_test`` events from a background thread at a fixed rate, as a domain would.
N WebSocket clients subscribe to the topic; each records the delay between the envelope's
``timestamp`` (taken inside ``emit``) and its arrival. Prints JSON.

    python benchmarks/bench_hook_fanout.py [--subscribers 100] [--rate 1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import serve, wsclient  # noqa: E402


class EmitBody(BaseModel):
    rate: float
    count: int


def bench_app():
    """uvicorn factory: the real app plus POST /bench/emit."""
    from comfyvn.core import modder_hooks
    from comfyvn.server.app import create_app

    app = create_app()

    def run(rate: float, count: int) -> None:
        interval = 1.0 / rate
        start = time.perf_counter()
        for seq in range(count):
            target = start + seq * interval
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            modder_hooks.emit("on_modder_test", {"message": "bench", "data": seq})

    @app.post("/bench/emit")
    def emit(body: EmitBody) -> dict:
        threading.Thread(target=run, args=(body.rate, body.count), daemon=True).start()
        return {"started": True}

    return app


async def _run(port: int, subscribers: int, rate: float, seconds: float) -> dict:
    count = int(rate * seconds)
    clients = [await wsclient.connect("127.0.0.1", port, "/api/modder/hooks/ws") for _ in range(subscribers)]
    for client in clients:
        client.send_json({"type": "subscribe", "topics": ["modder.on_modder_test"]})
    deadline = time.time() + 30
    while not all(any(m.get("type") == "subscribed" for m in c.control) for c in clients):
        if time.time() > deadline:
            raise SystemExit("subscribers were not confirmed within 30 s")
        await asyncio.sleep(0.01)
    expected = count * subscribers
    cpu_before = time.process_time()
    async with httpx.AsyncClient() as http:
        started = time.perf_counter()
        await http.post(f"http://127.0.0.1:{port}/bench/emit", json={"rate": rate, "count": count})
    deadline = time.perf_counter() + seconds + 15
    while sum(len(c.latencies) for c in clients) < expected and time.perf_counter() < deadline:
        if all(c.transport.is_closing() for c in clients):
            break
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    for client in clients:
        client.transport.close()
    latencies = sorted(x for c in clients for x in c.latencies)
    dropped = sum(1 for c in clients if c.close_code is not None)

    def pct(p: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3) if latencies else None

    return {
        "subscribers": subscribers,
        "target_rate_events_per_s": rate,
        "events": count,
        "deliveries_expected": expected,
        "deliveries_received": len(latencies),
        "delivery_ratio": round(len(latencies) / expected, 5) if expected else None,
        "subscribers_dropped": dropped,
        "events_per_s": round(count / elapsed, 1),
        "deliveries_per_s": round(len(latencies) / elapsed, 1),
        "client_cpu_seconds": round(client_cpu, 3),
        "latency_ms": {
            "p50": pct(0.50),
            "p99": pct(0.99),
            "max": round(latencies[-1] * 1000, 3) if latencies else None,
            "mean": round(statistics.fmean(latencies) * 1000, 3) if latencies else None,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runtime, serve.server(runtime, app="benchmarks.bench_hook_fanout:bench_app",
                                                                 timeout=30) as base:
        port = int(base.rsplit(":", 1)[1])
        result = asyncio.run(_run(port, args.subscribers, args.rate, args.seconds))
    result.update({"benchmark": "hook_bus_ws_fanout", "goal": "p99 < 20 ms at 1000 events/s to 100 subscribers"})
    result["goal_met"] = bool(result["latency_ms"]["p99"] is not None and result["latency_ms"]["p99"] < 20
                              and result["delivery_ratio"] == 1.0)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
