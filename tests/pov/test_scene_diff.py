"""Node-level scene diffs and POV masks."""

from __future__ import annotations

from comfyvn.diffmerge.scene_diff import change_counts, diff_scenes, pov_view
from tests.pov.samples import canon, edited, node, scene, without


def test_identical_scenes_have_no_differences():
    result = diff_scenes(canon(scene()), canon(scene()))
    assert result["identical"] is True
    assert (result["added"], result["removed"], result["changed"], result["scene_fields"]) == ([], [], [], {})
    assert result["counts"] == {"added": 0, "removed": 0, "changed": 0, "unchanged": 6}


def test_added_removed_and_changed_nodes_with_fields():
    before = canon(scene())
    after = scene()
    after = without(after, "home")
    node(after, "road").pop("next")
    node(after, "road")["end"] = True
    after["nodes"].append({"id": "epilogue", "text": "Later.", "end": True})
    node(after, "boat")["text"] = "The boat sinks."
    after = canon(after)
    result = diff_scenes(before, after)
    assert result["added"] == ["epilogue"]
    assert result["removed"] == ["home"]
    changes = {c["id"]: c for c in result["changed"]}
    assert set(changes) == {"boat", "road"}
    assert changes["boat"]["fields"] == ["text"]
    assert changes["boat"]["before"] == {"text": "The boat rocks."}
    assert changes["boat"]["after"] == {"text": "The boat sinks."}
    assert changes["road"]["fields"] == ["end", "next"]
    assert changes["road"]["after"] == {"end": True, "next": None}
    assert result["counts"] == {"added": 1, "removed": 1, "changed": 2, "unchanged": 3}
    assert result["identical"] is False


def test_choice_changes_are_listed_by_choice_id():
    before = canon(scene())
    after = scene()
    choices = node(after, "fork")["choices"]
    choices[0]["label"] = "Run after her"
    del choices[1]
    choices.append({"id": "swim", "target": "boat"})
    result = diff_scenes(before, canon(after))
    (change,) = result["changed"]
    assert change["id"] == "fork" and change["fields"] == ["choices"]
    assert change["choices"] == {"added": ["swim"], "removed": ["stay"], "changed": ["follow"]}


def test_node_order_is_not_a_change_but_scene_fields_are():
    after = scene()
    after["nodes"].reverse()
    after["title"] = "The harbor at night"
    result = diff_scenes(canon(scene()), canon(after))
    assert result["changed"] == [] and result["added"] == [] and result["removed"] == []
    assert result["scene_fields"] == {"title": {"before": "The harbor", "after": "The harbor at night"}}
    assert change_counts(canon(scene()), canon(after)) == {"added": 0, "removed": 0, "changed": 0, "scene_fields": 1}


def test_pov_view_keeps_reachable_nodes_and_visible_choices():
    view = pov_view(canon(scene()), "bob")
    assert set(view) == {"arrive", "fork", "boat", "road", "home"}  # 'pier' is behind Alice's choice
    assert [c["id"] for c in view["fork"]["choices"]] == ["follow", "leave"]
    alice = pov_view(canon(scene()), "Alice")
    assert set(alice) == {"arrive", "fork", "pier", "road", "home"}
    assert [c["id"] for c in alice["fork"]["choices"]] == ["stay", "leave"]


def test_mask_pov_leaves_out_what_the_pov_cannot_see():
    before = canon(scene())
    after = edited(scene(), "pier", text="Wait here, please.")  # only Alice can reach the pier
    after = canon(after)
    assert [c["id"] for c in diff_scenes(before, after)["changed"]] == ["pier"]
    masked = diff_scenes(before, after, mask_pov="bob")
    assert masked["identical"] is True and masked["changed"] == []
    assert masked["hidden"] == {"source": 1, "target": 1}
    assert masked["mask_pov"] == "bob"
    seen = diff_scenes(before, after, mask_pov="Alice")
    assert [c["id"] for c in seen["changed"]] == ["pier"]


def test_mask_pov_ignores_changes_to_choices_the_pov_cannot_see():
    after = scene()
    node(after, "fork")["choices"][1]["label"] = "Stay put"  # Alice's choice
    after = canon(after)
    assert diff_scenes(canon(scene()), after, mask_pov="bob")["changed"] == []
    (change,) = diff_scenes(canon(scene()), after, mask_pov="Alice")["changed"]
    assert change["choices"]["changed"] == ["stay"]


def test_mask_pov_reports_a_node_that_becomes_visible_as_added():
    after = scene()
    node(after, "fork")["choices"][1]["visible_to"] = []  # everyone can now stay on the pier
    result = diff_scenes(canon(scene()), canon(after), mask_pov="bob")
    assert result["added"] == ["pier"]
    assert [c["id"] for c in result["changed"]] == ["fork"]
    assert result["scene_fields"] == {}
