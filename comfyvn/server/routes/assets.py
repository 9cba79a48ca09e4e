"""The asset registry over HTTP: search, read, download, upload, register, update, delete."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from comfyvn.assets import paths
from comfyvn.assets.registry import registry
from comfyvn.config.settings import SettingsManager
from comfyvn.core import modder_hooks
from comfyvn.core.errors import InvalidInput, NotFound, PayloadTooLarge
from comfyvn.projects.paths import DEFAULT_PROJECT
from comfyvn.server.routing import domain_router

router = domain_router(prefix="/assets", tags=["assets"])
MAX_PAGE = 500
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small form fields around the file


def _tags(tags: str | None, tag: list[str] | None) -> list[str]:
    found = [t for t in (tags or "").split(",") if t.strip()] + [t for t in tag or [] if t.strip()]
    return [t.strip().lower() for t in found]


@router.get("", summary="Search assets: type, hash, tags (all must match), q (substring), paging")
def list_assets(project: str = DEFAULT_PROJECT, type: str | None = None, hash: str | None = None,
                tags: str | None = Query(None, description="Comma-separated; every one must be present."),
                tag: list[str] | None = Query(None, description="Repeatable; same as tags."),
                q: str | None = Query(None, description="Case-insensitive substring of path, tags, meta, ..."),
                limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return registry(project).query(type=type, hash=hash, tags=_tags(tags, tag), q=q, limit=limit, offset=offset)


@router.get("/debug/hooks", summary="Callbacks registered with AssetRegistry.add_hook, per event")
def debug_hooks(project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    from comfyvn.assets.registry import HOOK_EVENTS

    return {"project": project, "hooks": registry(project).hooks(),
            "bridged": {event: list(names) for event, names in HOOK_EVENTS.items()}}


@router.get("/debug/modder-hooks", summary="The asset events of the modder hook bus, with their fields")
def debug_modder_hooks() -> dict[str, Any]:
    specs = modder_hooks.specs()
    return {"events": [spec.as_dict() for name, spec in sorted(specs.items()) if name.startswith("on_asset_")]}


@router.get("/debug/history", summary="Recent asset events from the hook bus history")
def debug_history(limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    return {"events": modder_hooks.history(limit=limit, event="on_asset_*")}


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    tags: list[str] | None = Field(default=None, description="Replace the tags.")
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    license: str | None = Field(default=None, description="Set the licence (null clears it; leave out to keep).")
    meta: dict[str, Any] | None = Field(default=None, description="Merged into meta; a null value removes a key.")

    def changes(self) -> dict[str, Any]:
        out = self.model_dump(include={"tags", "add_tags", "remove_tags", "meta"})
        if "license" in self.model_fields_set:
            out["license"] = self.license
        return out


class Bulk(Metadata):
    uids: list[str] = Field(min_length=1, max_length=10_000, description="The assets to change (all or none).")


class Patch(Metadata):
    expected_version: int | None = Field(default=None, description="409 when the sidecar's version differs.")


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = DEFAULT_PROJECT
    path: str = Field(description="A file inside the project's asset folder, e.g. 'backgrounds/beach.png'.")
    type: str | None = Field(default=None, description="Asset type; default 'image' or 'audio' from the content.")
    tags: list[str] = Field(default_factory=list)
    license: str | None = None
    origin: str = "file"
    meta: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None


@router.post("/bulk", summary="Change tags, licence or meta of several assets at once (all or none)")
def bulk_update(body: Bulk) -> dict[str, Any]:
    return {"items": registry(body.project).update_many(body.uids, **body.changes())}


@router.post("/register", summary="Register a file already inside the project's asset folder",
             responses={201: {"description": "Registered"}})
def register(body: Register) -> JSONResponse:
    sidecar, created = registry(body.project).register(
        body.path, type=body.type, tags=body.tags, license=body.license, origin=body.origin, meta=body.meta,
        provenance=body.provenance)
    return JSONResponse({"asset": sidecar, "created": created}, status_code=201 if created else 200)


def _json_field(form: Any, name: str) -> Any:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput(f"form field {name!r} must be JSON", details={"field": name}) from None


@router.post("/upload", summary="Upload a file (multipart 'file'; type from the content); same content -> same asset",
             responses={201: {"description": "Registered"}, 200: {"description": "Already registered"}})
async def upload(request: Request) -> JSONResponse:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send multipart/form-data with a 'file' field (and optional project, type, path, tags, "
                           "license, meta, provenance)")
    limit = int(SettingsManager().get("assets.max_upload_bytes"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:  # refused before anything is spooled
        raise PayloadTooLarge(f"the upload is {declared} bytes, over the asset limit of {limit} (setting "
                              "assets.max_upload_bytes)", details={"bytes": int(declared), "limit": limit})
    form = await request.form()
    file = form.get("file")
    if file is None or isinstance(file, str):
        raise InvalidInput("multipart upload needs a 'file' field", details={"field": "file"})
    data = await file.read(limit + 1)
    tags = _json_field(form, "tags") if str(form.get("tags") or "").startswith("[") else _tags(form.get("tags"), None)
    project = str(form.get("project") or DEFAULT_PROJECT)
    sidecar, created = await run_in_threadpool(lambda: registry(project).add_bytes(
        data, name=file.filename or "", type=form.get("type") or None, path=form.get("path") or None, tags=tags,
        license=form.get("license") or None, origin=str(form.get("origin") or "upload"),
        meta=_json_field(form, "meta"), provenance=_json_field(form, "provenance"), max_bytes=limit))
    return JSONResponse({"asset": sidecar, "created": created}, status_code=201 if created else 200)


@router.post("/rebuild", summary="Rebuild the search index of a project from its sidecars")
def rebuild(project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    found = registry(project).open()
    return {"project": project, "assets": found.rebuild_index()}


@router.get("/{uid}", summary="One asset's sidecar (from the index)")
def get_asset(uid: str, project: str = DEFAULT_PROJECT) -> dict[str, Any]:
    return registry(project).get(uid)


@router.get("/{uid}/download", summary="The asset's file")
def download(uid: str, project: str = DEFAULT_PROJECT) -> FileResponse:
    found = registry(project)
    path = found.file_of(uid)
    sidecar = found.get(uid)
    return FileResponse(path, media_type=sidecar.get("meta", {}).get("mime") or "application/octet-stream",
                        filename=path.name)


@router.get("/{uid}/sidecar", summary="The .asset.json sidecar file as stored on disk")
def sidecar(uid: str, project: str = DEFAULT_PROJECT) -> Response:
    found = registry(project)
    path = paths.sidecar_of(paths.resolve(found.root, found.get(uid)["path"]))
    try:
        return Response(paths.read_regular(path), media_type="application/json")
    except OSError:
        raise NotFound(f"the sidecar of asset {uid!r} is missing on disk (or is a link); rebuild the index "
                       "with POST /assets/rebuild", details={"uid": uid}) from None


@router.get("/{uid}/thumbnail", summary="A PNG thumbnail (size 256 or 512); 404 until it has been made")
def thumbnail(uid: str, project: str = DEFAULT_PROJECT, size: int = Query(256)) -> FileResponse:
    found = registry(project)
    preview = found.get(uid).get("preview") or {}
    rel = (preview.get("thumbnails") or {}).get(str(size))
    if rel is None:
        raise NotFound(f"asset {uid!r} has no {size}px thumbnail (preview status: {preview.get('status', 'none')})",
                       details={"uid": uid, "size": size, "status": preview.get("status")})
    path = paths.resolve(paths.previews_folder(found.root), rel.removeprefix(paths.PREVIEWS + "/"))
    if not path.is_file():
        raise NotFound(f"the {size}px thumbnail of asset {uid!r} is missing on disk; re-register the asset or run "
                       "the previews again", details={"uid": uid, "size": size, "status": "missing"})
    return FileResponse(path, media_type="image/png")


@router.patch("/{uid}", summary="Change an asset's tags, licence or meta")
def update(uid: str, body: Patch) -> dict[str, Any]:
    return registry(body.project).update(uid, expected_version=body.expected_version, **body.changes())


@router.delete("/{uid}", summary="Delete an asset: its sidecar, file (unless keep_file) and previews")
def delete(uid: str, project: str = DEFAULT_PROJECT, keep_file: bool = False) -> dict[str, Any]:
    return {"deleted": registry(project).remove(uid, keep_file=keep_file)}

