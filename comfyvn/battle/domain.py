"""The battle domain plugin: its flags, events and routes."""

from __future__ import annotations

from comfyvn.config.feature_flags import Flag
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "battle"


@hookimpl
def comfyvn_flags():
    return [
        Flag(
            "enable_battle",
            default=False,
            description="The battle layer: /api/battle/{plan,resolve,simulate} (seeded battles between parties).",
        ),
    ]


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_battle_resolved",
            "A battle was resolved (POST /api/battle/resolve or comfyvn.battle.resolve).",
            {
                "battle_id": "Digest of the battle input and its starting PRNG state (16 hex digits).",
                "winner": "Winning party id, or null for a draw.",
                "outcome": "'victory', 'defeat' or 'draw' from the perspective party's point of view.",
                "rounds": "Rounds fought.",
            },
        ),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import battle

    return [battle.router]
