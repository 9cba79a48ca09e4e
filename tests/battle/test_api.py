"""HTTP: /api/battle/{plan,resolve,simulate} behind the enable_battle flag."""

from __future__ import annotations

import pytest

from comfyvn.config import feature_flags
from comfyvn.core import modder_hooks
from tests.battle.helpers import duel, lopsided, party
from tests.conftest import assert_envelope

ENDPOINTS = ["/api/battle/plan", "/api/battle/resolve", "/api/battle/simulate"]


@pytest.fixture
def battle_on(client):
    feature_flags.set_enabled("enable_battle", True)
    return client


def test_flag_is_declared_off_by_default():
    flag = feature_flags.declared()["enable_battle"]
    assert flag.default is False and flag.owner == "battle"
    assert feature_flags.is_enabled("enable_battle") is False


@pytest.mark.parametrize("path", ENDPOINTS)
def test_flag_off_answers_feature_disabled(client, path):
    error = assert_envelope(client.post(path, json=duel()), 403, "feature_disabled")
    assert error["details"] == {"flag": "enable_battle"}


def test_plan(battle_on):
    body = battle_on.post("/api/battle/plan", json=lopsided(seed=3)).json()
    assert body["phase"] == "setup"
    assert [p["id"] for p in body["setup"]["parties"]] == ["heroes", "goblins"]
    assert body["setup"]["turn_order"][0]["party"] == "heroes"  # faster
    assert body["odds"]["win_rates"]["heroes"] > 0.9


def test_resolve_is_deterministic_and_emits(battle_on):
    first = battle_on.post("/api/battle/resolve", json=duel(seed="dragon"))
    second = battle_on.post("/api/battle/resolve", json=duel(seed="dragon"))
    assert first.status_code == 200, first.text
    assert first.json() == second.json()
    body = first.json()
    assert list(body["setup"]) and body["engagement"]["rounds"] and body["resolution"]["winner"]
    assert body["vars_patch"]["battle_outcome"] in ("victory", "defeat")
    events = modder_hooks.history(event="on_battle_resolved")
    assert len(events) == 2 and events[-1]["payload"]["battle_id"] == body["battle_id"]
    other = battle_on.post("/api/battle/resolve", json=duel(seed="wyvern")).json()
    assert other["battle_id"] != body["battle_id"] and other["engagement"] != body["engagement"]


def test_simulate(battle_on):
    response = battle_on.post("/api/battle/simulate", json={**lopsided(seed=1), "n": 500})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["n"] == 500 and body["win_rates"]["heroes"] >= 0.98
    assert body == battle_on.post("/api/battle/simulate", json={**lopsided(seed=1), "n": 500}).json()


def _field(response) -> str:
    error = assert_envelope(response, 422)
    return error["details"]["errors"][0]["field"] if "errors" in error["details"] else error["details"]["field"]


@pytest.mark.parametrize("path,body,field,words", [
    ("/api/battle/resolve", {"parties": [party("a")]}, "body.parties", "at least 2"),
    ("/api/battle/resolve", {"parties": [party("a"), party("a")]}, "body.parties", "duplicate party id 'a'"),
    ("/api/battle/plan", {"parties": [party("a"), {"id": "b", "members": [
        {"id": "a_0", "stats": {"hp": 1, "attack": 1, "speed": 1}}]}]}, "body.parties", "duplicate member id"),
    ("/api/battle/resolve", {"parties": [party("a"), party("b", hp=-1)]}, "body.parties.1.members.0.stats.hp",
     "greater than or equal to 1"),
    ("/api/battle/resolve", {"parties": [party("a"), party("b")], "tactics": "x"}, "body.tactics", "not permitted"),
    ("/api/battle/simulate", {**duel(), "n": 1_000_000}, "body.n", "less than or equal to 10000"),
])
def test_bad_input_is_422_naming_the_field(battle_on, path, body, field, words):
    response = battle_on.post(path, json=body)
    assert _field(response) == field
    assert field in response.json()["error"]["message"] and words in response.json()["error"]["message"]


def test_too_much_simulation_work_is_422(battle_on):
    body = {"parties": [party("a", 16), party("b", 16)], "max_rounds": 100, "n": 10_000}
    response = battle_on.post("/api/battle/simulate", json=body)
    error = assert_envelope(response, 422, "battle_too_large")
    assert error["details"]["field"] == "n" and "n <= 625" in error["message"]
