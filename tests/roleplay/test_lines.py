"""Message text -> speech, narration, stage directions; expression, place and time hints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from comfyvn.roleplay.lines import EXPRESSIONS, expression_for, location, split_message, time_of_day


def pieces(text, detail="medium"):
    return [(p.kind, p.text) for p in split_message(text, detail=detail)]


def test_actions_speech_and_narration():
    assert pieces('*The glade is quiet.* "You\'re awake," Seraphina says softly. *She smiles.*') == [
        ("direction", "The glade is quiet."), ("say", "You're awake,"),
        ("narrate", "Seraphina says softly."), ("direction", "She smiles.")]


def test_without_quotes_prose_is_speech():
    assert pieces("Hello there, *waves* how are you?") == [
        ("say", "Hello there,"), ("direction", "waves"), ("say", "how are you?")]


def test_curly_quotes_and_whitespace():
    assert pieces("“Hi.”\n\n  He   nods.") == [("say", "Hi."), ("narrate", "He nods.")]


def test_low_detail_keeps_one_line_without_asterisks():
    assert pieces('*smiles* "Hi"', detail="low") == [("say", 'smiles "Hi"')]
    assert pieces("   ") == []


@given(st.text(max_size=300))
def test_never_fails_and_never_loses_words(text):
    out = split_message(text)
    joined = " ".join(p.text for p in out)
    for word in text.replace("*", " ").replace('"', " ").split():
        if any(ch.isalnum() for ch in word):
            assert word.strip("“”") in joined or any(w in joined for w in word.split("“"))


@pytest.mark.parametrize(("text", "label"), [
    ("She laughs softly", "amusement"), ("He grins", "joy"), ("blushing", "embarrassment"),
    ("tears fall", "sadness"), ("She glares at him", "anger"), ("he gasps", "surprise"), ("nothing here", None),
])
def test_expression_hints(text, label):
    assert expression_for(text) == label
    assert label is None or label in EXPRESSIONS


def test_places_and_times():
    assert location("They step into the old tavern.") == "old tavern"
    assert location("She waits at the harbor at dawn") == "harbor"
    assert location("He thinks about it.") is None
    assert time_of_day("Late in the evening") == "evening"
    assert time_of_day("at midnight") == "night"
    assert time_of_day("nothing") is None
    assert len(EXPRESSIONS) == 28
