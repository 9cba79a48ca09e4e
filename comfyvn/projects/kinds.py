"""The kinds of record a project folder holds, and what is checked when one is saved.

Each :class:`Kind` names its folder, the field shown in listings, how to turn submitted JSON into
the canonical model (raising 422 with every problem), how to store the model, and the checks that
need the rest of the project (a timeline's scenes must exist; a scene in a timeline is not
deleted without ``force``). :mod:`comfyvn.projects.store` uses these with one generic collection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from comfyvn.core.errors import Conflict, InvalidInput
from comfyvn.core.store import read_json
from comfyvn.projects.models import Character, Timeline, Translation, World
from comfyvn.projects.paths import project_dir
from comfyvn.scenario.validate import Problem, schema_problems, validate

Parsed = tuple[Any, list[dict[str, str]]]  # (model, warnings)


@dataclass(frozen=True)
class Kind:
    name: str  # 'scene': used in messages and events
    folder: str  # 'scenes': the project sub-folder and the URL segment
    label: str  # 'title' or 'name': the field listings show
    parse: Callable[[Any], Parsed]
    dump: Callable[[Any], dict[str, Any]]
    check_refs: Callable[[str, Any], None] | None = None  # (project, model) -> None or 422
    before_delete: Callable[[str, str, bool], None] | None = None  # (project, id, force) -> None or 409


def _invalid(what: str, problems: list[Problem], warnings: list[Problem] | None = None) -> InvalidInput:
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    details: dict[str, Any] = {"errors": [p.as_dict() for p in problems]}
    if warnings:
        details["warnings"] = [w.as_dict() for w in warnings]
    return InvalidInput(f"{what} is not valid: {first.path}: {first.message}{more}", code=f"invalid_{what}",
                        details=details)


def _not_object(what: str, data: Any) -> InvalidInput:
    return _invalid(what, [Problem("/", f"a {what} must be a JSON object, not {type(data).__name__}", "schema.type")])


# -- scenes: the canonical scene model with the scenario validator ------------------------------

def parse_scene(data: Any) -> Parsed:
    """A scene passing :func:`comfyvn.scenario.validate.validate`, with its warnings; 422 otherwise."""
    if not isinstance(data, dict):
        raise _not_object("scene", data)
    report = validate(data)
    if not report.valid:
        raise _invalid("scene", report.errors, report.warnings)
    assert report.scene is not None
    return report.scene, [w.as_dict() for w in report.warnings]


def timelines_using(project: str, scene_id: str) -> list[str]:
    """Ids of the timelines of ``project`` that list ``scene_id``."""
    found = []
    for path in sorted((project_dir(project) / "timelines").glob("*.json")):
        data = read_json(path)
        if isinstance(data, dict) and scene_id in (data.get("scenes") or []):
            found.append(path.stem)
    return found


def _scene_before_delete(project: str, scene_id: str, force: bool) -> None:
    users = timelines_using(project, scene_id)
    if users and not force:
        raise Conflict(
            f"scene {scene_id!r} is used by timeline(s) {', '.join(map(repr, users))}: remove it from them "
            "first, or delete with force=true (the timelines then name a missing scene)",
            details={"timelines": users})


# -- characters, timelines, worlds, translations: pydantic models -------------------------------

def model_parser(model: type[BaseModel], what: str) -> Callable[[Any], Parsed]:
    def parse(data: Any) -> Parsed:
        if not isinstance(data, dict):
            raise _not_object(what, data)
        try:
            return model.model_validate(data), []
        except ValidationError as exc:
            raise _invalid(what, schema_problems(exc)) from None

    return parse


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _timeline_refs(project: str, timeline: Timeline) -> None:
    scenes = project_dir(project) / "scenes"
    missing = [(i, sid) for i, sid in enumerate(timeline.scenes) if not (scenes / f"{sid}.json").is_file()]
    if missing:
        names = ", ".join(dict.fromkeys(repr(sid) for _, sid in missing))
        problems = [Problem(f"/scenes/{i}", f"scene {sid!r} does not exist in project {project!r}", "unknown_scene")
                    for i, sid in missing]
        raise InvalidInput(
            f"timeline {timeline.id!r} lists scene(s) that do not exist in project {project!r}: {names}; "
            "create them first or take them out of the timeline",
            code="invalid_timeline",
            details={"errors": [p.as_dict() for p in problems], "missing": [sid for _, sid in missing]})


KINDS: dict[str, Kind] = {
    "scene": Kind("scene", "scenes", "title", parse_scene, lambda scene: scene.to_json(),
                  before_delete=_scene_before_delete),
    "character": Kind("character", "characters", "name", model_parser(Character, "character"), _dump),
    "timeline": Kind("timeline", "timelines", "title", model_parser(Timeline, "timeline"), _dump,
                     check_refs=_timeline_refs),
    "world": Kind("world", "worlds", "name", model_parser(World, "world"), _dump),
    "translation": Kind("translation", "translations", "name", model_parser(Translation, "translation"), _dump),
}


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"unknown record kind {name!r}; use one of {', '.join(KINDS)}") from None
