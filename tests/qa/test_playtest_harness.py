"""The playtest harness: canonical traces, golden files, persistence, events, determinism properties."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.qa.playtest import (
    canonical_bytes,
    check_golden,
    compare_traces,
    load_trace,
    persist,
    replay,
    run_playtest,
    trace_digest,
)
from tests.support.scenes import sample_scene, scenes

HERE = Path(__file__).resolve().parent
SCENE = HERE / "scenes" / "branching.json"
GOLDEN = HERE / "golden" / "rainy_day-seed7.trace.json"
GOLDEN_WALK = HERE / "golden" / "rainy_day-walk.trace.json"



def scene() -> dict:
    return json.loads(SCENE.read_text(encoding="utf-8"))


def nodes(result) -> list[str]:
    return [step["node"] for step in result.trace["steps"]]


# -- golden files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("golden", [GOLDEN, GOLDEN_WALK], ids=["seed7", "forced-walk"])
def test_golden_traces_still_match(golden):
    comparison = check_golden(scene(), golden)
    assert comparison.equal, comparison.differences
    assert comparison.actual_digest == json.loads(golden.read_text())["digest"]


def test_golden_file_digest_is_the_digest_of_its_trace():
    document = json.loads(GOLDEN.read_text())
    assert trace_digest(document["trace"]) == document["digest"]
    assert document["trace"]["seed"] == 7
    assert nodes_of(document) == ["intro", "ask", "cafe", "luck", "good_end"]


def nodes_of(document) -> list[str]:
    return [step["node"] for step in document["trace"]["steps"]]


def test_an_edited_line_is_the_first_divergence():
    edited = scene()
    edited["nodes"][2]["beats"][0]["text"] = "Two espressos, please."
    comparison = check_golden(edited, GOLDEN)
    assert not comparison.equal
    assert comparison.divergence == {"step": 2, "node": "cafe", "field": "lines[0].text",
                                     "expected": "Two cappuccinos, please.", "actual": "Two espressos, please."}
    assert comparison.differences[0] == ('step 2 (node \'cafe\'): lines[0].text: expected "Two cappuccinos, '
                                         'please.", got "Two espressos, please."')
    assert comparison.differences[-1].startswith("scene_digest: expected")
    assert comparison.actual_digest != comparison.expected_digest


def test_a_changed_branch_diverges_at_the_step_that_took_it():
    edited = scene()
    edited["nodes"][4]["choices"][0]["weight"] = 0.001  # seed 7 now rolls the bad ending
    comparison = check_golden(edited, GOLDEN)
    assert comparison.divergence["step"] == 4
    assert comparison.divergence["field"] == "node"
    assert (comparison.divergence["expected"], comparison.divergence["actual"]) == ("good_end", "bad_end")
    assert "step 4 (node 'good_end'): node: expected \"good_end\", got \"bad_end\"" in comparison.summary()


def test_a_longer_run_reports_the_extra_steps():
    edited = scene()
    edited["nodes"][5] = {"id": "good_end", "text": "Same time tomorrow?", "next": "epilogue"}
    edited["nodes"].append({"id": "epilogue", "type": "end", "text": "And so they did."})
    comparison = check_golden(edited, GOLDEN)
    steps = [d for d in comparison.differences if d.startswith("step 5")]
    assert steps == ["step 5 (node 'epilogue'): step: expected \"<no step>\", got \"enters 'epilogue'\""]


def test_compare_accepts_documents_traces_and_paths():
    document = json.loads(GOLDEN.read_text())
    assert compare_traces(GOLDEN, str(GOLDEN)).equal
    assert compare_traces(document["trace"], document).equal
    ignored = copy.deepcopy(document)
    ignored["trace"]["scene_digest"] = "0" * 64
    assert not compare_traces(ignored, document).equal
    assert compare_traces(ignored, document, ignore=("scene_digest",)).equal


def test_compare_refuses_what_is_not_a_trace(tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        compare_traces(tmp_path / "missing.json", GOLDEN)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_trace(broken)
    assert broken.exists()  # a user's file is never moved aside
    with pytest.raises(InvalidInput, match="no 'steps'"):
        compare_traces({"seed": 1}, GOLDEN)


# -- runs -----------------------------------------------------------------------------------------

def test_trace_records_inputs_steps_and_lines_without_timestamps():
    result = run_playtest(scene(), seed=7, emit=False)
    trace = result.trace
    assert trace["scene_id"] == "rainy_day" and len(trace["scene_digest"]) == 64
    assert trace["steps"][0] == {
        "step": 0, "node": "intro", "via": "start", "choice": None, "variables": {"trust": 0, "wet": False},
        "lines": [{"kind": "say", "speaker": "mia", "text": "Rain again. Coffee, or a walk?"},
                  {"kind": "direction", "speaker": None, "text": "She shakes out her umbrella."}]}
    assert trace["final"]["node"] == "good_end" and trace["finished"] and trace["reason"] == "end"
    assert result.digest == trace_digest(trace) and result.steps == 4
    assert b"created_at" not in canonical_bytes(trace) and result.run_id not in canonical_bytes(trace).decode()
    again = run_playtest(scene(), seed=7, emit=False)
    assert again.digest == result.digest and again.run_id != result.run_id


def test_forced_choices_are_taken_in_order():
    result = run_playtest(scene(), seed=7, choices=["c_walk", "r_bad"], emit=False)
    assert nodes(result) == ["intro", "ask", "park", "luck", "bad_end"]
    assert [s["via"] for s in result.trace["steps"]] == ["start", "next", "choice", "next", "choice"]
    assert result.trace["final"]["variables"] == {"trust": 0, "wet": True}
    left = run_playtest(scene(), seed=7, choices=["c_walk", "r_bad", "extra"], emit=False)
    assert left.warnings == ["1 forced choice(s) were not used: extra"]
    with pytest.raises(InvalidInput, match="'c_secret' is not available"):
        run_playtest(scene(), choices=["c_secret"], emit=False)


def test_max_steps_stops_a_long_run():
    looping = {"id": "loop", "start": "a", "nodes": [
        {"id": "a", "type": "choice", "choices": [{"id": "again", "target": "a"}, {"id": "out", "target": "z"}]},
        {"id": "z", "type": "end"}]}
    result = run_playtest(looping, choices=["again"] * 10, max_steps=3, emit=False)
    assert (result.steps, result.trace["finished"], result.trace["reason"]) == (3, False, "max_steps")


def test_variables_and_pov_are_inputs():
    result = run_playtest(sample_scene(), seed=1, pov="you", variables={"trust": 5}, choices=["secret"], emit=False)
    assert result.trace["pov"] == "you" and result.trace["variables"] == {"trust": 5}
    assert nodes(result) == ["intro", "good"]
    with pytest.raises(InvalidInput, match="'secret' is not available"):
        run_playtest(sample_scene(), pov="mira", choices=["secret"], emit=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"max_steps": 0}, "max_steps"),
    ({"variables": {"trust": float("nan")}}, "finite numbers"),
    ({"variables": [1]}, "JSON object"),
    ({"seed": [1]}, "seed must be"),
])
def test_bad_run_inputs_are_refused(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        run_playtest(scene(), emit=False, **kwargs)


def test_invalid_scene_lists_its_errors():
    broken = scene()
    broken["nodes"][0]["next"] = "nowhere"
    with pytest.raises(InvalidInput) as info:
        run_playtest(broken, emit=False)
    assert info.value.code == "invalid_scene" and "nowhere" in info.value.message


def test_persist_writes_the_trace_and_its_log():
    result = run_playtest(scene(), seed=7, emit=False)
    paths = persist(result)
    folder = runtime_paths.log_dir() / "playtest"
    assert paths["trace"] == folder / f"rainy_day-7-{result.digest[:12]}.trace.json"
    assert paths["log"] == folder / f"rainy_day-7-{result.digest[:12]}.log"
    document = json.loads(paths["trace"].read_text())
    assert document["digest"] == result.digest and trace_digest(document["trace"]) == result.digest
    log = paths["log"].read_text().splitlines()
    steps = [line for line in log if not line.startswith("#")]
    assert len(steps) == 5 and steps[2].startswith("0002 random c_coffee -> cafe | mia: Two cappuccinos")
    assert steps[2].endswith("| trust=1")
    assert log[-1] == "# finished (end) at node 'good_end' after 4 step(s)"
    assert sorted(p.name for p in folder.iterdir()) == sorted([paths["trace"].name, paths["log"].name])


def test_unsafe_seed_characters_stay_out_of_file_names(tmp_path):
    result = run_playtest(scene(), seed="../../etc passwd", emit=False)
    paths = persist(result, tmp_path)
    assert paths["trace"].parent == tmp_path and "/" not in paths["trace"].name[:-len(".trace.json")]
    assert paths["trace"].name.startswith("rainy_day-.._.._etc_passwd-")


def test_a_run_publishes_start_steps_and_finished():
    seen = []
    modder_hooks.subscribe("on_playtest_*", lambda envelope: seen.append(envelope))
    result = run_playtest(scene(), seed=7)
    names = [e["event"] for e in seen]
    assert names == ["on_playtest_start"] + ["on_playtest_step"] * 4 + ["on_playtest_finished"]
    assert seen[0]["payload"] == {"scene_id": "rainy_day", "seed": 7, "pov": None, "run_id": result.run_id}
    assert [e["payload"]["node_id"] for e in seen[1:5]] == ["ask", "cafe", "luck", "good_end"]
    assert seen[2]["payload"] == {"run_id": result.run_id, "step": 2, "node_id": "cafe", "choice_id": "c_coffee"}
    assert seen[-1]["payload"] == {"run_id": result.run_id, "scene_id": "rainy_day", "digest": result.digest,
                                   "steps": 4, "finished": True, "reason": "end"}
    seen.clear()
    run_playtest(scene(), seed=7, emit=False)
    assert seen == []


def test_a_failing_run_still_publishes_its_finish():
    seen = []
    modder_hooks.subscribe("on_playtest_*", lambda envelope: seen.append(envelope))
    with pytest.raises(InvalidInput):
        run_playtest(scene(), choices=["c_secret"])
    assert [e["event"] for e in seen] == ["on_playtest_start", "on_playtest_step", "on_playtest_finished"]
    assert seen[-1]["payload"] | {"run_id": None} == {"run_id": None, "scene_id": "rainy_day", "digest": None,
                                                       "steps": 1, "finished": False, "reason": "error"}


# -- properties -----------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(data=scenes(), seed=st.one_of(st.integers(0, 2**64 - 1), st.text(max_size=12)),
       pov=st.sampled_from([None, "alice", "bob"]))
def test_replaying_a_run_gives_the_same_digest(data, seed, pov):
    original = run_playtest(data, seed=seed, pov=pov, max_steps=100, emit=False)
    again = replay(original.document(), data)
    assert again.digest == original.digest
    assert compare_traces(again, original).equal
    # forcing the picks the random run made reproduces the same path
    picked = [s["choice"] for s in original.trace["steps"] if s["choice"]]
    forced = run_playtest(data, seed=seed, pov=pov, choices=picked, max_steps=100, emit=False)
    assert nodes(forced) == nodes(original)
    assert forced.trace["final"]["variables"] == original.trace["final"]["variables"]


@settings(max_examples=30, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**64 - 1), min_size=24, max_size=24, unique=True))
def test_different_seeds_take_different_branches(seeds):
    # (the digest always differs, the seed is part of the trace: compare the paths played)
    paths = {tuple(nodes(run_playtest(scene(), seed=seed, emit=False))) for seed in seeds}
    # 2 menu options x (2:1) endings, no path likelier than 1/3: 24 seeds on one path is < (1/3)**23
    assert len(paths) > 1
