"""Rendering: the ComfyUI bridge and the built-in renderer."""
