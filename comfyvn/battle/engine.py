"""The battle engine: integer arithmetic and the story PRNG only, so a battle replays identically on
every platform (and can be reproduced in Ren'Py's Python).

Formulas (``a`` attacks ``d``; chances are in per mille, compared with ``rng.below(1000)``):

- turn order: speed, highest first; ties broken by one ``next_u64()`` drawn per member in input
  order before the first round (lower draw first). The order holds for the whole battle.
- hit chance ``500 + 400 * a.speed // (a.speed + d.speed)``: 70.0% between equals, 50.0% to 89.9%.
- critical chance ``50 + 4 * a.luck``: 5.0% at luck 0, 45.0% at luck 100.
- base damage ``max(1, a.attack**2 // (a.attack + d.defense))``: the full attack against no
  defense, half of it when defense equals attack, never below 1.
- damage ``max(1, base * v // 100)`` with variance ``v = 85 + rng.below(31)`` (85..115 %), then
  ``* 3 // 2`` on a critical hit. hp never drops below 0; a member at 0 is knocked out.

Each attack draws: the target (one ``below(n)`` only for the 'random' tactic with two or more
standing enemies), the hit roll, and on a hit the critical roll and the variance, in that order.
The battle ends the moment one party has members standing, or after ``max_rounds`` rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from comfyvn.battle.models import Battle
from comfyvn.scenario.rng import StoryRandom

PERMILLE = 1000
VARIANCE_LOW, VARIANCE_SPAN = 85, 31  # 85..115 %


def hit_chance(attacker_speed: int, defender_speed: int) -> int:
    """Per-mille chance that an attack lands."""
    return 500 + (400 * attacker_speed) // (attacker_speed + defender_speed)


def crit_chance(luck: int) -> int:
    """Per-mille chance that a landed attack is a critical hit."""
    return 50 + 4 * luck


def base_damage(attack: int, defense: int) -> int:
    return max(1, attack * attack // (attack + defense))


def roll_damage(base: int, variance: int, critical: bool) -> int:
    damage = max(1, base * variance // 100)
    return damage * 3 // 2 if critical else damage


class Arena:
    """A battle compiled to flat tables (members in input order, indexed 0..n-1)."""

    def __init__(self, battle: Battle) -> None:
        self.battle = battle
        self.party_ids = [p.id for p in battle.parties]
        self.members = [(m, index) for index, p in enumerate(battle.parties) for m in p.members]
        self.ids = [m.id for m, _ in self.members]
        self.party = [index for _, index in self.members]
        stats = [m.stats for m, _ in self.members]
        self.max_hp = [s.hp for s in stats]
        self.attack = [s.attack for s in stats]
        self.speed = [s.speed for s in stats]
        self.crit = [crit_chance(s.luck) for s in stats]
        self.hit = [[hit_chance(a.speed, d.speed) for d in stats] for a in stats]
        self.base = [[base_damage(a.attack, d.defense) for d in stats] for a in stats]
        self.tactic = [p.tactic for p in battle.parties]

    def turn_order(self, rng: StoryRandom) -> list[int]:
        tiebreak = [rng.next_u64() for _ in self.ids]
        return sorted(range(len(self.ids)), key=lambda i: (-self.speed[i], tiebreak[i]))

    def pick_target(self, attacker: int, enemies: list[int], hp: list[int], rng: StoryRandom) -> int:
        tactic = self.tactic[self.party[attacker]]
        if len(enemies) == 1:
            return enemies[0]
        if tactic == "weakest":
            return min(enemies, key=lambda j: hp[j])
        if tactic == "strongest":
            return max(enemies, key=lambda j: (self.attack[j], -j))
        return enemies[rng.below(len(enemies))]


@dataclass
class Result:
    order: list[int]
    winner: int | None  # party index
    reason: str  # 'last_party_standing' or 'max_rounds'
    rounds: int
    hp: list[int]
    log: list[dict[str, Any]] = field(default_factory=list)


def fight(arena: Arena, rng: StoryRandom, *, record: bool = True) -> Result:
    """Fight one battle, advancing ``rng``. With ``record`` the result carries every round."""
    order = arena.turn_order(rng)
    hp = list(arena.max_hp)
    party, ids = arena.party, arena.ids
    standing = [0] * len(arena.party_ids)
    for p in party:
        standing[p] += 1
    parties_left = len(standing)
    sides = range(len(standing))
    # standing enemies of each party, in input order; rebuilt only after a knock-out
    enemies_of = [[j for j in range(len(hp)) if party[j] != side] for side in sides]
    log: list[dict[str, Any]] = []
    rounds = 0
    while parties_left > 1 and rounds < arena.battle.max_rounds:
        rounds += 1
        actions: list[dict[str, Any]] = []
        for a in order:
            if hp[a] <= 0:
                continue
            side = party[a]
            d = arena.pick_target(a, enemies_of[side], hp, rng)
            landed = rng.below(PERMILLE) < arena.hit[a][d]
            critical = False
            damage = 0
            if landed:
                critical = rng.below(PERMILLE) < arena.crit[a]
                damage = roll_damage(arena.base[a][d], VARIANCE_LOW + rng.below(VARIANCE_SPAN), critical)
                hp[d] = max(0, hp[d] - damage)
                if hp[d] == 0:
                    standing[party[d]] -= 1
                    if standing[party[d]] == 0:
                        parties_left -= 1
                    enemies_of = [[j for j in enemies if j != d] for enemies in enemies_of]
            if record:
                actions.append({"actor": ids[a], "party": arena.party_ids[side], "target": ids[d],
                                "target_party": arena.party_ids[party[d]], "hit": landed, "critical": critical,
                                "damage": damage, "target_hp": hp[d], "knocked_out": landed and hp[d] == 0})
            if parties_left <= 1:
                break
        if record:
            log.append({"round": rounds, "actions": actions,
                        "standing": {pid: standing[i] for i, pid in enumerate(arena.party_ids)}})
    if parties_left == 1:
        winner = next(p for p, count in enumerate(standing) if count)
        return Result(order, winner, "last_party_standing", rounds, hp, log)
    return Result(order, _timeout_winner(arena, hp, standing), "max_rounds", rounds, hp, log)


def _timeout_winner(arena: Arena, hp: list[int], standing: list[int]) -> int | None:
    """After max_rounds: None for 'draw'; for 'hp' the party with the largest share of its total hp
    left (compared exactly as fractions), None when the best share is shared."""
    if arena.battle.on_timeout == "draw":
        return None
    left = [0] * len(standing)
    total = [0] * len(standing)
    for i, p in enumerate(arena.party):
        left[p] += hp[i]
        total[p] += arena.max_hp[i]
    best: list[int] = []
    for p in range(len(standing)):
        if not standing[p]:
            continue
        if not best or left[p] * total[best[0]] > left[best[0]] * total[p]:
            best = [p]
        elif left[p] * total[best[0]] == left[best[0]] * total[p]:
            best.append(p)
    return best[0] if len(best) == 1 else None
