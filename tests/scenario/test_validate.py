"""Semantic validation: errors and warnings with JSON-pointer paths."""

from __future__ import annotations

from comfyvn.scenario.validate import validate
from tests.support.scenes import sample_scene


def codes(report, severity="errors"):
    return {(p["code"], p["path"]) for p in report.as_dict()[severity]}


def test_the_sample_scene_is_clean():
    report = validate(sample_scene())
    assert report.valid and report.warnings == [] and report.scene is not None


def test_not_an_object():
    report = validate([1, 2])
    assert not report.valid and report.errors[0].path == "/"


def test_schema_errors_point_into_the_document():
    scene = sample_scene()
    scene["nodes"][1]["choices"][0]["weight"] = "heavy"
    scene["nodes"][2]["beats"] = [{"kind": "say", "speaker": "mira", "text": 5}]
    found = codes(validate(scene))
    assert ("schema.float_type", "/nodes/1/choices/0/weight") in found
    assert ("schema.string_type", "/nodes/2/beats/0/text") in found


def test_ids_start_and_targets():
    scene = sample_scene()
    scene["start"] = "nowhere"
    scene["nodes"][3]["id"] = "bad"  # duplicates node 4 ("bad")
    scene["nodes"][1]["choices"][1]["id"] = "heads"
    scene["nodes"][2]["choices"][0]["target"] = "ghost"
    scene["nodes"][0]["next"] = "phantom"
    scene["nodes"][0]["beats"] = [{"kind": "narrate", "id": "x", "text": "a"}, {"kind": "narrate", "id": "x", "text": "b"}]
    found = codes(validate(scene))
    assert ("unknown_target", "/start") in found
    assert ("duplicate_id", "/nodes/4/id") in found
    assert ("duplicate_id", "/nodes/1/choices/1/id") in found
    assert ("unknown_target", "/nodes/2/choices/0/target") in found
    assert ("unknown_target", "/nodes/0/next") in found
    assert ("duplicate_id", "/nodes/0/beats/1/id") in found


def test_cycle_without_exit_is_an_error():
    scene = {"id": "loop", "start": "a", "nodes": [
        {"id": "a", "next": "b"}, {"id": "b", "type": "choice", "choices": [{"id": "c1", "target": "a"}]},
        {"id": "z", "end": True}]}
    report = validate(scene)
    assert ("cycle_without_exit", "/nodes/0") in codes(report)
    assert "'a', 'b'" in report.errors[0].message
    assert ("unreachable", "/nodes/2") in codes(report, "warnings")


def test_a_loop_with_an_exit_is_fine():
    scene = {"id": "loop", "start": "a", "nodes": [
        {"id": "a", "type": "choice", "choices": [{"id": "again", "target": "a"}, {"id": "out", "target": "z"}]},
        {"id": "z", "end": True}]}
    assert validate(scene).valid


def test_warnings():
    scene = sample_scene()
    scene["nodes"].append({"id": "orphan", "speaker": "stranger", "text": "?", "end": True})
    scene["nodes"][4]["end"] = False  # "bad" becomes a dead end
    scene["nodes"][4]["actions"] = [{"type": "set", "key": "mood.level", "value": 1}]
    scene["nodes"][1]["choices"][1]["weight"] = 0
    scene["nodes"][3]["next"] = "bad"
    scene["nodes"][3]["type"] = "random"
    found = codes(validate(scene), "warnings")
    assert ("unreachable", "/nodes/5") in found
    assert ("dead_end", "/nodes/4") in found
    assert ("undefined_variable", "/nodes/4/actions/0/key") in found
    assert ("zero_weight", "/nodes/1/choices/1/weight") in found
    assert ("end_with_exits", "/nodes/3") in found
    assert ("no_choices", "/nodes/3/choices") in found
    assert ("unknown_cast", "/nodes/5/speaker") in found
    assert validate(scene).valid  # warnings never block


def test_a_beat_may_not_reuse_the_id_of_a_node_line():
    scene = sample_scene()
    scene["nodes"][1]["beats"] = [{"kind": "narrate", "id": "intro", "text": "clash"},
                                  {"kind": "narrate", "id": "fine", "text": "ok"}]
    found = codes(validate(scene))
    assert found == {("duplicate_id", "/nodes/1/beats/0/id")}
    from comfyvn.scenario.models import parse_scene
    assert [line.id for line in parse_scene(sample_scene()).nodes[0].lines()] == ["intro"]
