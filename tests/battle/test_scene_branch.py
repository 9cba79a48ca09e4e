"""A scene branches on vars_patch.battle_outcome: apply the patch to the run's variables and the
runner takes the matching branch (docs/battle.md shows the same scene)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from comfyvn.battle import resolve
from comfyvn.config import feature_flags
from comfyvn.scenario.models import parse_scene
from comfyvn.scenario.runner import ScenarioRunner
from comfyvn.scenario.validate import validate
from tests.battle.helpers import lopsided, party


def _branch(choice_id, outcome, target, *extra):
    conditions = [{"key": "battle_outcome", "operator": "eq", "value": outcome}, *extra]
    return {"id": choice_id, "label": outcome, "target": target, "conditions": conditions}


SCENE = {
    "id": "ambush",
    "start": "ambush",
    "variables": {"battle_outcome": None, "battle_hp": {}},
    "nodes": [
        {"id": "ambush", "text": "Goblins leap from the trees!", "next": "after_battle"},
        {"id": "after_battle", "type": "choice", "choices": [
            _branch("won_clean", "victory", "flawless", {"key": "battle_hp.heroes_0", "operator": "gt", "value": 285}),
            _branch("won", "victory", "celebrate", {"key": "battle_hp.heroes_0", "operator": "lte", "value": 285}),
            _branch("lost", "defeat", "captured"),
            _branch("tied", "draw", "retreat"),
        ]},
        {"id": "flawless", "text": "Not a scratch.", "end": True},
        {"id": "celebrate", "text": "Victory!", "end": True},
        {"id": "captured", "text": "You wake up in chains.", "end": True},
        {"id": "retreat", "text": "Both sides fall back.", "end": True},
    ],
}

WALLS = {"parties": [party("heroes", 1, hp=5000, attack=5, defense=500),
                     party("goblins", 1, hp=5000, attack=5, defense=500)], "max_rounds": 2}


def _battles():
    goblins_first = {**lopsided(), "perspective": "goblins"}
    return [("victory", lopsided(seed=1)), ("defeat", goblins_first), ("draw", WALLS)]


def _ending_after(battle: dict, run_seed: int = 42) -> tuple[str, dict]:
    runner = ScenarioRunner(parse_scene(SCENE))
    state = runner.start(seed=run_seed)
    assert state.node == "ambush"
    # the battle continues the run's PRNG stream; its state after the battle goes back to the run
    result = resolve({**battle, "seed": None, "rng_state": state.rng})
    state.vars.update(result["vars_patch"])
    state.rng = result["rng_state"]
    state, stopped = runner.run(state)
    assert stopped == "finished"
    return state.node, result


@pytest.mark.parametrize("outcome,battle", _battles(), ids=[o for o, _ in _battles()])
def test_applying_vars_patch_takes_the_matching_branch(outcome, battle):
    node, result = _ending_after(battle)
    assert result["vars_patch"]["battle_outcome"] == outcome
    expected = {"defeat": "captured", "draw": "retreat"}.get(outcome)
    if outcome == "victory":
        expected = "flawless" if result["vars_patch"]["battle_hp"]["heroes_0"] > 285 else "celebrate"
    assert node == expected


def test_branch_on_hp_left_picks_between_victory_endings():
    endings = set()
    battle = {"parties": [party("heroes", 1, hp=300, attack=60, defense=30, speed=15),
                          party("goblins", 2, hp=60, attack=12)]}
    for run_seed in range(30):
        node, result = _ending_after(battle, run_seed)
        if result["vars_patch"]["battle_outcome"] == "victory":
            endings.add(node)
    assert endings == {"flawless", "celebrate"}


def test_over_http_the_patch_starts_a_run_on_the_right_branch(client):
    feature_flags.set_enabled("enable_battle", True)
    patch = client.post("/api/battle/resolve", json=WALLS).json()["vars_patch"]
    assert patch["battle_outcome"] == "draw"
    step = client.post("/api/scenario/run/step", json={"scene": SCENE, "seed": 1, "variables": patch}).json()
    while not step["finished"]:
        step = client.post("/api/scenario/run/step", json={"scene": SCENE, "state": step["state"]}).json()
    assert step["state"]["node"] == "retreat"


def test_the_scene_in_the_docs_is_this_scene_and_validates_clean():
    text = (Path(__file__).resolve().parents[2] / "docs" / "battle.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL) if '"id": "ambush"' in b]
    assert blocks == [SCENE]
    report = validate(SCENE)
    assert report.valid and not report.warnings, report.as_dict()
