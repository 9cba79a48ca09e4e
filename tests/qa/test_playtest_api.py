"""HTTP: POST /api/playtest/run and /api/playtest/coverage behind enable_playtest_harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyvn.config import feature_flags, runtime_paths
from comfyvn.core import modder_hooks
from tests.conftest import assert_envelope
from tests.qa.test_playtest_coverage import maze

HERE = Path(__file__).resolve().parent
SCENE = json.loads((HERE / "scenes" / "branching.json").read_text(encoding="utf-8"))
GOLDEN = json.loads((HERE / "golden" / "rainy_day-seed7.trace.json").read_text(encoding="utf-8"))


@pytest.fixture
def enabled(client):
    feature_flags.set_enabled("enable_playtest_harness", True)
    return client


def playtest_files() -> list[str]:
    folder = runtime_paths.log_dir() / "playtest"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_flag_is_off_by_default(client):
    assert feature_flags.is_enabled("enable_playtest_harness") is False
    for path in ("/api/playtest/run", "/api/playtest/coverage"):
        error = assert_envelope(client.post(path, json={"scene": SCENE}), 403, "feature_disabled")
        assert error["details"] == {"flag": "enable_playtest_harness"}


def test_run_answers_the_digest_and_provenance(enabled):
    response = enabled.post("/api/playtest/run", json={"scene": SCENE, "seed": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["digest"] == GOLDEN["digest"]
    assert body["provenance"]["tool"] == "comfyvn.qa.playtest" and body["provenance"]["rng"] == "splitmix64"
    assert (body["steps"], body["finished"], body["reason"]) == (4, True, "end")
    assert body["trace"] == GOLDEN["trace"]
    assert (body["persisted"], body["trace_path"], body["log_path"]) == (False, None, None)
    assert playtest_files() == []
    names = [e["event"] for e in modder_hooks.history(event="on_playtest_*")]
    assert names == ["on_playtest_start"] + ["on_playtest_step"] * 4 + ["on_playtest_finished"]


def test_persist_writes_the_trace_and_the_log(enabled):
    body = enabled.post("/api/playtest/run", json={"scene": SCENE, "seed": 7, "persist": True,
                                                   "include_trace": False}).json()
    assert body["persisted"] is True and "trace" not in body
    trace_path, log_path = Path(body["trace_path"]), Path(body["log_path"])
    assert playtest_files() == sorted([trace_path.name, log_path.name])
    assert trace_path.name == f"rainy_day-7-{body['digest'][:12]}.trace.json"
    assert json.loads(trace_path.read_text())["digest"] == body["digest"]
    assert log_path.read_text().count("\n") == 3 + 5 + 1  # header, one line per step, outcome


def test_dry_run_writes_nothing_and_emits_nothing(enabled):
    before = len(modder_hooks.history(event="on_playtest_*"))
    body = enabled.post("/api/playtest/run", json={"scene": SCENE, "seed": 7, "persist": True,
                                                   "dry_run": True}).json()
    assert body["digest"] == GOLDEN["digest"] and body["dry_run"] is True
    assert body["persisted"] is False and body["trace_path"] is None
    assert body["would_write"]["trace_path"].endswith(f"rainy_day-7-{body['digest'][:12]}.trace.json")
    assert playtest_files() == []
    assert len(modder_hooks.history(event="on_playtest_*")) == before


def test_golden_comparison_over_http(enabled):
    same = enabled.post("/api/playtest/run", json={"scene": SCENE, "seed": 7, "golden": GOLDEN}).json()
    assert same["comparison"]["equal"] is True
    other = enabled.post("/api/playtest/run", json={"scene": SCENE, "seed": 7, "choices": ["c_walk"],
                                                    "golden": GOLDEN}).json()
    assert other["comparison"]["equal"] is False
    assert other["comparison"]["divergence"]["field"] == "choices"


@pytest.mark.parametrize("body, code, needle", [
    ({"scene": {**SCENE, "start": "nowhere"}}, "invalid_scene", "nowhere"),
    ({"scene": SCENE, "seed": [1]}, None, "seed"),
    ({"scene": SCENE, "seed": True}, None, "seed"),
    ({"scene": SCENE, "max_steps": 0}, None, "max_steps"),
    ({"scene": SCENE, "seeds": 3}, None, "seeds"),
    ({"scene": SCENE, "choices": ["c_secret"]}, "invalid_input", "c_secret"),
    ({}, "invalid_input", "exactly one"),
    ({"scene": SCENE, "golden": {"no": "steps"}}, "invalid_input", "steps"),
])
def test_bad_run_input_is_422(enabled, body, code, needle):
    error = assert_envelope(enabled.post("/api/playtest/run", json=body), 422, code)
    assert needle in json.dumps(error)


def test_coverage_over_http(enabled):
    response = enabled.post("/api/playtest/coverage", json={"scene": maze(), "max_depth": 50})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [u["node"] for u in body["unreachable"]] == ["vault", "orphan"]
    assert [d["node"] for d in body["dead_ends"]] == ["pit", "gate"]
    assert body["limits"] == {"max_depth": 50, "max_states": 20_000}
    assert_envelope(enabled.post("/api/playtest/coverage", json={"scene": maze(), "max_states": 0}), 422)


def test_a_stored_scene_is_played_by_id(enabled):
    from comfyvn.projects import store

    store.collection("scene").create("default", SCENE)
    body = enabled.post("/api/playtest/run", json={"scene_id": "rainy_day", "seed": 7}).json()
    assert body["digest"] == GOLDEN["digest"]
    report = enabled.post("/api/playtest/coverage", json={"scene_id": "rainy_day"}).json()
    assert report["unreachable"] == [{"node": "secret", "cause": "not_reached"}]
    assert_envelope(enabled.post("/api/playtest/run", json={"scene_id": "missing"}), 404)
