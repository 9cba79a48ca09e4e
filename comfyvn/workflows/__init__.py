"""Workflow templates: API-format ComfyUI graphs with declared parameters (comfyvn.render.templates)."""
