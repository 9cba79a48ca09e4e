"""The stage while a scene plays: background, characters, music; and what one beat does to it.

``Stage.apply(beat)`` changes the stage and returns the cues of that beat (speaker, text, the
transition, audio, wait, who entered and who left). ``Stage.snapshot()`` is the plain JSON form the
plan shows. The rules are listed in docs/presentation.md; the layout rules are in ``layout``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from comfyvn.presentation.layout import MAX_VISIBLE, POSITIONS, place
from comfyvn.scenario import models as m

DEFAULT_EXPRESSION = "neutral"


@dataclass
class Actor:
    id: str
    name: str
    expression: str
    position: str | None  # explicit position name, or None when auto-placed


class Cast:
    """Who a name in a beat means: a cast member by id, else by display name (first match)."""

    def __init__(self, members: list[m.CastMember]) -> None:
        self.members = members
        self.by_id = {c.id: c for c in members}
        self.by_name: dict[str, m.CastMember] = {}
        for member in members:
            self.by_name.setdefault(member.name, member)

    def member(self, who: str) -> m.CastMember | None:
        return self.by_id.get(who) or self.by_name.get(who)

    def identify(self, who: str) -> tuple[str, str]:
        """(stage id, display name) of ``who``; names outside the cast stand for themselves."""
        member = self.member(who)
        return (member.id, member.name) if member else (who, who)

    def default_expression(self, stage_id: str) -> str:
        member = self.by_id.get(stage_id)
        return (member.default_expression if member else None) or DEFAULT_EXPRESSION

    def enters_on_speech(self, who: str) -> bool:
        """Speakers who step on stage by talking: cast members with role 'character', or anyone
        when the scene has no cast."""
        if not self.members:
            return True
        member = self.member(who)
        return member is not None and member.role == "character"


def _flat_copy(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy of a background or music dict (their values are plain scalars: a shallow copy is a
    full one, and several times cheaper than ``copy.deepcopy``)."""
    return None if value is None else dict(value)


def _transition(value: m.Transition | None) -> dict[str, Any] | None:
    return None if value is None else {"style": value.style, "duration": value.duration}


class Stage:
    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.background: dict[str, Any] | None = None
        self.music: dict[str, Any] | None = None
        self.actors: dict[str, Actor] = {}  # insertion order = order of entry
        self.activity: list[str] = []  # actor ids, least recently active first

    def copy(self) -> Stage:
        twin = Stage(self.cast)
        twin.background = _flat_copy(self.background)
        twin.music = _flat_copy(self.music)
        twin.actors = {key: copy.copy(actor) for key, actor in self.actors.items()}
        twin.activity = list(self.activity)
        return twin

    # -- reading -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        visible = [(a.id, a.position) for a in self.actors.values() if a.position != "offscreen"]
        placed = place(visible)
        entry = {key: i for i, key in enumerate(self.actors)}
        people = []
        for actor in self.actors.values():
            position = placed.get(actor.id, actor.position)
            people.append({"id": actor.id, "name": actor.name, "position": position,
                           "xalign": POSITIONS[position], "expression": actor.expression,
                           "auto": actor.position is None})
        people.sort(key=lambda p: (p["xalign"] is None, p["xalign"] or 0.0, entry[p["id"]]))
        return {"background": _flat_copy(self.background), "characters": people,
                "music": _flat_copy(self.music)}

    # -- changing ----------------------------------------------------------------------------

    def apply(self, beat: Any) -> dict[str, Any]:
        cues: dict[str, Any] = {"speaker": None, "text": None, "transition": None, "wait": None,
                                "audio": {"music": None, "sound": None, "voice": None},
                                "entered": [], "exited": []}
        handler = getattr(self, f"_on_{beat.kind}")
        handler(beat, cues)
        return cues

    def _on_say(self, beat: m.Say, cues: dict[str, Any]) -> None:
        stage_id, name = self.cast.identify(beat.speaker)
        speaks_as = stage_id if self.cast.member(beat.speaker) or not self.cast.members else None
        cues["speaker"] = {"id": speaks_as, "name": name}
        cues["text"] = beat.text
        cues["audio"]["voice"] = beat.voice
        actor = self.actors.get(stage_id)
        if actor is not None:
            if beat.expression:
                actor.expression = beat.expression
            self._touch(stage_id)
        elif self.cast.enters_on_speech(beat.speaker):
            self._enter(stage_id, name, beat.expression, None, "speech", cues)

    def _on_narrate(self, beat: m.Narrate, cues: dict[str, Any]) -> None:
        cues["text"] = beat.text

    def _on_direction(self, beat: m.Direction, cues: dict[str, Any]) -> None:
        cues["text"] = beat.text
        if beat.character:
            stage_id, _ = self.cast.identify(beat.character)
            if stage_id in self.actors:
                self._touch(stage_id)

    def _on_background(self, beat: m.Background, cues: dict[str, Any]) -> None:
        self.background = {"image": beat.image, "location": beat.location, "time_of_day": beat.time_of_day,
                           "weather": beat.weather}
        cues["transition"] = _transition(beat.transition)

    def _on_show(self, beat: m.Show, cues: dict[str, Any]) -> None:
        stage_id, name = self.cast.identify(beat.character)
        cues["transition"] = _transition(beat.transition)
        actor = self.actors.get(stage_id)
        if actor is None:
            self._enter(stage_id, name, beat.expression, beat.position, "show", cues)
            return
        was_hidden = actor.position == "offscreen"
        if beat.expression:
            actor.expression = beat.expression
        if beat.position:
            actor.position = beat.position
        self._touch(stage_id)
        if was_hidden and actor.position != "offscreen":
            self._crowd_out(stage_id, cues)

    def _on_hide(self, beat: m.Hide, cues: dict[str, Any]) -> None:
        stage_id, _ = self.cast.identify(beat.character)
        cues["transition"] = _transition(beat.transition)
        if stage_id in self.actors:
            self._leave(stage_id, "hide", cues)

    def _on_music(self, beat: m.Music, cues: dict[str, Any]) -> None:
        cues["audio"]["music"] = {"action": beat.action, "track": beat.track, "fadein": beat.fadein,
                                  "fadeout": beat.fadeout, "loop": beat.loop}
        self.music = {"track": beat.track, "loop": beat.loop} if beat.action == "play" else None

    def _on_sound(self, beat: m.Sound, cues: dict[str, Any]) -> None:
        cues["audio"]["sound"] = {"track": beat.track, "channel": beat.channel}

    def _on_wait(self, beat: m.Wait, cues: dict[str, Any]) -> None:
        cues["wait"] = beat.seconds

    def _on_transition(self, beat: m.TransitionBeat, cues: dict[str, Any]) -> None:
        cues["transition"] = _transition(beat.transition)

    # -- helpers -----------------------------------------------------------------------------

    def _touch(self, stage_id: str) -> None:
        if stage_id in self.activity:
            self.activity.remove(stage_id)
        self.activity.append(stage_id)

    def _enter(self, stage_id: str, name: str, expression: str | None, position: str | None, reason: str,
               cues: dict[str, Any]) -> None:
        expression = expression or self.cast.default_expression(stage_id)
        self.actors[stage_id] = Actor(stage_id, name, expression, position)
        self._touch(stage_id)
        cues["entered"].append({"id": stage_id, "reason": reason})
        if position != "offscreen":
            self._crowd_out(stage_id, cues)

    def _leave(self, stage_id: str, reason: str, cues: dict[str, Any]) -> None:
        del self.actors[stage_id]
        self.activity.remove(stage_id)
        cues["exited"].append({"id": stage_id, "reason": reason})

    def _crowd_out(self, newcomer: str, cues: dict[str, Any]) -> None:
        """More than MAX_VISIBLE visible: the least recently active other visible character leaves,
        auto-placed ones before explicitly placed ones."""
        while True:
            others = [a for a in self.actors.values() if a.position != "offscreen" and a.id != newcomer]
            if len(others) < MAX_VISIBLE:
                return
            pool = [a for a in others if a.position is None] or others
            victim = min(pool, key=lambda a: self.activity.index(a.id))
            self._leave(victim.id, "crowd", cues)
