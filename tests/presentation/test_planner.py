"""The plan: auto-enter, show/hide, expressions, carry-over across nodes, entry stages, cues."""

from __future__ import annotations

import json

import pytest

from comfyvn.core.errors import InvalidInput
from comfyvn.presentation import plan_scene
from comfyvn.presentation.planner import plan_order
from comfyvn.scenario.models import parse_scene
from tests.presentation.helpers import CAST, layout, make_scene, one_node, say


def frames_of(scene):
    return plan_scene(scene)["nodes"][0]["frames"]


def ids(stage):
    return [c["id"] for c in stage["characters"]]


def node_plan(plan, node_id):
    return next(n for n in plan["nodes"] if n["id"] == node_id)


# -- characters ---------------------------------------------------------------------------------

def test_cast_characters_enter_when_they_first_speak():
    frames = frames_of(one_node([say("alice", "Hi"), say("alice", "Again"), say("Bob", "Yo")], CAST))
    assert frames[0]["entered"] == [{"id": "alice", "reason": "speech"}]
    assert frames[0]["speaker"] == {"id": "alice", "name": "Alice"}
    assert frames[1]["entered"] == []
    assert frames[2]["speaker"] == {"id": "bob", "name": "Bob"}  # a display name finds the cast member
    assert ids(frames[2]["stage"]) == ["alice", "bob"]


def test_user_narrator_and_unknown_speakers_never_enter():
    frames = frames_of(one_node([say("me"), say("nar"), say("Stranger")], CAST))
    assert all(f["entered"] == [] and f["stage"]["characters"] == [] for f in frames)
    assert frames[0]["speaker"] == {"id": "me", "name": "Me"}
    assert frames[2]["speaker"] == {"id": None, "name": "Stranger"}


def test_without_a_cast_every_speaker_enters():
    frames = frames_of(one_node([say("Kim"), say("Lee")]))
    assert layout(frames[-1]["stage"]) == [("Kim", "left", 0.3), ("Lee", "right", 0.7)]
    assert frames[0]["speaker"] == {"id": "Kim", "name": "Kim"}
    assert frames[0]["stage"]["characters"][0]["expression"] == "neutral"


def test_user_can_still_be_shown_explicitly():
    stage = frames_of(one_node([{"kind": "show", "character": "me"}], CAST))[0]["stage"]
    assert ids(stage) == ["me"]


def test_explicit_show_and_hide():
    beats = [
        {"kind": "show", "character": "bob", "position": "right", "expression": "angry",
         "transition": {"style": "dissolve", "duration": 1.0}},
        {"kind": "hide", "character": "bob", "transition": {"style": "fade"}},
        {"kind": "hide", "character": "bob"},
    ]
    frames = frames_of(one_node(beats, CAST))
    shown = frames[0]
    assert shown["entered"] == [{"id": "bob", "reason": "show"}]
    assert shown["transition"] == {"style": "dissolve", "duration": 1.0}
    assert shown["stage"]["characters"] == [
        {"id": "bob", "name": "Bob", "position": "right", "xalign": 0.7, "expression": "angry", "auto": False}]
    assert frames[1]["exited"] == [{"id": "bob", "reason": "hide"}]
    assert frames[1]["transition"] == {"style": "fade", "duration": 0.5}
    assert frames[1]["stage"]["characters"] == []
    assert frames[2]["exited"] == []  # hiding someone absent changes nothing


def test_show_of_someone_on_stage_changes_only_what_it_names():
    beats = [{"kind": "show", "character": "alice", "position": "far_left", "expression": "sad"},
             {"kind": "show", "character": "alice"},
             {"kind": "show", "character": "alice", "expression": "happy"}]
    frames = frames_of(one_node(beats, CAST))
    assert [f["entered"] for f in frames] == [[{"id": "alice", "reason": "show"}], [], []]
    assert layout(frames[1]["stage"]) == [("alice", "far_left", 0.1)]
    assert frames[1]["stage"]["characters"][0]["expression"] == "sad"
    assert frames[2]["stage"]["characters"][0]["expression"] == "happy"
    assert layout(frames[2]["stage"]) == [("alice", "far_left", 0.1)]


def test_expressions_follow_say_and_show_and_reset_on_re_entry():
    beats = [say("alice"), say("alice", expression="joy"), say("alice"),
             {"kind": "show", "character": "alice", "expression": "shy"},
             {"kind": "hide", "character": "alice"}, say("alice"), say("bob")]
    frames = frames_of(one_node(beats, CAST))

    def expression(frame, who):
        return next(c["expression"] for c in frame["stage"]["characters"] if c["id"] == who)

    assert [expression(frames[i], "alice") for i in (0, 1, 2, 3, 5)] == ["smile", "joy", "joy", "shy", "smile"]
    assert expression(frames[6], "bob") == "neutral"


def test_node_shorthand_is_the_first_frame():
    scene = make_scene([{"id": "n", "speaker": "alice", "text": "Hello", "expression": "wink",
                         "beats": [{"kind": "narrate", "text": "She waves.", "id": "l2"}], "end": True}], CAST)
    frames = frames_of(scene)
    assert [(f["index"], f["beat"], f["kind"], f["text"]) for f in frames] == [
        (0, "n", "say", "Hello"), (1, "l2", "narrate", "She waves.")]
    assert frames[0]["stage"]["characters"][0]["expression"] == "wink"


# -- background, audio, transitions, waits -------------------------------------------------------

def test_cues_sit_on_their_own_frame():
    beats = [
        {"kind": "background", "image": "cafe", "time_of_day": "night", "transition": {"style": "fade"}},
        {"kind": "music", "track": "calm.ogg", "fadein": 2.0},
        {"kind": "sound", "track": "door.ogg"},
        say("alice", voice="alice_01.ogg"),
        {"kind": "transition", "transition": {"style": "vpunch", "duration": 0.2}},
        {"kind": "wait", "seconds": 1.5},
        {"kind": "music", "action": "stop", "fadeout": 1.0},
    ]
    frames = frames_of(one_node(beats, CAST))
    assert frames[0]["stage"]["background"] == {"image": "cafe", "location": None, "time_of_day": "night",
                                                "weather": None}
    assert frames[0]["transition"] == {"style": "fade", "duration": 0.5}
    assert frames[1]["audio"]["music"] == {"action": "play", "track": "calm.ogg", "fadein": 2.0, "fadeout": 0.0,
                                           "loop": True}
    assert frames[1]["stage"]["music"] == {"track": "calm.ogg", "loop": True}
    assert frames[2]["audio"] == {"music": None, "sound": {"track": "door.ogg", "channel": "sound"}, "voice": None}
    assert frames[3]["audio"]["voice"] == "alice_01.ogg"
    assert frames[3]["audio"]["sound"] is None  # one-shot: only on its own frame
    assert frames[4]["transition"] == {"style": "vpunch", "duration": 0.2}
    assert frames[4]["stage"] == frames[3]["stage"]
    assert frames[5]["wait"] == 1.5 and frames[5]["stage"] == frames[4]["stage"]
    assert frames[5]["transition"] is None
    assert frames[6]["audio"]["music"]["action"] == "stop" and frames[6]["stage"]["music"] is None
    assert frames[6]["stage"]["background"]["image"] == "cafe"


def test_background_music_and_characters_carry_over_to_the_next_node():
    scene = make_scene([
        {"id": "a", "beats": [{"kind": "background", "image": "park"}, {"kind": "music", "track": "m.ogg"},
                              say("alice", expression="joy")], "next": "b"},
        {"id": "b", "beats": [say("bob")], "next": "c"},
        {"id": "c", "end": True},
    ], CAST)
    plan = plan_scene(scene)
    b, c = node_plan(plan, "b"), node_plan(plan, "c")
    assert b["entry_from"] == "a"
    assert b["entry"]["background"]["image"] == "park"
    assert b["entry"]["music"] == {"track": "m.ogg", "loop": True}
    assert layout(b["entry"]) == [("alice", "center", 0.5)]
    assert b["entry"]["characters"][0]["expression"] == "joy"
    assert c["entry"] == b["frames"][-1]["stage"]
    assert c["frames"] == []


def branching_scene(first_choice: str):
    choices = [{"id": "to_b", "target": "b"}, {"id": "to_c", "target": "c"}]
    if first_choice == "c":
        choices.reverse()
    return make_scene([
        {"id": "a", "type": "choice", "beats": [{"kind": "background", "image": "hall"}], "choices": choices},
        {"id": "b", "beats": [say("alice")], "next": "d"},
        {"id": "c", "beats": [{"kind": "background", "image": "roof"}, say("bob")], "next": "d"},
        {"id": "d", "beats": [say("cara")], "end": True},
    ], CAST)


@pytest.mark.parametrize("first, expected_bg, expected_ids", [("b", "hall", ["alice"]), ("c", "roof", ["bob"])])
def test_entry_of_a_node_with_two_predecessors_comes_from_the_first_in_plan_order(first, expected_bg,
                                                                                 expected_ids):
    plan = plan_scene(branching_scene(first))
    d = node_plan(plan, "d")
    assert d["entry_from"] == first
    assert d["entry"]["background"]["image"] == expected_bg
    assert ids(d["entry"]) == expected_ids
    assert ids(d["frames"][0]["stage"]) == expected_ids + ["cara"]


def test_plan_order_is_breadth_first_then_unreachable_in_file_order():
    scene = make_scene([
        {"id": "z_orphan", "beats": [say("eve")], "next": "y_orphan"},
        {"id": "start", "choices": [{"id": "c1", "target": "far"}], "next": "near"},
        {"id": "near", "next": "end"},
        {"id": "far", "next": "end"},
        {"id": "end", "end": True, "next": "start"},  # an end node's next is ignored
        {"id": "y_orphan", "end": True},
    ], CAST, start="start")
    assert plan_order(scene) == ["start", "far", "near", "end", "z_orphan", "y_orphan"]
    plan = plan_scene(scene)
    assert [n["id"] for n in plan["nodes"]] == plan_order(scene)
    assert node_plan(plan, "start")["entry_from"] is None
    assert node_plan(plan, "y_orphan")["entry_from"] == "z_orphan"
    assert ids(node_plan(plan, "y_orphan")["entry"]) == ["eve"]
    assert node_plan(plan, "z_orphan")["entry"] == {"background": None, "characters": [], "music": None}


def test_a_loop_back_to_the_start_does_not_change_its_empty_entry():
    scene = make_scene([
        {"id": "a", "beats": [say("alice")], "choices": [{"id": "again", "target": "a"}], "next": "b"},
        {"id": "b", "end": True},
    ], CAST)
    assert node_plan(plan_scene(scene), "a")["entry"]["characters"] == []


def test_one_node_plan_equals_its_part_of_the_full_plan():
    scene = branching_scene("c")
    full = plan_scene(scene)
    single = plan_scene(scene, "d")
    assert [n["id"] for n in single["nodes"]] == ["d"]
    assert single["nodes"][0] == node_plan(full, "d")
    assert {k: v for k, v in single.items() if k != "nodes"} == {k: v for k, v in full.items() if k != "nodes"}


def test_unknown_node_id_names_the_problem():
    with pytest.raises(InvalidInput) as caught:
        plan_scene(branching_scene("b"), "nowhere")
    assert caught.value.code == "unknown_node"
    assert "'nowhere'" in caught.value.message and "a, b, c, d" in caught.value.message


def test_plan_is_deterministic_and_survives_a_json_round_trip():
    scene = branching_scene("b")
    first = json.dumps(plan_scene(scene), sort_keys=True)
    again = json.dumps(plan_scene(parse_scene(scene.to_json())), sort_keys=True)
    assert first == again
    assert json.dumps(plan_scene(scene), sort_keys=True) == first
