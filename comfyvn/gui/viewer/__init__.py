"""The VN Viewer: the Studio's default centre pane (``ViewerPane(bridge, project="default")``)."""

from comfyvn.gui.viewer.viewer import ViewerPane

__all__ = ["ViewerPane"]
