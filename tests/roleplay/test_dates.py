"""parse_date: every send_date / create_date shape SillyTavern has written, and nothing ever raises."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.dates import parse_date


@pytest.mark.parametrize(("value", "iso"), [
    # Unix milliseconds (legacy TavernAI, "copy message"): UTC
    (1727478300000, "2024-09-27T23:05:00Z"),
    ("1727478300000", "2024-09-27T23:05:00Z"),
    (1727478300123, "2024-09-27T23:05:00.123Z"),
    (0, "1970-01-01T00:00:00Z"),
    # client timestamps until late 2025: local time, minute precision
    ("June 19, 2023 2:20pm", "2023-06-19T14:20:00"),
    ("June 19, 2023 12:05am", "2023-06-19T00:05:00"),
    ("June 19, 2023 12:05pm", "2023-06-19T12:05:00"),
    ("September 28, 2024 1:00am", "2024-09-28T01:00:00"),
    ("Sep 28, 2024 1:00 AM", "2024-09-28T01:00:00"),
    # server-side humanized, unpadded month/day, spaces, ms (2 digits = milliseconds, not tenths)
    ("2023-7-20 @14h 05m 09s 123ms", "2023-07-20T14:05:09.123"),
    ("2024-9-28 @01h 05m 07s 42ms", "2024-09-28T01:05:07.042"),
    # client humanized 2023-10 .. 2024-07, unpadded
    ("2023-10-30@14h05m09s", "2023-10-30T14:05:09"),
    ("2024-7-12@01h31m37s", "2024-07-12T01:31:37"),
    # client humanized from 2024-07, padded (also in chat file names)
    ("2024-07-24@16h52m23s", "2024-07-24T16:52:23"),
    # humanized with milliseconds, after late 2025
    ("2025-11-23@14h05m09s123ms", "2025-11-23T14:05:09.123"),
    # ISO 8601 with Z (gen_started / gen_finished; send_date after late 2025) and with an offset
    ("2025-09-26T07:04:12.006Z", "2025-09-26T07:04:12.006Z"),
    ("2025-11-23T14:06:00.000Z", "2025-11-23T14:06:00Z"),
    ("2025-09-26T09:04:12+02:00", "2025-09-26T07:04:12Z"),
    ("2025-09-26T09:04:12", "2025-09-26T09:04:12"),
])
def test_known_formats(value, iso):
    assert parse_date(value) == (iso, str(value))


def test_raw_is_kept_exactly_as_written():
    assert parse_date("  June 19, 2023 2:20pm ") == ("2023-06-19T14:20:00", "  June 19, 2023 2:20pm ")
    assert parse_date(1727478300000.0) == ("2024-09-27T23:05:00Z", "1727478300000.0")


def test_dates_without_a_time_of_day():
    assert parse_date("June 19, 2023") == ("2023-06-19", "June 19, 2023")
    assert parse_date("2023-06-19") == ("2023-06-19", "2023-06-19")


@pytest.mark.parametrize("value", [
    "yesterday", "2023-13-01@01h01m01s", "June 31, 2023 1:00pm", "Smarch 1, 2023 1:00pm",
    "June 19, 2023 13:20pm", "2024-07-24@25h00m00s", "99999999999999999999", "2023-06-19Tgarbage",
    "12:05", "x" * 10_000,
])
def test_unknown_or_impossible_dates_keep_the_raw_value(value):
    assert parse_date(value) == (None, value)


@pytest.mark.parametrize(("value", "raw"), [
    (None, None), ("", None), ("   ", None), (True, "true"), (False, "false"),
    (float("nan"), "nan"), (float("inf"), "inf"), (1e300, "1e+300"), ([1, 2], "[1, 2]"), ({"a": 1}, "{'a': 1}"),
    (10**30, str(10**30)),
])
def test_other_types_never_raise(value, raw):
    assert parse_date(value) == (None, raw)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=120), st.from_regex(r"\d{1,5}-\d{1,3}-\d{1,3} ?@ ?\d{1,3}h ?\d{1,3}m ?\d{1,3}s(\d{1,4}ms)?"),
                 st.from_regex(r"[A-Za-z]{3,9} \d{1,2}, \d{4} \d{1,2}:\d{2}[ap]m")))
def test_parse_date_never_raises(value):
    iso, raw = parse_date(value)
    assert iso is None or isinstance(iso, str)
    if isinstance(value, str) and value.strip():
        assert raw == value
    if iso is not None:
        assert iso[:4].isdigit() and iso[4] == "-"


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_humanized_round_trip(moment):
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    written = (f"{moment.year}-{moment.month}-{moment.day} @{moment.hour:02d}h {moment.minute:02d}m "
               f"{moment.second:02d}s {moment.microsecond // 1000}ms")
    iso, _ = parse_date(written)
    assert iso is not None
    assert datetime.fromisoformat(iso) == moment
