"""The worked example in docs/presentation.md is what the planner answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from comfyvn.presentation import plan_scene
from comfyvn.scenario.models import parse_scene

DOC = Path(__file__).resolve().parents[2] / "docs" / "presentation.md"


def test_worked_example_is_true():
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2
    scene, expected = (json.loads(block) for block in blocks)
    assert plan_scene(parse_scene(scene), "leave") == expected
    meet = plan_scene(parse_scene(scene))["nodes"][0]
    assert [(c["id"], c["position"]) for c in meet["frames"][3]["stage"]["characters"]] == [
        ("alice", "left"), ("bob", "right")]
