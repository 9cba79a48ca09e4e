"""SillyTavern personas (the player's identities) -> ``Persona`` records.

Accepted: a whole ``settings.json`` (personas under ``power_user``), a ``power_user`` fragment, and
``personas_YYYYMMDD.json`` backups; all hold ``personas`` (``{avatar file: name}``),
``persona_descriptions`` (``{avatar file: {description, position, depth, role, ...}}``) and
``default_persona`` (an avatar file). A file holding something, none of it a persona (``personas``
a list, every entry unreadable) is refused (UnreadableLog naming the field); an empty one is not.
A persona is keyed by its avatar file; its id is the slug of
the file's stem (``1727478000000-Wanderer.png`` -> ``1727478000000-wanderer``), made unique with
``-2``, ``-3`` ... when two files slug alike. An avatar key holding a path (``/``, ``\\``, or
``.``/``..``) is not a file in the avatars folder: it is skipped with a problem, so it cannot take
(and update) another file's persona (``../../x`` would otherwise be persona ``x`` of ``x.png``).
``PersonaImport.default`` is the default persona's id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationError

from comfyvn.roleplay.transcript import Problem, UnreadableLog
from comfyvn.scenario.models import Id, Metadata, Model
from comfyvn.sillytavern import Fields, load_json, slug_id

FORMAT = "personas"
DEFAULT_AVATAR = "user-default.png"
_DESCRIPTION_FIELDS = {"description", "position", "depth", "role"}


class Persona(Model):
    """One player persona. ``position``/``depth``/``role`` say where SillyTavern put the
    description in the prompt (0 = in the prompt, 4 = at ``depth``; role 0 system, 1 user,
    2 assistant); other description fields (``title``, ``lorebook``, ``connections``...) are in
    ``metadata``."""

    id: Id
    avatar: str = Field(description="The avatar file name in SillyTavern's 'User Avatars' folder.")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    position: int = 0
    depth: int = 2
    role: int = 0
    metadata: Metadata


@dataclass(slots=True)
class PersonaImport:
    personas: list[Persona]
    default: str | None  # id of the default persona
    problems: list[Problem] = field(default_factory=list)


def read_personas(data: bytes, name: str) -> PersonaImport:
    where = name or "the file"
    raw = load_json(data, format=FORMAT, what=f"{where}: not a personas file")
    prefix = ""
    if isinstance(raw, dict) and isinstance(raw.get("power_user"), dict):  # a whole settings.json
        outer, raw, prefix = raw, dict(raw["power_user"]), "power_user."
        if "default_persona" not in raw and "default_persona" in outer:
            raw["default_persona"] = outer["default_persona"]
    if not isinstance(raw, dict) or not {"personas", "persona_descriptions"} & raw.keys():
        raise UnreadableLog(f"{where}: no personas: expected 'personas' and 'persona_descriptions' (a "
                            "personas_*.json backup or SillyTavern's settings.json)", format=FORMAT,
                            field=f"{prefix}personas")
    problems: list[Problem] = []
    wrong: list[str] = []  # the keys holding something other than an object
    names = _mapping(raw, "personas", prefix, problems, wrong)
    descriptions = _mapping(raw, "persona_descriptions", prefix, problems, wrong)
    avatars = list(dict.fromkeys([*names, *descriptions]))
    personas: list[Persona] = []
    ids: dict[str, str] = {}  # avatar -> id
    taken: set[str] = set()
    for avatar in avatars:
        persona = _persona(avatar, names.get(avatar), descriptions.get(avatar), taken, prefix, problems)
        if persona is not None:
            ids[avatar] = persona.id
            taken.add(persona.id)
            personas.append(persona)
    if not personas and (wrong or avatars):  # something was there, and none of it is a persona
        key = wrong[0] if wrong else None
        reason = (f"'{prefix}{key}' is {type(raw[key]).__name__}, not an object mapping avatar files to "
                  f"{_SHAPES[key]}") if key else \
            f"none of its {len(avatars)} persona(s) could be read ({problems[-1].message})"
        raise UnreadableLog(f"{where}: not a personas file: {reason}", format=FORMAT,
                            field=f"{prefix}{key}" if key else problems[-1].field)
    default_avatar = raw.get("default_persona")
    default = None
    if isinstance(default_avatar, str) and default_avatar:
        default = ids.get(default_avatar)
        if default is None:
            problems.append(Problem(f"default_persona {default_avatar!r} is not one of the personas: no default",
                                    field=f"{prefix}default_persona"))
    elif default_avatar is not None:
        problems.append(Problem(f"default_persona is {type(default_avatar).__name__}, not an avatar file name: "
                                "ignored", field=f"{prefix}default_persona"))
    return PersonaImport(personas, default, problems)


_SHAPES = {"personas": 'names ({"user-default.png": "User"})',
           "persona_descriptions": 'descriptions ({"user-default.png": {"description": "..."}})'}


def _mapping(raw: dict[str, Any], key: str, prefix: str, problems: list[Problem], wrong: list[str]) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(f"{key} is {type(value).__name__}, not an object keyed by avatar file: ignored",
                                field=f"{prefix}{key}", severity="error"))
        wrong.append(key)
        return {}
    return value


def _persona(avatar: str, name: Any, description: Any, taken: set[str], prefix: str,
             problems: list[Problem]) -> Persona | None:
    where = f"{prefix}personas.{avatar}"
    if not avatar.strip():
        problems.append(Problem("a persona without an avatar file name: skipped", field=where))
        return None
    if "/" in avatar or "\\" in avatar or avatar.strip() in (".", ".."):
        problems.append(Problem(f"avatar {avatar!r} is a path, not a file name in the avatars folder: skipped",
                                field=where, severity="warning"))
        return None
    file_name = avatar
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    if not isinstance(name, str) or not name.strip():
        if name is not None and not isinstance(name, str):
            problems.append(Problem(f"the name is {type(name).__name__}, not text", field=where))
        name = str(name) if isinstance(name, (int, float)) and not isinstance(name, bool) else ""
        if not name.strip():
            name = stem.strip() or "User"
            problems.append(Problem(f"persona {avatar!r} has no name: named {name!r} after its avatar",
                                    field=where, severity="info"))
    name = name.strip()[:200]
    if description is not None and not isinstance(description, dict):
        problems.append(Problem(f"the description of {avatar!r} is {type(description).__name__}, not an object: "
                                "ignored", field=f"{prefix}persona_descriptions.{avatar}"))
        description = None
    fields = Fields(description, problems, f"{prefix}persona_descriptions.{avatar}")
    base = slug_id(stem, "persona")
    persona_id, number = base, 1
    while persona_id in taken:
        number += 1
        persona_id = f"{base[:120]}-{number}"
    if persona_id != base:
        problems.append(Problem(f"avatar {avatar!r} gives the same id as another persona: id {persona_id!r}",
                                field=where, severity="info"))
    try:
        return Persona(id=persona_id, avatar=avatar, name=name, description=fields.text("description"),
                       position=fields.integer("position", default=0), depth=fields.integer("depth", default=2),
                       role=fields.integer("role", default=0), metadata=fields.rest(_DESCRIPTION_FIELDS))
    except ValidationError as exc:  # fields are coerced above; report instead of crashing if one slips
        problems.append(Problem(f"persona {avatar!r} skipped: {exc.errors()[0]['msg']}", field=where,
                                severity="error"))
        return None
