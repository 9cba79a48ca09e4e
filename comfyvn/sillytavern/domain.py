"""The SillyTavern library plugin: the ``sillytavern.import`` job and ``POST /st/import``."""

from __future__ import annotations

from comfyvn.core.jobs import JobKind
from comfyvn.core.plugins import hookimpl
from comfyvn.sillytavern.jobs import LibraryJobParams

PLUGIN_NAME = "sillytavern"


@hookimpl
def comfyvn_job_kinds():
    return [
        JobKind("sillytavern.import", handler="comfyvn.sillytavern.jobs:run_import",
                description="Import a SillyTavern library (worlds, personas, character cards, chats) or a batch of "
                            "uploaded files into a project, with progress per item.",
                params=LibraryJobParams),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import st

    return [st.router]
