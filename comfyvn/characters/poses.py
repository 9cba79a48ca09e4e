"""Poses for pose workflows: ``<data dir>/poses/<id>.json``, the active pose, stick-figure images.

A pose is ``{id, name, keypoints, image, canvas, tags}`` with either ``keypoints`` (OpenPose
COCO-18 or BODY-25 points ``[x, y, confidence]``; x and y from 0 to 1 of the picture, or pixels of
``canvas`` ``[width, height]`` when it is given; confidence 0 marks a missing point) or ``image``
(an asset uid of a project holding a pose picture). The active pose is kept in the active
persona's metadata (``pose``), through ``comfyvn.player.registry``.
"""

from __future__ import annotations

import colorsys
import io
import logging
import math
import re
from pathlib import Path
from typing import Any

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)
from comfyvn.core.store import atomic_write_json, read_json
from comfyvn.projects.paths import check_id

FIELDS = {"id", "name", "keypoints", "image", "canvas", "tags"}
# OpenPose limbs (pairs of keypoint indexes) for each layout
LIMBS = {
    18: [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)],
    25: [(1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
         (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23),
         (11, 24)],
}
UID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
MAX_SIDE = 4096


def poses_dir() -> Path:
    return runtime_paths.data_dir() / "poses"


def _path(pose_id: str) -> Path:
    return poses_dir() / f"{check_id(pose_id, 'pose')}.json"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{where} must be a finite number", details={"field": where})
    return float(value)


def check_pose(data: Any) -> dict[str, Any]:
    """The normalised pose record, or 422 naming the bad field."""
    if not isinstance(data, dict):
        raise InvalidInput("a pose must be a JSON object")
    extra = sorted(set(data) - FIELDS)
    if extra:
        raise InvalidInput(f"unknown pose fields {extra}; allowed: {sorted(FIELDS)}", details={"unknown": extra})
    pose_id = check_id(data.get("id"), "pose")
    name = data.get("name") or pose_id
    if not isinstance(name, str) or len(name) > 200:
        raise InvalidInput("name must be text of at most 200 characters", details={"field": "name"})
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in tags):
        raise InvalidInput("tags must be a list of strings (1-64 characters)", details={"field": "tags"})
    record: dict[str, Any] = {"id": pose_id, "name": name, "tags": sorted({t.strip().lower() for t in tags})}
    keypoints, image = data.get("keypoints"), data.get("image")
    if (keypoints is None) == (image is None):
        raise InvalidInput("a pose has either 'keypoints' (OpenPose points) or 'image' (an asset uid), not both "
                           "or neither", details={"field": "keypoints"})
    if image is not None:
        if not isinstance(image, str) or not UID_RE.match(image):
            raise InvalidInput("image must be an asset uid (see GET /assets)", details={"field": "image"})
        return record | {"image": image}
    canvas = data.get("canvas")
    if canvas is not None:
        if not isinstance(canvas, list) or len(canvas) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in canvas):
            raise InvalidInput(f"canvas must be [width, height] in pixels (1-{MAX_SIDE})", details={"field": "canvas"})
        record["canvas"] = canvas
    limit = canvas or [1, 1]
    if not isinstance(keypoints, list) or len(keypoints) not in LIMBS:
        raise InvalidInput("keypoints must hold 18 (COCO) or 25 (BODY-25) OpenPose points [x, y, confidence]",
                           details={"field": "keypoints"})
    points = []
    for n, point in enumerate(keypoints):
        where = f"keypoints[{n}]"
        if not isinstance(point, list) or len(point) != 3:
            raise InvalidInput(f"{where} must be [x, y, confidence]", details={"field": where})
        x, y, conf = (_number(v, where) for v in point)
        if not 0 <= conf <= 1:
            raise InvalidInput(f"{where}: confidence must be from 0 to 1", details={"field": where})
        if conf > 0 and not (0 <= x <= limit[0] and 0 <= y <= limit[1]):
            raise InvalidInput(f"{where}: ({x:g}, {y:g}) is outside the picture (0-{limit[0]}, 0-{limit[1]}); "
                               "give x and y from 0 to 1, or pixels with 'canvas'", details={"field": where})
        points.append([x, y, conf])
    return record | {"keypoints": points}


def list_poses() -> list[dict[str, Any]]:
    """Summaries ``{id, name, tags, kind}`` sorted by id; unreadable files are skipped."""
    folder = poses_dir()
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read_json(path)
        if isinstance(data, dict) and data.get("id") == path.stem and _valid(data, path):
            out.append({"id": path.stem, "name": data.get("name", path.stem), "tags": data.get("tags", []),
                        "kind": "image" if "image" in data else "keypoints"})
    return out


def get_pose(pose_id: str) -> dict[str, Any]:
    """The stored pose, checked like a new one (a hand-written file that is wrong is 422, naming why)."""
    data = read_json(_path(pose_id))
    if not isinstance(data, dict):
        raise NotFound(f"no pose {pose_id!r}; list them with GET /api/poses", details={"kind": "pose", "id": pose_id})
    try:
        return check_pose(data)
    except InvalidInput as exc:
        raise InvalidInput(f"the stored pose {pose_id!r} is not valid: {exc.message}; fix or replace its file",
                           code="invalid_pose", details=exc.details) from None


def _valid(data: dict[str, Any], path: Path) -> bool:
    try:
        check_pose(data)
        return True
    except InvalidInput as exc:
        log.warning("pose file %s is not valid (%s); skipped", path, exc.message)
        return False


def create_pose(data: Any, *, replace: bool = False) -> dict[str, Any]:
    """Store a pose; 409 when the id is taken (unless ``replace``)."""
    record = check_pose(data)
    path = _path(record["id"])
    if path.exists() and not replace:
        raise Conflict(f"pose {record['id']!r} already exists: delete it first, pass replace=true, or pick another id",
                       details={"kind": "pose", "id": record["id"]})
    atomic_write_json(path, record)
    return record


def delete_pose(pose_id: str) -> dict[str, Any]:
    path = _path(pose_id)
    if not path.is_file():
        raise NotFound(f"no pose {pose_id!r}", details={"kind": "pose", "id": pose_id})
    path.unlink()
    return {"id": pose_id, "deleted": True}


# -- the active pose (persona metadata) ------------------------------------------------------------

def active_pose() -> dict[str, Any]:
    """``{persona, pose}``: the active persona's id and its pose id (either may be null)."""
    from comfyvn.player import registry

    persona = registry.active()
    pose = (persona or {}).get("metadata", {}).get("pose")
    return {"persona": persona["id"] if persona else None, "pose": pose if isinstance(pose, str) else None}


def set_active_pose(pose_id: str | None) -> dict[str, Any]:
    """Store ``pose_id`` (None clears it) as the active persona's pose; 409 without an active persona."""
    from comfyvn.player import registry
    from comfyvn.sillytavern.personas import Persona

    if pose_id is not None:
        get_pose(pose_id)
    persona = registry.active()
    if persona is None:
        raise Conflict("no active persona to hold the pose: choose one with POST /player/active (or import a "
                       "personas file with POST /player/import)", code="no_active_persona")
    changed = Persona.model_validate(persona | {"metadata": {**persona.get("metadata", {}), "pose": pose_id}})
    registry.import_roster([changed])
    modder_hooks.emit("on_pose_changed", {"persona": persona["id"], "pose": pose_id})
    return {"persona": persona["id"], "pose": pose_id}


# -- pictures ---------------------------------------------------------------------------------

def stick_figure(pose: dict[str, Any], *, width: int = 512, height: int = 768) -> bytes:
    """An OpenPose-style PNG (coloured limbs and joints on black) of a keypoint pose."""
    from PIL import Image, ImageDraw

    if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE):
        raise InvalidInput(f"width and height must be from 16 to {MAX_SIDE}", details={"field": "width"})
    if "keypoints" not in pose:
        raise InvalidInput(f"pose {pose.get('id')!r} is an image pose: use its asset {pose.get('image')!r}",
                           code="image_pose")
    scale_x, scale_y = (pose.get("canvas") or [1, 1])
    points = [(x / scale_x * (width - 1), y / scale_y * (height - 1), c) for x, y, c in pose["keypoints"]]
    image = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    limbs = LIMBS[len(points)]
    thick = max(2, round(min(width, height) / 128))
    for n, (a, b) in enumerate(limbs):
        if points[a][2] > 0 and points[b][2] > 0:
            draw.line([points[a][:2], points[b][:2]], fill=_colour(n, len(limbs)), width=thick * 2)
    for n, (x, y, conf) in enumerate(points):
        if conf > 0:
            draw.ellipse([x - thick * 1.5, y - thick * 1.5, x + thick * 1.5, y + thick * 1.5],
                         fill=_colour(n, len(points)))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _colour(n: int, count: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(n / count, 1.0, 1.0)
    return round(r * 255), round(g * 255), round(b * 255)


def pose_image(pose_id: str, *, project: str = "default", width: int = 512, height: int = 768) -> tuple[bytes, str]:
    """(bytes, media type) of a pose's picture: the stick figure, or an image pose's asset file."""
    pose = get_pose(pose_id)
    if "image" in pose:
        from comfyvn.assets.registry import registry

        found = registry(project)
        sidecar = found.get(pose["image"])
        return found.file_of(pose["image"]).read_bytes(), sidecar.get("meta", {}).get("mime") or "image/png"
    return stick_figure(pose, width=width, height=height), "image/png"
