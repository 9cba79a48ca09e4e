"""SillyTavern library import: a data folder or file on the server machine, or uploaded files."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from comfyvn.config import runtime_paths
from comfyvn.core.errors import InvalidInput
from comfyvn.core.store import atomic_write_bytes
from comfyvn.projects import store
from comfyvn.scenario.validate import validated
from comfyvn.server.routing import ServicesDep, domain_router
from comfyvn.sillytavern import importer, jobs

router = domain_router(prefix="/st", tags=["sillytavern"])
INLINE_ITEMS = 20  # plans with more items run as a sillytavern.import job unless blocking=true


class LibraryRequest(jobs.LibraryOptions):
    blocking: bool = Field(default=False, description="Import in the request even when there are many items.")
    dry_run: bool = Field(default=False, description="List what would be imported (counts per kind), import nothing.")


COUNTED = {"chat": "chats", "card": "characters", "world": "worlds", "personas": "personas", "group": "groups"}


def _dry_run(plan: Any, options: LibraryRequest) -> dict[str, Any]:
    """What an import of ``plan`` would take: each item's kind (uploads are classified from their
    bytes; a file on disk whose kind its folder does not tell is ``unclassified``: it is read when
    imported) and the counts per kind. Nothing is read from disk beyond the planning itself."""
    counts = dict.fromkeys([*COUNTED.values(), "unclassified", "skipped"], 0)
    rows = []
    for item in plan.items:
        kind = item.kind or (importer.classify(item.data, item.name) if item.data is not None else None)
        wanted = kind is None or importer.GROUP_OF.get(kind) in options.kinds
        counts[COUNTED.get(kind or "", "unclassified") if wanted else "skipped"] += 1
        rows.append({"item": item.name, "kind": kind, "status": "planned" if wanted else "skipped"})
    return {"dry_run": True, "project": options.project, "items": rows, "counts": counts, "plan": plan.as_dict()}


def _options(values: dict[str, Any]) -> LibraryRequest:
    return validated(LibraryRequest, values, "import options")


def _queued(services: Any, params: dict[str, Any], items: int) -> JSONResponse:
    job = services.jobs.submit("sillytavern.import", params)
    return JSONResponse({"job_id": job["id"], "status_url": f"/jobs/{job['id']}", "queued": True, "items": items},
                        status_code=202)


async def _form(request: Request, services: Any) -> Any:
    form = await request.form()
    uploads = [u for u in [*form.getlist("files"), *form.getlist("file")] if not isinstance(u, str)]
    if not uploads:
        raise InvalidInput("multipart upload needs one or more 'files' fields", details={"field": "files"})
    fields: dict[str, Any] = {k: v for k, v in form.items() if k not in ("files", "file", "kinds")
                              and isinstance(v, str) and v != ""}
    kinds = [k.strip() for v in form.getlist("kinds") if isinstance(v, str) for k in v.split(",") if k.strip()]
    if kinds:
        fields["kinds"] = kinds
    if "path" in fields or "root" in fields:
        raise InvalidInput("send either uploaded 'files' or a JSON body with 'path', not both",
                           details={"field": "path"})
    options = _options(fields)
    store.require_project(options.project)
    files = [(u.filename or f"upload-{n}", await u.read()) for n, u in enumerate(uploads, start=1)]
    if options.dry_run:
        return await run_in_threadpool(lambda: _dry_run(importer.plan_uploads(files), options))
    settings = options.model_dump(exclude={"blocking", "dry_run"})
    if options.blocking or len(files) <= INLINE_ITEMS:
        return await run_in_threadpool(jobs.run, options, uploads=files)
    folder = runtime_paths.uploads_dir() / f"{jobs.UPLOAD_PREFIX}{uuid.uuid4().hex}"
    saved = await run_in_threadpool(_save_uploads, folder, files)  # disk and fsync off the event loop
    return _queued(services, {**settings, "files": saved}, len(files))


def _save_uploads(folder: Any, files: list[tuple[str, bytes]]) -> list[dict[str, str]]:
    saved = []
    for number, (name, data) in enumerate(files):
        path = folder / f"{number:05d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[-80:]}"
        atomic_write_bytes(path, data)
        saved.append({"path": str(path), "name": name})
    return saved


@router.post("/import", summary="Import a SillyTavern library (worlds, personas, characters, chats): a folder or "
             "file on the server, or uploaded files; dry_run=true lists what would be imported",
             responses={202: {"description": "Queued as a sillytavern.import job: {job_id, status_url, items}"}})
async def import_library(request: Request, services: ServicesDep) -> Any:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _form(request, services)
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("send a JSON object with 'path' (a file or SillyTavern folder on the server), or "
                           "multipart/form-data with 'files'") from None
    if not isinstance(body, dict):
        raise InvalidInput("the JSON body must be an object with 'path' (and optionally project, user, kinds)")
    options = _options(body)
    if not options.path:
        raise InvalidInput("'path' is required: a file or SillyTavern folder on the server (or upload 'files')",
                           details={"field": "path"})
    store.require_project(options.project)
    plan = await run_in_threadpool(importer.plan_path, options.path, root=options.root, user=options.user,
                                   kinds=options.kinds)
    if options.dry_run:
        return _dry_run(plan, options)
    if options.blocking or len(plan.items) <= INLINE_ITEMS:
        return await run_in_threadpool(jobs.run, options, plan=plan)
    return _queued(services, options.model_dump(exclude={"blocking", "dry_run"}), len(plan.items))
