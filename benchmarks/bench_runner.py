"""Story runner steps per second, side by side with the ink runtime ``bink`` on the same story.

One generated story (``benchmarks/storygen.py``: 1,000 nodes, actions, conditional weighted
choices, loops) is loaded twice: as our scene into ``ScenarioRunner`` and as compiled ink JSON
into ``bink.story.Story``. A step is: enter a node, produce its text and its choices, take one
choice. Both runtimes take the same path: a list of draws from one seeded ``StoryRandom`` is made
beforehand, and at every step each runtime turns the draw into a choice by the offered choices'
weights (an explicit ``choice_id`` for us, ``choose_choice_index`` for ink). At the end node
both start the story again (``start`` / ``reset_state``); that counts as the step. Every timed
run also records what each runtime showed (line and choice labels) and its final variables,
and the two must be identical. Our runner's own weighted-random mode (no ``choice_id``) is timed
separately, and so is a runner without its undo history (``history_limit=0``). Prints JSON.

    python benchmarks/bench_runner.py [--nodes 1000] [--steps 20000] [--repeat 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import storygen  # noqa: E402
from comfyvn.scenario.models import parse_scene  # noqa: E402
from comfyvn.scenario.rng import StoryRandom  # noqa: E402
from comfyvn.scenario.runner import RunState, ScenarioRunner  # noqa: E402

Transcript = list[tuple[str, list[str]]]  # per step: the line shown and the choice labels offered


def draws(steps: int, seed: int) -> list[float]:
    """The external pick sequence both runtimes follow."""
    rng = StoryRandom(seed)
    return [rng.random() for _ in range(steps)]


def pick(weights: list[float], draw: float) -> int:
    """The choice a draw in [0, 1) selects, by weight."""
    r = draw * sum(weights)
    running = 0.0
    for index, weight in enumerate(weights):
        running += weight
        if r < running:
            return index
    return len(weights) - 1


def _line(lines: Any) -> str:
    return "\n".join(f"{b.speaker}: {b.text}" if b.kind == "say" else b.text for b in lines)


def walk_ours(runner: ScenarioRunner, picks: list[float], transcript: Transcript) -> RunState:
    """Steps with explicit choice ids; returns the last state."""
    state = runner.start()
    for draw in picks:
        text = _line(runner.lines(state))
        offered = runner.choices(state)
        transcript.append((text, [c.label for c in offered]))
        if state.finished:
            state = runner.start()
            continue
        runner.advance(state, offered[pick([c.weight for c in offered], draw)].id)
    return state


def walk_ours_random(runner: ScenarioRunner, steps: int, seed: int, transcript: Transcript) -> RunState:
    """Steps where the runner picks by weight with its own seeded PRNG."""
    state = runner.start(seed=seed)
    for _ in range(steps):
        text = _line(runner.lines(state))
        offered = runner.choices(state)
        transcript.append((text, [c.label for c in offered]))
        if state.finished:
            state = runner.start(seed=state.rng)
            continue
        runner.advance(state)
    return state


def walk_ink(story: Any, weights: dict[str, float], picks: list[float], transcript: Transcript) -> None:
    """The same steps in bink; ``weights`` maps choice labels to weights (ink has none)."""
    story.reset_state()
    for draw in picks:
        text = story.continue_maximally()
        choices = story.get_current_choices()
        labels = [choices[i] for i in range(len(choices))]
        transcript.append((text.rstrip("\n"), labels))
        if not labels:
            story.reset_state()
            continue
        story.choose_choice_index(pick([weights[label] for label in labels], draw))
    if story.can_continue():  # enter the node the last pick leads to, as our runner's advance does
        story.continue_maximally()


def ink_variables(story: Any, names: list[str]) -> dict[str, Any]:
    return {name: story.get_variable(name) for name in names}


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def _rates(steps: int, seconds: list[float]) -> dict[str, float]:
    return {"best": round(steps / min(seconds)), "median": round(steps / statistics.median(seconds))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="seed of the pick sequence")
    args = parser.parse_args()
    from bink.story import Story

    story = storygen.generate(args.nodes)
    names = list(story.variables)
    started = time.perf_counter()
    scene = parse_scene(storygen.scene_json(story))
    runner = ScenarioRunner(scene)
    load_ours = time.perf_counter() - started
    bare = ScenarioRunner(scene, history_limit=0)
    ink_text = storygen.ink_json_text(story)
    started = time.perf_counter()
    ink = Story(ink_text)
    load_ink = time.perf_counter() - started
    weights = story.weights
    picks = draws(args.steps, args.seed)

    times: dict[str, list[float]] = {"comfyvn": [], "bink": [], "comfyvn_random": [], "comfyvn_no_history": []}
    equivalent = True
    restarts = 0
    for _ in range(args.repeat):
        ours: Transcript = []
        theirs: Transcript = []
        seconds, state = _timed(walk_ours, runner, picks, ours)
        times["comfyvn"].append(seconds)
        seconds, _ = _timed(walk_ink, ink, weights, picks, theirs)
        times["bink"].append(seconds)
        equivalent = equivalent and ours == theirs and state.vars == ink_variables(ink, names)
        restarts = sum(1 for _, labels in ours if not labels)
        seconds, _ = _timed(walk_ours_random, runner, args.steps, args.seed, [])
        times["comfyvn_random"].append(seconds)
        seconds, _ = _timed(walk_ours, bare, picks, [])
        times["comfyvn_no_history"].append(seconds)

    rates = {name: _rates(args.steps, seconds) for name, seconds in times.items()}
    ratio = {key: round(rates["comfyvn"][key] / rates["bink"][key], 2) for key in ("best", "median")}
    # each repetition runs both back to back: its ratio is the least disturbed by other load
    for name in ("comfyvn", "comfyvn_random", "comfyvn_no_history"):
        paired = statistics.median(b / o for o, b in zip(times[name], times["bink"]))
        ratio[name.replace("comfyvn", "paired_median")] = round(paired, 2)
    options = [o for n in story.nodes for o in n.options]
    result = {
        "benchmark": "story_runner_vs_ink",
        "nodes": args.nodes,
        "steps": args.steps,
        "repeat": args.repeat,
        "story": {
            "choices": len(options),
            "conditional_choices": sum(1 for o in options if o.conditions),
            "actions": sum(len(n.actions) for n in story.nodes) + sum(len(o.actions) for o in options),
            "variables": len(names),
            "ink_json_bytes": len(ink_text),
        },
        "restarts_per_run": restarts,
        "equivalent": equivalent,
        "steps_per_s": rates,
        "ratio_vs_bink": ratio,
        "load_seconds": {"comfyvn": round(load_ours, 4), "bink": round(load_ink, 4)},
        "goal": "comfyvn steps/s >= 2x bink steps/s (paired median, explicit picks, identical path)",
    }
    result["goal_met"] = bool(equivalent and ratio["paired_median"] >= 2.0)
    print(json.dumps(result, indent=2))
    return 0 if equivalent else 1


if __name__ == "__main__":
    raise SystemExit(main())
