"""Bad input for read_card, read_world and read_personas: whatever comes in, only UnreadableLog
escapes, and whatever comes out is a valid, JSON-safe model."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern.cards import read_card
from comfyvn.sillytavern.personas import read_personas
from comfyvn.sillytavern.worlds import read_world
from tests.sillytavern.builders import ST, card_png, charx, text_chunk

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
READERS = [read_card, read_world, read_personas]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
           | st.sampled_from(["0.5", "true", "false", "", " 12 ", "/re(gex)?/i", "ccdefault:", "embeded://x.png",
                              "__asset:0", "data:image/png;base64,AAAA", "1727478000000"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
CARD_KEYS = ["name", "description", "personality", "scenario", "first_mes", "mes_example", "creator_notes",
             "alternate_greetings", "tags", "creator", "character_version", "extensions", "nickname",
             "creation_date", "modification_date", "source", "creator_notes_multilingual", "char_name",
             "char_persona", "char_greeting", "context", "greeting", "world_scenario", "talkativeness", "fav"]
ENTRY_KEYS = ["uid", "id", "key", "keys", "keysecondary", "secondary_keys", "content", "enabled", "disable", "order",
              "insertion_order", "position", "constant", "selective", "comment", "name", "probability", "depth",
              "caseSensitive", "extensions", "scanDepth", "role"]


def some_of(keys, inner=values):
    return st.fixed_dictionaries({}, optional={key: inner for key in keys})


entries = st.lists(st.one_of(some_of(ENTRY_KEYS), values), max_size=4)
assets = st.lists(st.one_of(some_of(["type", "uri", "name", "ext"], scalars), values), max_size=4)
card_bodies = st.builds(lambda body, book, found: {**body, "character_book": book, "assets": found},
                        some_of(CARD_KEYS), st.one_of(values, some_of(["name", "entries"], st.one_of(entries, values))),
                        st.one_of(assets, values))
cards = st.builds(lambda spec, top, body: {**top, "spec": spec, "data": body},
                  st.sampled_from(["chara_card_v2", "chara_card_v3", "other", None, 3]), some_of(CARD_KEYS),
                  st.one_of(card_bodies, values)) | card_bodies


def check(reader, data: bytes, name: str = "fuzz") -> None:
    """Run one reader; only UnreadableLog may escape; results must be valid, JSON-safe models."""
    try:
        result = reader(data, name)
    except UnreadableLog as error:
        assert str(error)
        return
    if reader is read_card:
        models = [result.character, result.world]
        assert all(isinstance(a.data, (bytes, type(None))) for a in result.assets)
    elif reader is read_world:
        models = [result.world]
    else:
        models = result.personas
    for model in models:
        if model is None:
            continue
        dumped = json.dumps(model.model_dump(), allow_nan=False)
        assert type(model).model_validate(json.loads(dumped)) == model
    for problem in result.problems:
        json.dumps(problem.as_dict())


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"{", b"\xef\xbb\xbf"]))
def test_random_bytes(data, prefix):
    for reader in READERS:
        check(reader, prefix + data)


def fixtures() -> list[bytes]:
    files = ["default-content/Eldoria.json", "synthetic/card_v1_only.png", "synthetic/card_v2_chara_plus_v3_ccv3.png",
             "synthetic/worldinfo_full_fields.json", "synthetic/personas_20240928.json"]
    found = [(ST / name).read_bytes() for name in files if (ST / name).is_file()]
    card = {"spec": "chara_card_v3", "data": {"name": "Z", "assets": [
        {"type": "emotion", "uri": "embeded://assets/joy.png", "name": "joy", "ext": "png"}]}}
    return [*found, charx(card, {"assets/joy.png": b"joy" * 100}), card_png({"name": "Y", "description": "d"})]


SAMPLES = fixtures()


@FUZZ
@given(st.sampled_from(SAMPLES), st.floats(min_value=0, max_value=1))
def test_truncated_files(data, fraction):
    cut = data[: int(len(data) * fraction)]
    for reader in READERS:
        check(reader, cut)


@FUZZ
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_files(data, flips):
    damaged = bytearray(data)
    for where, value in flips:
        damaged[min(int(where * len(damaged)), len(damaged) - 1)] = value
    for reader in READERS:
        check(reader, bytes(damaged))


@FUZZ
@given(cards, st.sampled_from(["json", "png", "ccv3", "charx", "yaml"]))
def test_wrong_types_in_card_fields(card, container):
    raw = json.dumps(card)
    if container == "json":
        data = raw.encode()
    elif container in ("png", "ccv3"):
        data = card_png(card, "chara" if container == "png" else "ccv3")
    elif container == "charx":
        data = charx(card, {"x.png": b"x"})
    else:
        data = ("# yaml\n" + raw).encode()  # JSON is YAML; the comment keeps it off the JSON path
    check(read_card, data)


@FUZZ
@given(st.one_of(st.dictionaries(st.text(max_size=4), st.one_of(some_of(ENTRY_KEYS), values), max_size=4), entries,
                 values), st.one_of(st.none(), values))
def test_wrong_types_in_world_fields(found, name):
    body = {"entries": found} if name is None else {"entries": found, "name": name, "originalData": name}
    check(read_world, json.dumps(body).encode())


@FUZZ
@given(some_of(["personas", "persona_descriptions", "default_persona"],
               st.one_of(st.dictionaries(st.text(max_size=6), values, max_size=4), values)), st.booleans())
def test_wrong_types_in_persona_fields(body, wrapped):
    check(read_personas, json.dumps({"power_user": body} if wrapped else body).encode())


@pytest.mark.parametrize("depth", [50, 1023, 1025, 20000])
def test_deep_nesting(depth):
    nested = "[" * depth + "]" * depth
    for reader in READERS:
        check(reader, nested.encode())
    check(read_card, ('{"name": "Deep", "description": "x", "extensions": ' + nested + "}").encode())
    check(read_card, card_png({"name": "Deep", "description": "x"})[:-12]
          + text_chunk("ccv3", "e" * depth) + b"\0\0\0\0IEND\xaeB`\x82")
    check(read_world, ('{"entries": {"0": {"key": ' + nested + ', "content": "x"}}}').encode())
    check(read_personas, ('{"personas": {"a.png": ' + nested + "}}").encode())
    check(read_card, ("name: Deep\ncontext: " + "[" * min(depth, 5000) + "]" * min(depth, 5000)).encode())


def test_huge_strings():
    huge = "x" * (6 * 1024 * 1024)
    result = read_card(json.dumps({"name": "Big", "description": huge}).encode(), "big.json")
    assert len(result.character.description) == len(huge)
    result = read_card(card_png({"name": huge, "description": huge}), "big.png")
    assert len(result.character.name) == 200 and result.problems[0].field == "name"
    world = read_world(json.dumps({"entries": {"0": {"key": [huge], "content": huge}}}).encode(), "w.json").world
    assert world.entries[0].content == huge
    personas = read_personas(json.dumps({"personas": {"a.png": huge}}).encode(), "p.json").personas
    assert len(personas[0].name) == 200
    with pytest.raises(UnreadableLog, match="YAML character is at most"):
        read_card(("name: Big\ncontext: " + huge).encode(), "big.yaml")
    with pytest.raises(UnreadableLog):
        read_card(("\n" * (3 * 1024 * 1024)).encode(), "lines.txt")
    for reader in READERS:
        check(reader, b"[" + b'"' + huge.encode() + b'"' * 2)
