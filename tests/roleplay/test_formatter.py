"""Transcript -> scenes: participants, splitting, beats with provenance, swipes as choices."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.roleplay.formatter import Options, format_transcript
from comfyvn.roleplay.transcript import Message, Transcript
from comfyvn.scenario.runner import ScenarioRunner
from comfyvn.scenario.service import load_valid


def chat(*messages: Message) -> Transcript:
    return Transcript(format="test", messages=list(messages))


def m(index, speaker, text, role="character", **kw):
    return Message(index, speaker, text, role=role, **kw)


def test_participants_are_normalised_with_roles():
    t = chat(m(0, "Seraphina", "Hi"), m(1, "user ", "Hey", role="user"), m(2, "seraphina", "Yes"),
             m(3, "Narrator", "Time passes.", role="narrator"), m(4, "System", "joined", role="system"),
             m(5, "Ghost", "boo", hidden=True))
    scenes, people = format_transcript(t)
    assert [(p.id, p.name, p.role, p.messages) for p in people.values()] == [
        ("seraphina", "Seraphina", "character", 2), ("user", "user", "user", 1),
        ("narrator", "Narrator", "narrator", 1)]
    assert [c["id"] for c in scenes[0]["cast"]] == ["user", "seraphina", "narrator"]
    ids = [n["id"] for n in scenes[0]["nodes"]]
    assert ids == ["m0", "m1", "m2", "m3"]  # system notice and hidden message left out
    assert scenes[0]["nodes"][3]["beats"][0]["kind"] == "narrate"


def test_every_line_keeps_its_source():
    t = chat(m(7, "Mira", '"Hi." *waves*', timestamp="2024-01-01T10:00:00", timestamp_raw="January 1, 2024 10:00am"))
    scene = format_transcript(t, Options(chat="mira.jsonl"))[0][0]
    beats = scene["nodes"][0]["beats"]
    assert [b["id"] for b in beats] == ["m7_0", "m7_1"]
    assert beats[0]["source"] == {"chat": "mira.jsonl", "message_index": 7, "timestamp": "January 1, 2024 10:00am",
                                  "time": "2024-01-01T10:00:00", "speaker": "Mira"}
    assert beats[1] | {"source": None} == {"id": "m7_1", "kind": "direction", "text": "waves", "character": "mira",
                                           "source": None}
    assert "expression" not in beats[0]  # "waves" suggests no expression


def test_expression_from_the_messages_stage_directions():
    t = chat(m(0, "Mira", '"Hi." *She smiles.*'), m(1, "Mira", "I am so sorry."))
    low, medium, high = (format_transcript(t, Options(detail_level=d))[0][0]["nodes"] for d in ("low", "medium", "high"))
    assert medium[0]["beats"][0]["expression"] == "joy"
    assert "expression" not in medium[1]["beats"][0]  # speech alone is read at high detail only
    assert high[1]["beats"][0]["expression"] == "remorse"
    assert "expression" not in low[0]["beats"][0]


def test_scenes_split_at_breaks_gaps_and_length():
    msgs = [m(i, "A" if i % 2 else "B", f"line {i}", timestamp=f"2024-01-01T{10 + (i >= 4) * 8:02d}:0{i}:00")
            for i in range(8)]
    msgs[6].extra["scene_break_before"] = True
    scenes, _ = format_transcript(chat(*msgs), Options(max_messages_per_scene=3, scene_prefix="c"))
    assert [[n["id"] for n in s["nodes"]] for s in scenes] == [["m0", "m1", "m2"], ["m3"], ["m4", "m5"], ["m6", "m7"]]
    assert [s["id"] for s in scenes] == ["c-001", "c-002", "c-003", "c-004"]
    assert all(s["nodes"][-1]["end"] for s in scenes)


def test_background_from_stated_place_and_time():
    t = chat(m(0, "Mira", "*We walk into the tavern at night.* \"Here.\""), m(1, "Mira", "*Still in the tavern.*"))
    nodes = format_transcript(t, Options(detail_level="high"))[0][0]["nodes"]
    assert nodes[0]["beats"][0] == {"id": "m0_0", "kind": "background", "image": "tavern night", "location": "tavern",
                                    "time_of_day": "night"}
    assert all(b["kind"] != "background" for b in nodes[1]["beats"])  # unchanged: no new background


def test_swipes_become_a_branch_that_rejoins():
    t = chat(m(0, "You", "Hello?", role="user"), m(1, "Mira", "Hi!", alternates=["Go away.", "*waves*"]),
             m(2, "You", "Bye", role="user"))
    scene = format_transcript(t, Options(swipes_as_choices=True))[0][0]
    nodes = {n["id"]: n for n in scene["nodes"]}
    assert [c["target"] for c in nodes["m0"]["choices"]] == ["m1", "m1_swipe1", "m1_swipe2"]
    assert nodes["m0"]["choices"][1]["label"] == "Go away."
    assert nodes["m1_swipe1"]["next"] == "m2" and nodes["m1"]["next"] == "m2"
    assert nodes["m1_swipe2"]["beats"][0]["source"]["swipe"] == 2
    scene_model = load_valid(scene)
    runner = ScenarioRunner(scene_model)
    state, _ = runner.run(runner.start(), choices=["m0_to_m1_swipe1"])
    assert [e.node for e in state.trace] == ["m0", "m1_swipe1", "m2"]
    plain = format_transcript(t)[0][0]
    assert "choices" not in plain["nodes"][0] and len(plain["nodes"]) == 3


_names = st.sampled_from(["Mira", "mira", "You", "Narrator", "Ann Lee", "x"])
_roles = st.sampled_from(["user", "character", "narrator", "system"])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_names, _roles, st.text(max_size=80), st.lists(st.text(max_size=20), max_size=2),
                          st.booleans()), min_size=1, max_size=25),
       st.booleans(), st.sampled_from(["low", "medium", "high"]))
def test_any_transcript_gives_valid_runnable_scenes(items, swipes, detail):
    t = chat(*[m(i, name, text, role=role, alternates=alts, hidden=hidden)
               for i, (name, role, text, alts, hidden) in enumerate(items)])
    scenes, _ = format_transcript(t, Options(swipes_as_choices=swipes, detail_level=detail, max_messages_per_scene=7))
    for scene in scenes:
        model = load_valid(scene)
        runner = ScenarioRunner(model)
        state, why = runner.run(runner.start(seed=1), max_steps=500)
        assert why == "finished"


# --- ids, group chats, opening swipes, narrator cues (review of the formatter) ---

def _hash_id(name):
    import hashlib
    return "speaker-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def test_names_without_ascii_get_stable_distinct_ids():
    t = chat(m(0, "ゆき", "こんにちは"), m(1, "さくら", "やあ"), m(2, "ゆき", "うん"))
    _, people = format_transcript(t)
    ids = [p.id for p in people.values()]
    assert ids == [_hash_id("ゆき"), _hash_id("さくら")]  # the same id in every chat, whatever the order
    reverse = format_transcript(chat(m(0, "さくら", "x"), m(1, "ゆき", "y")))[1]
    assert sorted(p.id for p in reverse.values()) == sorted(ids)
    assert [p.id for p in format_transcript(chat(m(0, "José", "hola"), m(1, "Straße", "x")))[1].values()] == [
        "jose", "strasse"]
    assert list(format_transcript(chat(m(0, "Yuki ゆき", "x")))[1]) == ["yuki-" + _hash_id("Yuki ゆき")[8:]]


def test_reserved_device_names_are_never_ids():
    from comfyvn.projects.paths import check_id

    names = ["Con", "Nul", "AUX", "com1", "Con.Man", "Mr..Smith", "lpt9"]
    _, people = format_transcript(chat(*[m(i, name, "hi") for i, name in enumerate(names)]))
    ids = [p.id for p in people.values()]
    assert all(check_id(i) == i for i in ids) and len(set(ids)) == len(ids)
    assert ids[:3] == ["con_", "nul_", "aux_"] and ids[4] == "con-man" and ids[5] == "mr-smith"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(
    ["con", "Nul.txt", "a..b", "ゆき", "-x-", "com1 ", ". .", "CON", "con_", "x" * 200])), min_size=1, max_size=8))
def test_any_names_give_unique_valid_ids(names):
    from comfyvn.projects.paths import check_id

    _, people = format_transcript(chat(*[m(i, name, "hi") for i, name in enumerate(names)]))
    ids = [p.id for p in people.values()]
    assert len(set(ids)) == len(ids)
    for pid in ids:
        check_id(pid)


def test_group_chat_speakers_are_keyed_by_avatar():
    t = chat(m(0, "Seraphina", "Hi", avatar="sera.png"), m(1, "Sera", "Hello", avatar="sera.png"),
             m(2, "Seraphina", "Yes", avatar="sera.png"), m(3, "Seraphina", "I am another", avatar="dark.png"),
             m(4, "Seraphina", "No avatar here"))
    scenes, people = format_transcript(t)
    rows = [p.as_dict() for p in people.values()]
    assert [(r["id"], r["name"], r["messages"], r["aliases"], r["avatar"]) for r in rows] == [
        ("seraphina", "Seraphina", 4, ["Sera"], "sera.png"),  # the message without avatar joins the first card
        ("seraphina-2", "Seraphina (2)", 1, ["Seraphina"], "dark.png")]
    says = {n["id"]: n["beats"][0]["speaker"] for n in scenes[0]["nodes"]}
    assert says == {"m0": "seraphina", "m1": "seraphina", "m2": "seraphina", "m3": "seraphina-2", "m4": "seraphina"}
    assert {c["name"] for c in scenes[0]["cast"]} == {"Seraphina", "Seraphina (2)"}


def test_most_frequent_name_of_a_card_wins():
    t = chat(m(0, "Sera", "a", avatar="s.png"), m(1, "Seraphina", "b", avatar="s.png"),
             m(2, "Seraphina", "c", avatar="s.png"))
    (person,) = format_transcript(t)[1].values()
    assert (person.id, person.name, person.as_dict()["aliases"]) == ("seraphina", "Seraphina", ["Sera"])


def test_user_and_character_with_the_same_name_stay_apart():
    t = chat(m(0, "Alex", "Hi", role="user"), m(1, "alex", "Hello, namesake."), m(2, "Alex", "Ha", role="user"))
    scenes, people = format_transcript(t)
    assert [(p.id, p.name, p.role, p.messages) for p in people.values()] == [
        ("alex-2", "Alex", "user", 2), ("alex", "alex", "character", 1)]  # the character keeps the plain id
    assert [n["beats"][0]["speaker"] for n in scenes[0]["nodes"]] == ["alex-2", "alex", "alex-2"]


def test_swipes_on_the_first_message_become_an_opening_choice():
    t = chat(m(3, "Mira", "*waves* Welcome!", alternates=["Oh, hello.", "*ignores you*"]),
             m(4, "You", "Hi", role="user"))
    scene = format_transcript(t, Options(swipes_as_choices=True))[0][0]
    nodes = {n["id"]: n for n in scene["nodes"]}
    start = nodes[scene["start"]]
    assert start["type"] == "choice" and start["beats"] == []
    assert [c["target"] for c in start["choices"]] == ["m3", "m3_swipe1", "m3_swipe2"]
    assert [c["label"] for c in start["choices"]] == ["waves Welcome!", "Oh, hello.", "ignores you"]
    assert nodes["m3_swipe1"]["next"] == "m4"
    runner = ScenarioRunner(load_valid(scene))
    state, _ = runner.run(runner.start(), choices=[start["choices"][2]["id"]])
    assert [e.node for e in state.trace][-2:] == ["m3_swipe2", "m4"]
    assert format_transcript(t)[0][0]["start"] == "m3"  # without swipes_as_choices: unchanged


def test_narrator_messages_set_the_background():
    t = chat(m(0, "Narrator", "Night falls over the forest.", role="narrator"), m(1, "Mira", "*She yawns.*"))
    beats = format_transcript(t)[0][0]["nodes"][0]["beats"]
    assert beats[0] | {"id": None} == {"id": None, "kind": "background", "image": "forest night", "location": "forest",
                                       "time_of_day": "night"}
    assert beats[1]["kind"] == "narrate"


def test_built_in_avatars_do_not_merge_speakers():
    t = chat(m(0, "Eldorian Guard", "Halt!", avatar="img/ai4.png"),
             m(1, "Innkeeper", "Welcome", avatar="img/ai4.png"))
    people = format_transcript(t)[1].values()
    assert [(p.id, p.avatar) for p in people] == [("eldorian-guard", None), ("innkeeper", None)]


def test_absurdly_long_names_are_shortened_not_fatal():
    from comfyvn.roleplay.formatter import MAX_NAME

    scenes, people = format_transcript(chat(m(0, "A" * 5000, "hi"), m(1, "You", "yo", role="user")))
    longest = max(len(p.name) for p in people.values())
    assert longest == MAX_NAME and load_valid(scenes[0])
