"""What every chat reader produces: a ``Transcript`` of ``Message`` objects plus the problems met.

Readers (``comfyvn/roleplay/readers/``) turn bytes of one log format into a transcript; the
formatter turns a transcript into canonical scenes. Nothing here knows a file format, and
nothing downstream of here knows one either.

A reader never raises for a message it cannot read: it records a ``Problem`` (line, field, what
is wrong) and goes on. It raises ``UnreadableLog`` only when nothing at all can be read (wrong
format, not text, no messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "character", "narrator", "system"]
MAX_LISTED_PROBLEMS = 500  # beyond this, problems are counted in one summary line


class UnreadableLog(ValueError):
    """The input cannot be read as the format at all (the message says why and where)."""

    def __init__(self, message: str, *, format: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.format, self.line, self.field = format, line, field

    def details(self) -> dict[str, Any]:
        return {k: v for k, v in {"format": self.format, "line": self.line, "field": self.field}.items()
                if v is not None}


@dataclass(slots=True)
class Problem:
    """Something skipped or guessed while reading; ``line`` is 1-based in the source file."""

    message: str
    line: int | None = None
    field: str | None = None
    severity: Literal["error", "warning", "info"] = "warning"

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "field": self.field, "severity": self.severity}


@dataclass(slots=True)
class Message:
    """One chat message, normalised.

    ``index`` is the message's position among the source's messages (0-based, header lines not
    counted); ``line`` the 1-based source line it starts on. ``text`` is what the user saw
    (``display_text`` wins over ``mes`` in SillyTavern). ``hidden`` messages (hidden by the user) stay
    in the transcript but never reach the story. ``alternates`` are the swipes that were not chosen.
    """

    index: int
    speaker: str
    text: str
    role: Role = "character"
    line: int | None = None
    timestamp: str | None = None  # ISO 8601 (UTC when the source says so, else local time without zone)
    timestamp_raw: str | None = None  # exactly as the source wrote it
    hidden: bool = False
    alternates: list[str] = field(default_factory=list)
    avatar: str | None = None  # the speaking character's card file (SillyTavern original_avatar)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Transcript:
    format: str  # reader id, e.g. "sillytavern.jsonl"
    messages: list[Message] = field(default_factory=list)
    title: str | None = None
    user_name: str | None = None
    character_names: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. SillyTavern chat_metadata
    problems: list[Problem] = field(default_factory=list)
    best_effort: bool = False  # the format is ambiguous (plain text exports): say so in the report
    unlisted: int = 0  # problems past MAX_LISTED_PROBLEMS, counted only

    def problem(self, message: str, line: int | None = None, field: str | None = None,
                severity: Literal["error", "warning", "info"] = "warning") -> None:
        """Record a problem; past ``MAX_LISTED_PROBLEMS`` they are only counted (a file with a million
        broken lines must not make a million-line report)."""
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(Problem(message, line, field, severity))
        else:
            self.unlisted += 1

    def close_problems(self) -> None:
        """Add the summary line for the problems that were only counted."""
        if self.unlisted:
            self.problems.append(Problem(f"{self.unlisted} more problems were found and not listed"))
            self.unlisted = 0

    def story_messages(self) -> list[Message]:
        """The messages that belong in the story: not hidden, not system notices."""
        return [m for m in self.messages if not m.hidden and m.role != "system"]

    def speakers(self) -> list[str]:
        """Distinct speaker names in order of first appearance (story messages only)."""
        seen: dict[str, None] = {}
        for message in self.story_messages():
            seen.setdefault(message.speaker, None)
        return list(seen)
