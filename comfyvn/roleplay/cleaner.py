"""Clean a transcript into its final variant (POST /roleplay/sample_llm).

``Cleaner`` is the provider interface: ``clean(text, detail) -> text``. ``OfflineCleaner`` is the
deterministic default that needs no network: it removes out-of-character chatter, normalises
quotes and spacing, and splits run-on stage directions into sentences (at ``high`` detail), so
each becomes its own beat. An LLM provider implementing the same interface can replace it when
one is configured; until the LLM subsystem exists, the offline cleaner is the only provider.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Protocol

from comfyvn.roleplay.transcript import Message, Transcript

OOC_MESSAGE = re.compile(r"^\s*(?:\(\(.*\)\)|\[\s*ooc\b.*\]|\(\s*ooc\b.*\)|ooc\s*:.*)\s*$", re.IGNORECASE | re.DOTALL)
OOC_INLINE = re.compile(r"\s*(?:\(\((?:[^()]|\([^()]*\))*\)\)|\[\s*ooc\b[^\]]*\]|\(\s*ooc\b[^)]*\))", re.IGNORECASE)
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
RUN_ON = 220  # characters: a longer stage direction is split into sentences at high detail
SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[A-Z\"'])")


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
        text = re.sub(r" +([,.!?;:…])", r"\1", text)
        text = re.sub(r"([,.!?;:])(?=[A-Za-z])", r"\1 ", text)
        text = re.sub(r"\n{3,}", "\n\n", text)
        text = re.sub(r"\*\s+", "*", text) if text.count("*") % 2 == 0 else text
        text = re.sub(r"(?<=\S)\s+\*(?=\s|$)", "*", text)
        if detail == "high":
            text = re.sub(r"\*([^*]+)\*", _split_direction, text)
        return text.strip()


def _split_direction(match: re.Match[str]) -> str:
    body = match.group(1).strip()
    if len(body) <= RUN_ON:
        return f"*{body}*"
    return " ".join(f"*{sentence.strip()}*" for sentence in SENTENCE.split(body) if sentence.strip())


def is_ooc(text: str) -> bool:
    return bool(OOC_MESSAGE.match(text))


def clean_transcript(transcript: Transcript, detail: str = "medium", cleaner: Cleaner | None = None
                     ) -> tuple[Transcript, dict[str, int]]:
    """The cleaned copy of ``transcript`` and counts of what changed."""
    cleaner = cleaner or OfflineCleaner()
    stats = {"changed": 0, "ooc_hidden": 0}
    messages: list[Message] = []
    for message in transcript.messages:
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
    return cleaned, stats
