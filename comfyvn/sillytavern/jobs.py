"""The ``sillytavern.import`` job (a large library imported in the background, with progress per
item) and the options POST /st/import and the job share."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comfyvn.core.job_types import JobContext
from comfyvn.roleplay.formatter import Detail

Kind = Literal["worlds", "personas", "characters", "chats"]
UPLOAD_PREFIX = "st-"  # <cache>/uploads/st-<hex>/: one folder per queued upload batch


class LibraryOptions(BaseModel):
    """What to import and how (JSON body of POST /st/import, without ``blocking``)."""

    model_config = ConfigDict(extra="forbid")

    project: str = "default"
    path: str | None = Field(default=None, description="A file or folder on the server machine: absolute, or "
                             "relative to 'root'. A SillyTavern folder, its data/ folder or data/<user>/.")
    root: str | None = Field(default=None, description="The SillyTavern folder a relative 'path' starts from.")
    user: str | None = Field(default=None, description="The SillyTavern user (data/<user>/) when there are several.")
    kinds: list[Kind] = Field(default_factory=lambda: ["worlds", "personas", "characters", "chats"], min_length=1,
                              description="What to import.")
    format: str | None = Field(default=None, description="Force the chat reader (see GET /roleplay/formats).")
    detail_level: Detail = "medium"
    swipes_as_choices: bool = False
    overwrite: bool = Field(default=False, description="Replace characters, worlds and chats edited since an "
                            "earlier import (otherwise such an item is an error 409 'import_edited').")


class Upload(BaseModel):
    path: str = Field(description="The saved upload under <cache>/uploads/.")
    name: str = Field(description="The original file name.")


class LibraryJobParams(LibraryOptions):
    files: list[Upload] = Field(default_factory=list, description="Uploaded files (removed after the job).")


def run(options: LibraryOptions, *, plan: Any = None, uploads: list[tuple[str, bytes]] | None = None,
        progress: Any = None) -> dict[str, Any]:
    """Plan (a path, or uploads; or take ``plan``), import every item, and fail only when nothing
    could be imported (``importer.require_success``)."""
    from comfyvn.core.errors import InvalidInput
    from comfyvn.projects import store
    from comfyvn.sillytavern import importer

    store.require_project(options.project)
    if plan is not None:
        pass
    elif uploads is not None:
        plan = importer.plan_uploads(uploads)
    elif options.path:
        plan = importer.plan_path(options.path, root=options.root, user=options.user, kinds=options.kinds)
    else:
        raise InvalidInput("give 'path' (a file or SillyTavern folder on the server) or upload 'files'",
                           details={"field": "path"})
    report = importer.import_items(plan.items, project=options.project, kinds=options.kinds, format=options.format,
                                   detail_level=options.detail_level, swipes_as_choices=options.swipes_as_choices,
                                   overwrite=options.overwrite,
                                   progress=progress)
    return importer.require_success(report | {"plan": plan.as_dict()})


def _own_upload(path: Path) -> bool:
    """True for a file this job's route saved (``<cache>/uploads/st-<hex>/...``): only those are
    deleted afterwards, whatever paths a hand-made job submission names."""
    from comfyvn.config import runtime_paths

    uploads = (runtime_paths.uploads_dir()).resolve()
    folder = path.resolve().parent
    return folder.parent == uploads and folder.name.startswith(UPLOAD_PREFIX)


def run_import(ctx: JobContext) -> dict[str, Any]:
    from comfyvn.sillytavern import importer

    params = LibraryJobParams.model_validate(ctx.params or {})
    try:
        # each file is read when its item is imported, with the same checks as any library file
        # (a regular file, within the body limit): the params may name any path
        plan = importer.Plan(source="upload", items=[importer.Item(f.name, Path(f.path)) for f in params.files]) \
            if params.files else None
        return run(params, plan=plan, progress=lambda fraction, message: ctx.progress(fraction, message))
    finally:
        for folder in {Path(f.path).parent for f in params.files if _own_upload(Path(f.path))}:
            shutil.rmtree(folder, ignore_errors=True)
