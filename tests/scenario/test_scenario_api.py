"""/api/scenario/*: schema, validate, run/step, run/play, run/back, hook-bus events, bad input."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.server.app import create_app
from tests.conftest import assert_envelope
from tests.support.scenes import sample_scene


def step(client, **body):
    response = client.post("/api/scenario/run/step", json={"scene": sample_scene(), **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_schema_endpoint(client):
    schema = client.get("/api/scenario/schema").json()
    assert schema["$schema"].endswith("2020-12/schema") and "Node" in schema["$defs"]


def test_validate_accepts_bare_and_wrapped_scenes(client):
    assert client.post("/api/scenario/validate", json=sample_scene()).json() == {
        "valid": True, "errors": [], "warnings": []}
    broken = sample_scene()
    broken["nodes"][0]["choices"][0]["target"] = "nowhere"
    report = client.post("/api/scenario/validate", json={"scene": broken}).json()
    assert report["valid"] is False
    assert report["errors"] == [{"path": "/nodes/0/choices/0/target", "code": "unknown_target",
                                 "severity": "error", "message": "choice target 'nowhere' does not exist"}]


def test_validate_reports_wrong_types_with_paths(client):
    report = client.post("/api/scenario/validate", json={"id": 5, "start": "a", "nodes": "many"}).json()
    assert {e["path"] for e in report["errors"]} == {"/id", "/nodes"}


def test_a_run_from_start_to_end(client):
    first = step(client, seed=5, pov="you")
    assert first["node"]["id"] == "intro" and first["finished"] is False
    assert first["node"]["lines"] == [{"id": "intro", "kind": "say", "speaker": "mira", "text": "Hello!", "metadata": {}}]
    assert [c["id"] for c in first["choices"]] == ["kind", "rude", "secret"]
    second = step(client, state=first["state"], choice_id="secret")
    assert second["node"]["id"] == "good" and second["finished"] is True and second["reason"] == "end"
    assert second["choices"] == []
    assert [t["via"] for t in second["state"]["trace"]] == ["start", "choice"]


def test_steps_emit_hook_events(client):
    seen = []
    modder_hooks.subscribe("on_scene_enter", seen.append)
    modder_hooks.subscribe("on_choice_render", seen.append)
    first = step(client, seed=1, pov="mira")
    step(client, state=first["state"], choice_id="kind")
    events = [(e["event"], e["payload"]["node_id"]) for e in seen]
    assert events == [("on_scene_enter", "intro"), ("on_choice_render", "intro"),
                      ("on_scene_enter", "coin"), ("on_choice_render", "coin")]
    assert [c["id"] for c in seen[1]["payload"]["choices"]] == ["kind", "rude"]
    assert seen[2]["payload"] == {"scene_id": "sample", "node_id": "coin", "pov": "mira", "step": 1,
                                  "finished": False}


def test_same_seed_same_run_over_http(client):
    def play(seed):
        return client.post("/api/scenario/run/play", json={"scene": sample_scene(), "seed": seed}).json()

    assert play(123)["state"] == play(123)["state"]
    assert {play(s)["state"]["node"] for s in range(12)} == {"good", "bad"}


def test_play_to_a_breakpoint_then_back(client):
    body = {"scene": sample_scene(), "seed": 9, "choices": ["kind", "heads"], "breakpoints": ["check"]}
    paused = client.post("/api/scenario/run/play", json=body).json()
    assert paused["stopped"] == "breakpoint" and paused["node"]["id"] == "check"
    assert paused["state"]["vars"]["items"] == ["coin"]
    back = client.post("/api/scenario/run/back", json={"scene": sample_scene(), "state": paused["state"], "steps": 2})
    assert back.status_code == 200
    assert back.json()["node"]["id"] == "intro" and back.json()["state"]["vars"]["trust"] == 0
    limited = client.post("/api/scenario/run/play", json={"scene": sample_scene(), "seed": 9, "max_steps": 1}).json()
    assert limited["stopped"] == "max_steps"


@pytest.mark.parametrize(("body", "code", "needle"), [
    ({}, "invalid_input", "exactly one of"),
    ({"scene": {"id": "x"}}, "invalid_scene", "start"),
    ({"scene": {"id": "s", "start": "a", "nodes": [{"id": "a", "next": "zz"}]}}, "invalid_scene", "'zz'"),
    ({"scene": {"id": "s", "start": "a", "nodes": [{"id": "a", "next": "b"}, {"id": "b", "next": "a"}]}},
     "invalid_scene", "cycle without exit"),
    ({"scene": sample_scene(), "choice_id": "kind"}, "invalid_input", "needs a state"),
    ({"scene": sample_scene(), "seed": 1.5}, "validation_error", "seed"),
    ({"scene": sample_scene(), "state": {"scene_id": "sample"}}, "invalid_input", "/state/node"),
    ({"scene": sample_scene(), "state": {"scene_id": "other", "node": "intro", "rng": "0" * 16}},
     "invalid_input", "belongs to scene 'other'"),
    ({"scene": sample_scene(), "state": {"scene_id": "sample", "node": "gone", "rng": "0" * 16}},
     "stale_state", "'gone'"),
    ({"scene": sample_scene(), "state": {"scene_id": "sample", "node": "intro", "rng": "zz"}},
     "invalid_input", "/state/rng"),
])
def test_bad_step_requests(client, body, code, needle):
    error = assert_envelope(client.post("/api/scenario/run/step", json=body), 422, code)
    assert needle in error["message"] or needle in str(error["details"])


def test_unavailable_choice_names_the_offered_ones(client):
    first = step(client, seed=1, pov="mira")
    error = assert_envelope(client.post("/api/scenario/run/step", json={
        "scene": sample_scene(), "state": first["state"], "choice_id": "secret"}), 422, "invalid_input")
    assert error["details"]["available"] == ["kind", "rude"]


def test_stepping_a_finished_run(client):
    first = step(client, seed=1)
    done = step(client, state=first["state"], choice_id="secret")
    error = assert_envelope(client.post("/api/scenario/run/step", json={"scene": sample_scene(), "state": done["state"]}),
                            422)
    assert "already finished" in error["message"]


def test_back_beyond_the_history(client):
    first = step(client, seed=1)
    error = assert_envelope(client.post("/api/scenario/run/back", json={
        "scene": sample_scene(), "state": first["state"], "steps": 1}), 422)
    assert error["details"]["available"] == 0


def test_huge_scene_is_rejected_with_413(runtime_root):
    SettingsManager().save({"server": {"max_body_bytes": 20_000}})
    scene = sample_scene()
    scene["nodes"][0]["text"] = "x" * 50_000
    with TestClient(create_app(configure_logging=False)) as client:
        assert_envelope(client.post("/api/scenario/validate", json=scene), 413, "payload_too_large")
        assert_envelope(client.post("/api/scenario/run/step", json={"scene": scene}), 413, "payload_too_large")


def nested(depth):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [300, 5000])
def test_absurd_nesting_is_a_422_not_a_crash(client, depth):
    scene = sample_scene()
    scene["variables"]["deep"] = "DEEP"
    text = json.dumps(scene).replace('"DEEP"', '{"a": ' * depth + "1" + "}" * depth)
    headers = {"content-type": "application/json"}
    response = client.post("/api/scenario/validate", content=text, headers=headers)
    if response.status_code == 200:  # the body parsed: the validator refuses the nesting
        report = response.json()
        assert report["valid"] is False and report["errors"][0]["path"].startswith("/variables/deep")
    else:  # too deep to even parse as JSON: 400 with the envelope, never a 500
        assert_envelope(response, 400, "bad_request")
    wrapped = '{"scene": ' + text + "}"
    response = client.post("/api/scenario/run/step", content=wrapped, headers=headers)
    assert response.status_code in (400, 422)
    assert_envelope(response, response.status_code)


def test_reasonable_nesting_round_trips(client):
    scene = sample_scene()
    scene["variables"]["deep"] = nested(60)
    first = client.post("/api/scenario/run/step", json={"scene": scene})
    assert first.status_code == 200 and first.json()["state"]["vars"]["deep"] == nested(60)


def test_non_finite_numbers_are_refused(client):
    text = json.dumps(sample_scene()).replace('"weight": 3', '"weight": 1e400')
    response = client.post("/api/scenario/validate", content=text, headers={"content-type": "application/json"})
    report = response.json()
    assert report["valid"] is False and report["errors"][0]["path"] == "/nodes/0/choices/1/weight"


def test_play_from_a_state_uses_choices_and_breakpoints_from_the_first_step(client):
    start = step(client, seed=9)
    body = {"scene": sample_scene(), "state": start["state"], "choices": ["kind", "heads"], "breakpoints": ["check"]}
    paused = client.post("/api/scenario/run/play", json=body).json()
    assert paused["stopped"] == "breakpoint"
    assert [(t["node"], t["via"], t["choice"]) for t in paused["state"]["trace"]] == [
        ("intro", "start", None), ("coin", "choice", "kind"), ("check", "choice", "heads")]
    done = client.post("/api/scenario/run/play", json={"scene": sample_scene(), "state": paused["state"],
                                                        "choices": ["trusting"]}).json()
    assert done["stopped"] == "finished" and done["node"]["id"] == "good"
    again = client.post("/api/scenario/run/play", json={"scene": sample_scene(), "state": done["state"]}).json()
    assert again["stopped"] == "finished" and again["state"] == done["state"]


def test_seed_or_variables_with_a_state_are_refused(client):
    start = step(client, seed=9)
    for extra in ({"seed": 3}, {"variables": {"trust": 5}}):
        error = assert_envelope(client.post("/api/scenario/run/step", json={
            "scene": sample_scene(), "state": start["state"], **extra}), 422)
        assert "only apply when starting" in error["message"]
