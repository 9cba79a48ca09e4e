"""The SillyTavern .jsonl reader: fixtures from every generation, each edge case by hand, and fuzzing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.readers import Source, sillytavern
from comfyvn.roleplay.transcript import Transcript, UnreadableLog

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "sillytavern" / "synthetic"
CHAT_112 = "Seraphina - 2024-09-28@01h00m07s.jsonl"
CHAT_2025 = "Seraphina - 2025-11-23@14h05m09s123ms.jsonl"
GROUP = "group chats__2024-09-28@02h10m00s.jsonl"


def fixture(name: str) -> Source:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixtures not present ({path})")
    return Source(path.read_bytes(), name)


def lines(*objects, name: str = "chat.jsonl", raw: dict[int, str] | None = None) -> Source:
    """A .jsonl source from objects; ``raw`` puts literal text at given 0-based positions."""
    parts = [orjson.dumps(o).decode() for o in objects]
    for position, text in sorted((raw or {}).items()):
        parts.insert(position, text)
    return Source("\n".join(parts).encode(), name)


def msg(name="Seraphina", mes="Hello.", **fields):
    return {"name": name, "is_user": False, "is_system": False, "send_date": "June 19, 2023 2:20pm",
            "mes": mes, "extra": {}, **fields}


def user(mes="Hi.", name="Alex", **fields):
    return msg(name, mes, is_user=True, **fields)


HEADER = {"user_name": "Alex", "character_name": "Seraphina", "create_date": "2023-6-19 @14h 20m 00s 000ms",
          "chat_metadata": {"world_info": "Eldoria"}}


def read(source: Source) -> Transcript:
    return sillytavern.read(source)


# ---------------------------------------------------------------- fixtures

def test_1_12_chat_fixture():
    transcript = read(fixture(CHAT_112))
    assert transcript.format == "sillytavern.jsonl"
    assert transcript.title == "Seraphina - 2024-09-28@01h00m07s"
    assert transcript.user_name == "User"
    assert transcript.character_names == ["Seraphina", "Eldorian Guard"]
    assert transcript.metadata["world_info"] == "Eldoria"
    assert transcript.metadata["variables"] == {"mood": "calm"}
    assert transcript.metadata["create_date"] == "2024-09-28@01h00m07s"
    assert transcript.metadata["create_date_iso"] == "2024-09-28T01:00:07"
    assert transcript.problems == []
    got = [(m.index, m.line, m.role, m.speaker, m.hidden) for m in transcript.messages]
    assert got == [
        (0, 2, "character", "Seraphina", False),
        (1, 3, "user", "User", False),
        (2, 4, "character", "Seraphina", False),
        (3, 5, "narrator", "System", False),
        (4, 6, "user", "User", True),  # is_system on an ordinary user message: hidden with /hide
        (5, 7, "user", "User", False),
        (6, 8, "character", "Seraphina", False),
        (7, 9, "character", "Eldorian Guard", False),
        (8, 10, "character", "Seraphina", False),
    ]
    first, _, third, narrator, hidden, copied, imported, guard, picture = transcript.messages
    assert first.alternates == ['*Seraphina looks up from her book.* "Ah, you finally stirred."']
    assert first.extra["alternate_swipe_ids"] == [1]
    # swipe_id 1: mes is canon, swipes[0] is the alternate, with its own swipe_info
    assert third.text == '*She smiles.* "In my glade, deep in Eldoria."'
    assert third.alternates == ['*She nods.* "You are safe here."']
    assert third.extra["swipe_id"] == 1 and third.extra["alternate_swipe_ids"] == [0]
    assert third.extra["alternate_info"][0]["extra"]["token_count"] == 9
    assert third.extra["gen_started"] == "2024-09-27T23:02:10.120Z"
    assert (first.timestamp, first.timestamp_raw) == ("2024-09-28T01:00:00", "September 28, 2024 1:00am")
    assert (copied.timestamp, copied.timestamp_raw) == ("2024-09-27T23:05:00Z", "1727478300000")
    assert (imported.timestamp, imported.timestamp_raw) == ("2024-09-28T01:05:07.042", "2024-9-28 @01h 05m 07s 42ms")
    assert narrator.text == "Night falls over the forest."
    assert hidden.text == "(OOC: this line was hidden from the prompt)"
    assert guard.avatar == "img/ai4.png" and guard.alternates == []  # its only swipe is mes (swipes_info spelling)
    assert picture.text == "*She shows you a sketch of the glade.*"  # display_text wins
    assert picture.extra["mes"] == "[Seraphina sends a picture]"
    assert picture.extra["source_extra"]["image"].endswith("abcd.png")
    assert [m.index for m in transcript.story_messages()] == [0, 1, 2, 3, 5, 6, 7, 8]


def test_2025_chat_fixture_with_unused_header_names():
    transcript = read(fixture(CHAT_2025))
    assert transcript.user_name == "User"  # the header says "unused": from the messages
    assert transcript.character_names == ["Seraphina"]  # from the file name / messages
    assert transcript.metadata["integrity"] == "0f7c2d4e-8a4b-4c1e-9d7a-3b2e1f0a9c88"
    assert [(m.speaker, m.role, m.timestamp, m.timestamp_raw) for m in transcript.messages] == [
        ("Seraphina", "character", "2025-11-23T14:05:09.123Z", "2025-11-23T14:05:09.123Z"),
        ("User", "user", "2025-11-23T14:06:00Z", "2025-11-23T14:06:00.000Z"),
        ("Seraphina", "character", "2025-11-23T14:06:05.400Z", "2025-11-23T14:06:05.400Z"),
    ]
    assert all(m.alternates == [] for m in transcript.messages)
    assert transcript.problems == []


def test_group_chat_fixture():
    transcript = read(fixture(GROUP))
    assert transcript.metadata == {}
    assert transcript.user_name == "User"
    assert transcript.character_names == ["Seraphina", "Aria"]
    notice, welcome, hello, aria = transcript.messages
    assert (notice.role, notice.speaker, notice.hidden) == ("system", "SillyTavern System", False)
    assert notice.extra["system_type"] == "group"
    assert (welcome.speaker, welcome.avatar, welcome.role) == ("Seraphina", "default_Seraphina.png", "character")
    assert (hello.role, hello.avatar) == ("user", None)
    assert (aria.speaker, aria.avatar, aria.text) == ("Aria", "Aria.png", "Hi! I'm Aria.")
    assert [m.speaker for m in transcript.story_messages()] == ["Seraphina", "User", "Aria"]


def test_sniff_scores_fixtures():
    assert sillytavern.sniff(fixture(CHAT_112)) == pytest.approx(0.95)
    assert sillytavern.sniff(fixture(CHAT_2025)) == pytest.approx(0.95)
    assert sillytavern.sniff(fixture(GROUP)) == pytest.approx(0.9)  # no header: a message object first
    assert sillytavern.sniff(fixture("Seraphina - 2024-09-28@01h00m07s.txt")) == 0.0
    assert sillytavern.sniff(fixture("groups__1727482200000.json")) == 0.0
    assert sillytavern.sniff(fixture("worldinfo_full_fields.json")) == 0.0


def test_detect_picks_this_reader_for_the_fixtures():
    from comfyvn.roleplay import readers

    try:
        readers.readers()
    except ModuleNotFoundError as exc:  # another reader module is not written yet
        pytest.skip(f"reader registry incomplete: {exc}")
    for name in (CHAT_112, CHAT_2025, GROUP):
        assert readers.detect(fixture(name)).id == "sillytavern.jsonl"


# ---------------------------------------------------------------- headers and names

def test_1_18_header_without_file_name_takes_names_from_messages():
    source = lines({"chat_metadata": {"integrity": "x"}, "user_name": "unused", "character_name": "unused"},
                   user("Hi {{char}}."), msg("Seraphina", "Hello {{user}}."))
    transcript = read(source)
    assert (transcript.user_name, transcript.character_names) == ("Alex", ["Seraphina"])
    assert [m.text for m in transcript.messages] == ["Hi Seraphina.", "Hello Alex."]


def test_character_from_file_name_when_header_lacks_it():
    source = lines({"chat_metadata": {}, "user_name": "unused", "character_name": "unused"},
                   msg("Guard", "Halt!"), name="chats/Seraphina/Seraphina - 2024-07-24@16h52m23s imported.jsonl")
    transcript = read(source)
    assert transcript.title == "Seraphina - 2024-07-24@16h52m23s imported"
    assert transcript.character_names == ["Seraphina", "Guard"]
    branch = lines(msg("Guard", "Halt!"), name="Branch #4 - 2024-07-24@16h52m23s.jsonl")
    assert read(branch).character_names == ["Guard"]


def test_header_with_wrong_types_is_reported_not_fatal():
    source = lines({"user_name": 5, "character_name": None, "chat_metadata": [1], "create_date": "someday"},
                   user(), msg())
    transcript = read(source)
    fields = {(p.line, p.field) for p in transcript.problems}
    assert {(1, "user_name"), (1, "chat_metadata"), (1, "create_date")} <= fields
    assert transcript.metadata == {"create_date": "someday"}
    assert (transcript.user_name, transcript.character_names) == ("Alex", ["Seraphina"])


def test_second_header_is_skipped_with_a_problem():
    transcript = read(lines(HEADER, msg(), HEADER))
    assert len(transcript.messages) == 1
    assert [(p.line, p.severity) for p in transcript.problems] == [(3, "warning")]


# ---------------------------------------------------------------- system, hidden, narrator

def test_is_system_notices_vs_hidden_messages():
    source = lines(
        HEADER,
        msg("SillyTavern System", "Welcome!", is_system=True, extra={"isSmallSys": True}),
        msg("Note", "Remember the map.", is_system=True, extra={"type": "comment"}),
        msg("Seraphina", "A hidden reply.", is_system=True),
        user("A hidden question.", is_system=True),
        msg("Narrator", "Dusk.", is_system=True, extra={"type": "narrator"}),
        msg("Seraphina", "Visible."),
    )
    roles = [(m.role, m.speaker, m.hidden, m.extra.get("system_type")) for m in read(source).messages]
    assert roles == [
        ("system", "SillyTavern System", False, "notice"),
        ("system", "Note", False, "comment"),
        ("character", "Seraphina", True, None),
        ("user", "Alex", True, None),
        ("narrator", "Narrator", True, None),
        ("character", "Seraphina", False, None),
    ]


def test_narrator_name_from_chat_metadata():
    header = {**HEADER, "chat_metadata": {"narrator_name": "The Chronicle"}}
    transcript = read(lines(header, msg("System", "Rain.", extra={"type": "narrator"})))
    (narration,) = transcript.messages
    assert (narration.role, narration.speaker, narration.extra["name"]) == ("narrator", "The Chronicle", "System")
    assert transcript.character_names == ["Seraphina"]


# ---------------------------------------------------------------- text: display_text, macros

def test_display_text_wins_and_mes_is_kept():
    source = lines(HEADER, msg(mes="[image]", extra={"display_text": "*A sketch.*"}),
                   msg(mes="same", extra={"display_text": "same"}), msg(mes="x", extra={"display_text": ""}))
    first, same, empty = read(source).messages
    assert (first.text, first.extra["mes"]) == ("*A sketch.*", "[image]")
    assert same.text == "same" and "mes" not in same.extra
    assert empty.text == "x" and "mes" not in empty.extra


def test_macros_are_replaced_and_the_original_kept():
    source = lines(HEADER, msg(mes="Hello {{user}}, I am {{char}}. {{USER}}!"), user("Hi {{char}}."),
                   msg("Guard", "{{char}} stands guard."), msg(mes="No macro {{random}} here."))
    greeting, reply, guard, other = read(source).messages
    assert greeting.text == "Hello Alex, I am Seraphina. Alex!"
    assert greeting.extra["raw_text"] == "Hello {{user}}, I am {{char}}. {{USER}}!"
    assert reply.text == "Hi Seraphina."  # in a user message {{char}} is the chat's character
    assert guard.text == "Guard stands guard."  # the speaking character
    assert other.text == "No macro {{random}} here." and "raw_text" not in other.extra


def test_macros_in_swipes_and_unknown_user():
    source = lines(msg(mes="Hi {{user}}.", swipes=["Hi {{user}}.", "Hey {{char}}."], swipe_id=0))
    (message,) = read(source).messages
    assert message.text == "Hi {{user}}."  # no user message anywhere: the macro stays
    assert message.alternates == ["Hey Seraphina."]


# ---------------------------------------------------------------- swipes

def test_swipes_alternates_and_misspelt_swipes_info():
    info = [{"send_date": "June 19, 2023 2:20pm", "extra": {"model": "a"}}, "junk", {"extra": {"model": "c"}}]
    source = lines(HEADER, msg(mes="two", swipes=["one", "two", "three", "", "two"], swipe_id=1, swipes_info=info))
    (message,) = read(source).messages
    assert message.text == "two"
    assert message.alternates == ["one", "three"]  # empty and duplicate-of-canon swipes dropped
    assert message.extra["alternate_swipe_ids"] == [0, 2]
    assert message.extra["alternate_info"] == [info[0], info[2]]
    assert read(source).problems == []


def test_swipe_id_out_of_range_and_ill_typed():
    source = lines(HEADER, msg(mes="b", swipes=["a", "b"], swipe_id=7), msg(mes="b", swipes=["a", "b"], swipe_id="1"),
                   msg(mes="c", swipes="abc"), msg(mes="b", swipes=["a", 3, "b"], swipe_id=2),
                   msg(mes="edited", swipes=["a", "b"], swipe_id=1))
    transcript = read(source)
    assert [m.alternates for m in transcript.messages] == [["a"], ["a"], [], ["a"], ["a", "b"]]
    assert [(p.line, p.field) for p in transcript.problems] == [
        (2, "swipe_id"), (3, "swipe_id"), (4, "swipes"), (5, "swipes"), (6, "swipes")]
    assert "out of range" in transcript.problems[0].message
    assert transcript.problems[4].severity == "info"  # mes edited after the swipe: mes canon, swipe alternate


# ---------------------------------------------------------------- broken input

def test_broken_lines_are_reported_with_line_numbers_and_skipped():
    source = lines(HEADER, msg(mes="one"), [1, 2], {"name": "X"}, {"name": "X", "mes": 5}, {"name": None, "mes": "a"},
                   {"name": "", "mes": "a"}, msg(mes="two"),
                   raw={2: '{"name": "Seraphina", "mes": "trunc', 3: "not json at all", 4: "", 5: "   "})
    transcript = read(source)
    assert [m.text for m in transcript.messages] == ["one", "two"]
    assert [(m.index, m.line) for m in transcript.messages] == [(0, 2), (1, 12)]
    assert [(p.line, p.field) for p in transcript.problems] == [
        (3, None), (4, None), (7, None), (8, "mes"), (9, "mes"), (10, "name"), (11, "name")]
    assert "not JSON" in transcript.problems[0].message and "not an object" in transcript.problems[2].message


def test_bom_crlf_and_blank_lines():
    body = "\r\n".join([orjson.dumps(HEADER).decode(), "", orjson.dumps(msg(mes="Hello.")).decode(), "  ", ""])
    transcript = read(Source(b"\xef\xbb\xbf" + body.encode(), "chat.jsonl"))
    assert [(m.line, m.text) for m in transcript.messages] == [(3, "Hello.")]
    assert transcript.problems == [] and transcript.user_name == "Alex"
    assert sillytavern.sniff(Source(b"\xef\xbb\xbf" + body.encode(), "chat.jsonl")) == pytest.approx(0.95)


def test_ill_typed_optional_fields_are_repaired():
    source = lines(HEADER, msg(is_user=1, extra=[1], send_date="whenever", original_avatar=5),
                   msg(is_system="yes", send_date=None))
    first, second = read(source).messages
    assert (first.role, first.avatar, first.timestamp, first.timestamp_raw) == ("user", None, None, "whenever")
    assert second.hidden is False
    fields = [(p.line, p.field, p.severity) for p in read(source).problems]
    assert fields == [(2, "extra", "warning"), (2, "is_user", "warning"), (2, "send_date", "info"),
                      (3, "is_system", "warning")]


def test_one_bad_utf8_line_costs_one_line():
    data = b"\n".join([orjson.dumps(msg(mes="one")), b'{"name": "X", "mes": "\xff\xfe"}', orjson.dumps(msg(mes="two"))])
    transcript = read(Source(data, "chat.jsonl"))
    assert [m.text for m in transcript.messages] == ["one", "two"]
    assert [p.line for p in transcript.problems] == [2]


def test_unreadable_files_raise_with_format_and_line():
    with pytest.raises(UnreadableLog) as caught:
        read(Source(b"hello\nworld\n", "chat.jsonl"))
    assert caught.value.format == "sillytavern.jsonl" and caught.value.line == 1
    with pytest.raises(UnreadableLog, match="only a header"):
        read(lines(HEADER))
    with pytest.raises(UnreadableLog) as caught:
        read(lines(HEADER, {"name": "X"}))
    assert (caught.value.line, caught.value.field) == (2, "mes")
    with pytest.raises(UnreadableLog):
        read(Source(b"", "chat.jsonl"))


def test_problem_list_is_capped(monkeypatch):
    from comfyvn.roleplay import transcript as transcript_module

    monkeypatch.setattr(transcript_module, "MAX_LISTED_PROBLEMS", 3)
    transcript = read(Source(b"\n".join([b"x"] * 10 + [orjson.dumps(msg())]), "chat.jsonl"))
    assert len(transcript.messages) == 1
    assert [p.line for p in transcript.problems] == [1, 2, 3, None]
    assert transcript.problems[-1].message.startswith("7 more problems")


def test_deep_nesting_and_huge_lines():
    deep = "[" * 5000 + "]" * 5000
    huge = msg(mes="x" * 3_000_000)
    transcript = read(lines(HEADER, huge, raw={1: deep, 2: '{"a":' * 2000}))
    assert [len(m.text) for m in transcript.messages] == [3_000_000]
    assert [p.line for p in transcript.problems] == [2, 3]
    assert sillytavern.sniff(Source(deep.encode(), "x.jsonl")) == 0.0


# ---------------------------------------------------------------- sniff

def test_sniff():
    assert sillytavern.sniff(lines(HEADER, msg())) == pytest.approx(0.95)
    assert sillytavern.sniff(lines(msg(), name="chat.jsonl")) == pytest.approx(0.9)
    assert sillytavern.sniff(lines(msg(), name="upload")) == pytest.approx(0.85)
    assert sillytavern.sniff(lines(msg(), name="x", raw={0: "garbage"})) == pytest.approx(0.85)  # first parsable
    assert sillytavern.sniff(lines({"messages": []})) == 0.0
    assert sillytavern.sniff(lines({"name": "x", "mes": 3})) == 0.0
    assert sillytavern.sniff(Source(b"Alice: hi\n\nBob: hello\n", "a.txt")) == 0.0
    assert sillytavern.sniff(Source(b"\x89PNG\r\n\x1a\n\x00\x00", "a.png")) == 0.0
    assert sillytavern.sniff(Source(b"", "")) == 0.0


# ---------------------------------------------------------------- fuzzing

def _check(source: Source) -> None:
    score = sillytavern.sniff(source)
    assert 0.0 <= score <= 1.0
    try:
        transcript = read(source)
    except UnreadableLog:
        return
    assert transcript.messages
    for position, message in enumerate(transcript.messages):
        assert message.index == position and isinstance(message.text, str) and message.speaker.strip()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)
FIELDS = ["name", "mes", "is_user", "is_system", "send_date", "extra", "swipes", "swipe_id", "swipe_info",
          "swipes_info", "original_avatar", "gen_started", "force_avatar", "title", "user_name",
          "character_name", "chat_metadata", "create_date"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8), min_size=1, max_size=6))
def test_fuzz_wrong_types_in_every_field(objects):
    _check(lines(*objects))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    _check(Source(data, "chat.jsonl"))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.sampled_from([CHAT_112, CHAT_2025, GROUP]))
def test_fuzz_truncated_fixtures(cut, name):
    source = fixture(name)
    _check(Source(source.data[:cut], name))


@pytest.mark.parametrize("field", FIELDS)
def test_deepest_json_orjson_accepts_in_every_field(field):
    deep = "[" * 1020 + "]" * 1020  # orjson's limit is 1024; Python's repr would give up at ~1000
    line = f'{{"name": "a", "mes": "b", "{field}": {deep}}}'
    transcript = read(lines(HEADER, msg(mes="ok"), raw={1: line}))
    assert transcript.messages[-1].text == "ok"
    header = f'{{"user_name": "Alex", "{field}": {deep}}}'
    assert read(lines(msg(mes="ok"), raw={0: header})).messages[-1].text == "ok"


def test_deep_extra_and_metadata_are_dropped_so_later_steps_can_save_them():
    def nested(depth):
        value = {}
        for _ in range(depth - 1):
            value = {"k": value}
        return value

    limit = sillytavern.MAX_DEPTH
    header = {**HEADER, "chat_metadata": nested(limit + 1)}
    info = [nested(3), nested(limit + 1)]
    transcript = read(lines(header, msg(extra=nested(limit)), msg(extra={"a": [nested(limit)]}),
                            msg(mes="a", swipes=["a", "b", "c"], swipe_id=0, swipe_info=[{}, *info])))
    assert transcript.metadata == {"create_date": HEADER["create_date"], "create_date_iso": "2023-06-19T14:20:00"}
    kept, dropped, swiped = transcript.messages
    assert kept.extra["source_extra"] == nested(limit) and "source_extra" not in dropped.extra
    assert swiped.extra["alternate_info"] == [info[0], None]
    assert [(p.line, p.field) for p in transcript.problems] == [(1, "chat_metadata"), (3, "extra")]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", "{\"a\":", "{\"mes\":["]))
def test_fuzz_deep_nesting(depth, opener):
    _check(lines(HEADER, msg(), raw={2: opener * depth}))
