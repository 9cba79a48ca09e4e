"""oobabooga, Agnai, RisuAI, CAI Tools and generic JSON readers: shapes, names, problems, detection, fuzz."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.readers import Source, discord, others
from comfyvn.roleplay.readers.jsonlog import JsonLines, name_from_file
from comfyvn.roleplay.transcript import Transcript, UnreadableLog

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"

OOBA_NEW = """{
    "internal": [
        [
            "<|BEGIN-VISIBLE-CHAT|>",
            "*Seraphina smiles.* Welcome to the glade & rest."
        ],
        [
            "Where am I? <looks around>",
            "You are safe here, {{user}}."
        ],
        [
            "",
            "*She hums a tune.*"
        ],
        [
            "The next morning.",
            "",
            "",
            {"role": "system"}
        ]
    ],
    "visible": [
        [
            "",
            "*Seraphina smiles.* Welcome to the glade &amp; rest."
        ],
        [
            "Where am I? &lt;looks around&gt;",
            "You are safe here, Ann."
        ],
        [
            "",
            "*She hums a tune.*"
        ],
        [
            "The next morning.",
            ""
        ]
    ],
    "metadata": {
        "user_1": {"timestamp": "Jun 12, 2025 14:05"},
        "assistant_1": {
            "timestamp": "Jun 12, 2025 14:06",
            "versions": [
                {"content": "Go away.", "visible_content": "Go away.", "timestamp": "Jun 12, 2025 14:05"},
                {"content": "You are safe here, {{user}}.", "visible_content": "You are safe here, Ann."}
            ],
            "current_version_index": 1
        }
    }
}"""

OOBA_OLD = """{
  "data": [
    ["<|BEGIN-VISIBLE-CHAT|>", "Hey! I'm so excited to finally meet you."],
    ["Hi Chiharu", "*She grins* Let's get started!"],
    [7, "Oops"]
  ],
  "data_visible": [
    ["", "Hey! I&#x27;m so excited to finally meet you."],
    ["Hi Chiharu", "*She grins* Let&#x27;s get started!"],
    "not a pair"
  ]
}"""

AGNAI = """{
  "name": "Exported",
  "greeting": "*The tavern door creaks open.* Welcome, traveller.",
  "sampleChat": "",
  "scenario": "A tavern at the edge of the world.",
  "treeLeafId": "b7",
  "messages": [
    {"_id": "a1", "createdAt": "2024-05-01T10:00:00.000Z", "handle": "You", "userId": "u-1", "msg": "I order an ale."},
    {"_id": "a2", "createdAt": "2024-05-01T10:00:05.000Z", "handle": "Mira", "name": "Mira", "characterId": "imported",
     "msg": "*slides a mug over* On the house.", "extras": ["Pay first.", "*slides a mug over* On the house."]},
    {"_id": "a3", "createdAt": "2024-05-01T10:01:00.000Z", "handle": "Sam", "userId": "u-1",
     "msg": "(brb, dinner)", "ooc": true},
    {"_id": "a4", "createdAt": "2024-05-01T10:02:00.000Z", "characterId": "imported", "msg": null},
    {"_id": "a5", "createdAt": 1714557780000, "characterId": "imported", "name": "Mira", "msg": 42}
  ]
}"""

RISU = (
    '{"type":"risuChat","ver":2,"data":{"name":"Night market","note":"keep it cosy","localLore":[],'
    '"message":[{"role":"char","data":"Lanterns sway above the stalls.","time":1718612400000},'
    '{"role":"user","data":"I buy a skewer.","time":1718612460000,"name":"Rin"},'
    '{"role":"ghost","data":"Boo."},'
    '{"role":"char","data":"   "}]}}'
)

RISU_ALL = orjson.dumps({"type": "risuAllChats", "ver": 2, "data": [
    {"name": "Day 1", "message": [{"role": "char", "data": "Morning."}, {"role": "user", "data": "Hi."}]},
    {"name": "Day 2", "message": [{"role": "char", "data": "Evening."}]},
    "junk",
]}, option=orjson.OPT_INDENT_2).decode()

CAI = """{
  "info": {"character": {"name": "Aster"}},
  "histories": {
    "histories": [
      {"msgs": [
        {"src": {"is_human": false, "name": "Aster"}, "text": "The stars are out tonight."},
        {"src": {"is_human": true, "name": "Noa"}, "text": "Let's count them."}
      ]},
      {"msgs": [
        {"src": {"is_human": false}, "text": "A new night."},
        {"src": {}, "text": "Who said that?"},
        {"src": {"is_human": true}, "text": ["not", "text"]}
      ]}
    ]
  }
}"""

GENERIC = """{
  "title": "Harbour scene",
  "messages": [
    "Captain: All hands on deck!",
    "[2024-03-01 21:15] Ann: Aye, captain.",
    "The ship creaks in the wind.",
    {"speaker": "Captain", "text": "Raise the sails.", "timestamp": "2024-03-01T21:16:00Z"},
    {"role": "user", "content": "I climb the mast."},
    {"author": {"name": "lookout", "nickname": "Lookout"}, "message": "Land ho!", "time": 1709327820000},
    {"name": "Narrator", "mes": "Dawn breaks."},
    {"role": "Gull", "text": "Squawk."},
    12,
    null,
    {"speaker": "Ann"},
    ""
  ]
}"""

SAMPLES = {
    "oobabooga.json": ("logs/chat/Seraphina/20240928-01-00-07.json", OOBA_NEW),
    "agnai.json": ("chat-3f2a.json", AGNAI),
    "risuai.json": ("Mei_2024-06-17T083021281Z_chat.json", RISU),
    "caitools.json": ("aster_history.json", CAI),
    "generic.json": ("harbour.json", GENERIC),
}
READERS = {reader.id: reader for reader in others.READERS}


def read(reader_id: str, text: str, name: str = "log.json") -> Transcript:
    return READERS[reader_id].read(Source(text.encode(), name))


def line_at(text: str, line: int | None) -> str:
    assert line is not None
    return text.split("\n")[line - 1]


def problems(t: Transcript) -> list[tuple[int | None, str | None]]:
    return [(p.line, p.field) for p in t.problems]


# --- oobabooga ------------------------------------------------------------------------------------
def test_oobabooga_newer_shape_prefers_visible_text_and_keeps_internal():
    t = read("oobabooga.json", OOBA_NEW, SAMPLES["oobabooga.json"][0])
    assert [(m.speaker, m.role, m.text) for m in t.messages] == [
        ("Seraphina", "character", "*Seraphina smiles.* Welcome to the glade & rest."),
        ("User", "user", "Where am I? <looks around>"),
        ("Seraphina", "character", "You are safe here, Ann."),
        ("Seraphina", "character", "*She hums a tune.*"),
        ("System", "system", "The next morning."),
    ]
    assert [m.index for m in t.messages] == [0, 1, 2, 3, 4]
    assert t.messages[2].extra == {"internal": "You are safe here, {{user}}."}
    assert t.messages[0].extra == {} and t.messages[1].extra == {}  # unescaped visible == internal
    assert t.messages[2].alternates == ["Go away."]
    assert (t.messages[1].timestamp_raw, t.messages[1].timestamp) == ("Jun 12, 2025 14:05", "2025-06-12T14:05:00")
    assert t.messages[0].timestamp_raw is None
    assert "&amp; rest" in line_at(OOBA_NEW, t.messages[0].line)
    assert "&lt;looks around&gt;" in line_at(OOBA_NEW, t.messages[1].line)
    assert t.user_name == "User" and t.character_names == ["Seraphina"]
    assert t.problems == []


def test_oobabooga_older_shape_and_bad_rows():
    t = read("oobabooga.json", OOBA_OLD, "Chiharu Yamada_persistent.json")
    assert [(m.speaker, m.text) for m in t.messages] == [
        ("Chiharu Yamada", "Hey! I'm so excited to finally meet you."),
        ("User", "Hi Chiharu"),
        ("Chiharu Yamada", "*She grins* Let's get started!"),
        ("Chiharu Yamada", "Oops"),
    ]
    assert t.metadata["shape"] == "data/data_visible"
    # row 2: internal user half is a number and the visible row is not a pair: reported, bot half kept
    assert problems(t) == [(5, "data[2][0]")]
    assert line_at(OOBA_OLD, t.messages[3].line).strip().startswith("[7,")


def test_oobabooga_unknown_character_and_length_mismatch():
    text = '{"internal": [["Hi", "Hello"], ["More", "Sure"]], "visible": [["Hi", "Hello"]]}'
    t = read("oobabooga.json", text, "20240101-10-00-00.json")
    assert [m.speaker for m in t.messages] == ["User", "Character", "User", "Character"]
    assert [m.line for m in t.messages] == [1, 1, 1, 1]  # one-line file
    assert problems(t) == [(1, "visible")]


@pytest.mark.parametrize(("name", "expected"), [
    ("Chiharu Yamada_persistent.json", "Chiharu Yamada"),
    ("Chiharu Yamada_20230415-101010.json", "Chiharu Yamada"),
    ("logs/chat/Seraphina/20240928-01-00-07.json", "Seraphina"),
    ("Mei_2024-06-17T083021281Z_chat.json", "Mei"),
    ("Seraphina - 2024-09-28@01h00m07s.json", "Seraphina"),
    ("Chat Noir (2).json", "Chat Noir"),
    ("Mira.json", "Mira"),
    ("notes.json", None),
    ("20240928-01-00-07.json", None),
    ("chat-3f2a.json", None),
    ("exported_history.json", None),
    ("downloads/2024/log.json", None),
    ("", None),
])
def test_character_name_from_file_name(name, expected):
    assert name_from_file(name) == expected


# --- Agnai ----------------------------------------------------------------------------------------
def test_agnai_greeting_roles_ooc_and_problems():
    t = read("agnai.json", AGNAI, "chat-3f2a.json")
    assert [(m.index, m.speaker, m.role, m.text) for m in t.messages] == [
        (0, "Mira", "character", "*The tavern door creaks open.* Welcome, traveller."),
        (1, "User", "user", "I order an ale."),
        (2, "Mira", "character", "*slides a mug over* On the house."),
        (3, "Sam", "user", "(brb, dinner)"),
        (5, "Mira", "character", "42"),
    ]
    greeting, ale, mug, ooc, repaired = t.messages
    assert greeting.extra == {"greeting": True} and '"greeting"' in line_at(AGNAI, greeting.line)
    assert mug.alternates == ["Pay first."]
    assert ooc.hidden and ooc.extra["ooc"] is True and ooc not in t.story_messages()
    assert ale.timestamp_raw == "2024-05-01T10:00:00.000Z" and ale.timestamp == "2024-05-01T10:00:00Z"
    assert repaired.timestamp_raw == "1714557780000"
    assert t.metadata == {"scenario": "A tavern at the edge of the world."}
    assert t.title is None and t.user_name == "User" and t.character_names == ["Mira"]
    assert problems(t) == [(13, "messages[3].msg"), (14, "messages[4].msg")]
    assert [p.severity for p in t.problems] == ["warning", "warning"]
    assert '"a4"' in line_at(AGNAI, 13) and "null" in t.problems[0].message


def test_agnai_greeting_not_repeated_when_it_is_the_first_message():
    data = {"name": "Exported", "greeting": "Hello there.", "scenario": "", "sampleChat": "", "messages": [
        {"characterId": "imported", "msg": "Hello there.", "createdAt": "2024-05-01T10:00:00Z"},
        {"userId": "u", "msg": "Hi!"}]}
    t = read("agnai.json", orjson.dumps(data).decode())
    assert [(m.index, m.speaker, m.text) for m in t.messages] == [(0, "Character", "Hello there."), (1, "User", "Hi!")]


# --- RisuAI ---------------------------------------------------------------------------------------
def test_risuai_roles_names_times_and_bad_role():
    t = read("risuai.json", RISU, SAMPLES["risuai.json"][0])
    assert [(m.speaker, m.role, m.text) for m in t.messages] == [
        ("Mei", "character", "Lanterns sway above the stalls."),
        ("Rin", "user", "I buy a skewer."),
        ("Mei", "character", "Boo."),
    ]
    assert (t.messages[0].timestamp_raw, t.messages[0].timestamp) == ("1718612400000", "2024-06-17T08:20:00Z")
    assert t.title == "Night market" and t.metadata == {"note": "keep it cosy"}
    assert problems(t) == [(1, "data.message[2].role")]
    assert "'ghost'" in t.problems[0].message


def test_risuai_all_chats_are_concatenated_with_scene_breaks():
    t = read("risuai.json", RISU_ALL, "notes.json")
    assert [(m.text, m.extra.get("scene_break_before", False)) for m in t.messages] == [
        ("Morning.", False), ("Hi.", False), ("Evening.", True)]
    assert [m.speaker for m in t.messages] == ["Character", "User", "Character"]
    assert line_at(RISU_ALL, t.messages[2].line).strip() == "{"  # the message object starts here
    assert '"Evening."' in line_at(RISU_ALL, t.messages[2].line + 2)
    assert problems(t) == [(27, "data[2]")] and line_at(RISU_ALL, 27).strip() == '"junk"'


# --- CAI Tools ------------------------------------------------------------------------------------
def test_caitools_histories_become_scenes():
    t = read("caitools.json", CAI, "aster_history.json")
    assert [(m.index, m.speaker, m.role, m.text) for m in t.messages] == [
        (0, "Aster", "character", "The stars are out tonight."),
        (1, "Noa", "user", "Let's count them."),
        (2, "Aster", "character", "A new night."),
        (3, "Aster", "character", "Who said that?"),
    ]
    assert [m.extra.get("scene_break_before", False) for m in t.messages] == [False, False, True, False]
    assert [m.extra["history"] for m in t.messages] == [0, 0, 1, 1]
    assert "Who said that?" in line_at(CAI, t.messages[3].line)
    assert problems(t) == [(11, "histories.histories[1].msgs[1].src.is_human"),
                           (12, "histories.histories[1].msgs[2].text")]


# --- generic --------------------------------------------------------------------------------------
def test_generic_strings_and_objects():
    t = read("generic.json", GENERIC)
    got = [(m.index, m.speaker, m.role, m.text, m.timestamp_raw) for m in t.messages]
    assert got == [
        (0, "Captain", "character", "All hands on deck!", None),
        (1, "Ann", "character", "Aye, captain.", "2024-03-01 21:15"),
        (2, "Narrator", "narrator", "The ship creaks in the wind.", None),
        (3, "Captain", "character", "Raise the sails.", "2024-03-01T21:16:00Z"),
        (4, "User", "user", "I climb the mast.", None),
        (5, "Lookout", "character", "Land ho!", "1709327820000"),
        (6, "Narrator", "narrator", "Dawn breaks.", None),
        (7, "Gull", "character", "Squawk.", None),
    ]
    assert t.title == "Harbour scene"
    assert t.messages[3].timestamp == "2024-03-01T21:16:00Z"
    assert problems(t) == [(12, "messages[8]"), (13, "messages[9]"), (14, "messages[10].text"), (15, "messages[11]")]
    assert [p.severity for p in t.problems] == ["warning", "warning", "warning", "info"]
    assert "a number" in t.problems[0].message and "missing" in t.problems[2].message


def test_sniffs_tolerate_a_broken_first_message():
    ooba = '{"internal": [5, ["Hi", "Hello"]], "visible": "oops"}'
    agnai = '{"messages": [{"oops": 1}, {"msg": "Hi", "userId": "u"}, {"msg": "Yo", "characterId": "c"}]}'
    assert others.sniff_oobabooga(Source(ooba.encode())) == 0.9
    assert others.sniff_agnai(Source(agnai.encode())) == 0.95
    assert others.sniff_generic(Source(agnai.encode())) == 0.0
    t = read("oobabooga.json", ooba)
    assert [m.text for m in t.messages] == ["Hi", "Hello"]
    assert problems(t) == [(1, "visible"), (1, "internal[0]")]


def test_generic_numbers_are_not_names():
    t = read("generic.json", '{"lines": ["12: the clock strikes", "Ann:  Hi"]}')
    assert [(m.speaker, m.role, m.text) for m in t.messages] == [
        ("Narrator", "narrator", "12: the clock strikes"), ("Ann", "character", "Hi")]


def test_generic_bare_list_and_lines_key():
    t = read("generic.json", '["Ann: Hi", {"name": "Bo", "text": "Yo"}]')
    assert [(m.speaker, m.text) for m in t.messages] == [("Ann", "Hi"), ("Bo", "Yo")]
    t = read("generic.json", '{"lines": ["You: wave", "System: Saved."]}')
    assert [(m.speaker, m.role) for m in t.messages] == [("You", "user"), ("System", "system")]


# --- files that are not the format ----------------------------------------------------------------
@pytest.mark.parametrize("reader_id", sorted(READERS))
def test_foreign_and_broken_input_is_unreadable_with_the_format(reader_id):
    with pytest.raises(UnreadableLog) as caught:
        read(reader_id, '{"messages": [\n{"msg": "hi"},\n')
    assert caught.value.format == reader_id and caught.value.line == 3
    with pytest.raises(UnreadableLog) as caught:
        READERS[reader_id].read(Source(b"\x89PNG\r\n\x1a\n\x00\x00", "card.png"))
    assert caught.value.format == reader_id
    with pytest.raises(UnreadableLog, match="deeper than 1024"):
        read(reader_id, "[" * 1100 + "]" * 1100)
    with pytest.raises(UnreadableLog) as caught:  # an oobabooga character card, not a chat
        read(reader_id, '{"char_name": "Chiharu", "char_greeting": "Hi"}')
    assert caught.value.format == reader_id and caught.value.line == 1


def test_json_lines_finds_values_in_pretty_printed_files():
    text = '{\n "a": [\n  {"x": "[,]{"},\n  "s\\"q",\n  [1,\n   2]\n ],\n "b": {"a": [3]}\n}'
    lines = JsonLines(text, ("a", "*"), ("b", "a"))
    assert [lines("a", 0), lines("a", 1), lines("a", 2), lines("b", "a"), lines("a", 3)] == [3, 4, 5, 8, None]


# --- detection ------------------------------------------------------------------------------------
FOREIGN = {
    "sillytavern.jsonl": ('{"user_name":"You","character_name":"Seraphina","create_date":"2024-9-28@01h00m07s",'
                          '"chat_metadata":{}}\n{"name":"You","is_user":true,"mes":"Hi","send_date":"x"}\n'),
    "sillytavern header only": '{"user_name":"You","character_name":"Seraphina","chat_metadata":{}}',
    "sillytavern.txt": "Seraphina: *smiles* Welcome.\n\nYou: Thanks.\n\n",
    "plain": "[10:00] Ann: Hi\n[10:01] Bo: Hello\n---\nAnn: Bye\n",
    "card": '{"spec": "chara_card_v2", "data": {"name": "Mira", "first_mes": "Hi"}}',
    "ooba character": '{"char_name": "Chiharu", "char_greeting": "Hi", "example_dialogue": "You: hi"}',
    "discord": ('{"guild": {"name": "G"}, "channel": {"name": "c"}, '
                '"messages": [{"author": {"name": "a"}, "content": "x"}]}'),
}


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
def test_each_sniff_recognises_only_its_own_sample(reader_id):
    name, text = SAMPLES[reader_id]
    for other in READERS.values():
        score = other.sniff(Source(text.encode(), name))
        assert score >= 0.4 if other.id == reader_id else score == 0.0, (other.id, score)


@pytest.mark.parametrize("label", sorted(FOREIGN))
def test_sniffs_ignore_other_formats(label):
    for reader in READERS.values():
        assert reader.sniff(Source(FOREIGN[label].encode(), "chat.json")) == 0.0, reader.id


def test_sniffs_ignore_the_shared_fixtures():
    """None of the fixtures (SillyTavern files, cards, an oobabooga character) is any of these logs:
    neither the readers here nor the Discord ones may claim them."""
    if not FIXTURES.is_dir():
        pytest.skip("shared fixtures not present")
    readers = [*others.READERS, *discord.READERS]
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            source = Source(path.read_bytes(), path.name)
            assert all(reader.sniff(source) == 0.0 for reader in readers), path.name


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
def test_detect_picks_the_right_reader(reader_id):
    from comfyvn.roleplay import readers

    name, text = SAMPLES[reader_id]
    assert readers.detect(Source(text.encode(), name)).id == reader_id
    assert readers.read(Source(text.encode(), name)).format == reader_id


# --- fuzz -----------------------------------------------------------------------------------------
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
NESTED = st.integers(1, 1100).map(lambda depth: f"<nested {depth}>")  # put in after dumping (orjson dumps <= 255)


def survives(reader_id: str, data: bytes, name: str = "log.json") -> Transcript | None:
    """Only UnreadableLog may escape ``read``; ``sniff`` never raises and stays in 0..1."""
    reader = READERS[reader_id]
    assert 0.0 <= reader.sniff(Source(data, name)) <= 1.0
    try:
        transcript = reader.read(Source(data, name))
    except UnreadableLog as exc:
        assert exc.format == reader_id
        return None
    assert all(isinstance(m.text, str) and m.text.strip() and isinstance(m.speaker, str) for m in transcript.messages)
    assert all(p.line is None or isinstance(p.line, int) for p in transcript.problems)
    return transcript


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*prefix, i))


def replaced(value, path, new):
    """``value`` with the item at ``path`` replaced by ``new`` (removed when ``new`` is DROP)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        if new is DROP and not rest:
            return {key: item for key, item in value.items() if key != head}
        return {**value, head: replaced(value[head], rest, new)}
    if new is DROP and not rest:
        return [item for i, item in enumerate(value) if i != head]
    return [replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]


DROP = object()


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
@FUZZ
@given(data=st.data())
def test_fuzz_wrong_types_in_every_field(reader_id, data):
    name, text = SAMPLES[reader_id]
    sample = orjson.loads(text)
    for _ in range(data.draw(st.integers(1, 3))):  # replace or drop up to three fields anywhere
        path = data.draw(st.sampled_from(list(paths(sample))))
        new = data.draw(st.just(DROP) | JSON_VALUES | NESTED)
        sample = replaced(sample, path, None if new is DROP and not path else new)
    text = orjson.dumps(sample, option=orjson.OPT_INDENT_2).decode()
    text = re.sub(r'"<nested (\d+)>"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text)
    survives(reader_id, text.encode(), name)


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
@FUZZ
@given(blob=st.binary(max_size=300), cut=st.floats(0, 1))
def test_fuzz_random_bytes_and_truncated_json(reader_id, blob, cut):
    name, text = SAMPLES[reader_id]
    survives(reader_id, blob, name)
    survives(reader_id, text.encode()[: int(len(text) * cut)], name)


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
@settings(max_examples=20, deadline=None)
@given(depth=st.integers(1, 3000), key=st.sampled_from(["messages", "lines", "internal", "data", "histories"]))
def test_fuzz_deep_nesting(reader_id, depth, key):
    nested = "[" * depth + "]" * depth
    survives(reader_id, nested.encode())
    survives(reader_id, f'{{"{key}": {nested}, "type": "risuChat"}}'.encode())


@pytest.mark.parametrize("reader_id", sorted(SAMPLES))
def test_huge_lines_are_read(reader_id):
    huge = "x" * 4_000_000
    name, text = SAMPLES[reader_id]
    sample = orjson.loads(text)
    field = {"oobabooga.json": ("visible", 1, 1), "agnai.json": ("messages", 0, "msg"),
             "risuai.json": ("data", "message", 0, "data"), "generic.json": ("messages", 3, "text"),
             "caitools.json": ("histories", "histories", 0, "msgs", 0, "text")}[reader_id]
    for option in (0, orjson.OPT_INDENT_2):
        t = survives(reader_id, orjson.dumps(replaced(sample, field, huge), option=option), name)
        assert t is not None and max(len(m.text) for m in t.messages) == len(huge)
