"""Plain-Python helpers of the Timeline Workshop (no Qt): what a scene node shows, its edges,
BFS-layer auto-layout, mapping validation pointers to nodes, and the editing operations
(add, link, delete, rename, set text) applied to the scene document (a JSON dict)."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

LAYER_GAP = 360.0  # x distance between BFS layers
ROW_GAP = 110.0  # y distance between nodes of one layer
POS_KEY = "studio_pos"  # node metadata: [x, y] where the user put the node
LINE_KINDS = ("say", "narrate", "direction")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    choice: str | None  # the choice id; None for ``next``
    label: str


def node_type(node: dict[str, Any]) -> str:
    return "end" if node.get("end") else str(node.get("type") or "dialogue")


def first_line(node: dict[str, Any]) -> str:
    """The node's first line as the player sees it ("" when it has none)."""
    if node.get("text"):
        speaker = node.get("speaker")
        return f"{speaker}: {node['text']}" if speaker else str(node["text"])
    for beat in node.get("beats") or []:
        if beat.get("kind") in LINE_KINDS and beat.get("text"):
            speaker = beat.get("speaker")
            return f"{speaker}: {beat['text']}" if speaker else str(beat["text"])
    return ""


def edit_text(node: dict[str, Any]) -> str:
    """The text the inline editor edits: the node's own text, else its first line beat's."""
    if "text" in node or not _text_beat(node):
        return str(node.get("text") or "")
    return str(_text_beat(node)["text"])  # type: ignore[index]


def set_text(node: dict[str, Any], text: str) -> None:
    beat = None if "text" in node else _text_beat(node)
    if beat is not None:
        beat["text"] = text
    elif text:
        node["text"] = text
    else:
        node.pop("text", None)


def _text_beat(node: dict[str, Any]) -> dict[str, Any] | None:
    for beat in node.get("beats") or []:
        if beat.get("kind") in LINE_KINDS and "text" in beat:
            return beat
    return None


def edges(scene: dict[str, Any]) -> list[Edge]:
    out = []
    for node in scene.get("nodes") or []:
        source = str(node.get("id"))
        if node.get("next"):
            out.append(Edge(source, str(node["next"]), None, ""))
        for choice in node.get("choices") or []:
            if choice.get("target"):
                out.append(Edge(source, str(choice["target"]), str(choice.get("id")), str(choice.get("label") or "")))
    return out


def layout(scene: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Positions by BFS layers from the start (left to right); nodes the start cannot reach go
    in the columns after the last layer. A node's stored ``metadata.studio_pos`` wins."""
    nodes = scene.get("nodes") or []
    ids = [str(n.get("id")) for n in nodes]
    known = set(ids)
    out_edges: dict[str, list[str]] = {i: [] for i in ids}
    for edge in edges(scene):
        if edge.source in out_edges and edge.target in known:
            out_edges[edge.source].append(edge.target)
    depth: dict[str, int] = {}
    start = scene.get("start")
    roots = [str(start)] if start in known else []
    queue: deque[str] = deque()
    for root in roots:
        depth[root] = 0
        queue.append(root)
    while queue:
        current = queue.popleft()
        for target in out_edges[current]:
            if target not in depth:
                depth[target] = depth[current] + 1
                queue.append(target)
    last = max(depth.values(), default=-1)
    rest = [i for i in ids if i not in depth]
    for n, node_id in enumerate(rest):  # unreachable: columns of 8 after the graph
        depth[node_id] = last + 1 + n // 8
    rows: dict[int, int] = {}
    positions: dict[str, tuple[float, float]] = {}
    for node_id in sorted(depth, key=lambda i: (depth[i], 0)):  # stable: BFS/discovery order kept
        layer = depth[node_id]
        row = rows.get(layer, 0)
        rows[layer] = row + 1
        positions[node_id] = (layer * LAYER_GAP, row * ROW_GAP)
    for node in nodes:
        pos = (node.get("metadata") or {}).get(POS_KEY)
        if isinstance(pos, list) and len(pos) == 2 and all(isinstance(v, (int, float)) for v in pos):
            positions[str(node.get("id"))] = (float(pos[0]), float(pos[1]))
    return positions


_NODE_POINTER = re.compile(r"^/nodes/(\d+)(/.*)?$")


def errors_by_node(problems: list[dict[str, Any]], node_ids: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split validation problems (``{path, message, ...}``) into those of a node (by the node
    index in their JSON pointer, against ``node_ids``: the ids as sent) and the scene's own."""
    per_node: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in problems:
        match = _NODE_POINTER.match(str(problem.get("path") or ""))
        message = str(problem.get("message") or problem.get("code") or "invalid")
        if match and int(match.group(1)) < len(node_ids):
            where = match.group(2) or ""
            per_node.setdefault(node_ids[int(match.group(1))], []).append(
                f"{where.lstrip('/')}: {message}" if where else message)
        else:
            general.append(f"{problem.get('path') or '/'}: {message}")
    return per_node, general


# -- editing the document ------------------------------------------------------------------------

def find(scene: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    for node in scene.get("nodes") or []:
        if node.get("id") == node_id:
            return node
    return None


def unique_id(taken: set[str], stem: str) -> str:
    n = 1
    while f"{stem}_{n}" in taken:
        n += 1
    return f"{stem}_{n}"


def add_node(scene: dict[str, Any], text: str = "New line.") -> dict[str, Any]:
    nodes = scene.setdefault("nodes", [])
    node = {"id": unique_id({str(n.get("id")) for n in nodes}, "node"), "text": text}
    nodes.append(node)
    if not scene.get("start"):
        scene["start"] = node["id"]
    return node


def link(scene: dict[str, Any], source: str, target: str) -> str:
    """Link ``source`` to ``target``: its ``next`` when it has no exit yet, else a new choice (a
    node with a ``next`` becomes a choice node offering the old way and the new one). Returns
    what was made (``next`` or the choice id); ValueError when the link makes no sense."""
    node = find(scene, source)
    if node is None or find(scene, target) is None:
        raise ValueError(f"no node {source if node is None else target!r}")
    if node_type(node) == "end":
        raise ValueError(f"{source} is an end node: it has no exits (change its type first)")
    choices = node.get("choices") or []
    if not choices and not node.get("next") and node_type(node) == "dialogue":
        node["next"] = target
        return "next"
    taken = {str(c.get("id")) for n in scene["nodes"] for c in n.get("choices") or []}
    if node.get("next"):
        old = node.pop("next")
        old_id = unique_id(taken, f"{source}_to_{old}")
        taken.add(old_id)
        choices.append({"id": old_id, "label": f"Go to {old}", "target": old})
    choice_id = unique_id(taken, f"{source}_to_{target}")
    choices.append({"id": choice_id, "label": f"Go to {target}", "target": target})
    node["choices"] = choices
    node["type"] = "choice"
    return choice_id


def unlink(scene: dict[str, Any], source: str, choice: str | None) -> None:
    """Delete a choice of ``source`` (``choice=None``: its ``next``)."""
    node = find(scene, source)
    if node is None:
        return
    if choice is None:
        node.pop("next", None)
    else:
        node["choices"] = [c for c in node.get("choices") or [] if c.get("id") != choice]


def delete_node(scene: dict[str, Any], node_id: str) -> None:
    """Remove the node and the ways into it (``next`` and choices that target it)."""
    scene["nodes"] = [n for n in scene.get("nodes") or [] if n.get("id") != node_id]
    for node in scene["nodes"]:
        if node.get("next") == node_id:
            node.pop("next")
        if node.get("choices"):
            node["choices"] = [c for c in node["choices"] if c.get("target") != node_id]


def rename(scene: dict[str, Any], old: str, new: str) -> None:
    """Give a node a new id and update every reference to it (no check: the validator judges)."""
    node = find(scene, old)
    if node is None or old == new:
        return
    node["id"] = new
    if scene.get("start") == old:
        scene["start"] = new
    for other in scene.get("nodes") or []:
        if other.get("next") == old:
            other["next"] = new
        for choice in other.get("choices") or []:
            if choice.get("target") == old:
                choice["target"] = new
