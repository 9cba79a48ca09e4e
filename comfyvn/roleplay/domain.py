"""The roleplay plugin: chat-log import (events, the import job, routes)."""

from __future__ import annotations

from comfyvn.core.jobs import JobKind
from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl
from comfyvn.roleplay.jobs import CleanJobParams, ImportJobParams

PLUGIN_NAME = "roleplay"


@hookimpl
def comfyvn_events():
    return [
        EventSpec(
            "on_roleplay_imported",
            "A chat log was imported into a project as scenes.",
            {"project": "Project id.", "uid": "Import id (file-name slug + content hash).",
             "format": "Reader used, e.g. 'sillytavern.jsonl'.", "scenes": "Scene ids written.",
             "messages": "Messages read.", "warnings": "Number of problems reported (skipped or guessed)."},
        ),
        EventSpec(
            "on_character_imported",
            "A character was created or matched while importing a chat or a card.",
            {"project": "Project id.", "character_id": "Character id.", "name": "Display name.",
             "source": "'chat' or 'card'.", "created": "True when a new record was written."},
        ),
    ]


@hookimpl
def comfyvn_job_kinds():
    return [
        JobKind("roleplay.import", handler="comfyvn.roleplay.jobs:run_import",
                description="Import an uploaded chat log into a project as scenes (large uploads).",
                params=ImportJobParams),
        JobKind("roleplay.clean", handler="comfyvn.roleplay.jobs:run_clean",
                description="Clean an import with the LLM provider and re-make its scenes.",
                params=CleanJobParams),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import roleplay

    return [roleplay.router]
