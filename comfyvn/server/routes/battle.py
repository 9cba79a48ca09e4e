"""Battle: plan a battle (setup + odds), resolve one seeded battle, simulate many (flag enable_battle)."""

from __future__ import annotations

from typing import Any

from comfyvn import battle as battles
from comfyvn.battle.models import Battle, Simulation
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/api/battle", tags=["battle"], flag="enable_battle")


@router.post("/plan", summary="The setup phase (turn order, matchups) and predicted odds, nothing resolved")
def plan(body: Battle) -> dict[str, Any]:
    return battles.plan(body)


@router.post("/resolve", summary="Fight one seeded battle: setup, engagement, resolution and vars_patch")
def resolve(body: Battle) -> dict[str, Any]:
    return battles.resolve(body)


@router.post("/simulate", summary="Fight the battle n times: win rates, draw rate, average rounds")
def simulate(body: Simulation) -> dict[str, Any]:
    return battles.simulate(body)
