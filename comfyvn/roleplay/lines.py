"""One chat message -> ordered pieces: speech, narration, stage directions; plus the hints a
visual novel needs (expression per line, location and time of day when the text states them).

Roleplay convention: ``*asterisks*`` mark actions, ``"quotes"`` mark spoken words. In a message
that quotes, the unquoted prose is narration; in a message with no quotes at all, the prose is
what the speaker says. HTML entities and formatting tags are resolved first, Markdown ``**bold**``
is emphasis (not an action), and a quote left open at a line's end is speech up to there (the
multi-paragraph convention). No letter or digit of a message is ever dropped.
"""

from __future__ import annotations

import html
import html.entities
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

# whole words -> label (every inflection spelt out: "hug" must not match "huge", nor "hope" "hopeless")
_CUE_WORDS: dict[str, str] = {
    "amusement": "laugh laughs laughed laughing laughter giggle giggles giggled giggling chuckle chuckles chuckled "
                 "chuckling snicker snickers snickered snickering amused",
    "joy": "grin grins grinned grinning smile smiles smiled smiling beams beamed beaming happy happily joyful joyfully",
    "embarrassment": "blush blushes blushed blushing flush flushes flushed flushing embarrassed embarrassment",
    "sadness": "tears tearful teary cry cries cried crying sob sobs sobbed sobbing weep weeps wept weeping "
               "sad sadly sorrow",
    "anger": "glare glares glared glaring scowl scowls scowled scowling snarl snarls snarled snarling furious "
             "furiously angry angrily anger rage rages raged raging enraged",
    "annoyance": "frown frowns frowned frowning sigh sighs sighed sighing annoyed irritated",
    "fear": "tremble trembles trembled trembling shiver shivers shivered shivering flinch flinches flinched "
            "flinching terrified terrifying afraid scared frightened",
    "surprise": "gasp gasps gasped gasping startle startles startled startling surprise surprised surprising",
    "nervousness": "nervous nervously fidget fidgets fidgeted fidgeting stammer stammers stammered stammering "
                   "stutter stutters stuttered stuttering",
    "confusion": "puzzled puzzlement confused confusion",
    "curiosity": "curious curiously curiosity",
    "love": "hug hugs hugged hugging embrace embraces embraced embracing kiss kisses kissed kissing love loves "
            "loved loving lovingly",
    "gratitude": "thank thanks thanked thanking thankful grateful gratefully gratitude",
    "approval": "nod nods nodded nodding approve approves approved approving approval",
    "disgust": "disgust disgusted disgusting grimace grimaces grimaced grimacing",
    "relief": "relief relieved exhale exhales exhaled exhaling",
    "pride": "proud proudly pride",
    "remorse": "sorry apologize apologizes apologized apologizing apologise apologises apologised apologising "
               "apology apologies apologetic apologetically regret regrets regretted regretting",
    "excitement": "excited excitedly excitement exciting eager eagerly bounce bounces bounced bouncing",
    "caring": "worry worries worried worrying concern concerned gentle gently softly care cares cared caring",
    "disappointment": "disappointed disappointing disappointment",
    "realization": "realize realizes realized realizing realise realises realised realising realization realisation",
    "optimism": "hope hopes hoped hoping hopeful hopefully optimism optimistic",
}
_PRONOUNS = ("her", "his", "their", "my", "your")
# phrases: a word sequence -> label; at one position the longest phrase wins over a single word
_CUE_PHRASES: dict[tuple[str, ...], str] = {
    **{(verb, who, "eyes"): "annoyance" for verb in ("roll", "rolls", "rolled", "rolling") for who in _PRONOUNS},
    **{(verb, who, "lip"): "nervousness" for verb in ("bite", "bites", "bit", "biting") for who in _PRONOUNS},
    **{(verb, who, "head"): "confusion" for verb in ("tilt", "tilts", "tilted", "tilting") for who in _PRONOUNS},
    **{(verb, "in", "thought"): "confusion" for verb in ("frown", "frowns", "frowned", "frowning")},
    **{(verb, where): "curiosity" for verb in ("lean", "leans", "leaned", "leant", "leaning")
       for where in ("in", "closer")},
    **{(verb, "on"): "realization" for verb in ("dawns", "dawned")},
    ("wide", "eyed"): "surprise",
}
_CUE_LABELS: dict[str, str] = {word: label for label, words in _CUE_WORDS.items() for word in words.split()}
_PHRASES_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _phrase, _label in sorted(_CUE_PHRASES.items(), key=lambda item: -len(item[0])):
    _PHRASES_BY_FIRST.setdefault(_phrase[0], []).append((_phrase, _label))
_CUE_TRIGGERS = frozenset(_CUE_LABELS) | frozenset(_PHRASES_BY_FIRST)
# a cue right after a negation does not count: "not afraid", "doesn't smile", "without smiling"
_NEGATIONS = frozenset({"not", "no", "never", "nor", "without", "cannot"})
_WORD_RE = re.compile(r"[a-z]+")
_TOKEN_RE = re.compile(r"[a-z]+(?:['’][a-z]+)?|[^\sa-z'’-]")  # words and punctuation; hyphens join words

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
    r"\b(?:in|at|inside|into|outside|over|through|across|near|beside|around|within|enters?|entered|"
    r"reach(?:es|ed)?|arrives? at|arrived at)\s+(?:the|a|an|her|his|their|my|our)\s+"
    r"((?:[a-z]+\s)?(?:" + "|".join(sorted((re.escape(p) for p in PLACES), key=len, reverse=True)) + r"))\b",
    re.IGNORECASE,
)

_SEGMENT_RE = re.compile(r'\*([^*]+)\*|"([^"]+)"|“([^”]+)”')
_QUOTED_RE = re.compile(r'"[^"]+"|“[^”]+”')
# a fragment made only of these (", " between an action and a quote, a stray "...") is dropped
_CONTENT_RE = re.compile(r"[^\s,.;:!?…\-–—\"“”'‘’*~]")
# Markdown bold/strong: emphasis inside its piece, not a stage direction
_BOLD_RE = re.compile(r"(?<![\w*])\*\*(?=[^\s*])(.+?)(?<=[^\s*])\*\*(?![\w*])", re.DOTALL)
_INLINE_TAGS = "a abbr b big cite code del em font i ins kbd mark q s small span strike strong sub sup u"
_BLOCK_TAGS = "blockquote br center details div h1 h2 h3 h4 h5 h6 hr li ol p pre summary table td th tr ul"
_BLOCKS = frozenset(_BLOCK_TAGS.split())
_TAG_RE = re.compile(r"<(?:/\s*)?(" + "|".join(f"{_INLINE_TAGS} {_BLOCK_TAGS}".split()) + r")(?:\s[^<>]*)?/?>",
                     re.IGNORECASE)
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


@dataclass(slots=True)
class Piece:
    kind: Kind
    text: str


def _clean(text: str) -> str:
    if "  " not in text and "\n" not in text and "\t" not in text and "\r" not in text:
        return text.strip()  # the common case, ~5x cheaper than split/join
    return " ".join(text.split())


def plain_text(text: str) -> str:
    """``text`` without HTML markup: the usual formatting tags removed (block tags such as ``<br>`` and
    ``<p>`` become a space), entities (``&amp;``, ``&#39;``) replaced by their characters. Unknown tags
    (``<tag>``) and unknown entities stay as written."""
    if "<" in text:
        text = _TAG_RE.sub(_tag, text)
    if "&" in text:
        text = _ENTITY_RE.sub(_entity, text)
    return text


def _tag(match: re.Match[str]) -> str:
    return " " if match.group(1).lower() in _BLOCKS else ""


def _entity(match: re.Match[str]) -> str:
    body = match.group(1)
    if body[0] == "#":
        return html.unescape(match.group(0))
    return html.entities.html5.get(body + ";", match.group(0))


def split_message(text: str, *, detail: str = "medium") -> list[Piece]:
    """The pieces of one message in order. ``low`` keeps the whole message as one speech piece.

    Text is never lost: a message with no letters ("...", "?!", an emoji) is one piece as written."""
    text = plain_text(text).strip()
    if not text:
        return []
    if detail == "low":
        return [Piece("say", _clean(text.replace("*", "")) or _clean(text))]
    if "**" in text:
        text = _BOLD_RE.sub(r"\1", text)
    if '"' in text or "“" in text or "”" in text:
        text = _balance_quotes(text)
    pieces = _split(text, keep_all=False)
    if not pieces:  # only punctuation or symbols: keep what was written
        pieces = _split(text, keep_all=True) or [Piece("say", _clean(text))]
    return pieces


def _split(text: str, keep_all: bool) -> list[Piece]:
    has_quotes = _QUOTED_RE.search(text) is not None
    pieces: list[Piece] = []
    position = 0
    for match in _SEGMENT_RE.finditer(text):
        _prose(text[position:match.start()], has_quotes, pieces, keep_all)
        if match.group(1) is not None:
            _add(pieces, "direction", match.group(1), keep_all)
        else:
            _add(pieces, "say", match.group(2) or match.group(3) or "", keep_all)
        position = match.end()
    _prose(text[position:], has_quotes, pieces, keep_all)
    return pieces


def _balance_quotes(text: str) -> str:
    """Close quotes left open at the end of a line (the multi-paragraph convention: every paragraph of
    a long speech opens a quote, only the last closes it; a paragraph that continues the speech without
    reopening gets its opening quote back)."""
    if "\n" not in text and text.count('"') % 2 == 0 and text.count("“") == text.count("”"):
        return text
    lines = text.split("\n")
    straight = curly = False  # the previous non-blank line ended inside a quote we closed
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        if line.count('"') % 2:
            first, last = line.index('"'), line.rindex('"')
            if straight and first > 0 and not line[first - 1].isspace():
                line, straight = '"' + line, False  # the speech goes on up to this closing quote
            elif last + 1 < len(line) and not line[last + 1].isspace():
                line, straight = line + '"', True  # opened and not closed on this line
            else:
                straight = False
        else:
            straight = False
        opened, closed = line.count("“"), line.count("”")
        if opened > closed:
            line, curly = line + "”" * (opened - closed), True
        elif closed > opened and curly:
            line, curly = "“" * (closed - opened) + line, False
        else:
            curly = False
        lines[n] = line
    return "\n".join(lines)


def _prose(text: str, has_quotes: bool, pieces: list[Piece], keep_all: bool) -> None:
    _add(pieces, "narrate" if has_quotes else "say", text.replace("*", ""), keep_all)


def _add(pieces: list[Piece], kind: Kind, text: str, keep_all: bool = False) -> None:
    text = _clean(text)
    if not text or (not keep_all and not text[0].isalnum() and _CONTENT_RE.search(text) is None):
        return
    if pieces and pieces[-1].kind == kind and kind != "direction":
        pieces[-1].text += " " + text
    else:
        pieces.append(Piece(kind, text))


def expression_for(*texts: str) -> str | None:
    """The expression label the text suggests (the first cue word or phrase found), or None."""
    for text in texts:
        label = _cue(text) if text else None
        if label is not None:
            return label
    return None


def _cue(text: str) -> str | None:
    lower = text.lower()
    if _CUE_TRIGGERS.isdisjoint(_WORD_RE.findall(lower)):  # the common case: one C-level pass, no cue at all
        return None
    tokens = _TOKEN_RE.findall(lower)
    for i, token in enumerate(tokens):
        if token not in _CUE_TRIGGERS:
            continue
        if i and (tokens[i - 1] in _NEGATIONS or tokens[i - 1].endswith(("n't", "n’t"))):
            continue
        for phrase, label in _PHRASES_BY_FIRST.get(token, ()):
            if tuple(tokens[i:i + len(phrase)]) == phrase:
                return label
        label = _CUE_LABELS.get(token)
        if label is not None:
            return label
    return None


_PLACE_WORDS = frozenset(word for place in PLACES for word in place.split())


def _words(text: str) -> set[str]:
    return set(text.lower().replace(".", " ").replace(",", " ").split())


def time_of_day(text: str, words: set[str] | None = None) -> str | None:
    if (words if words is not None else _words(text)).isdisjoint(TIMES):  # cheap pre-check; the regex decides
        return None
    match = _TIME_RE.search(text)
    return TIMES[match.group(1).lower()] if match else None


def location(text: str, words: set[str] | None = None) -> str | None:
    if (words if words is not None else _words(text)).isdisjoint(_PLACE_WORDS):
        return None
    match = _PLACE_RE.search(text)
    return _clean(match.group(1)).lower() if match else None


def stage_cues(text: str) -> tuple[str | None, str | None]:
    """(place, time of day) stated in ``text``, each None when not stated."""
    words = _words(text)
    return location(text, words), time_of_day(text, words)
