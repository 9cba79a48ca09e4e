"""The assets plugin: the registry's hook-bus events and the ``/assets`` routes."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "assets"

_FIELDS = {
    "project": "Project id.",
    "uid": "Asset uid (content-hash based).",
    "type": "Asset type, e.g. 'character.sprite', 'background', 'music'.",
    "path": "File path relative to the project's asset folder.",
    "sidecar": "The whole sidecar as written.",
    "meta": "The sidecar's meta object.",
    "hook_event": "The registry hook that fired: asset_registered, asset_meta_updated, asset_removed or "
                  "asset_sidecar_written.",
    "timestamp": "Unix time of the change.",
}


@hookimpl
def comfyvn_events():
    return [
        EventSpec("on_asset_registered", "A new asset was registered (uploaded, rendered or an existing file).",
                  dict(_FIELDS)),
        EventSpec("on_asset_saved", "Legacy alias of on_asset_registered, emitted with it.", dict(_FIELDS)),
        EventSpec("on_asset_meta_updated", "An asset's tags, licence or meta changed.", dict(_FIELDS)),
        EventSpec("on_asset_removed", "An asset was deleted (sidecar, file and previews).", dict(_FIELDS)),
        EventSpec("on_asset_sidecar_written", "A sidecar was written: on registration, and whenever metadata or previews change.",
                  dict(_FIELDS)),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import assets

    return [assets.router]
