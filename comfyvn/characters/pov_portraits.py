"""Portraits for a POV switch: one portrait per character of the active POV's cast, cached.

The cast: when a worldline is active (``comfyvn.pov``), the characters of its scene's cast
(members linked to a project character by ``character_id`` or by id; narrators left out); otherwise
every character of the project. The POV character comes first. Cast members without a character
record are answered under ``skipped``.

The cache is the asset registry itself: a ``character.portrait`` asset whose meta names the
character and expression, and the style (in its meta, or tagged ``style-<style>`` when the
renderer gave the very picture of another style), and for a pose tagged ``pose-<id>``, is reused,
so nothing is stored twice. Renders land under ``assets/characters/<character>/<style>/`` (``render_portrait``).
"""

from __future__ import annotations

from typing import Any

from comfyvn.characters import designer, poses
from comfyvn.core.errors import InvalidInput
from comfyvn.projects import store

QUERY_LIMIT = 500


def cast(project: str, pov: str | None = None) -> dict[str, Any]:
    """``{pov, worldline, source, characters: [ids], skipped: [{id, reason}]}``."""
    from comfyvn.pov import manager, worldlines

    state = manager.get_state(project)
    pov = pov or state["pov"]
    if not pov:
        raise InvalidInput("no POV: pass 'pov' (a character id) or set the active POV with POST /api/pov/set",
                           code="no_active_pov")
    known = store.collection("character").ids(project)
    skipped: list[dict[str, str]] = []
    if state["worldline"]:
        scene = worldlines.scene_of(worldlines.get(project, state["worldline"]))
        ids, names = [], {}
        for member in scene.cast:
            if member.role == "narrator":
                continue
            linked = member.character_id or member.id
            names[member.name] = linked
            if linked in known:
                ids.append(linked)
            else:
                skipped.append({"id": linked, "reason": "no character record in the project"})
        pov = pov if pov in known else names.get(pov, pov)
        source = "worldline"
    else:
        ids, source = list(known), "project"
    if pov in ids:
        ids = [pov] + [i for i in ids if i != pov]
    return {"pov": pov, "worldline": state["worldline"], "source": source, "characters": list(dict.fromkeys(ids)),
            "skipped": skipped}


def cached_portrait(project: str, character: str, *, style: str, expression: str,
                    pose: str | None) -> dict[str, Any] | None:
    """A stored portrait for (character, style, expression, pose), or None."""
    from comfyvn.assets.registry import registry
    from comfyvn.render.service import _slug

    tags = [_slug(character, "character"), "portrait"] + ([pose_tag(pose)] if pose else [])
    found = registry(project).query(type="character.portrait", tags=tags, limit=QUERY_LIMIT)["items"]
    for sidecar in found:
        meta = sidecar.get("meta") or {}
        same_style = meta.get("style") == style or style_tag(style) in sidecar.get("tags", [])
        if meta.get("character") == character and meta.get("expression") == expression and same_style:
            return sidecar
    return None


def pose_tag(pose: str) -> str:
    return f"pose-{pose.lower()}"


def style_tag(style: str) -> str:
    from comfyvn.render.service import _slug

    return f"style-{_slug(style, 'default')}"


def switch(project: str, *, pov: str | None = None, style: str | None = None, pose: str | None = None,
           provider: str = "auto", url: str | None = None, seed: int = 0, refresh: bool = False) -> dict[str, Any]:
    """Portraits of the POV's cast: ``{pov, worldline, source, style, pose, portraits: [{character,
    uid, path, cached}], skipped}``. ``refresh`` renders again even when a portrait is cached."""
    if pose is not None:
        poses.get_pose(pose)
    who = cast(project, pov)
    portraits = []
    for character_id in who["characters"]:
        record = designer.character(project, character_id)
        chosen_style = designer.style_of(record, style)
        expression = designer.default_expression(record)
        hit = None if refresh else cached_portrait(project, character_id, style=chosen_style,
                                                   expression=expression, pose=pose)
        if hit is None:
            from comfyvn.render.service import render_portrait

            asset = render_portrait(project, character=character_id, name=record.display_name or record.name,
                                    expression=expression, appearance=record.appearance or None, style=chosen_style,
                                    seed=seed, provider=provider, url=url)
            # the same picture as an earlier asset is that asset (a renderer that ignores style or
            # pose draws the same bytes): tag it so the lookup finds it for this key too
            tags = ([pose_tag(pose)] if pose else []) + (
                [style_tag(chosen_style)] if asset["meta"].get("style") != chosen_style else [])
            if tags:
                from comfyvn.assets.registry import registry

                asset = registry(project).update(asset["uid"], add_tags=tags)
        portraits.append({"character": character_id, "uid": (hit or asset)["uid"], "path": (hit or asset)["path"],
                          "style": chosen_style, "cached": hit is not None})
    return {"pov": who["pov"], "worldline": who["worldline"], "source": who["source"], "style": style, "pose": pose,
            "portraits": portraits, "skipped": who["skipped"]}
