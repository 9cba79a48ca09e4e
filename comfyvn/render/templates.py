"""Workflow templates: API-format ComfyUI graphs shipped in ``comfyvn/workflows/`` with declared
parameters, and the conversion of UI-format workflow files into API format.

A template file::

    {"id": "scene_still", "description": "...",
     "parameters": {"prompt": {"node": "6", "input": "text", "type": "string", "default": "..."},
                    "seed": {"node": "3", "input": "seed", "type": "integer", "default": 0, "min": 0}},
     "outputs": ["9"],
     "graph": {"3": {"class_type": "KSampler", "inputs": {...}}, ...}}

``build(template, values)`` checks the values against the declarations and returns the graph to
submit. Every parameter names the node input it fills, so a template is checked once (``check``):
its nodes exist, its parameters point at real inputs, its links at real nodes.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from comfyvn.core.errors import InvalidInput, NotFound

TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


@lru_cache(maxsize=None)
def _load(template_id: str) -> dict[str, Any]:
    try:
        text = resources.files("comfyvn.workflows").joinpath(f"{template_id}.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        raise NotFound(f"no workflow template {template_id!r}; known: {', '.join(names())}",
                       details={"template": template_id}) from None
    template = json.loads(text)
    check(template)
    return template


def names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("comfyvn.workflows").iterdir()
                  if p.name.endswith(".json") and not p.name.endswith(".lock.json"))


def get(template_id: str) -> dict[str, Any]:
    """A template (a copy: callers may change it)."""
    if not isinstance(template_id, str) or not template_id.replace("_", "").isalnum():
        raise NotFound(f"no workflow template {template_id!r}", details={"template": template_id})
    return copy.deepcopy(_load(template_id))


def check(template: dict[str, Any]) -> None:
    """Raise InvalidInput when the template is inconsistent."""
    graph = template.get("graph")
    if not isinstance(graph, dict) or not graph:
        raise InvalidInput(f"template {template.get('id')!r} has no graph")
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node or not isinstance(node.get("inputs"), dict):
            raise InvalidInput(f"template {template.get('id')!r}: node {node_id} needs class_type and inputs")
        for name, value in node["inputs"].items():
            if _is_link(value) and str(value[0]) not in graph:
                raise InvalidInput(f"template {template.get('id')!r}: node {node_id} input {name!r} links to "
                                   f"missing node {value[0]}")
    for name, spec in (template.get("parameters") or {}).items():
        node = graph.get(str(spec.get("node")))
        if node is None or spec.get("input") not in node["inputs"]:
            raise InvalidInput(f"template {template.get('id')!r}: parameter {name!r} points at a missing input")
        if spec.get("type") not in TYPES:
            raise InvalidInput(f"template {template.get('id')!r}: parameter {name!r} has unknown type")
    for output in template.get("outputs") or []:
        if str(output) not in graph:
            raise InvalidInput(f"template {template.get('id')!r}: output node {output} does not exist")


def build(template: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template's graph with ``values`` (and the defaults) filled in; 422 naming bad values."""
    values = dict(values or {})
    params = template.get("parameters") or {}
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise InvalidInput(f"template {template['id']!r} has no parameter(s) {', '.join(unknown)}; it takes "
                           f"{', '.join(sorted(params))}", details={"unknown": unknown})
    graph = copy.deepcopy(template["graph"])
    for name, spec in params.items():
        value = values.get(name, spec.get("default"))
        if value is None:
            if spec.get("required"):
                raise InvalidInput(f"template {template['id']!r} needs parameter {name!r}", details={"parameter": name})
            continue
        graph[str(spec["node"])]["inputs"][spec["input"]] = _checked(template["id"], name, spec, value)
    return graph


def _checked(template_id: str, name: str, spec: dict[str, Any], value: Any) -> Any:
    kind = TYPES[spec["type"]]
    if isinstance(value, bool) and spec["type"] != "boolean" or not isinstance(value, kind):
        raise InvalidInput(f"parameter {name!r} of {template_id!r} must be {spec['type']}, not {type(value).__name__}",
                           details={"parameter": name})
    if "min" in spec and value < spec["min"] or "max" in spec and value > spec["max"]:
        raise InvalidInput(f"parameter {name!r} of {template_id!r} must be between {spec.get('min')} and "
                           f"{spec.get('max')}", details={"parameter": name})
    if "choices" in spec and value not in spec["choices"]:
        raise InvalidInput(f"parameter {name!r} of {template_id!r} must be one of {spec['choices']}",
                           details={"parameter": name})
    return value


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and isinstance(value[0], (str, int))


# -- UI-format workflows ----------------------------------------------------------------------

def is_ui_format(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def from_ui(workflow: dict[str, Any], object_info: dict[str, Any]) -> dict[str, Any]:
    """Convert a workflow saved by ComfyUI's editor into API format, using the server's
    ``/object_info`` to name widget values. Refused (422) when a node class is unknown there, when
    the widget values do not line up, or for editor-only constructs (groups nodes, reroutes that
    lead nowhere)."""
    links = {link[0]: link for link in workflow.get("links") or [] if isinstance(link, list) and len(link) >= 5}
    nodes = {node["id"]: node for node in workflow["nodes"] if isinstance(node, dict) and "id" in node}
    graph: dict[str, Any] = {}
    for node_id, node in sorted(nodes.items()):
        kind = node.get("type")
        if node.get("mode") in (2, 4) or kind in ("Note", "MarkdownNote"):
            continue  # muted, bypassed or a comment: not part of the graph
        info = object_info.get(kind)
        if info is None:
            raise InvalidInput(f"the workflow uses node type {kind!r} (node {node_id}), which this ComfyUI server "
                               "does not have; install it there or export the workflow in API format "
                               "(Workflow > Export (API))", code="workflow_unconvertible", details={"node": node_id})
        inputs: dict[str, Any] = {}
        linked = {}
        for slot in node.get("inputs") or []:
            if slot.get("link") is not None:
                link = links.get(slot["link"])
                if link is None:
                    raise InvalidInput(f"node {node_id}: input {slot.get('name')!r} names a missing link",
                                       code="workflow_unconvertible")
                linked[slot["name"]] = [str(link[1]), int(link[2])]
        widgets = list(node.get("widgets_values") or [])
        if isinstance(node.get("widgets_values"), dict):
            raise InvalidInput(f"node {node_id} ({kind}) keeps its values by name; export the workflow in API format",
                               code="workflow_unconvertible")
        for name, spec in _widget_inputs(info):
            if name in linked:
                continue
            if not widgets:
                break
            inputs[name] = widgets.pop(0)
            if name in ("seed", "noise_seed") and widgets and widgets[0] in ("fixed", "increment", "decrement",
                                                                             "randomize"):
                widgets.pop(0)  # the editor's "control after generate" value is not an input
        inputs.update(linked)
        graph[str(node_id)] = {"class_type": kind, "inputs": inputs}
    if not graph:
        raise InvalidInput("the workflow has no nodes to run", code="workflow_unconvertible")
    return graph


def _widget_inputs(info: dict[str, Any]) -> list[tuple[str, Any]]:
    """Inputs edited with widgets, in the order the editor stores their values: a choice list or a
    primitive type (INT, FLOAT, STRING, BOOLEAN, COMBO), not a link type (MODEL, IMAGE, ...)."""
    found = []
    for section in ("required", "optional"):
        for name, spec in (info.get("input", {}).get(section) or {}).items():
            kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
            if isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"):
                found.append((name, spec))
    return found


# -- hardened bridge: LoRA stacks and prompt overrides -----------------------------------------

def inject_loras(graph: dict[str, Any], stack: list[dict[str, Any]]) -> dict[str, Any]:
    """``graph`` with a chain of LoraLoader nodes (``stack``: ``[{name, strength, clip_strength?}]``)
    between each checkpoint loader and everything that used its model and clip."""
    if not stack:
        return graph
    graph = copy.deepcopy(graph)
    next_id = max((int(k) for k in graph if str(k).isdigit()), default=0) + 1
    for loader_id in [k for k, n in graph.items() if n["class_type"] == "CheckpointLoaderSimple"]:
        model, clip, chain = [loader_id, 0], [loader_id, 1], []
        for lora in stack:
            node_id = str(next_id)
            next_id += 1
            strength = float(lora.get("strength", 1.0))
            graph[node_id] = {"class_type": "LoraLoader", "inputs": {
                "lora_name": str(lora["name"]), "strength_model": strength,
                "strength_clip": float(lora.get("clip_strength", strength)), "model": model, "clip": clip}}
            model, clip = [node_id, 0], [node_id, 1]
            chain.append(node_id)
        for node_id, node in graph.items():
            if node_id in chain:
                continue
            for name, value in node["inputs"].items():
                if _is_link(value) and str(value[0]) == loader_id and value[1] in (0, 1):
                    node["inputs"][name] = list(model if value[1] == 0 else clip)
    return graph


def apply_prompt_override(template: dict[str, Any], values: dict[str, Any], override: dict[str, Any] | None
                          ) -> dict[str, Any]:
    """``values`` with an override's ``prefix``/``suffix`` around the prompt and its ``negative``
    appended, for templates that take ``prompt`` / ``negative``."""
    if not override:
        return values
    params = template.get("parameters") or {}
    out = dict(values)
    if "prompt" in params and out.get("prompt"):
        out["prompt"] = ", ".join(p for p in (override.get("prefix"), out["prompt"], override.get("suffix")) if p)
    if "negative" in params and override.get("negative"):
        base = out.get("negative", params["negative"].get("default") or "")
        out["negative"] = ", ".join(p for p in (base, override["negative"]) if p)
    return out
