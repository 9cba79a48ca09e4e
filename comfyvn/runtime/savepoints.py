"""Save slots: a run's position on disk, one JSON file per slot in ``<data>/saves/<slot>.json``.

A save holds where a run stands (``node_pointer``), its variables, its seed and the PRNG state
(``rng``), so the step after a restore is the step the original run would have taken. Resuming
rebuilds a :class:`~comfyvn.scenario.runner.RunState` against the scene as it is now: if the scene
was edited and the saved node is gone, resuming fails with a clear 409 instead of guessing.

Slot names are checked, never rewritten into something else: 1-64 letters, digits, ``-``, ``_`` or
``.``, starting with a letter or digit, no ``..``, no Windows device names, not ``list``. Case is
folded (``Chapter1`` is the slot ``chapter1``) so a save behaves the same on every file system.
Files are written atomically (temp file + fsync + rename), so a crash leaves the old save intact.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from comfyvn.config import runtime_paths
from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import atomic_write_json
from comfyvn.scenario.models import ID_PATTERN, Scene
from comfyvn.scenario.rng import StoryRandom
from comfyvn.scenario.runner import Frame, RunState, ScenarioRunner, TraceEntry

log = logging.getLogger(__name__)

FORMAT = "comfyvn.save"
VERSION = 1
SLOT_MAX = 64
RESERVED = frozenset({"list"})
_SLOT_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})
_SLOT_HELP = "use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
_MISSING = object()
_STATE_FIELDS = ("vars", "node_pointer", "seed", "rng", "pov", "step", "scene_id", "trace", "history")


# -- slot names and paths ---------------------------------------------------------------------------

def check_slot(slot: Any) -> str:
    """The slot name, case-folded, or 422 ``invalid_slot`` saying what is wrong with it."""
    if not isinstance(slot, str) or not slot:
        reason = "the name is empty"
    elif len(slot) > SLOT_MAX:
        reason = f"the name is {len(slot)} characters long; the limit is {SLOT_MAX}"
    elif "/" in slot or "\\" in slot:
        reason = "a slot names one file in the saves folder, so it cannot contain '/' or '\\'"
    elif ".." in slot:
        reason = "'..' is not allowed"
    elif not _SLOT_RE.match(slot.lower()):
        reason = "it has characters other than letters, digits, '-', '_' and '.', or does not start with a letter or digit"
    elif slot.endswith("."):
        reason = "it ends with '.'"
    elif slot.lower().split(".")[0] in _DEVICES:
        reason = "it is a reserved device name on Windows"
    elif slot.lower() in RESERVED:
        reason = f"'{slot.lower()}' is reserved (GET /api/save/list lists the saves)"
    else:
        return slot.lower()
    shown = slot if not isinstance(slot, str) or len(slot) <= 80 else slot[:80] + "..."
    raise InvalidInput(f"invalid slot name {shown!r}: {reason}; {_SLOT_HELP}", code="invalid_slot",
                       details={"slot": shown, "reason": reason})


def saves_dir() -> Path:
    return runtime_paths.data_dir() / "saves"


def slot_path(slot: str) -> Path:
    return saves_dir() / f"{check_slot(slot)}.json"


def _lock() -> FileLock:
    folder = saves_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".lock"), timeout=30)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scene_digest(scene: Scene) -> str:
    """``sha256:`` + hex digest of the scene's canonical JSON (``Scene.to_json()``, keys sorted,
    no spaces): equal digests mean the scene did not change."""
    text = json.dumps(scene.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- the file format --------------------------------------------------------------------------------

class SaveFields(BaseModel):
    """What a client saves. Unknown fields are handled by :func:`parse_body` before this model."""

    model_config = ConfigDict(extra="forbid")

    vars: dict[str, Any] = Field(description="The story variables.")
    node_pointer: str = Field(pattern=ID_PATTERN, description="The node the run stands on.")
    seed: Any = Field(description="The run's seed (integer or string).")
    rng: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$",
                            description="PRNG state (16 hex digits); absent: reseeded from seed.")
    scene_id: str | None = Field(default=None, pattern=ID_PATTERN)
    project: str | None = Field(default=None, pattern=ID_PATTERN)
    pov: str | None = None
    step: int = Field(default=0, ge=0)
    scene_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    label: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    trace: list[TraceEntry] = Field(default_factory=list)
    history: list[Frame] = Field(default_factory=list)

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("seed must be an integer or a string")  # noqa: TRY004 - pydantic wants ValueError
        return value


class SaveRecord(SaveFields):
    """A save file."""

    format: str = FORMAT
    version: int = VERSION
    slot: str
    created_at: str
    updated_at: str


def _problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        field = prefix + ".".join(str(part) for part in err["loc"])
        message = "this field is required" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        out.append({"field": field, "message": message})
    return out


def _invalid(problems: list[dict[str, str]], what: str = "save") -> InvalidInput:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidInput(f"invalid {what}: {first['field']}: {first['message']}{more}", code="invalid_save",
                        details={"errors": problems})


def parse_body(body: Any) -> tuple[SaveFields, dict[str, Any] | None]:
    """The save a request body describes, and the inline scene it carries (if any).

    ``{"state": <RunState>}`` fills the run fields from a runner state; ``title`` is another name
    for ``label``; any other unknown top-level field is kept in ``metadata`` unless it looks like a
    misspelt known field.
    """
    if not isinstance(body, Mapping):
        raise InvalidInput("the save body must be a JSON object with at least vars, node_pointer and seed",
                           code="invalid_save")
    data = dict(body)
    scene = data.pop("scene", None)
    if "title" in data:
        title = data.pop("title")
        if data.get("label", title) != title:
            raise InvalidInput("'title' and 'label' name the same thing; give one of them", code="invalid_save")
        data["label"] = title
    if "state" in data:
        both = [name for name in _STATE_FIELDS if name in data]
        if both:
            raise InvalidInput(f"give either 'state' or the run fields, not both (got 'state' and {both[0]!r})",
                               code="invalid_save", details={"fields": both})
        try:
            state = RunState.model_validate(data.pop("state"))
        except ValidationError as exc:
            raise _invalid(_problems(exc, "state."), "state") from None
        data |= {"vars": state.vars, "node_pointer": state.node, "seed": state.seed, "rng": state.rng,
                 "pov": state.pov, "step": state.step, "scene_id": state.scene_id,
                 "trace": [t.as_dict() for t in state.trace], "history": [f.as_dict() for f in state.history]}
    known = [*SaveFields.model_fields, "state", "scene", "title"]
    extras = sorted(set(data) - set(SaveFields.model_fields))
    if extras:
        metadata = data.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise _invalid([{"field": "metadata", "message": "must be an object"}])
        for name in extras:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.85) or [k for k in known if _swapped(name, k)]
            if close:
                raise InvalidInput(f"unknown field {name!r}: did you mean {close[0]!r}?", code="invalid_save",
                                   details={"field": name, "suggestion": close[0]})
            if name in metadata:
                raise InvalidInput(f"field {name!r} is given both at the top level and in metadata; give it once",
                                   code="invalid_save", details={"field": name})
            metadata[name] = data.pop(name)
    try:
        fields = SaveFields.model_validate(data)
    except ValidationError as exc:
        raise _invalid(_problems(exc)) from None
    if scene is not None and not isinstance(scene, dict):
        raise _invalid([{"field": "scene", "message": "must be a scene object"}])
    return fields, scene


def _swapped(a: str, b: str) -> bool:
    """``a`` is ``b`` with two neighbouring letters swapped (``rgn`` for ``rng``)."""
    diff = [i for i in range(len(a)) if len(a) == len(b) and a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _scene_for_save(fields: SaveFields, scene: dict[str, Any] | None) -> Scene | None:
    """The scene the save belongs to, when the server can see it (inline or stored)."""
    from comfyvn.scenario import service

    if scene is not None:
        parsed = service.load_valid(scene)
        if fields.scene_id is not None and fields.scene_id != parsed.id:
            raise InvalidInput(f"the save names scene {fields.scene_id!r} but the scene given is {parsed.id!r}",
                               code="invalid_save")
        return parsed
    if fields.scene_id is None:
        return None
    try:
        return service.resolve_scene(None, fields.scene_id, fields.project)
    except (NotFound, InvalidInput) as exc:
        if isinstance(exc, InvalidInput) and exc.code != "invalid_scene":
            raise
        # the run may be on an inline scene that is not stored (or not stored in this form):
        # save without a digest rather than refuse to save
        log.info("Saving without a scene digest: no usable stored scene",
                 extra={"scene_id": fields.scene_id, "project": fields.project, "reason": exc.message})
        return None


# -- operations -------------------------------------------------------------------------------------

def write(slot: str, body: Any) -> tuple[dict[str, Any], bool]:
    """Store a save in ``slot`` (replacing what was there); returns the record and whether the
    slot is new."""
    path = slot_path(slot)
    name = path.stem
    fields, scene = parse_body(body)
    found = _scene_for_save(fields, scene)
    if found is not None:
        if fields.node_pointer not in found.node_map():
            where = "the scene given" if scene is not None else "the stored scene (send the scene you play as 'scene')"
            raise InvalidInput(f"node_pointer {fields.node_pointer!r} is not a node of scene {found.id!r} ({where})",
                               code="invalid_save", details={"node_pointer": fields.node_pointer, "scene_id": found.id})
        fields.scene_id = found.id
        fields.scene_digest = scene_digest(found)
    with _lock():
        try:
            previous = _read_file(path)
        except ValueError:  # a damaged save being overwritten: that is how the user replaces it
            previous = None
        created = previous is _MISSING
        kept = previous.get("created_at") if isinstance(previous, dict) else None
        now = _now()
        record = SaveRecord(**fields.model_dump(), slot=name, updated_at=now,
                            created_at=kept if isinstance(kept, str) and kept else now)
        data = record.model_dump(mode="json")
        atomic_write_json(path, data)
    modder_hooks.emit("on_save_written", {"slot": name, "scene_id": record.scene_id,
                                          "node_id": record.node_pointer, "created": created})
    return data, created


def _read_file(path: Path) -> Any:
    """The JSON in a save file as it is (``_MISSING`` when there is none); ``ValueError`` when it
    does not parse. Unlike ``read_json`` this never moves the file: a damaged save stays in its
    slot, listed with an error, until the user overwrites or deletes it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _MISSING
    return json.loads(raw)


def load(slot: str) -> SaveRecord:
    """The save in ``slot``: 404 when there is none, 409 ``save_unreadable`` when the file cannot
    be used (it is left in place)."""
    path = slot_path(slot)
    name = path.stem
    fix = "overwrite the slot with a new save or delete it"
    try:
        data = _read_file(path)
    except ValueError as exc:
        raise Conflict(f"saves/{name}.json is not valid JSON ({exc}); {fix}", code="save_unreadable",
                       details={"slot": name}) from None
    if data is _MISSING:
        raise NotFound(f"no save in slot {name!r}; GET /api/save/list lists the saves",
                       details={"kind": "save", "id": name})
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise Conflict(f"saves/{name}.json is not a ComfyVN save file; {fix}", code="save_unreadable",
                       details={"slot": name})
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise Conflict(f"save {name!r} has format version {version!r}; this ComfyVN reads version {VERSION}",
                       code="save_unreadable", details={"slot": name, "version": version})
    try:
        return SaveRecord.model_validate(data | {"slot": name})
    except ValidationError as exc:
        problems = _problems(exc)
        raise Conflict(f"saves/{name}.json is damaged: {problems[0]['field']}: {problems[0]['message']}; {fix}",
                       code="save_unreadable", details={"slot": name, "errors": problems}) from None


def read(slot: str) -> dict[str, Any]:
    return load(slot).model_dump(mode="json")


def summaries() -> list[dict[str, Any]]:
    """Every save, newest first: what a load menu shows. Damaged files are listed with ``error``."""
    folder = saves_dir()
    if not folder.is_dir():
        return []
    items = []
    for path in folder.glob("*.json"):
        if path.name.startswith("."):
            continue  # temp files left by a crash
        try:
            if check_slot(path.stem) != path.stem:
                raise InvalidInput(f"saves/{path.name}: slot names are lower case; rename the file")
            record = load(path.stem)
        except (Conflict, InvalidInput, NotFound) as exc:
            items.append({"slot": path.stem, "error": exc.message, "updated_at": ""})
            continue
        items.append({key: getattr(record, key) for key in (
            "slot", "label", "scene_id", "project", "node_pointer", "step", "created_at", "updated_at")})
    items.sort(key=lambda item: item["slot"])
    items.sort(key=lambda item: item["updated_at"], reverse=True)
    return items


def delete(slot: str) -> str:
    path = slot_path(slot)
    with _lock():
        try:
            path.unlink()
        except FileNotFoundError:
            raise NotFound(f"no save in slot {path.stem!r}", details={"kind": "save", "id": path.stem}) from None
    modder_hooks.emit("on_save_deleted", {"slot": path.stem})
    return path.stem


def resume(slot: str, *, scene: dict[str, Any] | None = None, scene_id: str | None = None,
           project: str | None = None) -> tuple[ScenarioRunner, RunState, bool | None]:
    """The run the save in ``slot`` describes, on the scene as it is now.

    Returns the runner, the state and whether the scene changed since the save (``None`` when the
    save has no digest to compare). 409 ``save_scene_mismatch`` / ``save_stale`` when the save
    cannot be placed in the scene.
    """
    from comfyvn.scenario import service

    record = load(slot)
    if scene is None and scene_id is None:
        if record.scene_id is None:
            raise InvalidInput(f"save {record.slot!r} does not name its scene; send 'scene' or 'scene_id'")
        scene_id = record.scene_id
    found = service.resolve_scene(scene, scene_id, project or record.project)
    if record.scene_id is not None and record.scene_id != found.id:
        raise Conflict(f"save {record.slot!r} belongs to scene {record.scene_id!r}, not {found.id!r}; "
                       f"resume it with scene {record.scene_id!r}", code="save_scene_mismatch",
                       details={"slot": record.slot, "saved_scene_id": record.scene_id, "scene_id": found.id})
    if record.node_pointer not in found.node_map():
        raise Conflict(f"save {record.slot!r} stands on node {record.node_pointer!r}, which scene {found.id!r} "
                       "no longer has (the scene was edited after the save); start the scene again or load "
                       "another save", code="save_stale",
                       details={"slot": record.slot, "node": record.node_pointer, "scene_id": found.id})
    changed = None if record.scene_digest is None else record.scene_digest != scene_digest(found)
    state = RunState(
        scene_id=found.id, seed=record.seed, pov=record.pov if record.pov is not None else found.pov,
        node=record.node_pointer, vars=record.vars, step=record.step,
        rng=record.rng if record.rng is not None else StoryRandom(record.seed).state,
        trace=record.trace, history=[] if changed else record.history,  # undo across an edit means nothing
    )
    runner = ScenarioRunner(found)
    runner.settle(state)
    modder_hooks.emit("on_save_loaded", {"slot": record.slot, "scene_id": found.id, "node_id": state.node,
                                         "scene_changed": changed})
    return runner, state, changed
