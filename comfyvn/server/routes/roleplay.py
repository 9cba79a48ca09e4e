"""Roleplay import: upload a chat log (multipart or JSON), preview it, list the readers."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any, Literal

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.roleplay import readers, service
from comfyvn.roleplay.cleaner import OfflineCleaner
from comfyvn.roleplay.jobs import Detail, ImportOptions
from comfyvn.scenario.validate import validated
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/roleplay", tags=["roleplay"])
INLINE_LIMIT = 1 << 20  # uploads up to 1 MiB import in the request; larger ones run as a job


class ImportRequest(ImportOptions):
    blocking: bool = Field(default=False, description="Import in the request even when the file is large.")
    dry_run: bool = Field(default=False, description="Read, detect and format exactly as the import would, write "
                          "nothing, and answer the preview it would store (always in the request).")


class JsonUpload(ImportRequest):
    name: str = Field(default="chat.jsonl", description="File name (format detection uses it).")
    content: str | None = Field(default=None, description="The file's text.")
    content_base64: str | None = Field(default=None, description="The file's bytes, base64 (for PNG cards).")


def _options(model: type[ImportRequest], values: dict[str, Any]) -> Any:
    return validated(model, values, "import options")


async def _upload(request: Request) -> tuple[bytes, str, ImportRequest]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("multipart upload needs a 'file' field with the chat log", details={"field": "file"})
        data = await upload.read()
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v != ""}
        return data, upload.filename or "upload", _options(ImportRequest, fields)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("send multipart/form-data with a 'file' field, or a JSON object with 'content'") from None
    if not isinstance(body, dict):
        raise InvalidInput("the JSON body must be an object with 'name' and 'content' (or 'content_base64')")
    upload = _options(JsonUpload, body)
    if (upload.content is None) == (upload.content_base64 is None):
        raise InvalidInput("give exactly one of 'content' (text) or 'content_base64' (bytes)")
    if upload.content is not None:
        return upload.content.encode("utf-8"), upload.name, upload
    try:
        return base64.b64decode(upload.content_base64, validate=True), upload.name, upload
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64 is not valid base64", details={"field": "content_base64"}) from None


@router.get("/formats", summary="The log formats the importer reads (ids usable as 'format')")
def formats() -> dict[str, Any]:
    return {"formats": [{"id": r.id, "description": r.description} for r in readers.readers().values()]}


@router.post("/import", summary="Import a chat log (multipart 'file' or JSON 'content'); large files run as a job; "
             "dry_run=true previews it without writing",
             responses={202: {"description": "Queued as a roleplay.import job: {job_id, status_url}"}})
async def import_chat(request: Request, services: ServicesDep) -> Any:
    data, name, options = await _upload(request)
    kwargs = options.model_dump(exclude={"blocking", "dry_run", "name", "content", "content_base64"})
    if options.dry_run:  # any size, in a worker thread (the body limit caps it); nothing is written
        return await run_in_threadpool(lambda: service.dry_run_log(data, name, **kwargs))
    if options.blocking or len(data) <= INLINE_LIMIT:  # in a worker thread: the server keeps answering
        return await run_in_threadpool(lambda: service.import_log(data, name, **kwargs))
    path = runtime_paths.uploads_dir() / uuid.uuid4().hex
    await run_in_threadpool(atomic_write_bytes, path, data)  # disk and fsync off the event loop
    job = services.jobs.submit("roleplay.import", {**kwargs, "path": str(path), "name": name})
    return JSONResponse({"job_id": job["id"], "status_url": f"/jobs/{job['id']}", "queued": True},
                        status_code=202)


@router.get("/preview/{uid}", summary="Participants, line count, excerpt, synopsis and warnings of an import")
def preview(uid: str, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return service.preview(project, uid)


class ImportRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    uid: str = Field(description="The import id returned by POST /roleplay/import.")
    overwrite: bool = Field(default=False, description="Re-make the scenes even if they were edited since.")


class CorrectionsBody(ImportRef):
    messages: list[dict[str, Any]] = Field(default_factory=list,
                                           description="[{index, text?, speaker?, role?, hidden?}]")
    speakers: dict[str, str] = Field(default_factory=dict, description="Rename speakers: {old: new}.")
    detail_level: Detail | None = None
    swipes_as_choices: bool | None = None


class CleanBody(ImportRef):
    detail_level: Detail | None = None
    cleaner: Literal["auto", "offline", "llm"] = Field(
        default="auto", description="'llm': the configured LLM provider; 'offline': the deterministic cleaner; "
                                    "'auto': the LLM when one is configured.")
    blocking: bool = Field(default=False, description="Clean in the request even when an LLM is used "
                                                      "(by default LLM cleaning runs as a roleplay.clean job).")


@router.post("/apply_corrections", summary="Persist editor edits to an import's transcript and re-make its scenes")
def apply_corrections(body: CorrectionsBody) -> dict[str, Any]:  # sync: FastAPI runs it in a worker thread
    return service.apply_corrections(body.project, body.uid, messages=body.messages, speakers=body.speakers,
                                     detail_level=body.detail_level, swipes_as_choices=body.swipes_as_choices,
                                     overwrite=body.overwrite)


@router.post("/sample_llm", summary="Clean an import into its final variant (LLM or offline cleaner) and re-make its "
             "scenes", responses={202: {"description": "LLM cleaning queued as a roleplay.clean job: {job_id, status_url}"}})
def sample_llm(body: CleanBody, services: ServicesDep) -> Any:
    params = body.model_dump(exclude={"blocking"})
    if body.blocking or isinstance(service.choose_cleaner(body.cleaner), OfflineCleaner):
        return service.sample_llm(**params)
    job = services.jobs.submit("roleplay.clean", params)
    return JSONResponse({"job_id": job["id"], "status_url": f"/jobs/{job['id']}", "queued": True}, status_code=202)
