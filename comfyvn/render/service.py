"""Render requests -> assets: a background, a character's sprites, a portrait, or any workflow
template, drawn by a ComfyUI server when one is configured and by the built-in renderer
otherwise, registered in the project's asset registry with provenance.

The provider is chosen per request (``provider``): ``comfyui`` (the ``url`` given, or the first
enabled ComfyUI provider in ``config/compute_providers.json``), ``builtin``, or ``auto`` (ComfyUI
when one is configured, else built-in). The same request gives the same asset with the built-in
renderer (it is deterministic); ComfyUI renders are keyed by their content.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from comfyvn.assets.registry import registry
from comfyvn.core.errors import InvalidInput
from comfyvn.render import templates

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
PROVIDERS = ("auto", "builtin", "comfyui")
TOOL_VERSION = "1"


def _slug(text: str, fallback: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:60] or fallback


SCHEDULED = "scheduled"  # comfyui_url's answer when the scheduler picks among the configured servers


def comfyui_url(provider: str, url: str | None) -> str | None:
    """Who draws: an explicit ComfyUI ``url``, :data:`SCHEDULED` (one of the configured ComfyUI
    providers, chosen by the compute scheduler for each render), or ``None`` (built-in)."""
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}",
                           details={"field": "provider"})
    if provider == "builtin":
        return None
    if url:
        return url
    if _configured_comfyui():
        return SCHEDULED
    if provider == "comfyui":
        raise InvalidInput("no ComfyUI server is configured: add one with POST /api/providers (kind 'comfyui') or "
                           "pass 'url', or use provider 'builtin'", code="comfyui_not_configured")
    return None


def _configured_comfyui() -> bool:
    from comfyvn.compute.providers import enabled_comfyui_urls

    return bool(enabled_comfyui_urls())


def _store(project: str, data: bytes, rel: str, asset_type: str, tags: list[str], provenance: dict[str, Any],
           meta: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()[:8]
    stem, ext = rel.rsplit(".", 1)
    sidecar, _ = registry(project).add_bytes(data, path=f"{stem}-{digest}.{ext}", type=asset_type, tags=tags,
                                             origin=f"render.{provenance['tool']}", meta=meta, provenance=provenance)
    return sidecar


def _comfy(url: str, template_id: str, values: dict[str, Any], progress: Progress | None,
           cancelled: Callable[[], bool], *, character: str | None = None,
           loras: list[dict[str, Any]] | None = None,
           uploads: dict[str, tuple[bytes, str]] | None = None) -> tuple[bytes, dict[str, Any]]:
    """Run a template on ``url``, or (``SCHEDULED``) on the device the scheduler picks: the one a
    character's renders stick to (its LoRAs are loaded there), failing over when it is down or busy."""
    if url != SCHEDULED:
        return _run_template(url, template_id, values, progress, cancelled, character, loras, uploads)[:2]
    from comfyvn.compute.shared import device_for, scheduler
    from comfyvn.core.errors import UpstreamError

    affinity = f"character:{character}" if character else None
    while True:  # a device that went away is marked down and the render moves to another one
        try:
            with device_for(f"render.{template_id}", {"template": template_id, "character": character},
                            affinity=affinity, cancelled=cancelled) as (device, metrics):
                data, provenance, result = _run_template(device.base_url, template_id, values, progress, cancelled,
                                                         character, loras, uploads)
                metrics.update(duration_sec=result.duration_sec, bytes_tx=result.bytes_tx, bytes_rx=result.bytes_rx)
            return data, provenance | {"device": device.id}
        except UpstreamError as exc:
            if exc.code not in FAILOVER_CODES:
                raise
            log.warning("ComfyUI device %s failed (%s); marking it down and trying another", device.id, exc.message)
            scheduler().health(device.id, "down", exc.message)
            if not any(row["status"] != "down" for row in scheduler().state()["devices"]
                       if row.get("kind") == "comfyui"):
                raise


FAILOVER_CODES = ("comfyui_unreachable", "comfyui_lost")


def _run_template(url: str, template_id: str, values: dict[str, Any], progress: Progress | None,
                  cancelled: Callable[[], bool], character: str | None, loras: list[dict[str, Any]] | None,
                  uploads: dict[str, tuple[bytes, str]] | None = None) -> tuple[bytes, dict[str, Any], Any]:
    """``uploads``: ``{parameter: (bytes, file name)}`` sent with ``POST /upload/image`` first; the
    parameter gets the name the server chose."""
    from comfyvn.render.comfyui import server

    template = templates.get(template_id)
    return _run_on(server(url), url, template, template_id, values, progress, cancelled, character, loras, uploads)


def _run_on(bridge: Any, url: str, template: dict[str, Any], template_id: str, values: dict[str, Any],
            progress: Progress | None, cancelled: Callable[[], bool], character: str | None,
            loras: list[dict[str, Any]] | None, uploads: dict[str, tuple[bytes, str]] | None
            ) -> tuple[bytes, dict[str, Any], Any]:
    for parameter, (data, name) in (uploads or {}).items():
        values = {**values, parameter: bridge.upload_image(data, name)["name"]}
    hardened = _hardened()
    if hardened:
        values = templates.apply_prompt_override(template, values, _override(character))
    graph = templates.build(template, values)
    if "lora_name" in (template.get("parameters") or {}) and not hardened:
        inject = None  # the template's own LoRA input carries it
    else:
        inject = (loras if hardened else (loras or [])[:1]) or None
    if inject:  # the whole stack, chained after the checkpoint
        graph = templates.inject_loras(graph, inject)
    result = bridge.run(graph, progress=progress, cancelled=cancelled,
                        poll_seconds=HARDENED_POLL_SECONDS if hardened else None)
    images = [o for o in result.outputs if o.node in {str(n) for n in template.get("outputs") or []}] or result.outputs
    if not images:
        from comfyvn.core.errors import UpstreamError

        raise UpstreamError(f"ComfyUI at {url} finished {template_id!r} without an image", code="comfyui_no_output")
    provenance = {"tool": "comfyui", "server": url, "workflow_id": template_id, "prompt_id": result.prompt_id,
                  "seed": values.get("seed"), "cached": bool(result.cached_nodes)}
    used = [*(inject or [])]
    if values.get("lora_name"):
        used.append({"name": values["lora_name"], "strength": values.get("lora_strength")})
    if used:
        provenance["loras"] = used
    return images[0].data, provenance, result


HARDENED_POLL_SECONDS = 1.0


def _hardened() -> bool:
    from comfyvn.config import feature_flags

    return feature_flags.is_enabled("enable_comfy_bridge_hardening")


def _override(character: str | None) -> dict[str, Any] | None:
    """``render.prompt_overrides``: ``{"*": {...}, "<character id>": {...}}`` with ``prefix``,
    ``suffix`` and ``negative``; the character's entry wins over ``*``."""
    from comfyvn.config.settings import SettingsManager

    overrides = SettingsManager().get("render.prompt_overrides", {}) or {}
    if not isinstance(overrides, dict):
        raise InvalidInput("setting render.prompt_overrides must be an object", details={"key": "render.prompt_overrides"})
    merged = {**(overrides.get("*") or {}), **((overrides.get(character) or {}) if character else {})}
    return merged or None


def render_background(project: str, *, location: str, time_of_day: str | None = None, weather: str | None = None,
                      width: int = 1280, height: int = 720, seed: int = 0, provider: str = "auto",
                      url: str | None = None, progress: Progress | None = None,
                      cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    if not isinstance(location, str) or not location.strip():
        raise InvalidInput("a background needs a 'location', e.g. 'forest clearing'", details={"field": "location"})
    server = comfyui_url(provider, url)
    words = {"location": location, "time_of_day": time_of_day, "weather": weather}
    if server is None:
        from comfyvn.render.builtin import render_background as draw

        data = draw(location, time_of_day=time_of_day, weather=weather, width=width, height=height, seed=seed)
        provenance = {"tool": "builtin", "version": TOOL_VERSION, "workflow_id": "builtin.background", "seed": seed}
    else:
        prompt = ", ".join(f"{v}" for v in (location, time_of_day, weather) if v)
        data, provenance = _comfy(server, "scene_still", {"prompt": f"visual novel background, {prompt}, no people",
                                                          "seed": seed, "width": width, "height": height},
                                  progress, cancelled)
    rel = f"backgrounds/{_slug(location, 'place')}-{_slug(time_of_day or '', 'any')}-{_slug(weather or '', 'clear')}.png"
    tags = sorted({"background", *(_slug(v, "") for v in words.values() if v)} - {""})
    return _store(project, data, rel, "background", tags, provenance,
                  {k: v for k, v in words.items() if v} | {"width": width, "height": height})


def render_sprites(project: str, *, character: str, expressions: list[str], name: str | None = None,
                   appearance: str | None = None, style: str = "default", seed: int = 0, provider: str = "auto",
                   url: str | None = None, lora: dict[str, Any] | None = None,
                   loras: list[dict[str, Any]] | None = None, pose: str | None = None,
                   progress: Progress | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> list[dict[str, Any]]:
    """One ``character.sprite`` asset per expression, under ``characters/<character>/<style>/``.
    ``loras``: the character's LoRA stack; the hardened bridge injects all of it, otherwise the
    first (or ``lora``) goes through the ``sprite_pack`` template. ``pose`` (a pose id, see
    ``comfyvn.characters.poses``) renders through ``pose_blend_basic`` with the pose's image on
    ComfyUI; the built-in renderer draws its standing figure."""
    if not expressions:
        raise InvalidInput("give at least one expression", details={"field": "expressions"})
    server = comfyui_url(provider, url)
    shown = name or character
    drawn: dict[str, tuple[bytes, dict[str, Any]]] = {}
    if server is None:
        from comfyvn.render.builtin import render_sprite_set

        for expression, data in render_sprite_set(shown, list(expressions), seed=seed, appearance=appearance).items():
            drawn[expression] = (data, {"tool": "builtin", "version": TOOL_VERSION, "workflow_id": "builtin.sprite",
                                        "seed": seed})
    else:
        for n, expression in enumerate(expressions):
            values = {"prompt": f"full body character sprite, {shown}, {appearance or ''}, {expression} expression, "
                                "plain white background", "seed": seed, "width": 832, "height": 1216}
            template, uploads, stack = "scene_still", None, loras  # without a LoRA; sprite_pack adds one
            single = lora or (loras[0] if loras and not _hardened() else None)
            if pose:  # the pose guides a ControlNet; the stack (or the single LoRA) is chained in
                template, stack = "pose_blend_basic", loras or ([single] if single else None)
                uploads = {"pose_image": (_pose_png(project, pose), f"pose-{pose}.png")}
            elif single:
                template = "sprite_pack"
                values |= {"lora_name": single["name"], "lora_strength": float(single.get("strength", 0.8))}
            step = (lambda f, m, n=n: progress((n + f) / len(expressions), m)) if progress else None
            drawn[expression] = _comfy(server, template, values, step, cancelled, character=character,
                                       loras=stack, uploads=uploads)
    out = []
    for expression, (data, provenance) in drawn.items():
        rel = f"characters/{_slug(character, 'character')}/{_slug(style, 'default')}/{_slug(expression, 'neutral')}.png"
        out.append(_store(project, data, rel, "character.sprite", [_slug(character, "character"), expression],
                          provenance | {"character": character} | ({"pose": pose} if pose else {}),
                          {"character": character, "expression": expression, "style": style}
                          | ({"pose": pose} if pose else {})))
    return out


def _pose_png(project: str, pose: str) -> bytes:
    from comfyvn.characters.poses import pose_image

    return pose_image(pose, project=project, width=832, height=1216)[0]


def render_portrait(project: str, *, character: str, name: str | None = None, expression: str = "neutral",
                    appearance: str | None = None, style: str = "default", seed: int = 0, provider: str = "auto",
                    url: str | None = None, loras: list[dict[str, Any]] | None = None,
                    progress: Progress | None = None,
                    cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    server = comfyui_url(provider, url)
    shown = name or character
    if server is None:
        from comfyvn.render.builtin import render_portrait as draw

        data = draw(shown, expression=expression, seed=seed, appearance=appearance)
        provenance = {"tool": "builtin", "version": TOOL_VERSION, "workflow_id": "builtin.portrait", "seed": seed}
    else:
        data, provenance = _comfy(server, "scene_still", {
            "prompt": f"portrait, head and shoulders, {shown}, {appearance or ''}, {expression} expression",
            "seed": seed, "width": 768, "height": 768}, progress, cancelled, character=character, loras=loras)
    rel = f"characters/{_slug(character, 'character')}/{_slug(style, 'default')}/portrait-{_slug(expression, 'neutral')}.png"
    return _store(project, data, rel, "character.portrait", [_slug(character, "character"), "portrait"],
                  provenance | {"character": character}, {"character": character, "expression": expression,
                                                          "style": style})


def render_template(project: str, *, template: str, values: dict[str, Any], url: str | None = None,
                    asset_type: str = "image", progress: Progress | None = None,
                    cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Any workflow template on a ComfyUI server (the built-in renderer draws only the named kinds)."""
    from comfyvn.assets.media import sniff

    server = comfyui_url("comfyui", url)
    assert server is not None
    data, provenance = _comfy(server, template, values, progress, cancelled)
    kind = sniff(data[:64])
    if kind is None:
        raise InvalidInput(f"template {template!r} produced a file the asset registry does not take (not an image "
                           "or sound, e.g. an MP4): choose an image or audio output format", code="unsupported_media")
    if asset_type == "image" and kind.kind == "audio":
        asset_type = "audio"
    return _store(project, data, f"renders/{_slug(template, 'render')}.{kind.ext}", asset_type, [template],
                  provenance, {"template": template})
