"""The canonical scene model: Scene -> Node -> (Beat, Choice) -> (Condition, Action).

This is the one story model of the product. The importer produces it, the runner steps it, the
presentation planner stages it, the exporter writes it and the Studio edits it. The JSON Schema in
``comfyvn/schema/scenario_schema.json`` is generated from these classes (``python -m
comfyvn.scenario.schema --write``) and a test keeps the two identical.

Unknown fields are refused (a typo should not vanish silently); free-form data goes in ``metadata``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

SCHEMA_VERSION = 1

ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"

Id = Annotated[str, Field(pattern=ID_PATTERN, description="Letters, digits, '_', '.', '-'; 1-128 chars.")]
VarKey = Annotated[
    str, Field(pattern=KEY_PATTERN, max_length=200, description="Variable name, dotted for nested values.")
]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]


_CANONICAL: ContextVar[bool] = ContextVar("scene_canonical_dump", default=False)


def _empty(value: Any) -> bool:
    """``exclude_if`` of the collection fields: an empty one is left out of ``Scene.to_json`` (its
    absence means the same), and kept in every other dump (API answers show it as ``[]``/``{}``)."""
    return not value and _CANONICAL.get()


Metadata = Annotated[dict[str, JsonValue], Field(default_factory=dict, exclude_if=_empty,
                                                 description="Free-form extra data.")]
MAX_WEIGHT = 1_000_000


class Model(BaseModel):
    # strict: "2" is not a number and true is not a weight (the JSON Schema says the same);
    # no inf/nan (not JSON); JsonValue for free-form data refuses absurd nesting with a 422
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False)


# -- conditions and actions ---------------------------------------------------------------------

Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"]
LIST_OPERATORS = frozenset({"in", "not_in"})


class Condition(Model):
    """``key <operator> value``; a list of conditions holds when every one holds."""

    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"operator": {"enum": ["in", "not_in"]}}, "required": ["operator"]},
        "then": {"properties": {"value": {"type": "array"}}, "required": ["value"]},
    })

    key: VarKey
    operator: Operator = "eq"
    value: JsonValue = Field(default=None, description="Not used by exists / not_exists; a list for in / not_in.")

    @model_validator(mode="after")
    def _value_shape(self) -> Condition:
        if self.operator in LIST_OPERATORS and not isinstance(self.value, list):
            raise ValueError(f"operator '{self.operator}' needs a list value")
        return self


ActionType = Literal["set", "increment", "decrement", "clear", "toggle", "append", "remove"]
NUMERIC_ACTIONS = frozenset({"increment", "decrement"})


class Action(Model):
    """A change to the story variables.

    ``set`` key=value; ``increment``/``decrement`` by value (default 1); ``clear`` deletes the key;
    ``toggle`` flips a boolean; ``append``/``remove`` add to / take from a list.
    """

    model_config = ConfigDict(json_schema_extra={
        "if": {"properties": {"type": {"enum": ["increment", "decrement"]}}, "required": ["type"]},
        "then": {"properties": {"value": {"type": ["number", "null"]}}},
    })

    type: ActionType
    key: VarKey
    value: JsonValue = None

    @model_validator(mode="after")
    def _value_shape(self) -> Action:
        if self.type in NUMERIC_ACTIONS and self.value is not None:
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
                raise ValueError(f"'{self.type}' needs a numeric value (or none for 1)")
        return self


# -- beats: what happens, in order, inside a node ----------------------------------------------

class Source(Model):
    """Where a line came from: the chat message it was imported from."""

    chat: str | None = Field(default=None, description="Chat file or id.")
    message_index: int | None = Field(default=None, ge=0)
    timestamp: str | None = Field(default=None, description="The message's send date, as written.")
    time: str | None = Field(default=None, description="The same date as ISO 8601 when it could be read.")
    swipe: int | None = Field(default=None, ge=0, description="Swipe index when the line is an alternate.")
    speaker: str | None = Field(default=None, description="The speaker name in the original log.")


class Transition(Model):
    style: Literal["none", "fade", "dissolve", "pixellate", "move", "ease", "wipeleft", "wiperight",
                   "slideleft", "slideright", "vpunch", "hpunch"] = "dissolve"
    duration: float = Field(default=0.5, ge=0, le=60)


Position = Literal["far_left", "left", "center_left", "center", "center_right", "right", "far_right", "offscreen"]


class _Beat(Model):
    id: Id | None = Field(default=None, description="Stable line id (unique in the scene); used for Ren'Py say ids.")
    source: Source | None = None
    metadata: Metadata


class Say(_Beat):
    kind: Literal["say"] = "say"
    speaker: str = Field(min_length=1, description="Cast id or display name.")
    text: str
    expression: str | None = Field(default=None, description="Expression label, e.g. 'joy'.")
    voice: str | None = Field(default=None, description="Voice clip (asset uid or path).")


class Narrate(_Beat):
    kind: Literal["narrate"] = "narrate"
    text: str


class Direction(_Beat):
    """A stage direction (``*she looks away*``): shown as narration in italics, or used by the planner."""

    kind: Literal["direction"] = "direction"
    text: str
    character: str | None = Field(default=None, description="Cast id the direction is about.")


class Background(_Beat):
    kind: Literal["background"] = "background"
    image: str = Field(min_length=1, description="Background name or asset uid, e.g. 'cafe night'.")
    location: str | None = None
    time_of_day: Literal["dawn", "morning", "day", "afternoon", "evening", "dusk", "night"] | None = None
    weather: str | None = None
    transition: Transition | None = None


class Show(_Beat):
    kind: Literal["show"] = "show"
    character: str = Field(min_length=1, description="Cast id.")
    expression: str | None = None
    position: Position | None = Field(default=None, description="None lets the planner lay the group out.")
    transition: Transition | None = None


class Hide(_Beat):
    kind: Literal["hide"] = "hide"
    character: str = Field(min_length=1)
    transition: Transition | None = None


class Music(_Beat):
    model_config = ConfigDict(json_schema_extra={
        "if": {"not": {"properties": {"action": {"const": "stop"}}, "required": ["action"]}},
        "then": {"properties": {"track": {"type": "string", "minLength": 1}}, "required": ["track"]},
    })

    kind: Literal["music"] = "music"
    action: Literal["play", "stop"] = "play"
    track: str | None = Field(default=None, description="Asset uid or path; required to play.")
    fadein: float = Field(default=0.0, ge=0)
    fadeout: float = Field(default=0.0, ge=0)
    loop: bool = True

    @model_validator(mode="after")
    def _track(self) -> Music:
        if self.action == "play" and not self.track:
            raise ValueError("music 'play' needs a track")
        return self


class Sound(_Beat):
    kind: Literal["sound"] = "sound"
    track: str = Field(min_length=1)
    channel: Literal["sound", "ambient"] = "sound"


class Wait(_Beat):
    kind: Literal["wait"] = "wait"
    seconds: float = Field(gt=0, le=600)


class TransitionBeat(_Beat):
    """A whole-screen transition (``with fade``)."""

    kind: Literal["transition"] = "transition"
    transition: Transition


Beat = Annotated[
    Union[Say, Narrate, Direction, Background, Show, Hide, Music, Sound, Wait, TransitionBeat],
    Field(discriminator="kind"),
]
LINE_KINDS = frozenset({"say", "narrate", "direction"})


# -- graph ----------------------------------------------------------------------------------------

class Choice(Model):
    id: Id
    label: str = ""
    target: Id
    weight: float = Field(default=1.0, ge=0, le=MAX_WEIGHT, description="Relative odds for random picks; 0 disables.")
    conditions: list[Condition] = Field(default_factory=list, exclude_if=_empty)
    actions: list[Action] = Field(default_factory=list, exclude_if=_empty)
    visible_to: list[str] = Field(default_factory=list, exclude_if=_empty,
                                  description="POVs that see it; empty = everyone.")
    metadata: Metadata


# dialogue: lines, then `next`; choice: a menu the player picks from; random: a weighted random
# branch without a menu; end: the story ends here
NodeType = Literal["dialogue", "choice", "random", "end"]


class Node(Model):
    id: Id
    type: NodeType = "dialogue"
    speaker: str | None = Field(default=None, description="Shorthand: with text, the node's first say line.")
    text: str | None = None
    expression: str | None = None
    beats: list[Beat] = Field(default_factory=list, exclude_if=_empty)
    actions: list[Action] = Field(default_factory=list, exclude_if=_empty, description="Applied on entering the node.")
    choices: list[Choice] = Field(default_factory=list, exclude_if=_empty)
    next: Id | None = Field(default=None, description="Where to go when no choice applies.")
    end: bool = False
    pov: str | None = Field(default=None, description="Whose point of view this node is told from.")
    source: Source | None = None
    metadata: Metadata

    @property
    def is_end(self) -> bool:
        return self.end or self.type == "end"

    def lines(self) -> list[Any]:
        """Beats in play order, the ``speaker``/``text`` shorthand first."""
        if self.text is None:
            return list(self.beats)
        head: _Beat  # the shorthand line's id is the node's id (stable for Ren'Py say ids)
        if self.speaker:
            head = Say(id=self.id, speaker=self.speaker, text=self.text, expression=self.expression, source=self.source)
        else:
            head = Narrate(id=self.id, text=self.text, source=self.source)
        return [head, *self.beats]


class CastMember(Model):
    id: Id
    name: str = Field(min_length=1, description="Display name.")
    character_id: Id | None = Field(default=None, description="Project character record, when linked.")
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    default_expression: str | None = None
    role: Literal["character", "user", "narrator"] = "character"


class Scene(Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: Id
    title: str = ""
    start: Id
    nodes: list[Node] = Field(min_length=1)
    variables: dict[VarName, JsonValue] = Field(
        default_factory=dict, description="Story variables and initial values.",
        json_schema_extra={"propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "maxLength": 100}})
    cast: list[CastMember] = Field(default_factory=list, exclude_if=_empty)
    pov: str | None = Field(default=None, description="Default point of view.")
    source: Source | None = None
    metadata: Metadata

    def node_map(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    def pov_aliases(self, names: list[str]) -> frozenset[str]:
        """A choice's ``visible_to`` with each cast member named both ways (id and display name): a
        POV may be given either way, as the POV manager accepts both."""
        out = set(names)
        for member in self.cast:
            if member.id in out or member.name in out:
                out.update((member.id, member.name))
        return frozenset(out)

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON: equal digests mean the same scene."""
        from comfyvn.core.store import digest

        return digest(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form: ``None`` and empty collections left out (their absence means the
        same thing), everything else explicit; free-form values (``metadata``, ``variables``, a
        condition's or action's ``value``) kept as written. Done by pydantic's serializer in one pass
        (``exclude_none`` and the fields' ``exclude_if``)."""
        token = _CANONICAL.set(True)
        try:
            return self.model_dump(mode="json", exclude_none=True)
        finally:
            _CANONICAL.reset(token)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    Parsing a 10,000-node scene creates ~100,000 model objects; without this the collector rescans
    them again and again and parsing takes 5x longer. Nothing parsed here forms reference cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_scene(data: Any) -> Scene:
    """A ``Scene`` from JSON data (raises pydantic's ``ValidationError``)."""
    with gc_paused():
        return Scene.model_validate(data)
