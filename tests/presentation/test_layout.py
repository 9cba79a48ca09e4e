"""Group auto-layout: 1-5 participants, explicit positions, stable order, crowding."""

from __future__ import annotations

from typing import get_args

import pytest

from comfyvn.presentation import plan_scene
from comfyvn.presentation.layout import POSITIONS, place
from comfyvn.scenario.models import Position
from tests.presentation.helpers import CAST, layout, one_node, say

SPEAKERS = ["alice", "bob", "cara", "dan", "eve", "finn"]

EXPECTED = {
    1: [("alice", "center", 0.5)],
    2: [("alice", "left", 0.3), ("bob", "right", 0.7)],
    3: [("alice", "far_left", 0.1), ("bob", "center", 0.5), ("cara", "far_right", 0.9)],
    4: [("alice", "far_left", 0.1), ("bob", "center_left", 0.4), ("cara", "center_right", 0.6),
        ("dan", "far_right", 0.9)],
    5: [("alice", "far_left", 0.1), ("bob", "left", 0.3), ("cara", "center", 0.5), ("dan", "right", 0.7),
        ("eve", "far_right", 0.9)],
}


def frames_of(scene):
    return plan_scene(scene)["nodes"][0]["frames"]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_group_layout_by_size_keeps_entry_order(count):
    frames = frames_of(one_node([say(who) for who in SPEAKERS[:count]], CAST))
    assert layout(frames[-1]["stage"]) == EXPECTED[count]
    for n in range(1, count + 1):  # every intermediate group is laid out too, newcomers join at the right
        assert layout(frames[n - 1]["stage"]) == EXPECTED[n]


def test_leaving_re_spreads_the_rest_in_the_same_order():
    beats = [say(w) for w in SPEAKERS[:4]] + [{"kind": "hide", "character": "bob"}]
    stage = frames_of(one_node(beats, CAST))[-1]["stage"]
    assert layout(stage) == [("alice", "far_left", 0.1), ("cara", "center", 0.5), ("dan", "far_right", 0.9)]


def test_re_entry_joins_at_the_right():
    beats = [say("alice"), say("bob"), {"kind": "hide", "character": "alice"}, say("alice")]
    stage = frames_of(one_node(beats, CAST))[-1]["stage"]
    assert layout(stage) == [("bob", "left", 0.3), ("alice", "right", 0.7)]


def test_explicit_positions_win_and_autos_take_the_other_slots():
    beats = [say("alice"), say("bob"), {"kind": "show", "character": "cara", "position": "far_left"}]
    stage = frames_of(one_node(beats, CAST))[-1]["stage"]
    assert layout(stage) == [("cara", "far_left", 0.1), ("alice", "center", 0.5), ("bob", "far_right", 0.9)]
    assert [c["auto"] for c in stage["characters"]] == [False, True, True]


def test_explicit_center_pushes_a_single_auto_to_the_right():
    # two visible -> slots left/right; center is equally near both, the leftmost is claimed
    assert place([("a", None), ("b", "center")]) == {"a": "right", "b": "center"}


def test_offscreen_is_on_stage_but_not_drawn_nor_laid_out():
    beats = [say("alice"), {"kind": "show", "character": "bob", "position": "offscreen"}]
    stage = frames_of(one_node(beats, CAST))[-1]["stage"]
    assert layout(stage) == [("alice", "center", 0.5), ("bob", "offscreen", None)]


def test_a_sixth_character_crowds_out_the_least_recently_active():
    beats = [say(w) for w in SPEAKERS[:5]] + [say("alice"), say("finn")]  # bob is now the stalest
    frames = frames_of(one_node(beats, CAST))
    last = frames[-1]
    assert last["entered"] == [{"id": "finn", "reason": "speech"}]
    assert last["exited"] == [{"id": "bob", "reason": "crowd"}]
    assert [c[0] for c in layout(last["stage"])] == ["alice", "cara", "dan", "eve", "finn"]


def test_crowding_spares_explicitly_placed_characters():
    beats = [{"kind": "show", "character": "alice", "position": "far_left"}] + [say(w) for w in SPEAKERS[1:6]]
    last = frames_of(one_node(beats, CAST))[-1]
    assert last["exited"] == [{"id": "bob", "reason": "crowd"}]


def test_crowding_among_explicit_characters_takes_the_least_recently_active():
    names = ["far_left", "left", "center", "right", "far_right"]
    beats = [{"kind": "show", "character": w, "position": p} for w, p in zip(SPEAKERS, names)]
    beats += [say("alice"), say("finn")]
    last = frames_of(one_node(beats, CAST))[-1]
    assert last["exited"] == [{"id": "bob", "reason": "crowd"}]
    assert len(last["stage"]["characters"]) == 5


def test_place_refuses_more_than_five_and_offscreen():
    with pytest.raises(ValueError):
        place([(str(i), None) for i in range(6)])
    with pytest.raises(ValueError):
        place([("a", "offscreen")])


def test_every_model_position_has_an_xalign():
    assert set(POSITIONS) == set(get_args(Position))
