"""Character cards: real PNG cards, JSON V1/V2/V3, CHARX, oobabooga YAML/JSON, quirky cards."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from comfyvn.projects.models import Character
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern import charx as charx_module
from comfyvn.sillytavern import slug_id
from comfyvn.sillytavern.cards import read_card
from tests.sillytavern.builders import (
    b64json,
    card_png,
    charx,
    fixture,
    png,
    text_chunk,
    v3,
)

JOY = b"\x89PNG fake joy sprite"
NEUTRAL = b"\x89PNG fake neutral sprite"


def fields(problems):
    return [p.field for p in problems]


# ---- real fixtures -------------------------------------------------------------------------------

def test_seraphina_png_v2_with_lorebook_and_image():
    result = read_card(fixture("sillytavern/default-content/default_Seraphina.png"), "default_Seraphina.png")
    char = result.character
    assert result.spec == "v2"
    assert (char.id, char.name, char.display_name) == ("seraphina", "Seraphina", None)
    assert char.description.startswith("[Seraphina's Personality= \"caring\"")
    assert char.personality == ""
    assert char.expressions == ["neutral"] and char.default_expression is None
    assert char.metadata["creator"] == "OtisAlejandro"
    assert char.metadata["creator_notes"] == "ST Default Bot contest winner: roleplay bots category"
    assert char.metadata["character_version"] == "1.0.0"
    assert char.metadata["talkativeness"] == 0.5  # written as the string "0.5"
    assert char.metadata["world"] == "Eldoria"
    assert char.metadata["create_date"] == "2023-5-12 @21h 32m 29s 228ms"
    assert "scenario" not in char.metadata  # empty in this card
    assert char.card["spec"] == "chara_card_v2" and char.card["fav"] is False  # the raw card, top-level too
    assert result.greetings == [char.card["data"]["first_mes"]]
    assert result.greetings[0].startswith("*You wake with a start, recalling the events")
    assert result.world is not None
    assert (result.world.id, result.world.name) == ("eldoria", "Eldoria")
    assert [e.keys[:3] for e in result.world.entries][:2] == [["eldoria", "wood", "forest"],
                                                              ["shadowfang", "beast", "monster"]]
    assert result.world.entries[0].metadata["position"] == "before_char"
    assert result.problems == []
    [icon] = result.assets
    assert (icon.type, icon.name, icon.ext, icon.uri) == ("icon", "main", "png", "ccdefault:")
    image = Image.open(io.BytesIO(icon.data))
    image.load()
    assert image.size == (400, 600) and "chara" not in image.text  # the picture without the card text


def test_v1_only_png():
    result = read_card(fixture("sillytavern/synthetic/card_v1_only.png"), "card_v1_only.png")
    char = result.character
    assert result.spec == "v1"
    assert (char.id, char.name, char.description, char.personality) == ("tess", "Tess", "A lighthouse keeper.", "wry")
    assert char.metadata == {"card_spec": "v1", "source_file": "card_v1_only.png", "scenario": "Storm night."}
    assert result.greetings == ['"Door\'s open."']
    assert char.card["mes_example"] == "<START>\n{{user}}: Hi\n{{char}}: Hm."
    assert result.world is None and char.tags == []


def test_ccv3_wins_over_chara():
    result = read_card(fixture("sillytavern/synthetic/card_v2_chara_plus_v3_ccv3.png"), "tess.png")
    char = result.character
    assert result.spec == "v3"
    assert result.greetings == ['"Door\'s open." (from ccv3)', '"Close the door, it\'s cold."']
    assert char.card["spec"] == "chara_card_v3"
    assert char.tags == ["test"]
    assert char.metadata["creation_date"] == "2024-09-27T23:00:00Z"
    assert char.metadata["creator"] == "synthetic" and char.metadata["talkativeness"] == 0.5
    assert char.display_name is None  # nickname equals the name
    [entry] = result.world.entries
    assert (result.world.id, result.world.name) == ("tess-lore", "Tess lore")
    assert (entry.keys, entry.content, entry.enabled) == (["lighthouse"], "The lamp is oil-fed.", True)
    assert entry.metadata["use_regex"] is True and entry.metadata["order"] == 100
    assert entry.metadata["extensions"]["depth"] == 4
    assert [a.uri for a in result.assets] == ["ccdefault:"] and result.assets[0].data.startswith(b"\x89PNG")


def test_oobabooga_legacy_json():
    result = read_card(fixture("other-formats/oobabooga-character-Example.json"), "Example.json")
    char = result.character
    assert result.spec == "ooba"
    assert (char.id, char.name) == ("chiharu-yamada", "Chiharu Yamada")
    assert char.description.startswith("Chiharu Yamada is a young, computer engineer-nerd")
    assert result.greetings[0].startswith("*Chiharu strides into the room with a smile")
    assert char.card["example_dialogue"].startswith("{{user}}: So how did you get into computer engineering?")
    assert result.assets == [] and result.world is None


# ---- PNG variants --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_png_text_chunk_kinds_and_keyword_case(kind):
    data = png(text_chunk("Chara", b64json({"name": "Ada", "description": "Engineer."}), kind))
    result = read_card(data, "ada.png")
    assert (result.character.name, result.character.description, result.spec) == ("Ada", "Engineer.", "v1")


def test_broken_ccv3_falls_back_to_chara():
    v2 = {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Bo", "first_mes": "Hi."}}
    data = png(text_chunk("ccv3", "{not json"), text_chunk("chara", b64json(v2)))
    result = read_card(data, "bo.png")
    assert result.spec == "v2" and result.character.name == "Bo"
    [problem] = [p for p in result.problems if p.field == "ccv3"]
    assert problem.severity == "error" and "chara" in problem.message


def test_png_without_card_and_truncated_png():
    with pytest.raises(UnreadableLog, match="no 'chara' or 'ccv3' text chunk") as error:
        read_card(png(), "plain.png")
    assert error.value.format == "card.png"
    data = card_png({"name": "Ada", "description": "x"})
    with pytest.raises(UnreadableLog, match="truncated"):
        read_card(data[: len(data) - 40], "cut.png")
    result = read_card(data[:-12], "no-iend.png")  # only IEND lost: the card is intact
    assert result.character.name == "Ada" and any("IEND" in p.message for p in result.problems)


def test_risu_png_asset_chunks():
    card = v3(assets=[{"type": "emotion", "uri": "__asset:0", "name": "Joy", "ext": "png"},
                      {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}])
    data = png(text_chunk("ccv3", b64json(card)),
               text_chunk("chara-ext-asset_:0", base64.b64encode(JOY).decode()))
    result = read_card(data, "mira.png")
    assert result.character.expressions == ["joy"]
    assert result.assets[0].data == JOY
    assert b"chara-ext-asset" not in result.assets[1].data and b"ccv3" not in result.assets[1].data


# ---- JSON V3 with emotion assets -----------------------------------------------------------------

def test_json_v3_emotion_assets():
    card = v3(nickname="Miri", assets=[
        {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/joy.png", "name": "Joy", "ext": "png"},
        {"type": "emotion", "uri": "data:image/png;base64," + base64.b64encode(NEUTRAL).decode(),
         "name": "neutral", "ext": "png"},
        {"type": "emotion", "uri": "https://example.com/sad.webp", "name": "sadness", "ext": ""},
        {"type": "emotion", "uri": "https://example.com/joy2.png", "name": "joy", "ext": "png"},
        {"type": "background", "uri": "", "name": "sky"},
    ], creation_date="1727478000000", modification_date=None)
    result = read_card(json.dumps(card).encode(), "mira.json")
    char = result.character
    assert result.spec == "v3"
    assert char.display_name == "Miri"
    assert char.expressions == ["joy", "neutral", "sadness"] and char.default_expression == "neutral"
    by_name = {(a.type, a.name): a for a in result.assets}
    assert by_name[("icon", "main")].data is None  # a JSON card has no image of its own
    assert by_name[("emotion", "Joy")].data is None  # embeded:// outside a CHARX
    assert by_name[("emotion", "neutral")].data == NEUTRAL
    assert by_name[("emotion", "sadness")].ext == "webp" and by_name[("emotion", "sadness")].data is None
    assert char.metadata["creation_date"] == "2024-09-27T23:00:00Z"  # milliseconds recognised
    assert "data.assets.1" in fields(result.problems)  # embeded:// without an archive
    assert "data.assets.5" in fields(result.problems)  # no uri: skipped
    assert len(result.assets) == 5


# ---- CHARX ---------------------------------------------------------------------------------------

def charx_card():
    return v3(assets=[
        {"type": "icon", "uri": "embeded://assets/icon/main.png", "name": "main", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/joy.png", "name": "joy", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/neutral.png", "name": "neutral", "ext": "png"},
        {"type": "emotion", "uri": "embeded://assets/emotion/gone.png", "name": "fear", "ext": "png"},
    ])


def test_charx_with_emotion_assets():
    data = charx(charx_card(), {"assets/icon/main.png": b"icon", "assets/emotion/joy.png": JOY,
                                "assets/emotion/neutral.png": NEUTRAL, "module.risum": b"\0\1"})
    result = read_card(data, "mira.charx")
    assert result.spec == "v3" and result.character.name == "Mira"
    assert result.character.expressions == ["joy", "neutral", "fear"]
    assert [a.data for a in result.assets] == [b"icon", JOY, NEUTRAL, None]
    assert fields(result.problems) == ["data.assets.3"]
    assert "not in the archive" in result.problems[0].message


def test_charx_limits(monkeypatch):
    bomb = b"\0" * (2 * 1024 * 1024)  # deflates about 1000:1
    big = bytes(range(256)) * 20  # 5120 bytes
    data = charx(charx_card(), {"assets/icon/main.png": bomb, "assets/emotion/joy.png": big})
    monkeypatch.setattr(charx_module, "MAX_MEMBER", 4096)
    result = read_card(data, "mira.charx")
    messages = {p.field: p.message for p in result.problems}
    assert "the limit is 4096 per file" in messages["data.assets.0"]
    assert "the limit is 4096 per file" in messages["data.assets.1"]
    assert result.assets[0].data is None and result.assets[1].data is None
    monkeypatch.setattr(charx_module, "MAX_MEMBER", 50 * 1024 * 1024)
    result = read_card(data, "mira.charx")
    assert "zip bomb" in {p.field: p.message for p in result.problems}["data.assets.0"]
    assert result.assets[0].data is None and result.assets[1].data == big
    monkeypatch.setattr(charx_module, "MAX_MEMBER", 100)  # card.json itself over the limit
    with pytest.raises(UnreadableLog, match="card.json is .* bytes; the limit is 100 per file"):
        read_card(data, "mira.charx")


def test_charx_without_card_json_or_with_broken_card():
    with pytest.raises(UnreadableLog, match="without card.json at its root") as error:
        read_card(charx(None, {"assets/a.png": b"x"}), "x.charx")
    assert (error.value.format, error.value.field) == ("card.charx", "card.json")
    with pytest.raises(UnreadableLog, match="card.json of the CHARX: not valid JSON"):
        read_card(charx(None, {"card.json": b"{oops"}), "x.charx")


# ---- oobabooga YAML and YAML safety --------------------------------------------------------------

# "billion laughs": each line refers nine times to the one before
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True)) + "name: x\n"

def test_oobabooga_yaml_character():
    data = ("name: Chiharu Yamada\ngreeting: |-\n  *Chiharu waves*\n  Hey!\n"
            "context: |-\n  Chiharu Yamada's Persona: a nerd.\nexample_dialogue: ''\ncreated: 2024-01-02\n")
    result = read_card(data.encode(), "Chiharu.yaml")
    char = result.character
    assert result.spec == "ooba" and char.id == "chiharu-yamada"
    assert char.description == "Chiharu Yamada's Persona: a nerd."
    assert result.greetings == ["*Chiharu waves*\nHey!"]
    assert char.card["created"] == "2024-01-02"  # YAML dates kept JSON-safe
    json.dumps(char.model_dump(), allow_nan=False)


@pytest.mark.parametrize("text, message", [
    ("!!python/object/apply:os.system ['echo hacked']\n", "not valid YAML"),
    (LAUGHS, "too many values"),
    ("name: my-app\nversion: 2\n", "not a character card"),
    ("just some words", "expected a JSON/YAML object"),
])
def test_yaml_that_is_not_a_card(text, message):
    with pytest.raises(UnreadableLog, match=message):
        read_card(text.encode(), "x.yaml")


# ---- quirks --------------------------------------------------------------------------------------

def test_quirky_v2_card():
    card = {
        "name": "Quirk", "description": "From the top level.", "first_mes": "Top hello.",
        "talkativeness": "0.7", "fav": "true",
        "spec": "chara_card_v2", "spec_version": "2.0",
        "data": {
            "name": None, "description": None, "personality": 42, "first_mes": "Data hello.",
            "alternate_greetings": None, "tags": "alpha, beta , ,alpha", "creator": None,
            "extensions": {"talkativeness": "loud", "world": 7},
            "character_book": {"entries": [
                {"keys": "moon", "content": None, "enabled": "false", "insertion_order": "5"},
                {"keys": ["sun", 3, None], "content": "Hot.", "insertion_order": 1},
                "not an entry",
            ]},
        },
    }
    result = read_card(json.dumps(card).encode(), "quirk.json")
    char = result.character
    assert (char.name, char.description, char.personality) == ("Quirk", "From the top level.", "42")
    assert result.greetings == ["Data hello."]
    assert char.tags == ["alpha", "beta"]
    assert char.metadata["world"] == "7" and "talkativeness" not in char.metadata
    assert char.metadata["favorite"] is True
    entries = result.world.entries
    assert [e.keys for e in entries] == [["sun", "3"], ["moon"]]  # sorted by insertion_order
    assert entries[1].enabled is False and entries[1].content == "" and entries[1].metadata["order"] == 5
    problem_fields = fields(result.problems)
    assert "data" in problem_fields  # name/description taken from the top level
    assert "data.extensions.talkativeness" in problem_fields
    assert "character_book.entries.2" in problem_fields
    assert "character_book.entries.1.keys" in problem_fields


def test_card_without_name_is_named_after_the_file():
    result = read_card(json.dumps({"description": "Nameless.", "first_mes": "..."}).encode(), "cards/Mystery Guest.json")
    assert (result.character.name, result.character.id) == ("Mystery Guest", "mystery-guest")
    assert result.problems[0].severity == "error" and result.problems[0].field == "name"


def test_long_and_unicode_names():
    result = read_card(json.dumps({"name": "Amélie " * 100, "description": "x"}).encode(), "a.json")
    assert len(result.character.name) <= 200 and result.character.id.startswith("amelie-amelie")
    assert len(result.character.id) <= 128
    assert read_card(json.dumps({"name": "セラフィナ", "description": "x"}).encode(), "s.json").character.id == \
        "character"


@pytest.mark.parametrize("name, expected", [
    ("Seraphina", "seraphina"), ("Chiharu Yamada", "chiharu-yamada"), ("  Dr. Who?! ", "dr.-who"),
    ("..hidden..file..", "hidden.file"), ("Zoë & Ünal", "zoe-unal"), ("", "character"), ("!!!", "character"),
    ("a" * 300, "a" * 128), ("_under", "_under"),
])
def test_slug_id(name, expected):
    from comfyvn.projects.paths import ID_RE

    assert slug_id(name) == expected
    assert ID_RE.match(slug_id(name)) and ".." not in slug_id(name)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"), (b"\xff\xd8\xff\xe0 jpeg", "not UTF-8"), (b"[1, 2]", "got list"),
    (b'{"name": "x", "version": "1.0"}', "no V1 fields"), (b"\0\0\0", "binary data"),
    (b"{" * 5000, "not valid JSON"),
])
def test_not_a_card(data, message):
    with pytest.raises(UnreadableLog, match=message):
        read_card(data, "x")


@pytest.mark.parametrize("card", [
    {"spec": "chara_card_v2", "spec_version": "2.0", "data": "Seraphina"},
    {"spec": "chara_card_v3", "spec_version": "3.0", "data": ["name", "Mira"]},
    {"spec": "chara_card_v2", "spec_version": "2.0"},
    {"spec": "chara_card_v2", "data": None, "description": "no name at the top level either"},
])
def test_a_v2_v3_card_whose_data_is_not_an_object_is_not_a_card(card):
    """card_bad.json: `data` is a string; it used to become a character named after the file."""
    with pytest.raises(UnreadableLog) as error:
        read_card(json.dumps(card).encode(), "card_bad.json")
    assert error.value.field == "data" and error.value.format == "card.json"
    assert "'data'" in str(error.value) and "not a character card" in str(error.value)
    with pytest.raises(UnreadableLog):
        read_card(card_png(card), "card_bad.png")


def test_a_broken_data_with_a_complete_v1_copy_reads_the_copy():
    card = {"spec": "chara_card_v2", "data": "oops", "name": "Mira", "description": "A cartographer.",
            "first_mes": "Hello."}
    result = read_card(json.dumps(card).encode(), "mira.json")
    assert result.character.name == "Mira" and result.greetings == ["Hello."]
    assert any(p.field == "data" and p.severity == "error" for p in result.problems)


def test_nesting_limit():
    def nested(depth):
        return {"name": "Deep", "description": "x", "extensions": json.loads("[" * depth + "]" * depth)}

    assert read_card(json.dumps(nested(99)).encode(), "ok.json").character.name == "Deep"
    with pytest.raises(UnreadableLog, match="nested more than 100 levels deep"):
        read_card(json.dumps(nested(150)).encode(), "deep.json")
    with pytest.raises(UnreadableLog, match=r"not valid YAML \(nested more than 100 levels deep\)"):
        read_card(("name: Deep\ndescription: x\nx: " + "[" * 150 + "]" * 150).encode(), "deep.yaml")


def test_result_is_a_valid_character_and_json_safe():
    result = read_card(fixture("sillytavern/synthetic/card_v2_chara_plus_v3_ccv3.png"), "tess.png")
    again = Character.model_validate_json(result.character.model_dump_json())
    assert again == result.character
