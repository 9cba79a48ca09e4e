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
                                  "speaker": "Mira"}
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
