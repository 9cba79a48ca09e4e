"""The roleplay jobs: ``roleplay.import`` (a large upload imported in the background) and
``roleplay.clean`` (an import cleaned by the LLM provider, one request per message), with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput
from comfyvn.core.job_types import JobContext
from comfyvn.roleplay.formatter import Detail


class ImportOptions(BaseModel):
    """How to import a chat log (the form fields / JSON fields of POST /roleplay/import)."""

    project: str = "default"
    format: str | None = Field(default=None, description="Force a reader (see GET /roleplay/formats); default: detect.")
    detail_level: Detail = "medium"
    swipes_as_choices: bool = Field(default=False, description="Turn swipes into a choice between alternatives.")
    title: str | None = None
    overwrite: bool = Field(default=False, description="Re-import even when the import was edited since (discards the edits).")


class ImportJobParams(ImportOptions):
    path: str = Field(description="The uploaded file, saved under <cache>/uploads/ (removed after the import).")
    name: str = Field(description="The original file name (format detection and provenance use it).")


def run_import(ctx: JobContext) -> dict:
    from comfyvn.roleplay.service import import_log

    params = ImportJobParams.model_validate(ctx.params or {})
    upload = Path(params.path)
    uploads = (runtime_paths.uploads_dir()).resolve()
    if upload.resolve().parent != uploads:  # the job deletes its input: only ever a saved upload
        raise InvalidInput(f"'path' must be an upload saved under {uploads}, not {params.path!r}",
                           details={"field": "path"})
    try:
        data = upload.read_bytes()
        return import_log(data, params.name, project=params.project, format=params.format,
                          detail_level=params.detail_level, swipes_as_choices=params.swipes_as_choices,
                          title=params.title, overwrite=params.overwrite, progress=lambda fraction, message: ctx.progress(fraction, message))
    finally:
        upload.unlink(missing_ok=True)


class CleanJobParams(BaseModel):
    project: str = "default"
    uid: str = Field(description="The import to clean.")
    detail_level: Detail | None = None
    overwrite: bool = False
    cleaner: Literal["auto", "offline", "llm"] = "auto"


def run_clean(ctx: JobContext) -> dict:
    from comfyvn.roleplay.service import sample_llm

    params = CleanJobParams.model_validate(ctx.params or {})
    return sample_llm(**params.model_dump(), progress=lambda fraction, message: ctx.progress(fraction * 0.9, message))
