"""Clean a transcript into its final variant (POST /roleplay/sample_llm).

``Cleaner`` is the provider interface: ``clean(text, detail) -> text``. ``OfflineCleaner`` is the
deterministic default that needs no network: it removes out-of-character chatter, normalises
quotes and spacing, and splits run-on stage directions into sentences (at ``high`` detail), so
each becomes its own beat. ``LLMCleaner`` sends each message, after the offline pass, to the
configured LLM provider (``comfyvn.llm.provider``) with instructions for the detail level, and keeps
the offline result whenever the model's answer is empty or implausibly long.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from comfyvn.roleplay.transcript import Message, Transcript

if TYPE_CHECKING:
    from comfyvn.llm.provider import LLMProvider

OOC_MESSAGE = re.compile(r"^\s*(?:\(\(.*\)\)|\[\s*ooc\b.*\]|\(\s*ooc\b.*\)|ooc\s*:.*)\s*$", re.IGNORECASE | re.DOTALL)
OOC_INLINE = re.compile(r"\s*(?:\(\((?:[^()]|\([^()]*\))*\)\)|\[\s*ooc\b[^\]]*\]|\(\s*ooc\b[^)]*\))", re.IGNORECASE)
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
ACTION = re.compile(r"(?<!\*)\*(?!\*)([^*]+)(?<!\*)\*(?!\*)")  # *action*, never **bold**
RUN_ON = 220  # characters: a longer stage direction is split into sentences at high detail
SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[A-Z\"'])")
# never touched: web addresses (their dots, "?" and "," are not sentence punctuation)
URL = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]*://|\bwww\.)\S+", re.IGNORECASE)
# a space before punctuation goes when the punctuation ends a word: "said ." "Note : this"
SPACE_BEFORE_END = re.compile(r"(?<=\S) +([.!?…]+)(?=\s|$|[\"'”’)\]*]|[A-Z][a-z])")
SPACE_BEFORE_PAUSE = re.compile(r"(?<=\S) +([,;:])(?=\s|$|[\"'”’*\]])")
# a missing space after a sentence: a word of 2+ letters, . ! ? (or a run of them), then a capitalised
# word ("ended.Then"); not initialisms ("U.S.A.Today"), acronyms ("file.TXT"), numbers or abbreviations
MISSING_SPACE = re.compile(r"(?<!\w)([A-Za-z]{2,})([.!?…]+)(?=[A-Z](?![A-Z]))")
MISSING_SPACE_COMMA = re.compile(r"(?<=[A-Za-z]{2}),(?=[A-Za-z]{2})")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "mx", "dr", "prof", "st", "jr", "sr", "vs", "mt", "ft", "lt", "col",
                           "gen", "sgt", "capt", "rev", "hon", "fig", "no", "vol", "pp", "ca", "approx", "dept"})


class Cleaner(Protocol):
    name: str

    def clean(self, text: str, detail: str) -> str: ...


class OfflineCleaner:
    name = "offline"

    def clean(self, text: str, detail: str) -> str:
        text = text.translate(QUOTES)
        text = OOC_INLINE.sub("", text)
        text = text.replace("\r\n", "\n")
        text = re.sub(r"[ \t]+", " ", text)
        text = _outside_urls(text, _spacing)
        text = re.sub(r"\n{3,}", "\n\n", text)
        if "*" in text and text.count("*") % 2 == 0:  # balanced: "* waves *" -> "*waves*"
            text = ACTION.sub(_trim_action, text)
        if detail == "high":
            text = ACTION.sub(_split_direction, text)
        return text.strip()


_TASK = ("You clean up one message of a roleplay chat so it can become visual-novel text. Keep the author's "
         "words, meaning, names, tense and person. Keep actions in *asterisks* and speech in \"double quotes\". ")
PROMPTS = {
    "low": _TASK + "Fix only spelling, spacing and punctuation.",
    "medium": _TASK + "Fix spelling, spacing and punctuation, and remove out-of-character remarks (text in "
                      "((double parentheses)) or marked OOC).",
    "high": _TASK + "Fix spelling, spacing and punctuation, remove out-of-character remarks (text in ((double "
                    "parentheses)) or marked OOC), and split long run-on actions into short sentences, each in "
                    "its own *asterisks*.",
}
PROMPT_END = " Answer with the cleaned message only: no preface, no notes, no quotes around it."
GROWTH_LIMIT = 2.0  # an answer longer than this times the message (+ slack) is the model talking, not cleaning


class LLMCleaner:
    """The offline pass, then the LLM; the offline text is kept when the answer is unusable."""

    def __init__(self, provider: LLMProvider) -> None:
        self.provider = provider
        self.name = f"llm:{provider.model or provider.name}"
        self.offline = OfflineCleaner()
        self.stats = {"llm_calls": 0, "llm_kept_offline": 0}

    def clean(self, text: str, detail: str) -> str:
        base = self.offline.clean(text, detail)
        if not base.strip():
            return base
        messages = [{"role": "system", "content": PROMPTS.get(detail, PROMPTS["medium"]) + PROMPT_END},
                    {"role": "user", "content": base}]
        self.stats["llm_calls"] += 1
        answer = _unwrap(self.provider.chat(messages, max_tokens=max(64, len(base))))
        if not answer or len(answer) > GROWTH_LIMIT * len(base) + 80:
            self.stats["llm_kept_offline"] += 1
            return base
        return answer


def _unwrap(answer: str) -> str:
    """The message itself: a surrounding code fence some models add is dropped."""
    answer = answer.strip()
    fenced = re.fullmatch(r"```[a-z]*\n(.*?)\n?```", answer, re.DOTALL)
    return fenced.group(1).strip() if fenced else answer


def _spacing(text: str) -> str:
    text = SPACE_BEFORE_END.sub(r"\1", text)
    text = SPACE_BEFORE_PAUSE.sub(r"\1", text)
    text = MISSING_SPACE.sub(_sentence_gap, text)
    return MISSING_SPACE_COMMA.sub(", ", text)


def _sentence_gap(match: re.Match[str]) -> str:
    word, marks = match.group(1), match.group(2)
    if marks == "." and word.lower() in ABBREVIATIONS:
        return match.group(0)  # "Mr.Smith": not a sentence end; left as written
    return f"{word}{marks} "


def _outside_urls(text: str, fix: Callable[[str], str]) -> str:
    """``fix`` applied to the text between web addresses; the addresses stay as written."""
    if "://" not in text and "www." not in text.lower():
        return fix(text)
    parts = URL.split(text)
    found = URL.findall(text)
    return "".join(fix(part) + (found[n] if n < len(found) else "") for n, part in enumerate(parts))


def _trim_action(match: re.Match[str]) -> str:
    body = match.group(1).strip()
    return f"*{body}*" if body else match.group(0)


def _split_direction(match: re.Match[str]) -> str:
    body = match.group(1).strip()
    if len(body) <= RUN_ON:
        return match.group(0)
    return " ".join(f"*{sentence.strip()}*" for sentence in SENTENCE.split(body) if sentence.strip())


def is_ooc(text: str) -> bool:
    return bool(OOC_MESSAGE.match(text))


def clean_transcript(transcript: Transcript, detail: str = "medium", cleaner: Cleaner | None = None,
                     progress: Callable[[float, str], None] | None = None) -> tuple[Transcript, dict[str, int]]:
    """The cleaned copy of ``transcript`` and counts of what changed."""
    cleaner = cleaner or OfflineCleaner()
    stats = {"changed": 0, "ooc_hidden": 0}
    messages: list[Message] = []
    total = len(transcript.messages)
    for n, message in enumerate(transcript.messages):
        if progress:
            progress(n / max(total, 1), f"cleaning message {n + 1} of {total}")
        if not message.hidden and message.role != "system" and is_ooc(message.text):
            messages.append(replace(message, hidden=True, extra={**message.extra, "hidden_reason": "ooc"}))
            stats["ooc_hidden"] += 1
            continue
        text = cleaner.clean(message.text, detail)
        alternates = [cleaner.clean(a, detail) for a in message.alternates]
        if text != message.text or alternates != message.alternates:
            stats["changed"] += 1
        messages.append(replace(message, text=text or message.text, alternates=alternates))
    cleaned = replace(transcript, messages=messages, problems=list(transcript.problems))
    return cleaned, stats | getattr(cleaner, "stats", {})
