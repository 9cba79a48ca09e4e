"""Presentation: what is on screen at each beat of a scene (background, characters and where they
stand, expressions, transitions, audio). ``plan_scene(scene, node_id=None)`` is the whole API."""

from comfyvn.presentation.planner import plan, plan_scene

__all__ = ["plan", "plan_scene"]
