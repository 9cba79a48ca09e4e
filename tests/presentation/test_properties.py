"""Property tests: any beat sequence gives a consistent, deterministic plan."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from comfyvn.presentation import plan_scene
from comfyvn.presentation.layout import LAYOUTS, MAX_VISIBLE
from comfyvn.scenario.models import parse_scene
from tests.presentation.helpers import CAST

WHO = st.sampled_from(["alice", "bob", "cara", "dan", "eve", "finn", "me", "Stranger"])
POSITION = st.none() | st.sampled_from(["far_left", "left", "center", "right", "far_right", "offscreen"])
EXPRESSION = st.none() | st.sampled_from(["joy", "sad"])

BEAT = st.one_of(
    st.builds(lambda w, e: {"kind": "say", "speaker": w, "text": "x", **({"expression": e} if e else {})},
              WHO, EXPRESSION),
    st.builds(lambda w, p, e: {"kind": "show", "character": w,
                               **({"position": p} if p else {}), **({"expression": e} if e else {})},
              WHO, POSITION, EXPRESSION),
    st.builds(lambda w: {"kind": "hide", "character": w}, WHO),
    st.builds(lambda w: {"kind": "direction", "text": "*nods*", "character": w}, WHO),
    st.just({"kind": "background", "image": "street"}),
    st.just({"kind": "music", "track": "a.ogg"}),
)


def scene_of(beats_a, beats_b):
    return parse_scene({"id": "p", "start": "a", "cast": CAST, "nodes": [
        {"id": "a", "beats": beats_a, "next": "b"}, {"id": "b", "beats": beats_b, "end": True}]})


@settings(max_examples=150, deadline=None)
@given(st.lists(BEAT, max_size=25), st.lists(BEAT, max_size=10))
def test_stages_are_consistent(beats_a, beats_b):
    scene = scene_of(beats_a, beats_b)
    plan = plan_scene(scene)
    for node in plan["nodes"]:
        previous = node["entry"]
        for frame in node["frames"]:
            stage = frame["stage"]
            on_stage = [c["id"] for c in stage["characters"]]
            assert len(on_stage) == len(set(on_stage))
            expected = ({c["id"] for c in previous["characters"]} | {e["id"] for e in frame["entered"]}) - {
                e["id"] for e in frame["exited"] if e["id"] not in {x["id"] for x in frame["entered"]}}
            assert set(on_stage) == expected
            visible = [c for c in stage["characters"] if c["xalign"] is not None]
            assert len(visible) <= MAX_VISIBLE
            assert [c["xalign"] for c in visible] == sorted(c["xalign"] for c in visible)
            autos = [c["position"] for c in visible if c["auto"]]
            assert len(set(autos)) == len(autos)
            if visible:
                assert set(autos) <= set(LAYOUTS[len(visible)])
            previous = stage
    assert json.dumps(plan_scene(scene_of(beats_a, beats_b))) == json.dumps(plan)
    assert plan_scene(scene, "b")["nodes"] == [plan["nodes"][1]]
