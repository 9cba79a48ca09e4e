"""Save/restore equivalence: for random small branching scenes, a run of k steps that is saved,
resumed over HTTP and continued gives exactly the trace, variables and PRNG state of the run that
was never interrupted - random picks included."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.scenario.models import parse_scene
from comfyvn.scenario.runner import RunState, ScenarioRunner


@st.composite
def scenes(draw) -> dict:
    """2-7 nodes; the last is the end. Every other node has a way forward (a ``next`` or a first
    choice to a later node) so the validator finds no cycle without exit, and choices may loop
    back, carry weights, conditions on a counter and actions on it."""
    count = draw(st.integers(2, 7))
    ids = [f"n{i}" for i in range(count)]
    nodes = []
    for i, node_id in enumerate(ids[:-1]):
        node: dict = {"id": node_id, "text": node_id}
        if draw(st.booleans()):
            node["next"] = draw(st.sampled_from(ids[i + 1:]))
        else:
            targets = [draw(st.sampled_from(ids[i + 1:]))]
            targets += draw(st.lists(st.sampled_from(ids), max_size=3))
            node["choices"] = []
            for j, target in enumerate(targets):
                choice: dict = {"id": f"{node_id}_c{j}", "target": target,
                                "weight": draw(st.sampled_from([0, 0.5, 1, 2, 3]))}
                if draw(st.booleans()):
                    choice["actions"] = [{"type": "increment", "key": "score", "value": draw(st.integers(-2, 3))}]
                if draw(st.booleans()):
                    choice["conditions"] = [{"key": "score", "operator": draw(st.sampled_from(["gte", "lt"])),
                                             "value": draw(st.integers(-2, 4))}]
                node["choices"].append(choice)
        nodes.append(node)
    nodes.append({"id": ids[-1], "text": "The end.", "end": True})
    return {"id": "prop", "start": "n0", "variables": {"score": 0}, "nodes": nodes}


# each step: None = a random pick (one PRNG draw), n = the n-th offered choice (no randomness)
steps = st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=1, max_size=25)


def play(runner: ScenarioRunner, state: RunState, moves: list[int | None]) -> RunState:
    for move in moves:
        if state.finished:
            break
        offered = runner.choices(state)
        runner.advance(state, offered[move % len(offered)].id if offered and move is not None else None)
    return state


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scene=scenes(), seed=st.one_of(st.integers(0, 2**64 - 1), st.text(max_size=8)), moves=steps,
       data=st.data())
def test_resumed_run_continues_exactly_like_the_uninterrupted_run(client, scene, seed, moves, data):
    runner = ScenarioRunner(parse_scene(scene))
    whole = play(runner, runner.start(seed=seed), moves)

    k = data.draw(st.integers(0, len(moves)), label="k")
    before = play(runner, runner.start(seed=seed), moves[:k])
    if data.draw(st.booleans(), label="save the whole state"):
        body = {"state": before.model_dump(mode="json")}
    else:
        body = {"vars": before.vars, "node_pointer": before.node, "seed": before.seed, "rng": before.rng,
                "step": before.step, "scene_id": before.scene_id}
    saved = client.post("/api/save/prop", json=body | {"scene": scene})
    assert saved.status_code == 200, saved.text
    answer = client.post("/api/save/prop/resume", json={"scene": scene})
    assert answer.status_code == 200, answer.text
    assert answer.json()["scene_changed"] is False
    resumed = RunState.model_validate(answer.json()["state"])
    assert resumed.finished == before.finished

    after = play(runner, resumed, moves[k:])
    continued = [entry for entry in after.trace if entry.step > before.step]
    assert before.trace + continued == whole.trace
    assert (after.node, after.vars, after.rng, after.step, after.finished, after.reason) == (
        whole.node, whole.vars, whole.rng, whole.step, whole.finished, whole.reason)
