"""Scheduler decision time: 10,000 queued jobs dispatched across 4 devices.

All jobs are queued first (mixed priorities, pools, affinity keys and a few pinned jobs), then
the devices claim in turn until the queue is empty; each device keeps up to ``--capacity`` jobs
running and completes its oldest when full, and one device goes down and comes back half-way
(failover requeues its jobs). Every ``claim`` is timed. Prints JSON.

    python benchmarks/bench_scheduler.py [--jobs 10000] [--devices 4] [--keys 40] [--capacity 4]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from comfyvn.compute import Device, Scheduler

GOAL_JOBS = 10_000
GOAL_DEVICES = 4
GOAL_MS = 1.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(jobs: int, devices: int, keys: int, capacity: int, seed: int) -> dict:
    rng = random.Random(seed)
    names = [f"d{n}" for n in range(devices)]
    scheduler = Scheduler([Device(name, location="local" if n % 2 == 0 else "remote", max_concurrent=capacity,
                                  cost_per_minute=0.01 * n) for n, name in enumerate(names)],
                          history_limit=jobs)
    started = time.perf_counter()
    for n in range(jobs):
        roll = rng.random()
        scheduler.enqueue({
            "id": f"j{n}", "priority": rng.choice((0, 0, 0, 1, 2, 5)),
            "pool": rng.choice(("any", "any", "local", "remote")),
            "affinity": f"character:{rng.randrange(keys)}" if roll < 0.6 else None,
            "device": rng.choice(names) if roll > 0.97 else None,
        })
    enqueue_seconds = time.perf_counter() - started
    running = {name: deque() for name in names}
    decisions: list[float] = []
    done = idle = 0
    clock = time.perf_counter_ns
    while done < jobs:
        progressed = False
        for name in names:
            if len(running[name]) >= capacity:
                scheduler.complete(running[name].popleft(), {"duration_sec": 1.0})
                done += 1
            before = clock()
            job = scheduler.claim(name)
            decisions.append((clock() - before) / 1e6)
            if job is not None:
                running[name].append(job["id"])
                progressed = True
            if len(decisions) == jobs // 2:  # failover half-way: d0 goes down, then recovers
                running["d0"].clear()
                scheduler.health("d0", "down", "benchmark")
                scheduler.health("d0", "healthy")
        if not progressed:
            idle += 1
            for name in names:
                while running[name]:
                    scheduler.complete(running[name].popleft(), {"duration_sec": 1.0})
                    done += 1
    state = scheduler.state()
    assert state["jobs"]["done"] == jobs and state["jobs"]["queued"] == 0, state["jobs"]
    return {
        "jobs": jobs, "devices": devices, "affinity_keys": keys, "capacity": capacity,
        "claims": len(decisions),
        "decision_ms": {"p50": round(statistics.median(decisions), 4), "p95": round(percentile(decisions, 0.95), 4),
                        "max": round(max(decisions), 4), "mean": round(statistics.fmean(decisions), 4)},
        "enqueue_us_per_job": round(enqueue_seconds / jobs * 1e6, 2),
        "completed_per_device": {row["device"]: row["completed"] for row in scheduler.board()["devices"]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=GOAL_JOBS)
    parser.add_argument("--devices", type=int, default=GOAL_DEVICES)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = {"benchmark": "scheduler", **run(args.jobs, args.devices, args.keys, args.capacity, args.seed),
              "goal": f"{GOAL_JOBS:,} queued jobs across {GOAL_DEVICES} devices, each decision < {GOAL_MS} ms"}
    result["goal_met"] = (args.jobs >= GOAL_JOBS and args.devices >= GOAL_DEVICES
                          and result["decision_ms"]["max"] < GOAL_MS)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
