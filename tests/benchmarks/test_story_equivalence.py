"""The runner benchmark's story is the same story for our runner and for ink (bink).

Small versions of the generated story are stepped by both runtimes along the same pick sequence;
what they show at every step (line and offered choice labels) and their variables must be equal.
No timing here: the speed figures come from ``benchmarks/bench_runner.py``.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_runner, storygen
from comfyvn.scenario.models import parse_scene
from comfyvn.scenario.runner import ScenarioRunner
from comfyvn.scenario.validate import validate

bink_story = pytest.importorskip("bink.story", reason="bink (dev extra) runs the ink side")

NODES = 30


@pytest.fixture(scope="module")
def story() -> storygen.Story:
    return storygen.generate(NODES, seed=3)


@pytest.fixture(scope="module")
def runner(story) -> ScenarioRunner:
    return ScenarioRunner(parse_scene(storygen.scene_json(story)))


def ink(story) -> object:
    return bink_story.Story(storygen.ink_json_text(story))


def test_generator_is_deterministic_and_uses_every_feature(story):
    assert storygen.scene_json(storygen.generate(NODES, seed=3)) == storygen.scene_json(story)
    assert storygen.scene_json(storygen.generate(NODES, seed=4)) != storygen.scene_json(story)
    options = [o for n in story.nodes for o in n.options]
    kinds = {a[0] for n in story.nodes for a in n.actions} | {a[0] for o in options for a in o.actions}
    assert kinds == {"increment", "decrement", "toggle", "set"}
    assert any(len(o.conditions) == 2 for o in options)  # conjunctions
    assert len({o.weight for o in options}) > 1
    assert any(int(o.target[1:]) < int(n.id[1:]) for n in story.nodes for o in n.options)  # loops back
    assert len(story.weights) == len(options)  # labels are unique, so a label finds its weight
    assert story.nodes[-1].end and all(n.options[0].conditions == [] for n in story.nodes[:-1])


def test_generated_scenes_validate_without_problems(story):
    for beats in (False, True):
        report = validate(json.loads(json.dumps(storygen.scene_json(story, beats=beats))))
        assert report.errors == [] and report.warnings == [], (report.errors, report.warnings)
    assert sum(len(n.beats) for n in validate(storygen.scene_json(story, beats=True)).scene.nodes) > NODES


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_picks_show_the_same_story_in_both_runtimes(story, runner, seed):
    picks = bench_runner.draws(400, seed)
    ours, theirs = [], []
    state = bench_runner.walk_ours(runner, picks, ours)
    other = ink(story)
    bench_runner.walk_ink(other, story.weights, picks, theirs)
    assert ours == theirs
    assert state.vars == bench_runner.ink_variables(other, list(story.variables))
    # the walk exercised the interesting parts: restarts, and choices hidden by their conditions
    assert any(not labels for _, labels in ours)
    defined = {n.line: len(n.options) for n in story.nodes}
    assert any(len(labels) < defined[line] for line, labels in ours)


def test_variables_agree_at_every_step(story, runner):
    """Stepwise: after entering each node both runtimes hold the same variable values."""
    names = list(story.variables)
    other = ink(story)
    state = runner.start()
    picks = bench_runner.draws(150, 9)
    for draw in picks:
        text = other.continue_maximally().rstrip("\n")
        assert text == bench_runner._line(runner.lines(state))
        assert bench_runner.ink_variables(other, names) == state.vars
        offered = runner.choices(state)
        if state.finished:
            state = runner.start()
            other.reset_state()
            continue
        index = bench_runner.pick([c.weight for c in offered], draw)
        runner.advance(state, offered[index].id)
        other.choose_choice_index(index)


def test_a_wrong_translation_would_be_caught(story, runner):
    """The comparison is sharp: ink with one condition flipped shows a different story."""
    data = storygen.ink_json(story)
    text = json.dumps(data).replace('">="', '"<"', 1)
    assert text != json.dumps(data)
    picks = bench_runner.draws(400, 1)
    ours, theirs = [], []
    bench_runner.walk_ours(runner, picks, ours)
    bench_runner.walk_ink(bink_story.Story(text), story.weights, picks, theirs)
    assert ours != theirs


def test_pick_follows_the_weights():
    assert [bench_runner.pick([1.0, 3.0], d) for d in (0.0, 0.24, 0.25, 0.99)] == [0, 0, 1, 1]
    assert bench_runner.pick([2.0], 0.999) == 0


def test_ink_source_matches_the_compiled_story(story):
    """The ink source we print for readers says what the JSON does (spot checks per construct)."""
    source = storygen.ink_source(story)
    data = storygen.ink_json(story)
    assert source.count("=== n") == NODES == len(data["root"][2]) - 1
    node = next(n for n in story.nodes if any(o.conditions for o in n.options))
    option = next(o for o in node.options if o.conditions)
    key, operator, value = option.conditions[0]
    assert f"{key} {storygen.INK_OPERATORS[operator]} {storygen._ink_literal(value)}" in source
    assert f"[{option.label}]" in source and "-> END" in source
