"""The presentation plan of a scene: what is on screen at each beat of each node.

``plan_scene(scene)`` walks the nodes in plan order (breadth-first from the start, following each
node's choices in order and then ``next``; then the unreachable nodes in file order). Each node
starts from a self-contained ``entry`` stage, so an exporter or viewer can jump into any node: the
stage at the end of the first node *earlier in plan order* that leads to it (for a reachable node
that is the node breadth-first search discovered it from), or an empty stage when no earlier node
leads to it (the start node). Then one frame per line of ``Node.lines()``.

Same scene => same plan, byte for byte once serialised.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from comfyvn.core.errors import InvalidInput
from comfyvn.presentation.layout import LAYOUTS, MAX_VISIBLE, POSITIONS
from comfyvn.presentation.stage import Cast, Stage
from comfyvn.scenario.models import Node, Scene

PLAN_VERSION = 1
LISTED_NODES = 20  # how many node ids an 'unknown node' error lists


def exits(node: Node) -> list[str]:
    """Where a node can lead, in order: its choices' targets, then ``next``; none for end nodes."""
    if node.is_end:
        return []
    out = [choice.target for choice in node.choices]
    if node.next:
        out.append(node.next)
    return out


def plan_order(scene: Scene) -> list[str]:
    """Node ids breadth-first from the start, then the unreachable ones in file order."""
    nodes = scene.node_map()
    order: list[str] = []
    seen: set[str] = set()
    if scene.start in nodes:
        seen.add(scene.start)
        queue = deque([scene.start])
        while queue:
            current = queue.popleft()
            order.append(current)
            for target in exits(nodes[current]):
                if target in nodes and target not in seen:
                    seen.add(target)
                    queue.append(target)
    order.extend(node.id for node in scene.nodes if node.id not in seen)
    return order


def entry_sources(scene: Scene, order: list[str]) -> dict[str, str | None]:
    """For each node, the first node earlier in ``order`` that leads to it (None: starts empty)."""
    nodes = scene.node_map()
    rank = {node_id: i for i, node_id in enumerate(order)}
    source: dict[str, str | None] = {node_id: None for node_id in order}
    for node_id in order:
        for target in exits(nodes[node_id]):
            if target in rank and source[target] is None and rank[node_id] < rank[target]:
                source[target] = node_id
    return source


def _play(node: Node, stage: Stage, *, keep_frames: bool) -> list[dict[str, Any]]:
    frames = []
    for index, line in enumerate(node.lines()):
        cues = stage.apply(line)
        if keep_frames:
            frames.append({"index": index, "beat": line.id, "kind": line.kind, **cues, "stage": stage.snapshot()})
    return frames


def plan_scene(scene: Scene, node_id: str | None = None) -> dict[str, Any]:
    """The plan of every node of ``scene`` (or only of ``node_id``); see docs/presentation.md."""
    nodes = scene.node_map()
    if node_id is not None and node_id not in nodes:
        known = [node.id for node in scene.nodes]
        listed = ", ".join(known[:LISTED_NODES]) + (" ..." if len(known) > LISTED_NODES else "")
        raise InvalidInput(f"node {node_id!r} is not in scene {scene.id!r}; pick one of its nodes: {listed}",
                           code="unknown_node", details={"node_id": node_id, "scene_id": scene.id,
                                                         "nodes": known[:LISTED_NODES]})
    cast = Cast(scene.cast)
    order = plan_order(scene)
    sources = entry_sources(scene, order)
    wanted = order if node_id is None else [node_id]
    needed = _needed(wanted, sources)
    keep = set(wanted)  # a set: membership in the 10,000-item order list made planning quadratic
    ends: dict[str, Stage] = {}
    planned = []
    for current in order:
        if current not in needed:
            continue
        source = sources[current]
        stage = ends[source].copy() if source is not None else Stage(cast)
        entry = stage.snapshot()
        frames = _play(nodes[current], stage, keep_frames=current in keep)
        ends[current] = stage
        if current in keep:
            planned.append({"id": current, "type": nodes[current].type, "entry_from": source, "entry": entry,
                            "frames": frames})
    return {
        "version": PLAN_VERSION,
        "scene_id": scene.id,
        "start": scene.start,
        "max_visible": MAX_VISIBLE,
        "positions": dict(POSITIONS),
        "layouts": {str(n): list(slots) for n, slots in LAYOUTS.items()},
        "nodes": planned,
    }


def plan(*, scene: dict[str, Any] | None = None, scene_id: str | None = None, project: str | None = None,
         node_id: str | None = None) -> dict[str, Any]:
    """The plan of the scene given inline or stored (``scene_id`` in ``project``); 422 when the scene
    is not valid, listing every error."""
    from comfyvn.scenario.service import resolve_scene

    return plan_scene(resolve_scene(scene, scene_id, project), node_id)


def _needed(wanted: list[str], sources: dict[str, str | None]) -> set[str]:
    """The wanted nodes and the chains of entry sources they start from."""
    needed: set[str] = set()
    for node_id in wanted:
        current: str | None = node_id
        while current is not None and current not in needed:
            needed.add(current)
            current = sources[current]
    return needed
