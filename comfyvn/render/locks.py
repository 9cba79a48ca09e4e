"""Template locks: the node classes and inputs a workflow template needs, recorded once
(``comfyvn/workflows/<id>.lock.json``) and checked against a server's ``/object_info`` with
``tools/lock_nodes.py --server URL`` ("provider template + lock"), e.g. when a provider is added.
Renders do not check first: ComfyUI itself refuses a graph naming a missing class (422
``comfyui_rejected`` names it).

A lock::

    {"template": "sprite_pack", "nodes": {"KSampler": ["cfg", "denoise", ...], ...},
     "values": {"CheckpointLoaderSimple.ckpt_name": "sd_xl_base_1.0.safetensors", ...}}

``values`` are the template's choice-list defaults (checkpoints, LoRAs, samplers): a server that
lacks one still runs the template when the caller picks another value, so those are warnings.
"""

from __future__ import annotations

from typing import Any

from comfyvn.render import templates


def lock_of(template: dict[str, Any]) -> dict[str, Any]:
    nodes: dict[str, set[str]] = {}
    values: dict[str, Any] = {}
    for node in template["graph"].values():
        used = nodes.setdefault(node["class_type"], set())
        for name, value in node["inputs"].items():
            used.add(name)
            if isinstance(value, str) and name.endswith(("_name", "ckpt_name")):
                values[f"{node['class_type']}.{name}"] = value
    return {"template": template["id"], "nodes": {k: sorted(v) for k, v in sorted(nodes.items())},
            "values": dict(sorted(values.items()))}


def check(lock: dict[str, Any], object_info: dict[str, Any]) -> list[dict[str, str]]:
    """Problems running the locked template on a server with ``object_info``: ``error`` for a
    missing node class or input, ``warning`` for a default choice the server does not offer."""
    problems = []
    for node_class, inputs in lock["nodes"].items():
        info = object_info.get(node_class)
        if info is None:
            problems.append({"severity": "error", "node": node_class,
                             "message": f"node class {node_class} is not installed on the server"})
            continue
        known = {**(info.get("input", {}).get("required") or {}), **(info.get("input", {}).get("optional") or {})}
        for name in inputs:
            if name not in known:
                problems.append({"severity": "error", "node": node_class,
                                 "message": f"{node_class} has no input {name!r} on the server (another version?)"})
    for key, value in lock.get("values", {}).items():
        node_class, name = key.split(".", 1)
        spec = ((object_info.get(node_class) or {}).get("input", {}).get("required") or {}).get(name)
        choices = spec[0] if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], list) else None
        if choices is not None and value not in choices:
            problems.append({"severity": "warning", "node": node_class,
                             "message": f"the default {name} {value!r} is not on the server; pass another "
                                        f"(available: {', '.join(map(str, choices[:8]))}{'…' if len(choices) > 8 else ''})"})
    return problems


def stored_lock(template_id: str) -> dict[str, Any] | None:
    """The lock file shipped with the template, if any."""
    import json
    from importlib import resources

    path = resources.files("comfyvn.workflows").joinpath(f"{template_id}.lock.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def current(template_id: str) -> dict[str, Any]:
    return lock_of(templates.get(template_id))
