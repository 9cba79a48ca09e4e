"""Chat import throughput: a generated 100,000-message SillyTavern chat into scenes, against the
time ``orjson`` alone takes to parse the same file, in the same run.

The chat comes from ``benchmarks/chatgen.py`` (seeded; ~37 MB). Timed, in a fresh process with its
own runtime root so nothing is cached and peak memory is the import's own:

- ``orjson``: ``orjson.loads`` of every line (best of 3), the raw parse rate;
- ``floor``: the least an importer written in Python can do with the same file: parse each line, make
  one plain node per message, dump them as one JSON document (no speech/action split, expressions,
  dates, scenes, validation or files). Its ratio shows how much of the goal is left for real work;
- ``import``: ``comfyvn.roleplay.service.import_log`` end to end: detect, read, format, check,
  write raw/processed/preview and every scene; with the time of each phase (from its progress
  reports) and the process's peak resident memory. A 20-message chat is imported first, into
  another project, so one-off work (loading modules and plugins, creating the project) is not
  counted: a running server has done it already;
- ``writes``: writing the very files the import wrote (same bytes, same atomic writes, one folder
  sync per folder) into a scratch folder, ``scene_writes`` the scene files alone and ``raw_copy``
  the original bytes alone: the time any importer storing what this one stores spends on
  writing, however fast its code.
  ``ratio_bound_by_writes`` (orjson / writes) is the best ratio such an importer could reach.

Goal: import rate >= 0.5x the orjson parse rate; peak memory < 1 GB. Prints JSON.

    python benchmarks/bench_import.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 0.5
GOAL_MEMORY_MB = 1024
NAME = "Seraphina - 2024-09-28@01h00m00s.jsonl"


def child(path: str) -> dict:
    """Runs in the fresh process: the two measurements."""
    import orjson

    from benchmarks import chatgen
    from comfyvn.roleplay.service import import_log

    data = Path(path).read_bytes()
    parse = []
    for _ in range(3):
        started = time.perf_counter()
        for line in data.split(b"\n"):
            orjson.loads(line)
        parse.append(time.perf_counter() - started)
    floor = []  # the least any importer in Python can do: parse, one plain node per message, one dump
    for _ in range(3):
        started = time.perf_counter()
        nodes = []
        for number, line in enumerate(data.split(b"\n")):
            if line:
                message = orjson.loads(line)
                nodes.append({"id": f"m{number}", "speaker": message.get("name"), "text": message.get("mes"),
                              "next": f"m{number + 1}"})
        orjson.dumps({"nodes": nodes})
        floor.append(time.perf_counter() - started)
        del nodes
    import_log(chatgen.generate(20), "warm-up.jsonl", project=_warm_project())
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    summary = import_log(data, NAME, progress=lambda fraction, message: marks.append((message, time.perf_counter())))
    total = time.perf_counter() - started
    ends = [stamp for _, stamp in marks[1:]] + [started + total]
    phases = {message.split(" ")[0]: round(end - stamp, 3) for (message, stamp), end in zip(marks, ends)}
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    writes, scene_writes, raw_copy, count = _rewrite(summary["project"], summary["uid"])
    return {"orjson_seconds": round(min(parse), 3), "floor_seconds": round(min(floor), 3),
            "import_seconds": round(total, 3), "phases": phases, "writes_seconds": writes,
            "scene_writes_seconds": scene_writes,
            "raw_copy_seconds": raw_copy, "files_written": count,
            "scenes": len(summary["scenes"]), "messages": summary["messages"], "peak_memory_mb": round(peak_kb / 1024)}


def _warm_project() -> str:
    from comfyvn.projects import store

    store.require_project(store.DEFAULT_PROJECT)  # made on first use, like a fresh install's
    store.create_project({"id": "warm-up"})
    return "warm-up"


def _rewrite(project: str, uid: str) -> tuple[float, float, float, int]:
    """Seconds to write the files the import wrote again (best of 2), its scenes alone, its raw copy
    alone; how many files."""
    import shutil

    from comfyvn.core.store import atomic_write_bytes, batch_writes
    from comfyvn.projects.paths import project_dir

    folder = project_dir(project)
    files = [(path.relative_to(folder), path.read_bytes()) for path in sorted(folder.rglob("*"))
             if path.is_file() and path.name != "project.json"]
    raw = [item for item in files if item[0].parts[:2] == ("roleplay", "raw") and item[0].stem == uid]
    scratch = project_dir(project).parent / ".bench-rewrite"
    best = {}
    scenes = [item for item in files if item[0].parts[0] == "scenes"]
    for label, chosen in (("writes", files), ("scenes", scenes), ("raw", raw)):
        times = []
        for _ in range(2):
            shutil.rmtree(scratch, ignore_errors=True)
            started = time.perf_counter()
            with batch_writes():
                for relative, data in chosen:
                    atomic_write_bytes(scratch / relative, data)
            times.append(time.perf_counter() - started)
        best[label] = round(min(times), 3)
    shutil.rmtree(scratch, ignore_errors=True)
    return best["writes"], best["scenes"], best["raw"], len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    from benchmarks import chatgen

    with tempfile.TemporaryDirectory() as tmp:
        chat = Path(tmp) / "chat.jsonl"
        chat.write_bytes(chatgen.generate(args.messages))
        env = {**os.environ, "COMFYVN_RUNTIME_ROOT": str(Path(tmp) / "runtime"), "PYTHONPATH": str(ROOT)}
        for key in ("COMFYVN_LOG_DIR", "COMFYVN_CONFIG_DIR", "COMFYVN_DATA_DIR", "COMFYVN_CACHE_DIR"):
            env.pop(key, None)
        run = subprocess.run([sys.executable, __file__, "--child", str(chat)], capture_output=True, text=True,
                             env=env, check=False)
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            return 1
        result = json.loads(run.stdout)
        size_mb = chat.stat().st_size / 1e6
    ratio = result["orjson_seconds"] / result["import_seconds"]
    print(json.dumps({
        "benchmark": "chat_import", "messages": args.messages, "file_mb": round(size_mb, 1),
        "orjson_mb_per_s": round(size_mb / result["orjson_seconds"], 1),
        "import_mb_per_s": round(size_mb / result["import_seconds"], 1),
        "ratio_vs_orjson": round(ratio, 3),
        "floor_ratio_vs_orjson": round(result["orjson_seconds"] / result["floor_seconds"], 3),
        "ratio_bound_by_writes": round(result["orjson_seconds"] / result["writes_seconds"], 3), **result,
        "goal": f"import rate >= {GOAL_RATIO}x orjson parse rate; peak memory < {GOAL_MEMORY_MB} MB",
        "goal_met": ratio >= GOAL_RATIO and result["peak_memory_mb"] < GOAL_MEMORY_MB,
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
