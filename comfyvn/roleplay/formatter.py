"""A transcript -> canonical scenes (``comfyvn.scenario.models``), with the cast.

- Participants: the user persona (role ``user``), characters, the narrator. Speakers are
  normalised (whitespace, case: "seraphina" and "Seraphina " are one person) and get a stable id.
- Scenes split at explicit breaks, at time gaps and at a length limit.
- One node per message; its beats are the message's speech, narration and stage directions, each
  with an expression hint (``high``/``medium`` detail) and the message's provenance (chat, index,
  timestamp, speaker). A stated place or time of day becomes a background beat.
- Swipes (unchosen alternatives) optionally become a real branch: the node before offers the
  canon reply and each alternative; every alternative rejoins the story after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from comfyvn.roleplay import lines
from comfyvn.roleplay.transcript import Message, Transcript

Detail = Literal["low", "medium", "high"]
ROLE_ORDER = {"user": 0, "character": 1, "narrator": 2}


@dataclass
class Options:
    detail_level: Detail = "medium"
    max_messages_per_scene: int = 150
    gap_minutes: float = 240.0  # a pause longer than this starts a new scene
    swipes_as_choices: bool = False
    scene_prefix: str = "chat"
    title: str | None = None
    chat: str | None = None  # the source file name, recorded in every line's provenance


@dataclass
class Participant:
    id: str
    name: str
    role: str
    messages: int = 0
    aliases: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "messages": self.messages,
                "aliases": sorted(self.aliases - {self.name})}


def slug(text: str, fallback: str = "x") -> str:
    value = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9_.-]+", "-", text.lower())).strip("-.")[:60].strip("-.")
    return value or fallback


def normal_name(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip()


def participants(transcript: Transcript) -> dict[str, Participant]:
    """Participants keyed by normalised lower-case name, in order of first appearance."""
    found: dict[str, Participant] = {}
    used_ids: set[str] = set()
    for message in transcript.story_messages():
        name = normal_name(message.speaker) or ("User" if message.role == "user" else "Unknown")
        key = name.casefold()
        person = found.get(key)
        if person is None:
            base = slug(name, "speaker")
            pid, n = base, 2
            while pid in used_ids:
                pid, n = f"{base}-{n}", n + 1
            used_ids.add(pid)
            role = message.role if message.role in ROLE_ORDER else "character"
            person = found[key] = Participant(pid, name, role)
        person.messages += 1
        person.aliases.add(message.speaker)
    return found


def _when(message: Message) -> datetime | None:
    if not message.timestamp:
        return None
    try:
        return datetime.fromisoformat(message.timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _gap_minutes(earlier: datetime | None, later: datetime | None) -> float:
    """Minutes between two messages; 0 when unknown, or when one time is UTC and the other local
    (SillyTavern mixes both; comparing them would invent gaps of the time-zone offset)."""
    if earlier is None or later is None or (earlier.tzinfo is None) != (later.tzinfo is None):
        return 0.0
    return max(0.0, (later - earlier).total_seconds() / 60)


def split_scenes(messages: list[Message], options: Options) -> list[list[Message]]:
    groups: list[list[Message]] = []
    previous: datetime | None = None
    for message in messages:
        now = _when(message)
        gap = _gap_minutes(previous, now)
        if (not groups or message.extra.get("scene_break_before") or gap > options.gap_minutes
                or len(groups[-1]) >= options.max_messages_per_scene):
            groups.append([])
        groups[-1].append(message)
        previous = now or previous
    return groups


def _beats(message: Message, who: Participant, options: Options, stage: dict[str, str | None],
           text: str | None = None, swipe: int | None = None) -> list[dict[str, Any]]:
    source: dict[str, Any] = {"message_index": message.index, "speaker": message.speaker}
    if options.chat is not None:
        source["chat"] = options.chat
    if message.timestamp_raw is not None:
        source["timestamp"] = message.timestamp_raw
    if swipe is not None:
        source["swipe"] = swipe
    pieces = lines.split_message(message.text if text is None else text, detail=options.detail_level)
    beats: list[dict[str, Any]] = []
    if options.detail_level != "low":
        prose = " ".join(p.text for p in pieces if p.kind != "say")
        place, hour = lines.location(prose), lines.time_of_day(prose)
        if (place and place != stage["location"]) or (hour and hour != stage["time"]):
            stage["location"] = place or stage["location"]
            stage["time"] = hour or stage["time"]
            background = {"kind": "background", "image": " ".join(x for x in (stage["location"] or "scene",
                                                                                stage["time"] or "") if x)}
            if stage["location"]:
                background["location"] = stage["location"]
            if stage["time"]:
                background["time_of_day"] = stage["time"]
            beats.append(background)
    mood = (lines.expression_for(*(p.text for p in pieces if p.kind == "direction"))
            if options.detail_level != "low" else None)
    for piece in pieces:
        beat: dict[str, Any] = {"kind": piece.kind, "text": piece.text, "source": source}
        if piece.kind == "say":
            if who.role == "narrator":
                beat["kind"] = "narrate"
            else:
                beat["speaker"] = who.id
                hint = mood or (lines.expression_for(piece.text) if options.detail_level == "high" else None)
                if hint:
                    beat["expression"] = hint
        elif piece.kind == "direction" and who.role != "narrator":
            beat["character"] = who.id
        beats.append(beat)
    return beats


def format_transcript(transcript: Transcript, options: Options | None = None) -> tuple[list[dict[str, Any]], dict[str, Participant]]:
    """Scenes (canonical JSON, ready for ``parse_scene``) and the participants."""
    options = options or Options()
    people = participants(transcript)
    story = transcript.story_messages()
    scenes = []
    for number, group in enumerate(split_scenes(story, options), start=1):
        scenes.append(_scene(group, number, people, options))
    return scenes, people


def _scene(group: list[Message], number: int, people: dict[str, Participant], options: Options) -> dict[str, Any]:
    stage: dict[str, str | None] = {"location": None, "time": None}
    present: dict[str, Participant] = {}
    units: list[tuple[dict[str, Any], list[dict[str, Any]], Message]] = []  # canon node, swipe nodes
    for message in group:
        who = people[normal_name(message.speaker).casefold() or ("user" if message.role == "user" else "unknown")]
        present[who.id] = who
        canon = {"id": f"m{message.index}", "beats": _beats(message, who, options, stage)}
        swipes = []
        if options.swipes_as_choices and message.alternates and units:
            canon["metadata"] = {"swipes": len(message.alternates)}
            real = message.extra.get("alternate_swipe_ids") or []
            for k, text in enumerate(message.alternates, start=1):
                swipe = real[k - 1] if k <= len(real) and isinstance(real[k - 1], int) else k
                swipes.append({"id": f"m{message.index}_swipe{k}", "metadata": {"swipe": swipe},
                               "beats": _beats(message, who, options, dict(stage), text, swipe=swipe)})
        units.append((canon, swipes, message))
    for position, (canon, swipes, _message) in enumerate(units):
        if position + 1 == len(units):
            for node in (canon, *swipes):
                node["end"] = True
            continue
        target, target_swipes, target_message = units[position + 1]
        for node in (canon, *swipes):
            if not target_swipes:
                node["next"] = target["id"]
                continue
            node["type"] = "choice"  # a real branch: the reply that was kept, or one of its swipes
            node["choices"] = [{"id": f"{node['id']}_to_{target['id']}", "label": _label(target_message.text),
                                "target": target["id"]}] + [
                {"id": f"{node['id']}_to_{alt['id']}", "label": _label(text), "target": alt["id"]}
                for alt, text in zip(target_swipes, target_message.alternates)]
    nodes = [node for canon, swipes, _m in units for node in (canon, *swipes)]
    for node in nodes:  # number every beat: stable line ids for saves and translations
        for k, beat in enumerate(node["beats"]):
            beat["id"] = f"{node['id']}_{k}"
    cast = [{"id": p.id, "name": p.name, "role": p.role}
            for p in sorted(present.values(), key=lambda p: (ROLE_ORDER.get(p.role, 1), p.id))]
    title = options.title or "Chat"
    return {
        "id": f"{options.scene_prefix}-{number:03d}", "title": f"{title} ({number})" if number > 1 else title,
        "start": nodes[0]["id"], "nodes": nodes, "cast": cast,
        "metadata": {"imported_from": options.chat, "messages": [group[0].index, group[-1].index],
                     "detail_level": options.detail_level},
    }


def _label(text: str, limit: int = 60) -> str:
    plain = re.sub(r"\s+", " ", text.replace("*", "")).strip()
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"
