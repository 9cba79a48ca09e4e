"""Where the viewer stands inside a run: the runner's answer for the current node plus the
presentation plan's frames of that node, and which line of the node is on screen. Plain Python
(no Qt, no network), so the stepping rules are easy to read and to test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT_KINDS = ("say", "narrate", "direction")
CHOICE_POS = 10**6  # backlog key of "the choice taken after the node's lines"


@dataclass
class Position:
    """The run answer (``/api/scenario/run/step``, ``/run/back``, ``/api/save/<slot>/resume``),
    the node's plan (``{entry, frames}``) and the shown line (``pos`` into :attr:`lines`)."""

    answer: dict[str, Any]
    plan: dict[str, Any]
    pos: int = 0
    lines: list[int] = field(default_factory=list)  # indices of frames that show text

    def __post_init__(self) -> None:
        frames = self.plan.get("frames") or []
        self.lines = [f["index"] for f in frames if f.get("kind") in TEXT_KINDS and f.get("text")]

    @classmethod
    def at(cls, answer: dict[str, Any], plan: dict[str, Any], where: str = "first") -> Position:
        made = cls(answer, plan)
        made.pos = max(0, len(made.lines) - 1) if where == "last" else 0
        return made

    @property
    def state(self) -> dict[str, Any]:
        return self.answer["state"]

    @property
    def step(self) -> int:
        return int(self.state.get("step") or 0)

    @property
    def node_id(self) -> str:
        return str(self.state.get("node"))

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.answer.get("choices") or [])

    @property
    def finished(self) -> bool:
        return bool(self.answer.get("finished"))

    def frame(self) -> dict[str, Any] | None:
        """The frame on screen: the current line's, else (a node without lines) the last one."""
        frames = self.plan.get("frames") or []
        if self.lines:
            return frames[self.lines[self.pos]]
        return frames[-1] if frames else None

    def stage(self) -> dict[str, Any]:
        frame = self.frame()
        return (frame or {}).get("stage") or self.plan.get("entry") or {}

    def line(self) -> tuple[str, str, str] | None:
        """(speaker name, text, kind) of the line on screen, or None."""
        if not self.lines:
            return None
        frame = self.frame() or {}
        speaker = frame.get("speaker") or {}
        return str(speaker.get("name") or ""), str(frame.get("text") or ""), str(frame.get("kind"))

    def key(self) -> tuple[int, int]:
        """Orders everything seen in a run: (runner step, line) - the backlog keeps keys <= this."""
        return self.step, self.pos

    @property
    def at_last_line(self) -> bool:
        return self.pos >= len(self.lines) - 1

    @property
    def waiting_for_choice(self) -> bool:
        return self.at_last_line and bool(self.choices) and not self.finished
