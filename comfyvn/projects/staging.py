"""``ProjectStaging``: file writes plus project records (scenes, characters, ...) undone together."""

from __future__ import annotations

from typing import Any

from comfyvn.core.errors import NotFound
from comfyvn.core.store import Staging
from comfyvn.projects import store


class ProjectStaging(Staging):
    """``Staging`` for one project: ``put`` creates or replaces a record, ``drop`` deletes one; on
    failure each is undone through the store (so its events and checks apply both ways)."""

    def __init__(self, project: str) -> None:
        super().__init__()
        self.project = project

    def put(self, kind: str, data: dict[str, Any]) -> str:
        """Create or replace a record; its new revision."""
        collection = store.collection(kind)
        try:
            old = collection.get(self.project, data["id"])["data"]
        except NotFound:
            old = None
        if old is None:
            answer = collection.create(self.project, data)
            self.on_undo(lambda: collection.delete(self.project, data["id"], force=True))
        else:
            answer = collection.replace(self.project, data["id"], data)
            self.on_undo(lambda: collection.replace(self.project, data["id"], old))
        return answer["revision"]

    def drop(self, kind: str, item_id: str) -> None:
        collection = store.collection(kind)
        old = collection.get(self.project, item_id)["data"]
        collection.delete(self.project, item_id, force=True)
        self.on_undo(lambda: collection.create(self.project, old))
