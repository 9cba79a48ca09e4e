"""The records a project holds besides its scenes: the project itself, characters, timelines and
worlds. Scenes are the canonical :class:`comfyvn.scenario.models.Scene` (there is one scene model).

Like the scene model, unknown fields are refused (a typo should not vanish silently); free-form
data goes in ``metadata``.
"""

from __future__ import annotations

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
