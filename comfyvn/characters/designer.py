"""The Character Designer backend: a character's LoRA stack and rendering its portrait or sprites.

The character records themselves are the project store's (``/api/characters``); this module adds
the LoRA stack beside each record, ``<project>/characters/<id>/lora.json``::

    {"character": "<id>", "loras": [{"name", "strength", "clip_strength", "trigger_words", "sha256"}, ...]}

(a bare list of entries is read too). A LoRA the registry (``comfyvn.characters.lora``) knows is
checked against it: a given sha256 must match, a missing one is filled in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfyvn.characters import lora as registry
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_json, read_json
from comfyvn.projects import store
from comfyvn.projects.models import Character
from comfyvn.projects.paths import check_id, project_dir

MAX_STACK = 16
STRENGTH_LIMIT = 100.0  # ComfyUI's LoraLoader range
STYLE_MAX = 64
KINDS = ("portrait", "sprites")
ENTRY_FIELDS = {"name", "strength", "clip_strength", "trigger_words", "sha256"}


def lora_path(project: str, character_id: str) -> Path:
    return project_dir(project) / "characters" / check_id(character_id, "character") / "lora.json"


def character(project: str, character_id: str) -> Character:
    """The stored character (404 when there is none, 422 when the stored record is invalid)."""
    return store.get_model("character", project, check_id(character_id, "character"))


def _strength(entry: dict[str, Any], field: str, n: int, default: float | None) -> float | None:
    value = entry.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or abs(
            value) > STRENGTH_LIMIT:
        raise InvalidInput(f"loras[{n}].{field} must be a number from -{STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}",
                           details={"field": f"loras[{n}].{field}"})
    return float(value)


def check_stack(loras: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The normalised stack and warnings; 422 for a malformed entry, 422 ``lora_sha_mismatch`` when
    a given sha256 differs from the registry's."""
    if not isinstance(loras, list) or len(loras) > MAX_STACK:
        raise InvalidInput(f"loras must be a list of at most {MAX_STACK} entries", details={"field": "loras"})
    out, warnings, seen = [], [], set()
    for n, entry in enumerate(loras):
        if not isinstance(entry, dict) or "name" not in entry:
            raise InvalidInput(f"loras[{n}] must be an object with a 'name'", details={"field": f"loras[{n}]"})
        extra = sorted(set(entry) - ENTRY_FIELDS)
        if extra:
            raise InvalidInput(f"loras[{n}] has unknown fields {extra}; allowed: {sorted(ENTRY_FIELDS)}",
                               details={"field": f"loras[{n}]", "unknown": extra})
        name = registry.check_name(entry["name"])
        if name in seen:
            raise InvalidInput(f"LoRA {name!r} is in the stack twice", details={"field": f"loras[{n}].name"})
        seen.add(name)
        item: dict[str, Any] = {"name": name, "strength": _strength(entry, "strength", n, 1.0)}
        clip = _strength(entry, "clip_strength", n, None)
        if clip is not None:
            item["clip_strength"] = clip
        words = registry.check_words(entry.get("trigger_words"), f"loras[{n}].trigger_words")
        sha = registry.check_sha(entry["sha256"]) if entry.get("sha256") is not None else None
        known = registry.find(name)
        if known is not None:
            if sha is not None and sha != known["sha256"]:
                raise InvalidInput(f"loras[{n}]: sha256 {sha} does not match the registered {name!r} "
                                   f"({known['sha256']}); fix the hash or register the new file",
                                   code="lora_sha_mismatch",
                                   details={"name": name, "given": sha, "registered": known["sha256"]})
            sha = known["sha256"]
            words = words or list(known.get("trigger_words") or [])
        else:
            warnings.append(f"LoRA {name!r} is not in the registry: it is used as named, unverified")
        if words:
            item["trigger_words"] = words
        if sha is not None:
            item["sha256"] = sha
        out.append(item)
    return out, warnings


def get_loras(project: str, character_id: str) -> dict[str, Any]:
    """``{project, character, loras}``: the stored stack (empty when none is stored)."""
    character(project, character_id)
    data = read_json(lora_path(project, character_id), default=[])
    items = data.get("loras", []) if isinstance(data, dict) else data
    return {"project": project, "character": character_id, "loras": items if isinstance(items, list) else []}


def set_loras(project: str, character_id: str, loras: Any) -> dict[str, Any]:
    """Replace the character's LoRA stack; the answer adds ``warnings``."""
    stack, warnings = check_stack(loras)
    character(project, character_id)  # checks both ids before anything is locked or written
    with store.project_lock(project):
        character(project, character_id)
        atomic_write_json(lora_path(project, character_id), {"character": character_id, "loras": stack})
    modder_hooks.emit("on_character_loras_changed", {"project": project, "character": character_id,
                                                     "loras": [e["name"] for e in stack]})
    return {"project": project, "character": character_id, "loras": stack, "warnings": warnings}


# -- rendering --------------------------------------------------------------------------------

def style_of(found: Character, style: str | None) -> str:
    chosen = style or found.style or "default"
    if len(chosen) > STYLE_MAX:
        raise InvalidInput(f"style {chosen[:40]!r}... is {len(chosen)} characters; a style names a folder "
                           f"(at most {STYLE_MAX}): pass a short 'style' and keep prompt words in appearance",
                           details={"field": "style"})
    return chosen


def default_expression(found: Character) -> str:
    return found.default_expression or found.expressions[0]


def render_requests(project: str, character_id: str, *, kind: str = "portrait", expressions: list[str] | None = None,
                    style: str | None = None, provider: str = "auto", url: str | None = None,
                    seed: int = 0, pose: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The render jobs ``(job kind, params)`` that draw a stored character: one ``render.sprites``
    (every expression) or one ``render.portrait`` per expression (default: the character's default
    expression), each with the character's LoRA stack as ``loras`` (all of it reaches the graph with
    the hardened bridge; otherwise sprites use the first)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}", details={"field": "kind"})
    found = character(project, character_id)
    base = {"project": project, "character": character_id, "name": found.display_name or found.name,
            "appearance": found.appearance or None, "style": style_of(found, style), "seed": seed,
            "provider": provider, "url": url}
    stack = [{k: v for k, v in entry.items() if k in ("name", "strength", "clip_strength")}
             for entry in get_loras(project, character_id)["loras"]]
    if stack:
        base["loras"] = stack
    if kind == "sprites":
        sprites = base | {"expressions": list(expressions or found.expressions)}
        if pose == "active":
            from comfyvn.characters.poses import active_pose

            pose = active_pose()["pose"]
            if pose is None:
                raise InvalidInput("pose 'active' was asked for, but the active persona has no pose: choose one with "
                                   "POST /api/poses/active", details={"field": "pose"})
        if pose:
            from comfyvn.characters.poses import get_pose

            sprites["pose"] = get_pose(pose)["id"]  # 404 for an unknown pose, before any job starts
        return [("render.sprites", sprites)]
    chosen = list(dict.fromkeys(expressions or [default_expression(found)]))
    return [("render.portrait", base | {"expression": e}) for e in chosen]


def run_request(kind: str, params: dict[str, Any], **hooks: Any) -> list[dict[str, Any]]:
    """Run one request from :func:`render_requests` in this thread; the asset sidecars."""
    from comfyvn.render import service

    call: Callable[..., Any] = {"render.sprites": service.render_sprites,
                                "render.portrait": service.render_portrait}[kind]
    result = call(**params, **hooks)
    return result if isinstance(result, list) else [result]
