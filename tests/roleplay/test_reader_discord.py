"""DiscordChatExporter JSON and TXT readers: speakers, roles, attachments, dates, problems, detection, fuzz."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.readers import Source, discord, others
from comfyvn.roleplay.transcript import Transcript, UnreadableLog
from tests.roleplay.test_reader_others import (
    FOREIGN,
    JSON_VALUES,
    SAMPLES,
    paths,
    replaced,
)

DCE_JSON = """{
  "guild": {"id": "1", "name": "Roleplay Hub", "iconUrl": "https://cdn.discordapp.com/embed/avatars/0.png"},
  "channel": {"id": "2", "type": "GuildTextChat", "categoryId": "3", "category": "Stories",
              "name": "tavern-rp", "topic": "In character only"},
  "dateRange": {"after": null, "before": null},
  "exportedAt": "2024-06-01T12:00:00.000+00:00",
  "messages": [
    {"id": "100", "type": "Default", "timestamp": "2024-05-31T20:00:00.123+00:00", "timestampEdited": null,
     "isPinned": false, "content": "*pushes the door open* Evening, everyone.",
     "author": {"id": "u1", "name": "ann_rp", "discriminator": "0000", "nickname": "Ann", "isBot": false},
     "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": []},
    {"id": "101", "type": "Reply", "timestamp": "2024-05-31T20:01:00+00:00", "isPinned": true,
     "content": "*looks up from the bar* Welcome back.\\nSit anywhere.",
     "author": {"id": "b1", "name": "Mira", "discriminator": "0000", "nickname": "Mira", "isBot": true},
     "attachments": [], "reference": {"messageId": "100", "channelId": "2", "guildId": "1"}},
    {"id": "102", "type": "GuildMemberJoin", "timestamp": "2024-05-31T20:01:30+00:00",
     "content": "Joined the server.", "author": {"id": "u2", "name": "bo", "nickname": "Bo", "isBot": false}},
    {"id": "103", "type": "Default", "timestamp": "2024-05-31T20:02:00+00:00", "content": "",
     "author": {"id": "u1", "name": "ann_rp", "nickname": "Ann the Bold", "isBot": false},
     "attachments": [{"id": "9", "url": "https://cdn.discordapp.com/attachments/1/2/map.png?ex=1",
                      "fileName": "map.png", "fileSizeBytes": 1024}]},
    {"id": "104", "type": "Default", "timestamp": "2024-05-31T20:03:00+00:00", "content": "",
     "author": {"id": "b1", "name": "Mira", "nickname": "Mira", "isBot": true},
     "embeds": [{"title": "Mira", "description": "*nods slowly*"}]},
    {"id": "105", "type": "Default", "timestamp": "2024-05-31T20:04:00+00:00", "content": "",
     "author": {"id": "u1", "name": "ann_rp", "nickname": "Ann", "isBot": false}},
    {"id": "106", "type": "Default", "timestamp": "2024-05-31T20:05:00+00:00", "content": "Who's there?",
     "author": "ghost"},
    7
  ],
  "messageCount": 8
}"""

RULE = "=" * 62
DCE_TXT = f"""{RULE}
Guild: Roleplay Hub
Channel: Stories / tavern-rp
Topic: In character only
{RULE}

[5/31/2024 8:00 PM] ann_rp
*pushes the door open* Evening, everyone.

Anyone here?


[5/31/2024 8:01 PM] Mira (pinned)
*looks up from the bar* Welcome back.

{{Reactions}}
👋 (2)


[5/31/2024 8:02 PM] ann_rp


{{Attachments}}
https://cdn.discordapp.com/attachments/1/2/map.png


[31-May-24 08:03 PM] Mira
Ah, the old map.

[OOC] brb, dinner


[5/31/2024 8:04 PM] ann_rp



{RULE}
Exported 5 message(s)
{RULE}
"""

DISCORD_SAMPLES = {"discord.json": ("tavern-rp.json", DCE_JSON), "discord.txt": ("tavern-rp.txt", DCE_TXT)}
READERS = {reader.id: reader for reader in discord.READERS}


def read(reader_id: str, text: str, name: str = "export") -> Transcript:
    return READERS[reader_id].read(Source(text.encode(), name))


def line_at(text: str, line: int | None) -> str:
    assert line is not None
    return text.split("\n")[line - 1]


# --- JSON -----------------------------------------------------------------------------------------
def test_json_speakers_roles_attachments_and_problems():
    t = read("discord.json", DCE_JSON)
    assert [(m.index, m.speaker, m.role, m.text) for m in t.messages] == [
        (0, "Ann", "user", "*pushes the door open* Evening, everyone."),
        (1, "Mira", "character", "*looks up from the bar* Welcome back.\nSit anywhere."),
        (2, "Bo", "system", "Joined the server."),
        (3, "Ann the Bold", "user", "[attachment: map.png]"),
        (4, "Mira", "character", "Mira\n*nods slowly*"),
        (6, "Unknown", "user", "Who's there?"),  # an author that is not an object counts as a human
    ]
    ann, mira, join, picture, embed, unknown = t.messages
    assert picture.extra["attachments"] == ["map.png"]
    assert picture.extra["attachment_urls"] == ["https://cdn.discordapp.com/attachments/1/2/map.png?ex=1"]
    assert mira.extra == {"id": "101", "reply_to": "100", "pinned": True}
    assert (ann.timestamp_raw, ann.timestamp) == ("2024-05-31T20:00:00.123+00:00", "2024-05-31T20:00:00.123Z")
    assert join not in t.story_messages()
    assert embed.extra == {"id": "104"} and unknown.extra == {"id": "106"}
    assert all(f'"id": "{m.extra.get("id", "106")}"' in line_at(DCE_JSON, m.line) for m in t.messages)
    assert t.title == "tavern-rp" and t.user_name == "Ann" and t.character_names == ["Mira"]
    assert t.metadata == {"guild": "Roleplay Hub", "channel": "tavern-rp", "category": "Stories",
                          "topic": "In character only", "exported_at": "2024-06-01T12:00:00.000+00:00"}
    assert [(p.line, p.field, p.severity) for p in t.problems] == [
        (25, "messages[5]", "info"), (27, "messages[6].author", "warning"), (29, "messages[7]", "warning")]


def _authors(*pairs: tuple[str, bool]) -> str:
    messages = [{"id": str(i), "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00", "content": f"line {i}",
                 "author": {"id": name, "name": name, "nickname": name, "isBot": bot}}
                for i, (name, bot) in enumerate(pairs)]
    return orjson.dumps({"guild": {"name": "g"}, "channel": {"name": "c"}, "messages": messages}).decode()


@pytest.mark.parametrize(("pairs", "roles"), [
    ((("Ann", False), ("Mira", True), ("Ann", False)), ["user", "character", "user"]),
    ((("Ann", False), ("Bo", False), ("Cy", False), ("Ann", False)), ["user", "character", "character", "user"]),
    ((("Mira", True), ("Kael", True)), ["user", "character"]),
    ((("Ann", False), ("Ann", False)), ["character", "character"]),
])
def test_json_role_rule(pairs, roles):
    assert [m.role for m in read("discord.json", _authors(*pairs)).messages] == roles


def test_json_embeds_in_order_and_stickers():
    messages = [{"id": "1", "content": "", "author": {"name": "Bot", "isBot": True},
                 "embeds": [{"title": "One", "description": "first"}, {"description": "second"}, "junk"]},
                {"id": "2", "content": None, "author": {"name": "Bot", "isBot": True},
                 "stickers": [{"name": "wave"}, {"name": 5}], "attachments": "not a list"}]
    t = read("discord.json", orjson.dumps({"guild": {}, "channel": {}, "messages": messages}).decode())
    assert [m.text for m in t.messages] == ["One\nfirst\nsecond", "[sticker: wave]"]
    assert [m.role for m in t.messages] == ["character", "character"]


def test_json_not_an_export():
    for text, field in (('{"guild": {}, "channel": {}, "messages": 5}', "messages"), ("[1, 2]", None)):
        with pytest.raises(UnreadableLog) as caught:
            read("discord.json", text)
        assert (caught.value.format, caught.value.line, caught.value.field) == ("discord.json", 1, field)
    with pytest.raises(UnreadableLog, match="line 2") as caught:
        read("discord.json", '{"messages": [\n{"content": "x",,}]}')
    assert caught.value.line == 2


# --- TXT ------------------------------------------------------------------------------------------
def test_txt_messages_sections_dates_and_roles():
    t = read("discord.txt", DCE_TXT)
    assert t.best_effort and t.title == "Stories / tavern-rp"
    assert t.metadata == {"guild": "Roleplay Hub", "channel": "Stories / tavern-rp", "topic": "In character only"}
    assert [(m.index, m.speaker, m.role, m.text) for m in t.messages] == [
        (0, "ann_rp", "user", "*pushes the door open* Evening, everyone.\n\nAnyone here?"),
        (1, "Mira", "character", "*looks up from the bar* Welcome back."),
        (2, "ann_rp", "user", "[attachment: map.png]"),
        (3, "Mira", "character", "Ah, the old map.\n\n[OOC] brb, dinner"),
    ]
    first, mira, picture, later = t.messages
    assert [m.line for m in t.messages] == [7, 13, 20, 27]
    assert all(line_at(DCE_TXT, m.line).startswith(f"[{m.timestamp_raw}] {m.speaker}") for m in t.messages)
    assert (first.timestamp_raw, first.timestamp) == ("5/31/2024 8:00 PM", "2024-05-31T20:00:00")
    assert (later.timestamp_raw, later.timestamp) == ("31-May-24 08:03 PM", "2024-05-31T20:03:00")
    assert mira.extra == {"reactions": ["👋 (2)"], "pinned": True}
    assert picture.extra == {"attachments": ["map.png"],
                             "attachment_urls": ["https://cdn.discordapp.com/attachments/1/2/map.png"]}
    assert [(p.line, p.severity) for p in t.problems] == [(33, "info")]  # the empty last message


def test_txt_windows_line_endings_and_stray_text():
    text = DCE_TXT.replace(f"{RULE}\n\n[5/31/2024 8:00 PM]", f"{RULE}\n\nexported by a bot\n[5/31/2024 8:00 PM]", 1)
    t = read("discord.txt", text.replace("\n", "\r\n"))
    assert [m.speaker for m in t.messages] == ["ann_rp", "Mira", "ann_rp", "Mira"]
    assert t.messages[0].text.endswith("Anyone here?") and "\r" not in t.messages[0].text
    assert (t.problems[0].line, t.problems[0].message) == (7, "text before the first message; ignored")


def test_txt_without_preamble_is_unreadable():
    for text in ("[5/31/2024 8:00 PM] ann\nhello\n", "", "Guild: x\n"):
        with pytest.raises(UnreadableLog) as caught:
            read("discord.txt", text)
        assert caught.value.format == "discord.txt"
    with pytest.raises(UnreadableLog) as caught:
        READERS["discord.txt"].read(Source(b"\xff\xfe\x00junk", "x.txt"))
    assert caught.value.format == "discord.txt"


# --- detection ------------------------------------------------------------------------------------
MINE = {reader.id: reader for reader in [*others.READERS, *discord.READERS]}
ALL_SAMPLES = {**SAMPLES, **DISCORD_SAMPLES}


@pytest.mark.parametrize("reader_id", sorted(ALL_SAMPLES))
def test_each_sniff_recognises_only_its_own_sample(reader_id):
    name, text = ALL_SAMPLES[reader_id]
    for reader in MINE.values():
        score = reader.sniff(Source(text.encode(), name))
        assert score >= 0.4 if reader.id == reader_id else score == 0.0, (reader.id, score)


@pytest.mark.parametrize("label", sorted(set(FOREIGN) - {"discord"}))
def test_discord_sniffs_ignore_other_formats(label):
    for reader in READERS.values():
        assert reader.sniff(Source(FOREIGN[label].encode(), "chat.txt")) == 0.0, reader.id


@pytest.mark.parametrize("reader_id", sorted(DISCORD_SAMPLES))
def test_detect_picks_the_right_reader(reader_id):
    from comfyvn.roleplay import readers

    name, text = DISCORD_SAMPLES[reader_id]
    assert readers.detect(Source(text.encode(), name)).id == reader_id
    assert readers.detect(Source(text.encode(), "upload")).id == reader_id  # content decides, not the name


# --- fuzz -----------------------------------------------------------------------------------------
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def survives(reader_id: str, data: bytes, name: str = "export") -> Transcript | None:
    reader = READERS[reader_id]
    assert 0.0 <= reader.sniff(Source(data, name)) <= 1.0
    try:
        transcript = reader.read(Source(data, name))
    except UnreadableLog as exc:
        assert exc.format == reader_id
        return None
    assert all(isinstance(m.text, str) and m.text.strip() and m.role in ("user", "character", "system")
               for m in transcript.messages)
    return transcript


@FUZZ
@given(data=st.data())
def test_fuzz_json_wrong_types_in_every_field(data):
    sample = orjson.loads(DCE_JSON)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from([p for p in paths(sample) if p]))
        sample = replaced(sample, path, data.draw(JSON_VALUES))
    survives("discord.json", orjson.dumps(sample, option=orjson.OPT_INDENT_2))


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["replace", "insert", "delete"]),
                                st.text(max_size=40) | st.sampled_from(["", RULE, "{Attachments}", "{Embed}",
                                                                        "[1/1/2024 1:00 PM] x", "Guild: g"])),
                      max_size=6))
def test_fuzz_txt_line_edits(edits):
    lines = DCE_TXT.split("\n")
    for at, op, text in edits:
        at = min(at, len(lines))
        if op == "insert":
            lines.insert(at, text)
        elif at < len(lines):
            lines[at:at + 1] = [] if op == "delete" else [text]
    survives("discord.txt", "\n".join(lines).encode())


@pytest.mark.parametrize("reader_id", sorted(READERS))
@FUZZ
@given(blob=st.binary(max_size=300), cut=st.floats(0, 1), depth=st.integers(1, 3000))
def test_fuzz_random_bytes_truncation_and_nesting(reader_id, blob, cut, depth):
    text = DISCORD_SAMPLES[reader_id][1].encode()
    survives(reader_id, blob)
    survives(reader_id, text[: int(len(text) * cut)])
    survives(reader_id, ('{"guild": {}, "channel": {}, "messages": ' + "[" * depth + "]" * depth + "}").encode())


def test_huge_lines_are_read():
    huge = "x" * 4_000_000
    sample = replaced(orjson.loads(DCE_JSON), ("messages", 0, "content"), huge)
    t = survives("discord.json", orjson.dumps(sample, option=orjson.OPT_INDENT_2))
    assert t is not None and t.messages[0].text == huge
    t = survives("discord.txt", DCE_TXT.replace("Anyone here?", huge).encode())
    assert t is not None and t.messages[0].text.endswith(huge)
    t = survives("discord.txt", DCE_TXT.replace("[5/31/2024 8:01 PM] Mira", "[" + huge).encode())
    assert t is not None and huge in t.messages[0].text
