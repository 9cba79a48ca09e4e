"""Dates as chat logs write them -> ISO 8601, keeping the value exactly as written.

SillyTavern has written ``send_date`` / ``create_date`` in many shapes over the years (see
docs/roleplay-formats.md, "Dates"). ``parse_date`` understands all of them:

==========================================  ======================================
written                                     ISO returned
==========================================  ======================================
``1727478300000`` (number or digit string)  ``2024-09-27T23:05:00Z`` (Unix ms, UTC)
``June 19, 2023 2:20pm``                    ``2023-06-19T14:20:00`` (local time)
``2023-7-20 @14h 05m 09s 123ms``            ``2023-07-20T14:05:09.123``
``2023-10-30@14h05m09s`` (unpadded too)     ``2023-10-30T14:05:09``
``2025-11-23@14h05m09s123ms``               ``2025-11-23T14:05:09.123``
``2025-09-26T07:04:12.006Z``                ``2025-09-26T07:04:12.006Z``
==========================================  ======================================

Local-time shapes give an ISO string without a zone (the log does not say which zone); Unix
milliseconds and ISO strings with a zone give UTC with ``Z``. Anything else gives ``(None, raw)``.
``parse_date`` never raises.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LEN = 80  # no date shape is longer; longer strings are not parsed (but kept raw)
_MAX_MS_DIGITS = 16  # Unix ms has 13 digits today; 16 covers every year up to 9999

_MONTHS = {name: number for number, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}

# 2023-7-20 @14h 05m 09s 123ms | 2023-10-30@14h05m09s | 2025-11-23@14h05m09s123ms
_HUMANIZED = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2}) ?@ ?(\d{1,2})h ?(\d{1,2})m ?(\d{1,2})s(?: ?(\d{1,3}) ?ms)?", re.ASCII)
# June 19, 2023 2:20pm | Sep 28, 2024 1:00 AM | June 19, 2023 14:20:05
_CLIENT = re.compile(
    r"([A-Za-z]{3,9})\.? +(\d{1,2}),? +(\d{4})"
    r"(?:,? +(\d{1,2}):(\d{2})(?::(\d{2}))? *([AaPp])\.? ?[Mm]\.?|,? +(\d{1,2}):(\d{2})(?::(\d{2}))?)?",
    re.ASCII)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}.*)?", re.ASCII)


def parse_date(value: Any) -> tuple[str | None, str | None]:
    """``(iso, raw)`` for a date as a chat log wrote it; ``iso`` is None when the shape is unknown.

    ``raw`` is the value exactly as written (numbers as their JSON text); ``None`` and empty or
    blank strings give ``(None, None)``. Never raises.
    """
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, "true" if value else "false"
    if isinstance(value, int):
        return _from_ms(value), str(value)
    if isinstance(value, float):
        raw = repr(value)
        if not math.isfinite(value):
            return None, raw
        return _from_ms(value), raw
    if not isinstance(value, str):
        return None, _raw_of(value)
    if not value.strip():
        return None, None
    if len(value) > _MAX_LEN:
        return None, value
    return _parse_text(value), value


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return _from_ms(int(text)) if len(text) <= _MAX_MS_DIGITS else None
    try:
        if text[0].isdigit():
            match = _HUMANIZED.fullmatch(text)
            if match:
                year, month, day, hour, minute, second, ms = match.groups()
                return _local(int(year), int(month), int(day), int(hour), int(minute), int(second),
                              int(ms or 0) * 1000)
            if _ISO.fullmatch(text):
                return _from_iso(text)
            return None
        match = _CLIENT.fullmatch(text)
        if match:
            return _from_client(match)
    except (ValueError, OverflowError):  # a shape we know with impossible numbers (month 13 ...)
        return None
    return None


def _from_client(match: re.Match[str]) -> str | None:
    month_name, day, year, h12, minute12, second12, meridiem, h24, minute24, second24 = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    if h12 is not None:
        hour = int(h12)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem in "Pp" else 0)
        minute, second = int(minute12), int(second12 or 0)
    elif h24 is not None:
        hour, minute, second = int(h24), int(minute24), int(second24 or 0)
    else:  # a date without a time of day
        return datetime(int(year), month, int(day)).date().isoformat()
    return _local(int(year), month, int(day), hour, minute, second, 0)


def _local(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int) -> str:
    return _format(datetime(year, month, day, hour, minute, second, micro))


def _from_iso(text: str) -> str | None:
    moment = datetime.fromisoformat(text)
    if len(text) == 10:  # a date without a time of day
        return moment.date().isoformat()
    if moment.tzinfo is None:
        return _format(moment)
    return _format(moment.astimezone(UTC).replace(tzinfo=None)) + "Z"


def _from_ms(ms: float) -> str | None:
    try:
        moment = _EPOCH + timedelta(milliseconds=ms)
    except (OverflowError, ValueError):
        return None
    return _format(moment.replace(tzinfo=None)) + "Z"


def _format(moment: datetime) -> str:
    if not moment.microsecond:
        return moment.isoformat(timespec="seconds")
    if moment.microsecond % 1000 == 0:
        return moment.isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="microseconds")


def _raw_of(value: Any) -> str:
    try:
        text = repr(value)
    except (RecursionError, ValueError, TypeError):  # a structure too deep to print, a broken __repr__
        return f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."
