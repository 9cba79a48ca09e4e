"""ComfyVN: turn AI roleplay into visual novels."""

__version__ = "0.1.0"
