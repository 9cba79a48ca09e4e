"""Message text -> speech, narration, stage directions; expression, place and time hints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
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


# --- review of the line splitter: nothing lost, nothing garbled ---

@pytest.mark.parametrize(("text", "expected"), [
    ("...", [("say", "...")]), ("?!", [("say", "?!")]), ("😊", [("say", "😊")]), ('"..."', [("say", "...")]),
    ("*...*", [("direction", "...")]), ("  😊  ", [("say", "😊")]),
])
def test_text_without_letters_is_kept(text, expected):
    assert pieces(text) == expected
    assert pieces(text, detail="high") == expected


def test_emoji_after_an_action_is_kept():
    assert pieces("*hugs you* 😊") == [("direction", "hugs you"), ("say", "😊")]


def test_multi_paragraph_quotes():
    assert pieces('"First paragraph.\n\n"Second paragraph."') == [("say", "First paragraph. Second paragraph.")]
    assert pieces('"One.\n\n"Two.\n\n"Three." She stops.') == [("say", "One. Two. Three."), ("narrate", "She stops.")]
    assert pieces('“One.\n\n“Two.”') == [("say", "One. Two.")]
    assert pieces('"One.\n\nTwo," she says.') == [("say", "One. Two,"), ("narrate", "she says.")]
    assert pieces('She says, "hello\nthere" and waves.') == [
        ("narrate", "She says,"), ("say", "hello there"), ("narrate", "and waves.")]


def test_markdown_bold_is_emphasis():
    assert pieces("I **really** mean it.") == [("say", "I really mean it.")]
    assert pieces('*She **really** means it.* "Yes."') == [("direction", "She really means it."), ("say", "Yes.")]
    assert pieces("*nods**smiles*") == [("direction", "nods"), ("direction", "smiles")]


def test_html_entities_and_tags():
    assert pieces("Tom &amp; Jerry &lt;3 &#39;hi&#39; &eacute;") == [("say", "Tom & Jerry <3 'hi' é")]
    assert pieces("<b>Bold</b> and <i>it</i>alic<br>next<br/>line") == [("say", "Bold and italic next line")]
    assert pieces('<p>"Hi," she says.</p>') == [("say", "Hi,"), ("narrate", "she says.")]
    assert pieces("&lt;b&gt;kept&lt;/b&gt; &notit; a <tag> b") == [("say", "<b>kept</b> &notit; a <tag> b")]
    assert pieces("<font color=red>red</font>", detail="low") == [("say", "red")]


def _letters(text):
    return [ch for ch in text if ch.isalnum()]


_MARKUP = st.sampled_from(["*", "**", '"', "“", "”", "\n", "\n\n", " ", "<b>", "</i>", "<br>", "&amp;", "&#65;",
                           "&lt;", "&notit;", "<x>", "😊", "...", "?!"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), _MARKUP), max_size=30).map("".join),
       st.sampled_from(["low", "medium", "high"]))
def test_no_letter_or_digit_is_lost(text, detail):
    from comfyvn.roleplay.lines import plain_text

    out = split_message(text, detail=detail)
    assert _letters(" ".join(p.text for p in out)) == _letters(plain_text(text))
    assert bool(out) == bool(plain_text(text).strip())


def test_plain_text_removes_only_markup():
    from comfyvn.roleplay.lines import plain_text

    assert plain_text("a <b>b</b> &amp; <zz>c</zz> &bogus; d<br>e") == "a b & <zz>c</zz> &bogus; d e"
    assert plain_text("no markup at all") == "no markup at all"


@pytest.mark.parametrize(("text", "label"), [
    ("a huge tree", None), ("in sight", None), ("a hopeless case", None), ("a gentleman", None),
    ("sober now", None), ("a careful step", None), ("She doesn't smile.", None), ("not afraid", None),
    ("She hugs him", "love"), ("hugged", "love"), ("hugging", "love"), ("He sighs.", "annoyance"),
    ("a hopeful look", "optimism"), ("she speaks gently", "caring"), ("She tilts her head.", "confusion"),
    ("He frowns in thought.", "confusion"), ("He frowns.", "annoyance"), ("rolls his eyes", "annoyance"),
    ("She bit her lip", "nervousness"), ("wide-eyed", "surprise"), ("Smiling, she nods", "joy"),
    ("No, thank you.", "gratitude"), ("It dawns on him", "realization"), ("sobbing", "sadness"),
])
def test_expression_cues_are_whole_words(text, label):
    assert expression_for(text) == label


def test_places_after_more_prepositions():
    assert location("Night falls over the forest.") == "forest"
    assert location("They walk through the old market") == "old market"
