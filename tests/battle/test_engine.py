"""The battle engine and service as plain Python: the documented formulas, rules and answers."""

from __future__ import annotations

import pytest

from comfyvn.battle import plan, resolve, simulate
from comfyvn.battle.engine import base_damage, crit_chance, hit_chance, roll_damage
from comfyvn.battle.models import parse
from comfyvn.battle.service import battle_id
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.scenario.rng import StoryRandom
from tests.battle.helpers import DOCS_EXAMPLE, duel, lopsided, member, party


def test_formulas():
    assert hit_chance(10, 10) == 700
    assert hit_chance(1, 10_000) == 500
    assert hit_chance(10_000, 1) == 899
    assert crit_chance(0) == 50 and crit_chance(100) == 450
    assert base_damage(20, 0) == 20
    assert base_damage(20, 20) == 10
    assert base_damage(1, 100_000) == 1
    assert roll_damage(10, 85, False) == 8
    assert roll_damage(10, 115, True) == 16  # 11 * 3 // 2
    assert roll_damage(1, 85, False) == 1


def reference_duel(a: dict, b: dict, seed: int, max_rounds: int) -> tuple[list[tuple], str]:
    """The documented rules for a one-on-one battle, written out independently of the engine."""
    rng = StoryRandom(seed)
    fighters = [dict(a["stats"], id=a["id"]), dict(b["stats"], id=b["id"])]
    ties = [rng.next_u64(), rng.next_u64()]
    order = sorted(range(2), key=lambda i: (-fighters[i]["speed"], ties[i]))
    hp = [f["hp"] for f in fighters]
    events = []
    for _round in range(max_rounds):
        for i in order:
            if min(hp) == 0:
                break
            att, d = fighters[i], 1 - i
            dfn = fighters[d]
            if rng.below(1000) < 500 + 400 * att["speed"] // (att["speed"] + dfn["speed"]):
                crit = rng.below(1000) < 50 + 4 * att["luck"]
                base = max(1, att["attack"] ** 2 // (att["attack"] + dfn["defense"]))
                dmg = max(1, base * (85 + rng.below(31)) // 100)
                dmg = dmg * 3 // 2 if crit else dmg
                hp[d] = max(0, hp[d] - dmg)
                events.append((att["id"], dfn["id"], True, crit, dmg, hp[d]))
            else:
                events.append((att["id"], dfn["id"], False, False, 0, hp[d]))
        if min(hp) == 0:
            break
    return events, rng.state


@pytest.mark.parametrize("seed", [0, 1, 2, 99, 12345])
def test_engine_follows_the_documented_rules(seed):
    a = member("knight", hp=90, attack=25, defense=12, speed=9, luck=30)
    b = member("troll", hp=140, attack=18, defense=6, speed=9, luck=0)
    result = resolve({"parties": [{"id": "p1", "members": [a]}, {"id": "p2", "members": [b]}],
                      "seed": seed, "max_rounds": 40})
    expected, state = reference_duel(a, b, seed, 40)
    actual = [(e["actor"], e["target"], e["hit"], e["critical"], e["damage"], e["target_hp"])
              for r in result["engagement"]["rounds"] for e in r["actions"]]
    assert actual == expected
    assert result["rng_state"] == state


def test_resolve_has_three_phases_and_a_consistent_outcome():
    result = resolve(duel(seed=5))
    assert {"setup", "engagement", "resolution", "vars_patch", "rng_state", "battle_id"} <= set(result)
    resolution, patch = result["resolution"], result["vars_patch"]
    assert resolution["reason"] == "last_party_standing"
    winner = resolution["winner"]
    assert winner in ("heroes", "orcs")
    assert patch["battle_winner"] == winner
    assert patch["battle_outcome"] == ("victory" if winner == "heroes" else "defeat")
    assert patch["battle_rounds"] == resolution["rounds"] == len(result["engagement"]["rounds"])
    assert {s["party"] for s in resolution["survivors"]} == {winner}
    assert patch["battle_survivors"] == (len(resolution["survivors"]) if winner == "heroes" else 0)
    last = result["engagement"]["rounds"][-1]
    assert last["actions"][-1]["knocked_out"]
    assert last["standing"][winner] > 0 and sum(last["standing"].values()) == last["standing"][winner]


def test_perspective_flips_the_outcome():
    first = resolve(duel(seed=3))
    second = resolve(duel(seed=3, perspective="orcs"))
    assert first["resolution"] == second["resolution"]
    assert {first["vars_patch"]["battle_outcome"], second["vars_patch"]["battle_outcome"]} == {"victory", "defeat"}


def test_timeout_is_a_draw_or_decided_by_hp_share():
    battle = {"parties": [party("a", 1, hp=1000, attack=30), party("b", 2, hp=500, attack=10)],
              "seed": 1, "max_rounds": 3}
    draw = resolve(battle)
    assert draw["resolution"]["reason"] == "max_rounds" and draw["resolution"]["rounds"] == 3
    assert draw["resolution"]["winner"] is None and draw["vars_patch"]["battle_outcome"] == "draw"
    by_hp = resolve({**battle, "on_timeout": "hp"})
    shares = {p["id"]: p["hp"] / p["max_hp"] for p in by_hp["resolution"]["parties"]}
    assert shares["a"] != shares["b"]
    assert by_hp["resolution"]["winner"] == max(shares, key=shares.get)


def test_equal_hp_share_at_timeout_is_still_a_draw():
    # every hit deals exactly 1 (attack 1 against a huge defense); one round: equal shares iff both
    # attacks land or both miss
    walls = [party("a", 1, hp=1000, attack=1, defense=100_000), party("b", 1, hp=1000, attack=1, defense=100_000)]
    seen = set()
    for seed in range(40):
        result = resolve({"parties": walls, "seed": seed, "max_rounds": 1, "on_timeout": "hp"})
        hp = result["vars_patch"]["battle_hp"]
        if hp["a_0"] == hp["b_0"]:
            assert result["resolution"]["winner"] is None
            seen.add("tie")
        else:
            assert result["resolution"]["winner"] == ("a" if hp["a_0"] > hp["b_0"] else "b")
            seen.add("decided")
    assert seen == {"tie", "decided"}


def test_knocked_out_perspective_party_is_defeated_even_in_a_draw():
    battle = {"parties": [party("frail", 1, hp=1, speed=1, defense=0),
                          party("wall", 1, hp=100_000, attack=40, defense=100_000, speed=100),
                          party("wall2", 1, hp=100_000, attack=40, defense=100_000, speed=100)],
              "seed": 0, "max_rounds": 5}
    result = resolve(battle)
    assert result["resolution"]["winner"] is None
    assert result["vars_patch"]["battle_hp"]["frail_0"] == 0
    assert result["vars_patch"]["battle_outcome"] == "defeat"


@pytest.mark.parametrize("tactic,expected", [("weakest", "orcs_1"), ("strongest", "orcs_2")])
def test_tactics_pick_their_target(tactic, expected):
    orcs = {"id": "orcs", "members": [member("orcs_0", hp=80, attack=10), member("orcs_1", hp=20, attack=10),
                                      member("orcs_2", hp=80, attack=30)]}
    heroes = {"id": "heroes", "tactic": tactic, "members": [member("hero", speed=50)]}
    for seed in range(10):
        result = resolve({"parties": [heroes, orcs], "seed": seed})
        first = result["engagement"]["rounds"][0]["actions"][0]
        assert first["actor"] == "hero" and first["target"] == expected
    randomly = {resolve({"parties": [{**heroes, "tactic": "random"}, orcs], "seed": seed})
                ["engagement"]["rounds"][0]["actions"][0]["target"] for seed in range(10)}
    assert len(randomly) > 1


def test_rng_state_input_continues_a_stream():
    seeded = resolve(duel(seed=77))
    continued = resolve({**duel(), "seed": None, "rng_state": StoryRandom(77).state})
    assert continued["engagement"] == seeded["engagement"]
    assert continued["rng_state"] == seeded["rng_state"]
    assert continued["battle_id"] == seeded["battle_id"]
    # the state after the battle feeds the next one
    nxt = resolve({**duel(), "seed": None, "rng_state": seeded["rng_state"]})
    assert nxt["battle_id"] != seeded["battle_id"]


def test_battle_id_is_a_digest_of_input_and_start_state():
    assert battle_id(parse(duel(seed=0))) == battle_id(parse({**duel(), "seed": None}))
    assert battle_id(parse(duel(seed=0))) != battle_id(parse(duel(seed=1)))
    assert battle_id(parse(duel(seed=0))) != battle_id(parse(duel(seed=0, max_rounds=29)))
    assert len(battle_id(parse(duel()))) == 16


def test_resolve_emits_on_battle_resolved_and_plan_does_not():
    seen = []
    modder_hooks.subscribe("on_battle_resolved", seen.append)
    plan(duel(seed=1))
    simulate(duel(seed=1), n=5)
    assert seen == []
    result = resolve(duel(seed=1))
    assert [e["payload"] for e in seen] == [{
        "battle_id": result["battle_id"], "winner": result["resolution"]["winner"],
        "outcome": result["vars_patch"]["battle_outcome"], "rounds": result["resolution"]["rounds"]}]


def test_plan_is_the_setup_phase_with_odds():
    planned = plan(duel(seed=9))
    resolved = resolve(duel(seed=9))
    assert planned["phase"] == "setup" and "engagement" not in planned
    assert planned["setup"] == resolved["setup"]
    assert planned["battle_id"] == resolved["battle_id"]
    odds = planned["odds"]
    assert odds["n"] == 200 and sum(odds["wins"].values()) + odds["draws"] == 200
    assert 0.3 < odds["win_rates"]["heroes"] < 0.7  # evenly matched
    assert plan(parties=duel()["parties"], seed=9) == planned  # keyword fields work too


def test_turn_order_is_by_speed_with_seeded_tie_breaks():
    battle = {"parties": [{"id": "a", "members": [member("slow", speed=3), member("tie1", speed=7)]},
                          {"id": "b", "members": [member("fast", speed=20), member("tie2", speed=7)]}]}
    orders = {tuple(e["member"] for e in resolve(battle, seed=s)["setup"]["turn_order"]) for s in range(20)}
    assert {o[0] for o in orders} == {"fast"} and {o[-1] for o in orders} == {"slow"}
    assert {o[1:3] for o in orders} == {("tie1", "tie2"), ("tie2", "tie1")}


def test_matchups_estimate_the_stronger_side():
    matchups = {(m["party"], m["opponent"]): m for m in plan(lopsided())["setup"]["matchups"]}
    strong, weak = matchups["heroes", "goblins"], matchups["goblins", "heroes"]
    assert strong["damage_per_round"] > weak["damage_per_round"]
    assert strong["rounds_to_defeat"] < weak["rounds_to_defeat"]


def test_simulate_counts_and_matches_resolve_for_one_battle():
    stats = simulate(duel(seed=11), n=300)
    assert sum(stats["wins"].values()) + stats["draws"] == 300
    assert sum(stats["outcomes"].values()) == 300
    assert stats["outcomes"]["victory"] == stats["wins"]["heroes"]
    one = simulate(duel(seed=11), n=1)
    resolved = resolve(duel(seed=11))
    assert one["wins"][resolved["resolution"]["winner"]] == 1
    assert one["rng_state"] == resolved["rng_state"]
    assert one["average_rounds"] == resolved["resolution"]["rounds"]


def test_simulate_refuses_too_much_work():
    big = {"parties": [party("a", 16), party("b", 16)], "max_rounds": 100}
    with pytest.raises(InvalidInput) as caught:
        simulate(big, n=10_000)
    assert caught.value.code == "battle_too_large" and caught.value.details["field"] == "n"
    assert caught.value.details["max_n"] == 625


@pytest.mark.parametrize("data,field", [
    ({"parties": [party("a")]}, "parties"),
    ({"parties": [party("a"), party("a")]}, "parties"),
    ({"parties": [party("a"), party("b", hp=-5)]}, "parties.1.members.0.stats.hp"),
    ({"parties": [party("a"), party("b")], "perspective": "nobody"}, "perspective"),
    ({"parties": [party("a"), party("b")], "seed": 2, "rng_state": "00000000000000ff"}, "rng_state"),
    ({"parties": [party("a"), party("b")], "seed": True}, "seed"),
    ({"parties": [party("a"), party("b")], "max_rounds": 1000}, "max_rounds"),
])
def test_python_api_names_the_bad_field(data, field):
    with pytest.raises(InvalidInput) as caught:
        resolve(data)
    assert caught.value.details["errors"][0]["field"] == field
    assert field in caught.value.message


def test_duplicate_member_ids_across_parties_are_refused():
    data = {"parties": [party("a"), {"id": "b", "members": [member("a_0")]}]}
    with pytest.raises(InvalidInput, match="duplicate member id 'a_0'"):
        plan(data)


def test_the_docs_example_is_true():
    """Pins the formulas: changing any of them changes this battle (update docs/battle.md with it)."""
    result = resolve(DOCS_EXAMPLE)
    assert result["battle_id"] == "3c460aed4c28ced1"
    assert result["rng_state"] == "227579e8913751ea"
    assert result["vars_patch"] == {"battle_outcome": "defeat", "battle_winner": "wolves", "battle_rounds": 12,
                                    "battle_survivors": 0, "battle_hp": {"aria": 0, "bram": 0, "alpha": 17, "pup": 0}}
    assert result["engagement"]["rounds"][0]["actions"][0] == {
        "actor": "pup", "party": "wolves", "target": "aria", "target_party": "heroes", "hit": True,
        "critical": False, "damage": 6, "target_hp": 54, "knocked_out": False}
    assert [m["damage_per_round"] for m in result["setup"]["matchups"]] == [19.22, 18.65]
    odds = plan(DOCS_EXAMPLE)["odds"]
    assert odds["win_rates"] == {"heroes": 0.525, "wolves": 0.475} and odds["average_rounds"] == 10.095
    stats = simulate(DOCS_EXAMPLE, n=1000)
    assert stats["win_rates"] == {"heroes": 0.522, "wolves": 0.478} and stats["average_rounds"] == 10.036
