"""The characters plugin: LoRA registry and stacks, poses, character renders and POV portraits."""

from __future__ import annotations

from comfyvn.core.modder_hooks import EventSpec
from comfyvn.core.plugins import hookimpl

PLUGIN_NAME = "characters"


@hookimpl
def comfyvn_events():
    return [
        EventSpec("on_lora_registered", "A LoRA was added to the registry (or its entry changed).",
                  {"name": "The LoRA's file name as ComfyUI knows it.", "sha256": "Hex sha256 of the file.",
                   "bytes": "File size, or null for a LoRA registered by name and hash only.",
                   "base_model": "Base model it was trained for, or null.",
                   "source": "Where it came from: 'local', 'manual' or what the caller gave."}),
        EventSpec("on_character_loras_changed", "A character's LoRA stack was replaced.",
                  {"project": "Project id.", "character": "Character id.",
                   "loras": "LoRA names of the new stack, in order."}),
        EventSpec("on_pose_changed", "The active persona's pose changed.",
                  {"persona": "Id of the active persona holding the pose.", "pose": "Pose id, or null when cleared."}),
    ]


@hookimpl
def comfyvn_routers():
    from comfyvn.server.routes import designer, pov_render

    return [*designer.routers(), pov_render.router]
