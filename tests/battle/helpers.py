"""Small builders for battle inputs used by the battle tests."""

from __future__ import annotations

from typing import Any


def member(mid: str, hp: int = 100, attack: int = 20, defense: int = 10, speed: int = 10, luck: int = 0) -> dict:
    return {"id": mid, "stats": {"hp": hp, "attack": attack, "defense": defense, "speed": speed, "luck": luck}}


def party(pid: str, size: int = 1, tactic: str = "random", **stats: Any) -> dict:
    return {"id": pid, "tactic": tactic, "members": [member(f"{pid}_{i}", **stats) for i in range(size)]}


def duel(seed: int | str = 0, **extra: Any) -> dict:
    """Two evenly matched parties of three."""
    return {"parties": [party("heroes", 3), party("orcs", 3)], "seed": seed, **extra}


def lopsided(seed: int | str = 0) -> dict:
    """Heroes far stronger than the goblins."""
    return {"parties": [party("heroes", 2, hp=300, attack=60, defense=30, speed=15),
                        party("goblins", 2, hp=60, attack=12, defense=5, speed=10)], "seed": seed}


# the example of docs/battle.md
DOCS_EXAMPLE = {"seed": "forest-ambush", "max_rounds": 20, "parties": [
    {"id": "heroes", "name": "The Company", "tactic": "weakest", "members": [
        {"id": "aria", "name": "Aria", "stats": {"hp": 60, "attack": 22, "defense": 8, "speed": 14, "luck": 20}},
        {"id": "bram", "name": "Bram", "stats": {"hp": 90, "attack": 16, "defense": 14, "speed": 8}}]},
    {"id": "wolves", "name": "Grey Wolves", "members": [
        {"id": "alpha", "stats": {"hp": 110, "attack": 26, "defense": 10, "speed": 12, "luck": 10}},
        {"id": "pup", "stats": {"hp": 40, "attack": 14, "defense": 4, "speed": 16}}]}]}
