"""Battle operations: ``plan`` (the setup phase and predicted odds), ``resolve`` (one seeded battle in
three phases plus the variables a scene branches on) and ``simulate`` (many battles for statistics).

Each takes a :class:`~comfyvn.battle.models.Battle` (or a dict, or keyword fields) and returns plain
JSON. Same input => same answer, always.
"""

from __future__ import annotations

import math
from typing import Any

from comfyvn.battle.engine import PERMILLE, Arena, Result, fight
from comfyvn.battle.models import Battle, Simulation, parse
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import digest
from comfyvn.scenario.rng import StoryRandom

ODDS_SAMPLES = 200
# simulate refuses n * max_rounds * members above this (a few seconds when every battle runs to max_rounds)
WORK_BUDGET = 2_000_000


def start_rng(battle: Battle) -> StoryRandom:
    if battle.rng_state is not None:
        return StoryRandom.from_state(battle.rng_state)
    return StoryRandom(0 if battle.seed is None else battle.seed)


def battle_id(battle: Battle) -> str:
    """16 hex digits of the SHA-256 of the battle's canonical JSON (the seed replaced by the PRNG
    state it starts from, so seed 0, no seed and rng_state '0000000000000000' are one battle)."""
    data = battle.model_dump(mode="json", include=set(Battle.model_fields), exclude={"seed", "rng_state"})
    data["start"] = start_rng(battle).state
    return digest(data)[:16]


def outcome(arena: Arena, winner: int | None, hp: list[int]) -> str:
    """'victory' when the perspective party won; 'draw' when nobody won and it still stands;
    'defeat' otherwise (another party won, or it was knocked out)."""
    side = arena.party_ids.index(arena.battle.viewpoint)
    if winner == side:
        return "victory"
    if winner is None and any(h > 0 for h, p in zip(hp, arena.party) if p == side):
        return "draw"
    return "defeat"


def matchups(arena: Arena) -> list[dict[str, Any]]:
    """For every ordered pair of parties, what the first would do to the second if it attacked only
    it: average hit chance, expected damage per round (every member attacking once; criticals
    counted, variance averaging to 100 %) and the rounds that takes to remove the second's total hp."""
    out = []
    for a_side, a_id in enumerate(arena.party_ids):
        attackers = [i for i, p in enumerate(arena.party) if p == a_side]
        for d_side, d_id in enumerate(arena.party_ids):
            if d_side == a_side:
                continue
            defenders = [j for j, p in enumerate(arena.party) if p == d_side]
            pairs = [(i, j) for i in attackers for j in defenders]
            hit = sum(arena.hit[i][j] for i, j in pairs) / (len(pairs) * PERMILLE)
            per_round = sum(
                arena.hit[i][j] / PERMILLE * arena.base[i][j] * (1 + arena.crit[i] / PERMILLE / 2)
                for i, j in pairs
            ) / len(defenders)
            total_hp = sum(arena.max_hp[j] for j in defenders)
            out.append({"party": a_id, "opponent": d_id, "hit_chance": round(hit, 3),
                        "damage_per_round": round(per_round, 2),
                        "rounds_to_defeat": math.ceil(total_hp / per_round)})
    return out


def setup(arena: Arena, order: list[int]) -> dict[str, Any]:
    parties = []
    for index, party in enumerate(arena.battle.parties):
        parties.append({
            "id": party.id, "name": party.name or party.id, "tactic": party.tactic,
            "total_hp": sum(m.stats.hp for m in party.members),
            "members": [{"id": m.id, "name": m.name or m.id, **m.stats.model_dump()} for m in party.members],
        })
    turn_order = [{"position": n + 1, "member": arena.ids[i], "party": arena.party_ids[arena.party[i]],
                   "speed": arena.speed[i]} for n, i in enumerate(order)]
    return {"parties": parties, "turn_order": turn_order, "matchups": matchups(arena),
            "perspective": arena.battle.viewpoint, "max_rounds": arena.battle.max_rounds,
            "on_timeout": arena.battle.on_timeout}


def statistics(arena: Arena, rng: StoryRandom, n: int) -> dict[str, Any]:
    """Fight ``n`` battles one after another on one PRNG stream."""
    wins = dict.fromkeys(arena.party_ids, 0)
    outcomes = {"victory": 0, "defeat": 0, "draw": 0}
    draws = rounds = 0
    for _ in range(n):
        result = fight(arena, rng, record=False)
        rounds += result.rounds
        if result.winner is None:
            draws += 1
        else:
            wins[arena.party_ids[result.winner]] += 1
        outcomes[outcome(arena, result.winner, result.hp)] += 1
    return {"n": n, "wins": wins, "win_rates": {k: round(v / n, 4) for k, v in wins.items()},
            "draws": draws, "draw_rate": round(draws / n, 4), "average_rounds": round(rounds / n, 3),
            "perspective": arena.battle.viewpoint, "outcomes": outcomes}


def plan(battle: Battle | dict[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
    """The setup phase of a battle (parties, turn order, matchups) and its predicted odds, without
    resolving it. The odds come from ``ODDS_SAMPLES`` battles on a PRNG seeded with
    ``'battle-odds:' + battle_id``, so they never depend on, or change, the battle's own stream."""
    battle = parse(battle, **fields)
    arena = Arena(battle)
    bid = battle_id(battle)
    rng = start_rng(battle)
    order = arena.turn_order(rng)
    return {"battle_id": bid, "phase": "setup", "setup": setup(arena, order),
            "odds": statistics(arena, StoryRandom(f"battle-odds:{bid}"), ODDS_SAMPLES)}


def _resolution(arena: Arena, result: Result) -> dict[str, Any]:
    parties = []
    for side, pid in enumerate(arena.party_ids):
        members = [i for i, p in enumerate(arena.party) if p == side]
        parties.append({"id": pid, "standing": sum(1 for i in members if result.hp[i] > 0),
                        "hp": sum(result.hp[i] for i in members), "max_hp": sum(arena.max_hp[i] for i in members)})
    survivors = [{"id": arena.ids[i], "party": arena.party_ids[arena.party[i]], "hp": result.hp[i],
                  "max_hp": arena.max_hp[i]} for i in range(len(arena.ids)) if result.hp[i] > 0]
    winner = None if result.winner is None else arena.party_ids[result.winner]
    return {"winner": winner, "reason": result.reason, "rounds": result.rounds, "survivors": survivors,
            "parties": parties}


def resolve(battle: Battle | dict[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
    """Fight one battle and return its three phases, the ``vars_patch`` a scene applies to its
    variables, and the PRNG state after the battle. Emits ``on_battle_resolved``."""
    battle = parse(battle, **fields)
    arena = Arena(battle)
    bid = battle_id(battle)
    rng = start_rng(battle)
    result = fight(arena, rng)
    resolution = _resolution(arena, result)
    side = arena.party_ids.index(battle.viewpoint)
    vars_patch = {
        "battle_outcome": outcome(arena, result.winner, result.hp),
        "battle_winner": resolution["winner"],
        "battle_rounds": result.rounds,
        "battle_survivors": resolution["parties"][side]["standing"],
        "battle_hp": dict(zip(arena.ids, result.hp)),
    }
    modder_hooks.emit("on_battle_resolved", {"battle_id": bid, "winner": resolution["winner"],
                                             "outcome": vars_patch["battle_outcome"], "rounds": result.rounds})
    return {"battle_id": bid, "setup": setup(arena, result.order), "engagement": {"rounds": result.log},
            "resolution": resolution, "vars_patch": vars_patch, "rng_state": rng.state}


def simulate(battle: Simulation | dict[str, Any] | None = None, /, **fields: Any) -> dict[str, Any]:
    """Fight the battle ``n`` times on one PRNG stream (each battle continues where the last one
    left it) and report win rates per party, the draw rate and the average number of rounds."""
    sim = parse(battle, Simulation, **fields)
    assert isinstance(sim, Simulation)
    arena = Arena(sim)
    work = sim.n * sim.max_rounds * len(arena.ids)
    if work > WORK_BUDGET:
        most = max(1, WORK_BUDGET // (sim.max_rounds * len(arena.ids)))
        raise InvalidInput(
            f"n: {sim.n} battles of up to {sim.max_rounds} rounds with {len(arena.ids)} members is too much "
            f"work (n * max_rounds * members must stay <= {WORK_BUDGET:,}); use n <= {most} or lower max_rounds",
            code="battle_too_large", details={"field": "n", "n": sim.n, "max_n": most, "budget": WORK_BUDGET})
    rng = start_rng(sim)
    return {"battle_id": battle_id(sim), **statistics(arena, rng, sim.n), "rng_state": rng.state}
