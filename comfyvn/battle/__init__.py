"""The battle layer: seeded battles between parties with stats, resolved in three phases (setup,
engagement, resolution) into variables a scene can branch on. See docs/battle.md.

Public API (stable)::

    from comfyvn.battle import plan, resolve, simulate

    plan({"parties": [...], "seed": 7})        # setup phase + predicted odds, nothing resolved
    resolve(parties=[...], seed=7)             # phases + vars_patch + rng_state
    simulate(parties=[...], seed=7, n=1000)    # win rates over n battles
"""

from __future__ import annotations

from comfyvn.battle.models import Battle, Member, Party, Simulation, Stats
from comfyvn.battle.service import plan, resolve, simulate

__all__ = ["Battle", "Member", "Party", "Simulation", "Stats", "plan", "resolve", "simulate"]
