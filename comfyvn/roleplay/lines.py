"""One chat message -> ordered pieces: speech, narration, stage directions; plus the hints a
visual novel needs (expression per line, location and time of day when the text states them).

Roleplay convention: ``*asterisks*`` mark actions, ``"quotes"`` mark spoken words. In a message
that quotes, the unquoted prose is narration; in a message with no quotes at all, the prose is
what the speaker says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["say", "narrate", "direction"]

# the 28 SillyTavern expression labels (GoEmotions)
EXPRESSIONS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "neutral", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise",
)

# word stems -> label; checked in order, the first hit wins (stage directions first, then speech)
_CUES: tuple[tuple[str, str], ...] = (
    (r"laugh|giggl|chuckl", "amusement"), (r"grin|smil|beam", "joy"), (r"blush|flush", "embarrassment"),
    (r"tears?\b|cries|crying|sob|weep", "sadness"), (r"glar|scowl|snarl|furious|angr|rage", "anger"),
    (r"frown|sigh|roll(s|ed)? (her|his|their) eyes", "annoyance"), (r"trembl|shiver|flinch|terrif|afraid|scared", "fear"),
    (r"gasp|startl|wide[- ]eyed|surpris", "surprise"), (r"nervous|fidget|stammer|bit(es)? (her|his|their) lip", "nervousness"),
    (r"tilts? (her|his|their) head|puzzl|confus|frown(s|ed)? in thought", "confusion"), (r"curious|leans? (in|closer)", "curiosity"),
    (r"hugs?|embrace|kiss|love", "love"), (r"thank|grateful", "gratitude"), (r"nods?|approv", "approval"),
    (r"disgust|grimac", "disgust"), (r"relie(f|ved)|exhal", "relief"), (r"proud|pride", "pride"),
    (r"sorry|apolog|regret", "remorse"), (r"excit|eager|bounc", "excitement"), (r"worr|concern|gentl|soft(ly)?\b|care", "caring"),
    (r"disappoint", "disappointment"), (r"realiz|dawn(s|ed)? on", "realization"), (r"hope|optimis", "optimism"),
)
# one pass over the text: the leftmost cue wins (ties: the earlier entry above)
_CUE_RE = re.compile("|".join(rf"(?P<c{i}>\b(?:{pattern}))" for i, (pattern, _) in enumerate(_CUES)), re.IGNORECASE)
_CUE_LABELS = {f"c{i}": label for i, (_, label) in enumerate(_CUES)}

TIMES = {"dawn": "dawn", "sunrise": "dawn", "morning": "morning", "noon": "day", "midday": "day",
         "afternoon": "afternoon", "evening": "evening", "sunset": "dusk", "dusk": "dusk", "twilight": "dusk",
         "night": "night", "midnight": "night", "nightfall": "night"}
_TIME_RE = re.compile(r"\b(" + "|".join(TIMES) + r")\b", re.IGNORECASE)
PLACES = (
    "forest", "glade", "woods", "clearing", "tavern", "inn", "castle", "palace", "library", "cafe", "café", "kitchen",
    "bedroom", "living room", "bathroom", "beach", "shore", "harbor", "harbour", "street", "alley", "city", "town",
    "village", "garden", "park", "school", "classroom", "office", "cave", "ship", "temple", "shrine", "church",
    "market", "shop", "station", "train", "hospital", "bar", "restaurant", "rooftop", "balcony", "courtyard",
    "hall", "throne room", "dungeon", "camp", "campfire", "river", "lake", "mountain", "desert", "field", "meadow",
    "bridge", "tower", "cabin", "house", "apartment", "room",
)
_PLACE_RE = re.compile(
    r"\b(?:in|at|inside|into|enters?|entered|reach(?:es|ed)?|arrives? at|arrived at)\s+(?:the|a|an|her|his|their|my|our)\s+"
    r"((?:[a-z]+\s)?(?:" + "|".join(sorted((re.escape(p) for p in PLACES), key=len, reverse=True)) + r"))\b",
    re.IGNORECASE,
)

_SEGMENT_RE = re.compile(r'\*([^*]+)\*|"([^"]+)"|“([^”]+)”')
_QUOTED_RE = re.compile(r'"[^"]+"|“[^”]+”')
_WORDY_RE = re.compile(r"[^\W_]")  # a letter or digit


@dataclass(slots=True)
class Piece:
    kind: Kind
    text: str


def _clean(text: str) -> str:
    if "  " not in text and "\n" not in text and "\t" not in text and "\r" not in text:
        return text.strip()  # the common case, ~5x cheaper than split/join
    return " ".join(text.split())


def split_message(text: str, *, detail: str = "medium") -> list[Piece]:
    """The pieces of one message in order. ``low`` keeps the whole message as one speech piece."""
    text = text.strip()
    if detail == "low" or not text:
        return [Piece("say", _clean(text.replace("*", "")))] if text else []
    has_quotes = _QUOTED_RE.search(text) is not None
    pieces: list[Piece] = []
    position = 0
    for match in _SEGMENT_RE.finditer(text):
        _prose(text[position:match.start()], has_quotes, pieces)
        if match.group(1) is not None:
            _add(pieces, "direction", match.group(1))
        else:
            _add(pieces, "say", match.group(2) or match.group(3) or "")
        position = match.end()
    _prose(text[position:], has_quotes, pieces)
    return pieces


def _prose(text: str, has_quotes: bool, pieces: list[Piece]) -> None:
    _add(pieces, "narrate" if has_quotes else "say", text.replace("*", ""))


def _add(pieces: list[Piece], kind: Kind, text: str) -> None:
    text = _clean(text)
    if not text or (not text[0].isalnum() and _WORDY_RE.search(text) is None):
        return
    if pieces and pieces[-1].kind == kind and kind != "direction":
        pieces[-1].text += " " + text
    else:
        pieces.append(Piece(kind, text))


def expression_for(*texts: str) -> str | None:
    """The expression label the text suggests (first cue found), or None."""
    for text in texts:
        match = _CUE_RE.search(text) if text else None
        if match is not None:
            return _CUE_LABELS[match.lastgroup]
    return None


_PLACE_WORDS = frozenset(word for place in PLACES for word in place.split())


def _words(text: str) -> set[str]:
    return set(text.lower().replace(".", " ").replace(",", " ").split())


def time_of_day(text: str) -> str | None:
    if not _words(text) & TIMES.keys():  # cheap pre-check; the regex is the authority
        return None
    match = _TIME_RE.search(text)
    return TIMES[match.group(1).lower()] if match else None


def location(text: str) -> str | None:
    if not _words(text) & _PLACE_WORDS:
        return None
    match = _PLACE_RE.search(text)
    return _clean(match.group(1)).lower() if match else None
