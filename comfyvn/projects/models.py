"""The records a project holds besides its scenes: the project itself, characters, timelines,
worlds and translations. Scenes are the canonical :class:`comfyvn.scenario.models.Scene` (there is one scene model).

Like the scene model, unknown fields are refused (a typo should not vanish silently); free-form
data goes in ``metadata``.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from comfyvn.scenario.models import Id, Metadata, Model

COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"
Timestamp = str  # ISO 8601 UTC, seconds: "2025-01-31T12:00:00Z"


class Project(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    created_at: Timestamp = Field(description="Set by the server (ISO 8601 UTC).")
    updated_at: Timestamp = Field(description="Set by the server when the project record changes.")
    metadata: Metadata


class Character(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    display_name: str | None = Field(default=None, description="Shown in the game; defaults to name.")
    description: str = ""
    personality: str = ""
    appearance: str = Field(default="", description="Prompt text describing how the character looks.")
    style: str | None = Field(default=None, description="Art style name or prompt fragment.")
    expressions: list[str] = Field(default_factory=lambda: ["neutral"], min_length=1,
                                   description="Expression labels the character has art for.")
    default_expression: str | None = Field(default=None, description="One of expressions; null = the first.")
    color: str | None = Field(default=None, pattern=COLOR_PATTERN, description="Name colour '#rrggbb'.")
    tags: list[str] = Field(default_factory=list)
    card: dict[str, Any] = Field(default_factory=dict, description="Raw imported character card data.")
    metadata: Metadata

    @field_validator("expressions")
    @classmethod
    def _unique_expressions(cls, value: list[str]) -> list[str]:
        if any(not label.strip() for label in value):
            raise ValueError("expression labels must not be empty")
        duplicates = sorted({label for label in value if value.count(label) > 1})
        if duplicates:
            raise ValueError(f"duplicate expression labels: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _default_is_known(self) -> Character:
        if self.default_expression is not None and self.default_expression not in self.expressions:
            raise ValueError(
                f"default_expression {self.default_expression!r} is not one of expressions {self.expressions}")
        return self


class Timeline(Model):
    id: Id
    title: str = ""
    scenes: list[Id] = Field(default_factory=list, description="Scene ids of the project, in play order.")
    metadata: Metadata


class LoreEntry(Model):
    keys: list[str] = Field(default_factory=list, description="Words that bring the entry into play.")
    content: str
    enabled: bool = True
    metadata: Metadata


class World(Model):
    id: Id
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    entries: list[LoreEntry] = Field(default_factory=list)
    metadata: Metadata


# Words Ren'Py's parser will not take as a name (a language id is read as one); Python's keywords too.
RENPY_WORDS = frozenset({"as", "at", "behind", "call", "expression", "hide", "if", "in", "image", "init", "jump",
                         "menu", "onlayer", "python", "return", "scene", "show", "with", "while", "zorder",
                         "transform"})
LANGUAGE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Translation(Model):
    """One language of the story, keyed by the ids the Ren'Py export writes (docs/export-renpy.md).
    An empty text counts as not translated yet."""

    id: str = Field(description="The Ren'Py language id, a Python identifier: 'french', 'pt_br'.",
                    json_schema_extra={"pattern": LANGUAGE_PATTERN})
    name: str = Field(min_length=1, max_length=200, description="Shown in the game's language picker: 'Français'.")
    lines: dict[Id, dict[Id, str]] = Field(
        default_factory=dict, description="Scene id -> line key (the line id, or '<node>_<index>') -> text.")
    choices: dict[Id, dict[Id, str]] = Field(default_factory=dict,
                                             description="Scene id -> menu choice id -> label.")
    names: dict[str, str] = Field(
        default_factory=dict,
        description="Cast id, character record id, or the name of a speaker outside the cast -> display name.")
    metadata: Metadata

    @field_validator("id")
    @classmethod
    def _usable_language(cls, value: str) -> str:
        if not re.match(LANGUAGE_PATTERN, value):
            raise ValueError(f"language id {value!r} must be a Python identifier of at most 64 ASCII letters, "
                             "digits and '_', not starting with a digit ('pt_br', not 'pt-br')")
        if keyword.iskeyword(value) or value in RENPY_WORDS:
            raise ValueError(f"{value!r} is a Python or Ren'Py keyword; Ren'Py cannot use it as a language id")
        return value

    @field_validator("names")
    @classmethod
    def _named_speakers(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not key.strip() for key in value):
            raise ValueError("names must be keyed by a cast id, character id or speaker name, not an empty string")
        return value
