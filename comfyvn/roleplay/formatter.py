"""A transcript -> canonical scenes (``comfyvn.scenario.models``), with the cast.

- Participants (``Cast``): the user persona (role ``user``), characters, the narrator. Speakers
  are keyed by role and card (SillyTavern ``original_avatar``) when there is one, else by
  normalised name (whitespace, case: "seraphina" and "Seraphina " are one person); each gets a
  stable, file-safe id (``person_id``).
- Scenes split at explicit breaks, at time gaps and at a length limit.
- One node per message; its beats are the message's speech, narration and stage directions, each
  with an expression hint (``high``/``medium`` detail) and the message's provenance (chat, index,
  timestamp, speaker). A stated place or time of day becomes a background beat.
- Swipes (unchosen alternatives) optionally become a real branch: the node before offers the
  canon reply and each alternative (for a scene's first message, an opening choice node does);
  every alternative rejoins the story after it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from comfyvn.projects.paths import RESERVED
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
    avatar: str | None = None  # the card file the participant was keyed by (SillyTavern original_avatar)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "messages": self.messages,
                "aliases": sorted(self.aliases - {self.name}), "avatar": self.avatar}


def slug(text: str, fallback: str = "x") -> str:
    value = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9_.-]+", "-", text.lower())).strip("-.")[:60].strip("-.")
    return value or fallback


MAX_NAME = 100  # characters of a display name; a longer "name" is a log quirk, not a person's name


def normal_name(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip()
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1].rstrip() + "…"


# Latin letters NFKD does not decompose to ASCII
_LATIN = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
                        "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i"})


def person_id(name: str) -> str:
    """A stable, file-safe id for a speaker's name (the same name gives the same id in every chat).

    Readable when the name allows: accents are dropped (``José`` -> ``jose``), anything else not a
    letter or digit becomes ``-``. A name with letters that have no ASCII form gets a hash of the
    name: ``speaker-<8 hex>`` when nothing readable is left (``ゆき``), ``<slug>-<8 hex>`` when part
    is (``Yuki ゆき``). A Windows device name (``con``, ``nul``, ``com1``, ...) gets a ``_``."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    decomposed = unicodedata.normalize("NFKD", name.translate(_LATIN))
    base = re.sub(r"[^a-z0-9_]+", "-", decomposed.encode("ascii", "ignore").decode("ascii").lower())
    base = base.strip("-_")[:48].strip("-_")
    lost = any(ch.isalnum() and not ch.isascii() and not unicodedata.combining(ch) for ch in decomposed)
    if not base:
        return f"speaker-{digest}"
    if lost:
        return f"{base}-{digest}"
    return f"{base}_" if base in RESERVED else base


Key = tuple[str, str, str]  # (role, "card" or "name", avatar or case-folded name)


def card_of(message: Message) -> str | None:
    """The card file that identifies the speaker, if any. SillyTavern's built-in pictures
    (``img/ai4.png`` for every ``/sendas`` speaker without a card) are shared: not a key."""
    avatar = message.avatar
    return avatar if avatar and not avatar.startswith(("img/", "/img/")) else None


def _key(message: Message) -> Key:
    """Who a message is from by name, before cards are matched: (role, "name", normalised name)."""
    name = normal_name(message.speaker) or ("User" if message.role == "user" else "Unknown")
    return (message.role if message.role in ROLE_ORDER else "character", "name", name.casefold())


class Cast:
    """The participants of a transcript and who said each message.

    A message with a card (SillyTavern ``original_avatar``, see ``card_of``) belongs to that card:
    one participant per (role, avatar), whatever names it used ("Sera", "Seraphina"). A message
    without one belongs to the first card of the same role that used its name, else to the
    participant of that (role, name). The display name is the name used most (ties: the first);
    the others become aliases. Participants of one role sharing a display name are told apart as
    "Name (2)", "Name (3)" in order of appearance; ids are unique, characters first served."""

    def __init__(self, messages: list[Message]) -> None:
        self._card_of_name: dict[Key, Key] = {}
        for message in messages:  # first pass: every name each card used
            card = card_of(message)
            if card:
                key = _key(message)
                self._card_of_name.setdefault(key, (key[0], "card", card))
        self._groups: dict[tuple[str, str, str | None], Key] = {}  # (speaker, role, avatar) -> group
        names: dict[Key, Counter[str]] = {}
        written: dict[tuple[str, str], str] = {}  # (speaker, role) -> the name as shown
        for message in messages:
            key = self._group(message)
            name = written.get((message.speaker, message.role))
            if name is None:
                name = written[(message.speaker, message.role)] = (normal_name(message.speaker)
                                                                   or _key(message)[2].title())
            names.setdefault(key, Counter())[name] += 1
        self._by_key = {key: self._person(key, counts) for key, counts in names.items()}
        people = list(self._by_key.values())
        used: set[str] = set()
        for person in sorted(people, key=lambda p: p.role != "character"):  # characters get the plain ids
            base, n = person_id(person.name), 2
            person.id = base
            while person.id in used:
                person.id, n = f"{base}-{n}", n + 1
            used.add(person.id)
        seen: Counter[tuple[str, str]] = Counter()  # (role, name) -> how many so far
        for person in people:
            seen[(person.role, person.name.casefold())] += 1
            count = seen[(person.role, person.name.casefold())]
            if count > 1:
                person.name = f"{person.name} ({count})"
        self.people = {person.id: person for person in people}

    def _group(self, message: Message) -> Key:
        memo = (message.speaker, message.role, message.avatar)
        group = self._groups.get(memo)
        if group is None:
            key, card = _key(message), card_of(message)
            group = self._groups[memo] = (key[0], "card", card) if card else self._card_of_name.get(key, key)
        return group

    @staticmethod
    def _person(key: Key, names: Counter[str]) -> Participant:
        name = names.most_common(1)[0][0]  # ties: the name seen first
        return Participant("", name, key[0], sum(names.values()), set(names), key[2] if key[1] == "card" else None)

    def of(self, message: Message) -> Participant:
        """The participant who wrote ``message`` (one of the messages the cast was made from)."""
        return self._by_key[self._group(message)]


def participants(transcript: Transcript) -> dict[str, Participant]:
    """The participants of the story messages, keyed by id, in order of first appearance."""
    return Cast(transcript.story_messages()).people


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
        if message.timestamp is not None:
            source["time"] = message.timestamp
    if swipe is not None:
        source["swipe"] = swipe
    pieces = lines.split_message(message.text if text is None else text, detail=options.detail_level)
    beats: list[dict[str, Any]] = []
    if options.detail_level != "low":
        # cues come from narration and stage directions (a narrator's whole text), never from speech
        prose = " ".join(p.text for p in pieces if p.kind != "say" or who.role == "narrator")
        place, hour = lines.stage_cues(prose)
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


def format_transcript(transcript: Transcript, options: Options | None = None
                      ) -> tuple[list[dict[str, Any]], dict[str, Participant]]:
    """Scenes (canonical JSON, ready for ``parse_scene``) and the participants (keyed by id)."""
    options = options or Options()
    story = transcript.story_messages()
    cast = Cast(story)
    scenes = []
    for number, group in enumerate(split_scenes(story, options), start=1):
        scenes.append(_scene(group, number, cast, options))
    return scenes, cast.people


Unit = tuple[dict[str, Any], list[dict[str, Any]], Message]  # a message's canon node, its swipe nodes, the message


def _scene(group: list[Message], number: int, cast: Cast, options: Options) -> dict[str, Any]:
    stage: dict[str, str | None] = {"location": None, "time": None}
    present: dict[str, Participant] = {}
    units: list[Unit] = []
    for message in group:
        who = cast.of(message)
        present[who.id] = who
        canon = {"id": f"m{message.index}", "beats": _beats(message, who, options, stage)}
        swipes = []
        if options.swipes_as_choices and message.alternates:
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
        for node in (canon, *swipes):
            _lead_to(node, units[position + 1])
    nodes = [node for canon, swipes, _m in units for node in (canon, *swipes)]
    for node in nodes:  # number every beat: stable line ids for saves and translations
        for k, beat in enumerate(node["beats"]):
            beat["id"] = f"{node['id']}_{k}"
    first, first_swipes, first_message = units[0]
    if first_swipes:  # the opening message was swiped: the scene starts by choosing among its versions
        opening = {"id": f"{first['id']}_opening", "beats": [], "metadata": {"opening_swipes": len(first_swipes)}}
        _lead_to(opening, units[0])
        nodes.insert(0, opening)
    cast_list = [{"id": p.id, "name": p.name, "role": p.role}
                 for p in sorted(present.values(), key=lambda p: (ROLE_ORDER.get(p.role, 1), p.id))]
    title = options.title or "Chat"
    return {
        "id": f"{options.scene_prefix}-{number:03d}", "title": f"{title} ({number})" if number > 1 else title,
        "start": nodes[0]["id"], "nodes": nodes, "cast": cast_list,
        "metadata": {"imported_from": options.chat, "messages": [group[0].index, group[-1].index],
                     "detail_level": options.detail_level},
    }


def _lead_to(node: dict[str, Any], unit: Unit) -> None:
    """Link ``node`` to the next message: ``next`` it, or (swiped) a choice of the kept reply and each swipe."""
    target, target_swipes, target_message = unit
    if not target_swipes:
        node["next"] = target["id"]
        return
    node["type"] = "choice"  # a real branch: the reply that was kept, or one of its swipes
    node["choices"] = [{"id": f"{node['id']}_to_{target['id']}", "label": _label(target_message.text),
                        "target": target["id"]}] + [
        {"id": f"{node['id']}_to_{alt['id']}", "label": _label(text), "target": alt["id"]}
        for alt, text in zip(target_swipes, target_message.alternates)]


def _label(text: str, limit: int = 60) -> str:
    plain = re.sub(r"\s+", " ", lines.plain_text(text).replace("*", "")).strip() or "…"
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"
