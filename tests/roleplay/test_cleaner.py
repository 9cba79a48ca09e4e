"""The offline cleaner: OOC removal, quotes, spacing, run-on stage directions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyvn.roleplay.cleaner import OfflineCleaner, clean_transcript, is_ooc
from comfyvn.roleplay.transcript import Message, Transcript

clean = OfflineCleaner().clean


def test_spacing_and_quotes():
    assert clean("“Hello ,” she said .It   was late", "medium") == '"Hello," she said. It was late'
    assert clean("It’s fine", "medium") == "It's fine"


def test_inline_ooc_is_removed_and_ooc_messages_are_hidden():
    assert clean('"Sure." (OOC: brb, dinner) *nods*', "medium") == '"Sure." *nods*'
    assert clean("Fine ((lol))", "medium") == "Fine"
    assert is_ooc("(OOC: sorry for the wait)") and is_ooc("((back))") and is_ooc("OOC: test")
    assert not is_ooc("Oh (quietly) fine")


def test_run_on_directions_split_at_high_detail():
    long = "*" + " ".join(["She walks to the window and looks out over the quiet town."] * 5) + "*"
    assert clean(long, "medium").count("*") == 2
    assert clean(long, "high").count("*") == 10


def test_clean_transcript_counts_changes_and_keeps_the_original():
    t = Transcript(format="x", messages=[
        Message(0, "A", "Hi  there"), Message(1, "B", "((afk))", role="user"), Message(2, "A", "Fine.")])
    cleaned, stats = clean_transcript(t)
    assert [m.text for m in cleaned.messages] == ["Hi there", "((afk))", "Fine."]
    assert cleaned.messages[1].hidden and cleaned.messages[1].extra["hidden_reason"] == "ooc"
    assert stats == {"changed": 1, "ooc_hidden": 1}
    assert t.messages[0].text == "Hi  there" and not t.messages[1].hidden


@given(st.text(max_size=400), st.sampled_from(["low", "medium", "high"]))
def test_cleaning_is_idempotent_and_total(text, detail):
    once = clean(text, detail)
    assert clean(once, detail) == once


# --- review: spacing after punctuation only where a sentence clearly ends ---

@pytest.mark.parametrize("text", [
    "i.e. this", "e.g.this", "U.S.A.", "The U.S.A.Today", "https://x.com/a?b=1", "see www.x.com/A?B=1,C=2.Done",
    "pi is 3.14", "v1.2.3", "Mr.Smith", "file.TXT", "example.com", "10:30", "Re:Zero", "R&amp;D", "Hi :D", "Hi ;)",
    "std::vector", "a...b",
])
def test_punctuation_inside_words_urls_and_numbers_is_untouched(text):
    assert clean(text, "medium") == text


@pytest.mark.parametrize(("text", "expected"), [
    ("It ended.Then it began", "It ended. Then it began"), ("Wow!Amazing", "Wow! Amazing"),
    ("Really?!No way", "Really?! No way"), ("yes,sir", "yes, sir"), ("I said .It was", "I said. It was"),
    ("Go to https://x.com .Then", "Go to https://x.com .Then"), ("Note : this", "Note: this"),
    ("Wait . . .", "Wait..."), ("end.I know", "end. I know"),
])
def test_missing_space_after_a_sentence_is_added(text, expected):
    assert clean(text, "medium") == expected


def test_spaces_around_actions_are_kept_outside_and_trimmed_inside():
    assert clean("*waves* hello *smiles*", "medium") == "*waves* hello *smiles*"
    assert clean("Hi *waves* there", "medium") == "Hi *waves* there"
    assert clean("* waves * hello", "medium") == "*waves* hello"


def test_bold_is_not_an_action():
    text = '"**Bold** claim, Mr. Smith." *She laughs.*'
    assert clean(text, "high") == text
    assert clean("**really** *waves* ok", "medium") == "**really** *waves* ok"
