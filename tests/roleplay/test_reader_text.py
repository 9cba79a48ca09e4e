"""Text readers: SillyTavern .txt exports and plain 'Name: text' transcripts (multi-line ambiguity too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.readers import Source
from comfyvn.roleplay.readers import text as readers_text
from comfyvn.roleplay.readers.text import (
    read_plain,
    read_sillytavern_txt,
    sniff_plain,
    sniff_sillytavern_txt,
)
from comfyvn.roleplay.transcript import Transcript, UnreadableLog

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "sillytavern" / "synthetic"
ST_TXT = "Seraphina - 2024-09-28@01h00m07s.txt"


def fixture(name: str) -> Source:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixtures not present ({path})")
    return Source(path.read_bytes(), name)


def src(text: str, name: str = "log.txt") -> Source:
    return Source(text.encode(), name)


def summary(transcript: Transcript) -> list[tuple]:
    return [(m.line, m.role, m.speaker, m.text) for m in transcript.messages]


# ---------------------------------------------------------------- SillyTavern .txt

def test_sillytavern_txt_fixture():
    transcript = read_sillytavern_txt(fixture(ST_TXT))
    assert transcript.format == "sillytavern.txt"
    assert transcript.best_effort is True
    assert [p.severity for p in transcript.problems] == ["info"]
    assert "best-effort" in transcript.problems[0].message
    assert transcript.title == "Seraphina - 2024-09-28@01h00m07s"
    assert transcript.user_name == "User"
    assert transcript.character_names == ["Seraphina", "Eldorian Guard"]
    assert summary(transcript) == [
        (1, "character", "Seraphina", '*The glade is quiet.* "You\'re awake," Seraphina says softly.'),
        (3, "user", "User", "Where am I?"),
        (5, "character", "Seraphina", '*She smiles.* "In my glade, deep in Eldoria."'),
        (7, "narrator", "System", "Night falls over the forest."),
        (9, "user", "User", "Where am I? (copied)"),
        (11, "character", "Seraphina", "Imported line from another tool."),
        (13, "character", "Eldorian Guard", "Halt!"),
        (15, "character", "Seraphina", "*She shows you a sketch of the glade.*"),
    ]
    assert all(m.timestamp is None and m.timestamp_raw is None and not m.hidden for m in transcript.messages)
    assert [m.index for m in transcript.messages] == list(range(8))


def test_sillytavern_txt_multi_paragraph_messages_and_status_blocks():
    text = ("Seraphina: Hello.\nStill the first paragraph.\nNote: this line is inside the message.\n\n\n"
            "A second paragraph.\n\nMood: calm\nHP: 10\n\nAlex: Hi\n\nSeraphina: Bye\n\n")
    transcript = read_sillytavern_txt(src(text, "Seraphina - 2024-07-24@16h52m23s.txt"))
    assert summary(transcript) == [
        (1, "character", "Seraphina", ("Hello.\nStill the first paragraph.\nNote: this line is inside the message."
                                       "\n\n\nA second paragraph.\n\nMood: calm\nHP: 10")),
        (11, "user", "Alex", "Hi"),  # the user by elimination: the file names the character
        (13, "character", "Seraphina", "Bye"),
    ]
    named = read_sillytavern_txt(src("Seraphina (Eldoria): Hi\n\n"))
    assert named.messages[0].speaker == "Seraphina (Eldoria)"  # SillyTavern names keep their parentheses


def test_sillytavern_txt_new_speaker_after_blank_line_and_preamble():
    text = "\ufeffA title line\n\nSeraphina: Hi\r\n\r\nGuard: Halt!\r\n\r\nAlex: Oh.\r\n\r\nSeraphina:\r\nSecond line.\r\n"
    transcript = read_sillytavern_txt(Source(text.encode(), "upload.txt"))
    assert summary(transcript) == [
        (1, "narrator", "Narrator", "A title line"),
        (3, "character", "Seraphina", "Hi"),
        (5, "character", "Guard", "Halt!"),
        (7, "character", "Alex", "Oh."),
        (9, "character", "Seraphina", "\nSecond line."),
    ]
    assert transcript.user_name is None  # three people, none called "User": cannot tell
    assert {p.message.split(";")[0] for p in transcript.problems if p.line is None} >= {
        "could not tell which speaker is the user"}
    assert any(p.line == 1 and "before the first" in p.message for p in transcript.problems)


def test_sillytavern_txt_first_speaker_is_the_character_without_file_name():
    transcript = read_sillytavern_txt(src("Aria: Welcome.\n\nSam: Thanks.\n\n", "export.txt"))
    assert (transcript.user_name, transcript.character_names) == ("Sam", ["Aria"])


def test_sillytavern_txt_one_paragraph_of_speaker_lines_is_one_message():
    transcript = read_sillytavern_txt(src("Alice: Hi\nBob: Hey\n"))
    assert summary(transcript) == [(1, "character", "Alice", "Hi\nBob: Hey")]


def test_sillytavern_txt_unreadable():
    for text in ("just prose\nno speakers here\n", "", "[12:00] Alice: hi\n"):
        with pytest.raises(UnreadableLog) as caught:
            read_sillytavern_txt(src(text))
        assert caught.value.format == "sillytavern.txt"
    with pytest.raises(UnreadableLog):
        read_sillytavern_txt(Source(b"\xff\xfe\x00A", "x.txt"))


# ---------------------------------------------------------------- plain transcripts

def test_plain_timestamps_asides_and_scene_breaks():
    text = ("[2024-01-01 12:00] Alice: Hi there\n"
            "[June 19, 2023 2:20pm] Bob (whispering): Hello\n"
            "continuing Bob\n"
            "---\n"
            "[12:05] Alice: Later\n"
            "***\n"
            "* * *\n"
            "Bob: After two breaks.\n"
            "___\n"
            "The end.\n"
            "[2024-07-24@16h52m23s] *The lights go out.*\n")
    transcript = read_plain(src(text))
    assert transcript.format == "transcript.plain"
    assert summary(transcript) == [
        (1, "character", "Alice", "Hi there"),
        (2, "character", "Bob", "Hello\ncontinuing Bob"),
        (5, "character", "Alice", "Later"),
        (8, "character", "Bob", "After two breaks."),
        (10, "narrator", "Narrator", "The end."),
        (11, "narrator", "Narrator", "*The lights go out.*"),
    ]
    stamps = [(m.timestamp, m.timestamp_raw) for m in transcript.messages]
    assert stamps == [("2024-01-01T12:00:00", "2024-01-01 12:00"), ("2023-06-19T14:20:00", "June 19, 2023 2:20pm"),
                      (None, "12:05"), (None, None), (None, None), ("2024-07-24T16:52:23", "2024-07-24@16h52m23s")]
    assert transcript.messages[1].extra == {"aside": "whispering"}
    assert [bool(m.extra.get("scene_break_before")) for m in transcript.messages] == [
        False, False, True, True, True, False]
    unparsed = [p for p in transcript.problems if p.field == "timestamp"]
    assert [(p.line, p.severity) for p in unparsed] == [(5, "info")]
    assert transcript.best_effort is False


def test_plain_unknown_word_colon_is_a_continuation_and_marks_best_effort():
    text = "Alice: Hi\nBob: Hey\ncarry on\nNote: still Bob\nAlice: Bye\n"
    transcript = read_plain(src(text))
    assert summary(transcript) == [
        (1, "character", "Alice", "Hi"),
        (2, "character", "Bob", "Hey\ncarry on\nNote: still Bob"),
        (5, "character", "Alice", "Bye"),
    ]
    assert transcript.best_effort is True
    (notice,) = [p for p in transcript.problems if p.line == 4]
    assert notice.severity == "info" and "lines 4" in notice.message


def test_plain_dense_transcript_one_off_speaker_starts_a_message():
    text = "Alice: Hi\nBob: Hey\nAlice: How are you?\nBob: Fine.\nGuard: Halt!\nUser: Oh no.\n"
    transcript = read_plain(src(text))
    assert [m.speaker for m in transcript.messages] == ["Alice", "Bob", "Alice", "Bob", "Guard", "User"]
    assert transcript.user_name == "User"
    assert transcript.messages[-1].role == "user"
    assert transcript.best_effort is False


def test_plain_blank_separated_status_block_stays_in_the_message():
    text = "Seraphina: Hello.\n\nSecond paragraph.\n\nMood: calm\nHP: 10\n\nUser: Hi\n\nSeraphina: Bye\n"
    transcript = read_plain(src(text))
    assert summary(transcript) == [
        (1, "character", "Seraphina", "Hello.\n\nSecond paragraph.\n\nMood: calm\nHP: 10"),
        (8, "user", "User", "Hi"),
        (10, "character", "Seraphina", "Bye"),
    ]
    assert transcript.best_effort is True


def test_plain_known_speaker_from_the_first_lines_and_repetition():
    text = "Alice: Hi\nBob: Hey\nit is late\nAlice: yes\n"
    assert [m.speaker for m in read_plain(src(text)).messages] == ["Alice", "Bob", "Alice"]


def test_plain_lines_that_are_not_speakers():
    text = ("Alice: see https://example.com\nhttp://x.y: not a name\n1: a list item\n"
            "Well, then: not a name\n*She waves*: not a name\n")
    (message,) = read_plain(src(text)).messages
    assert message.text.count("\n") == 4


def test_plain_unreadable():
    with pytest.raises(UnreadableLog) as caught:
        read_plain(src("no speakers\nat all\n"))
    assert caught.value.format == "transcript.plain"
    with pytest.raises(UnreadableLog):
        read_plain(src("[12:00] only a stamped line\n"))


# ---------------------------------------------------------------- detection

def test_sniff_distinguishes_the_two_text_formats():
    st_export = fixture(ST_TXT)
    assert sniff_sillytavern_txt(st_export) > sniff_plain(st_export) > 0
    assert sniff_sillytavern_txt(st_export) == pytest.approx(0.85)
    stamped = src("[2024-01-01 12:00] Alice: Hi\n[2024-01-01 12:01] Bob: Hey\n")
    assert sniff_sillytavern_txt(stamped) == 0.0 and sniff_plain(stamped) >= 0.7
    dense = src("Alice: Hi\nBob: Hey\nAlice: Bye\n", "chat.log")
    assert sniff_plain(dense) > sniff_sillytavern_txt(dense)
    breaks = src("Alice: Hi\n\nBob: Hey\n\n---\n\nAlice: Bye\n")
    assert sniff_plain(breaks) > sniff_sillytavern_txt(breaks)


def test_sniff_plain_defers_on_bracketed_lines_without_speakers():
    discord_like = src("Guild: Test\nChannel: general\n=====\n\n[9/28/2024 1:00 AM] Alice\nHello\n\n"
                       "[9/28/2024 1:01 AM] Bob\nHi: there\n\n")
    assert sniff_plain(discord_like) == pytest.approx(0.3)


def test_sniff_refuses_other_things():
    jsonl = fixture("Seraphina - 2024-09-28@01h00m07s.jsonl")
    for source in (jsonl, src('{"messages": []}', "a.json"), src("[1, 2]"), Source(b"\x89PNG\r\n\x1a\n\x00", "a.png"),
                   Source(b"\xff\xfe\xfd", "a.txt"), src("just some prose.\nNo speakers.\n"), src("")):
        assert sniff_sillytavern_txt(source) == 0.0
        assert sniff_plain(source) == 0.0


def test_sniff_on_a_large_file_reads_only_the_start():
    body = "Alice: Hi\n\nBob: " + "é" * 40_000 + "\n\n"
    source = Source(body.encode() * 3, "big.txt")
    assert sniff_sillytavern_txt(source) > 0.5


def test_detect_picks_the_right_text_reader():
    from comfyvn.roleplay import readers

    try:
        readers.readers()
    except ModuleNotFoundError as exc:  # another reader module is not written yet
        pytest.skip(f"reader registry incomplete: {exc}")
    assert readers.detect(fixture(ST_TXT)).id == "sillytavern.txt"
    assert readers.detect(src("[2024-01-01 12:00] Alice: Hi\n---\n[2024-01-01 12:01] Bob: Hey\n")).id == \
        "transcript.plain"
    assert readers.read(src("Alice: Hi\nBob: Hey\nAlice: Bye\n", "chat.log")).format == "transcript.plain"


def test_deeply_nested_json_is_not_a_transcript():
    deep = src("[" * 5000 + "]" * 5000, "x.txt")
    assert sniff_sillytavern_txt(deep) == sniff_plain(deep) == 0.0
    for read in (read_sillytavern_txt, read_plain):
        with pytest.raises(UnreadableLog):
            read(deep)


def test_readers_are_registered():
    assert [r.id for r in readers_text.READERS] == ["sillytavern.txt", "transcript.plain"]


# ---------------------------------------------------------------- fuzzing

def _check(source: Source) -> None:
    for sniff in (sniff_sillytavern_txt, sniff_plain):
        assert 0.0 <= sniff(source) <= 1.0
    for read in (read_sillytavern_txt, read_plain):
        try:
            transcript = read(source)
        except UnreadableLog:
            continue
        assert transcript.messages
        lines = [m.line for m in transcript.messages]
        assert lines == sorted(lines) and [m.index for m in transcript.messages] == list(range(len(lines)))
        assert all(m.speaker for m in transcript.messages)


LINE = st.one_of(
    st.just(""), st.just("---"), st.just("***"), st.text(max_size=30),
    st.builds(lambda n, t: f"{n}: {t}", st.sampled_from(["Alice", "Bob", "Mood", "A (aside)", "Zed"]),
              st.text(max_size=20)),
    st.builds(lambda ts, n, t: f"[{ts}] {n}: {t}", st.sampled_from(["12:00", "2024-01-01 12:00", "x"]),
              st.sampled_from(["Alice", "Bob"]), st.text(max_size=10)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(LINE, max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_fuzz_transcript_shaped_text(lines, newline):
    _check(src(newline.join(lines)))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    _check(Source(data, "x.txt"))


def test_huge_lines():
    huge = "Alice: " + "a" * 3_000_000 + "\n\nBob: " + "b: " * 500_000 + "\n"
    for read in (read_sillytavern_txt, read_plain):
        transcript = read(src(huge))
        assert [m.speaker for m in transcript.messages] == ["Alice", "Bob"]
    _check(Source(b"x" * 4_000_000, "x.txt"))
