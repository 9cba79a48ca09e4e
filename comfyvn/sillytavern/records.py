"""Writing what a SillyTavern import found into a project: the per-item writer that undoes itself
on failure, the import run's shared state, and character cards -> Character + World + expression
files.

Cards: a Character is created, or updated when one has the card's id or name (case-insensitive).
An update keeps the id, ``appearance``/``style``/``color`` and the stored metadata (the card's
values win), and adds the card's expressions to the existing ones. The card's lorebook becomes a
World; a world with that id that did not come from this card is kept and linked instead. V3
``emotion`` assets carrying bytes and the ``characters/<name>/`` sprite folder (which wins) become
``character.expression`` assets in the asset registry (``comfyvn.assets``):
``<project>/assets/characters/<id>/expressions/<label>-<hash>.<ext>``, tagged with the character id
and the label, recorded in ``metadata.expression_assets = {label: {asset_uid, path, sha256, bytes,
source}}`` (``path`` relative to the project folder). A failed import removes the assets it made.

Edits are kept: a character or world an import writes records in ``metadata.import_digest`` a
digest (``comfyvn.core.store.digest``) of each field the import wrote (``CHARACTER_FIELDS``,
``WORLD_FIELDS``). Importing again when one of those fields no longer matches its digest (the user
edited it) writes nothing: 409 ``import_edited`` naming the record and fields, unless ``overwrite``.
A record without the digest (imported before, or made by hand) counts as unedited.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfyvn.core import modder_hooks
from comfyvn.core.errors import Conflict, InvalidInput, NotFound
from comfyvn.core.store import digest
from comfyvn.projects import store
from comfyvn.projects.paths import project_dir
from comfyvn.projects.staging import ProjectStaging
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern import files, slug_id
from comfyvn.sillytavern.cards import CardImport, read_card
from comfyvn.sillytavern.folders import IMAGE_SUFFIXES, Item

log = logging.getLogger(__name__)

MAX_SPRITE_BYTES = 20 * 1024 * 1024
DIGEST_KEY = "import_digest"  # metadata key: {field: digest of the value the import wrote}
CHARACTER_FIELDS = ("name", "display_name", "description", "personality", "expressions", "default_expression",
                    "tags", "card")
WORLD_FIELDS = ("name", "description", "entries")
Sprite = tuple[str, bytes, str]  # (extension, bytes, origin: "card" | "sprite_folder")


class Writes(ProjectStaging):
    """The roleplay import's undo-on-failure writer (``comfyvn.projects.staging.ProjectStaging``), with
    worlds; folders it creates for files are removed again on failure."""

    def write(self, path: Path, content: bytes | dict[str, Any]) -> None:
        missing = [p for p in path.parents if not p.exists()]
        for folder in reversed(missing):  # undone in reverse: the deepest folder goes first
            self._undo.append(lambda folder=folder: _remove_empty(folder))
        super().write(path, content)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (someone else wrote there) or already gone: leave it
        pass


@dataclass
class Run:
    """One import run: where to, what, how; plus the character names seen (one listing per run,
    not one per card)."""

    project: str
    kinds: set[str]
    format: str | None = None
    detail_level: str = "medium"
    swipes_as_choices: bool = False
    overwrite: bool = False  # replace records (and chat imports) the user edited since they were imported
    limit: int = 32 * 1024 * 1024  # bytes read per file at most: the server's body limit (files.body_limit())
    _names: dict[str, str] | None = field(default=None, repr=False)  # casefolded name -> character id

    def character_named(self, name: str) -> str | None:
        if self._names is None:
            self._names = {}
            for summary in store.collection("character").list(self.project):
                self._names.setdefault(summary["name"].casefold(), summary["id"])
        return self._names.get(name.casefold())

    def remember(self, character_id: str, name: str) -> None:
        if self._names is not None:
            self._names.setdefault(name.casefold(), character_id)

    def forget_names(self) -> None:
        """Chats create characters too: list again when the next card needs the names."""
        self._names = None


def unreadable(exc: UnreadableLog, item: Item, code: str) -> InvalidInput:
    """422 ``code`` with the reader's message, naming the item by its path in the folder."""
    message = str(exc)
    if message.startswith(item.file_name):
        message = message[len(item.file_name):].lstrip(": ")
    return InvalidInput(f"{item.name}: {message}", code=code, details=exc.details())


def stamp(record: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``record`` with ``metadata.import_digest`` recording the digest of each of ``fields``."""
    record["metadata"] = {**(record.get("metadata") or {}),
                          DIGEST_KEY: {name: digest(record.get(name)) for name in fields}}
    return record


def edited_fields(record: dict[str, Any] | None, fields: tuple[str, ...]) -> list[str]:
    """The ``fields`` of a stored record that no longer match the digest its import recorded
    (none without a digest: an older import or a hand-made record counts as unedited)."""
    stored = (record or {}).get("metadata") or {}
    digests = stored.get(DIGEST_KEY) if isinstance(stored, dict) else None
    if not isinstance(digests, dict):
        return []
    assert record is not None
    return [name for name in fields if name in digests and digests[name] != digest(record.get(name))]


def refuse_edits(item: Item, edits: list[tuple[str, str, list[str]]]) -> None:
    """409 ``import_edited`` when any (kind, id, fields) has edited fields."""
    edits = [(kind, rid, fields) for kind, rid, fields in edits if fields]
    if not edits:
        return
    said = "; ".join(f"{kind} {rid!r} ({', '.join(fields)})" for kind, rid, fields in edits)
    raise Conflict(f"{item.name}: edited since it was imported: {said}; importing it again would discard the "
                   "edits: send overwrite=true (comfyvn import --overwrite) to replace them", code="import_edited",
                   details={"records": [{"kind": kind, "id": rid, "fields": fields} for kind, rid, fields in edits]})


def import_card(data: bytes, item: Item, run: Run) -> tuple[str, Any, list[Any]]:
    """(character id, result, warnings) for one card file."""
    try:
        card = read_card(data, item.file_name)
    except UnreadableLog as exc:
        raise unreadable(exc, item, "unreadable_card") from None
    except RecursionError:
        raise InvalidInput(f"{item.name}: nested too deeply to read", code="unreadable_card") from None
    warnings = [p.as_dict() for p in card.problems]

    def note(message: str, severity: str = "warning") -> None:
        warnings.append({"message": message, "line": None, "field": None, "severity": severity})

    project = run.project
    existing = _existing(run, card.character.id, card.character.name)
    character = _merged(card, existing)
    cid = character["id"]
    world, world_id, current_world = _card_world(project, card, cid, note)
    if not run.overwrite:
        refuse_edits(item, [("character", cid, edited_fields(existing, CHARACTER_FIELDS)),
                            ("world", world_id or "", edited_fields(current_world if world else None, WORLD_FIELDS))])
    if world_id is not None:
        character["metadata"]["lorebook"] = world_id
    sprites = _sprites(card, item, note, run.limit)
    if sprites and cid.endswith(".json"):
        note(f"character id {cid!r} ends in '.json': its expression files are not stored (the folder would look "
             "like a record)")
        sprites = {}
    stored = dict(character["metadata"].get("expression_assets") or {})
    with Writes(project) as writes:
        replaced = _store_sprites(project, cid, _files(sprites, stored), stored, writes)
        if stored:
            character["metadata"]["expression_assets"] = stored
            character["expressions"] = list(dict.fromkeys([*character["expressions"], *sprites]))
        if world is not None:
            writes.put("world", stamp(world, WORLD_FIELDS))
        writes.put("character", stamp(character, CHARACTER_FIELDS))
    _drop_replaced(project, cid, replaced, stored)
    run.remember(cid, character["name"])
    created = existing is None
    modder_hooks.emit("on_character_imported", {"project": project, "character_id": cid, "name": character["name"],
                                                "source": "card", "created": created})
    result = {"id": cid, "name": character["name"], "created": created, "spec": card.spec, "world": world_id,
              "greetings": len(card.greetings), "expressions": sorted(sprites)}
    return cid, result, warnings


def _store_sprites(project: str, cid: str, files: dict[str, tuple[str, str, bytes, str]], stored: dict[str, Any],
                   writes: Writes) -> list[str]:
    """Register the expression sprites as ``character.expression`` assets (undone with the import
    if it fails) and record them in ``stored``; returns the uids of sprites they replaced."""
    from comfyvn.assets.registry import registry

    if not files:
        return []
    assets = registry(project)
    root = assets.root.relative_to(project_dir(project)).as_posix()
    items = []
    for label, (stem, ext, content, origin) in files.items():
        uid = hashlib.sha256(content).hexdigest()[:8]  # the file name changes with the content
        items.append({"data": content, "path": f"characters/{cid}/expressions/{stem}-{uid}.{ext}",
                      "type": "character.expression", "tags": [cid, label], "origin": f"sillytavern.{origin}",
                      "meta": {"character": cid, "expression": label}, "name": f"{stem}.{ext}"})
    results = assets.add_many(items)
    for sidecar, created in results:
        if created:
            writes.on_undo(lambda uid=sidecar["uid"]: assets.remove(uid))
    replaced = []
    for (label, (stem, ext, content, origin)), (sidecar, _) in zip(files.items(), results):
        old = stored.get(label) if isinstance(stored.get(label), dict) else {}
        old_path = old.get("path")
        if isinstance(old_path, str) and old_path.startswith(f"characters/{cid}/expressions/"):
            writes.remove(project_dir(project) / old_path)  # stored with the character before assets existed
        if old.get("asset_uid") and old["asset_uid"] != sidecar["uid"]:
            replaced.append(old["asset_uid"])
        stored[label] = {"asset_uid": sidecar["uid"], "path": f"{root}/{sidecar['path']}",
                         "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content), "source": origin}
    return replaced


def _drop_replaced(project: str, cid: str, uids: list[str], stored: dict[str, Any]) -> None:
    """Remove sprite assets a re-import replaced, when this import made them and nothing else of
    the character still uses them (a failure only leaves an unused asset behind)."""
    from comfyvn.assets.registry import registry

    in_use = {entry.get("asset_uid") for entry in stored.values() if isinstance(entry, dict)}
    assets = registry(project)
    for uid in dict.fromkeys(uids):
        try:
            sidecar = assets.get(uid)
            if (uid not in in_use and sidecar.get("meta", {}).get("character") == cid
                    and str(sidecar.get("origin", "")).startswith("sillytavern.")):
                assets.remove(uid)
        except Exception:  # noqa: BLE001 - cleanup only; the import itself succeeded
            log.warning("replaced sprite asset %s of character %s was not removed", uid, cid, exc_info=True)


def _existing(run: Run, cid: str, name: str) -> dict[str, Any] | None:
    items = store.collection("character")
    for candidate in (cid, run.character_named(name)):
        if candidate is None:
            continue
        try:
            return items.get(run.project, candidate)["data"]
        except NotFound:
            continue
    return None


def _merged(card: CardImport, existing: dict[str, Any] | None) -> dict[str, Any]:
    new = card.character.model_dump(mode="json")
    new["metadata"] = {**new["metadata"], "imported_from": "card", "greetings": card.greetings}
    if existing is None:
        return new
    merged = {**existing, **{k: v for k, v in new.items() if k not in ("id", "appearance", "style", "color")}}
    merged["metadata"] = {**(existing.get("metadata") or {}), **new["metadata"]}
    merged["expressions"] = list(dict.fromkeys([*(existing.get("expressions") or []), *new["expressions"]]))
    if merged.get("default_expression") is None and existing.get("default_expression") in merged["expressions"]:
        merged["default_expression"] = existing["default_expression"]
    return merged


def _card_world(project: str, card: CardImport, cid: str, note: Any
                ) -> tuple[dict[str, Any] | None, str | None, dict[str, Any] | None]:
    """(the card's lorebook as a World to write, the world id to link, the stored world)."""
    if card.world is None:
        return None, None, None
    world = card.world.model_dump(mode="json")
    world["metadata"] = {**world["metadata"], "character": cid}
    try:
        current = store.collection("world").get(project, world["id"])["data"]
    except NotFound:
        return world, world["id"], None
    meta = current.get("metadata") or {}
    if meta.get("format") == "card_book" and meta.get("character") == cid:
        return world, world["id"], current
    note(f"the card's lorebook {world['name']!r} has the id of an existing world ({world['id']!r}, from "
         f"{meta.get('source_file') or meta.get('format') or 'elsewhere'}): kept that world and linked it", "info")
    return None, world["id"], current


def _sprites(card: CardImport, item: Item, note: Any, body_limit: int) -> dict[str, Sprite]:
    """Expression label -> sprite: V3 emotion assets with bytes, then the card's sprite folder
    (which wins for the same label: it is what SillyTavern shows; read like the item itself:
    regular files inside the library folder, at most MAX_SPRITE_BYTES and the body limit)."""
    found: dict[str, Sprite] = {}
    for asset in card.assets:
        if asset.type != "emotion" or asset.data is None:
            continue
        label, ext = asset.name.strip().lower(), asset.ext.lower().lstrip(".")
        if not label or f".{ext}" not in IMAGE_SUFFIXES:
            note(f"emotion asset {asset.name!r} ({asset.ext or 'no extension'}) is not an image with a label: "
                 "not stored", "info")
            continue
        if _image(asset.data):
            found[label] = (ext, asset.data, "card")
        else:
            note(f"emotion asset {asset.name!r} is not a PNG, JPEG, GIF or WebP image: not stored", "info")
    for label, path in item.sprites.items():
        if not label.strip():
            continue
        try:
            content = files.read(path, min(MAX_SPRITE_BYTES, body_limit), item.within,
                                 setting=body_limit <= MAX_SPRITE_BYTES)
            if not _image(content):
                note(f"sprite {path.name} is not a PNG, JPEG, GIF or WebP image: not stored")
                continue
            found[label.strip().lower()] = (path.suffix.lower().lstrip("."), content, "sprite_folder")
        except files.Skip as exc:
            note(f"sprite {path.name} not stored: {exc.reason}")
        except OSError as exc:
            note(f"sprite {path.name} cannot be read ({exc.strerror or exc}): not stored")
    return found


def _image(content: bytes) -> bool:
    from comfyvn.assets.media import sniff

    found = sniff(content[:64])
    return found is not None and found.kind == "image"


def _files(sprites: dict[str, Sprite], stored: dict[str, Any]) -> dict[str, tuple[str, str, bytes, str]]:
    """label -> (file stem, extension, bytes, origin). Stems are safe ids, unique per character: a
    label keeps the stem it had before; stems of stored labels not in this import stay reserved."""

    def old_stem(label: str) -> str | None:
        entry = stored.get(label)
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            return None
        stem = Path(path).stem
        return stem.rsplit("-", 1)[0] if entry.get("asset_uid") and "-" in stem else stem  # "<stem>-<hash>"

    taken = {stem for label in stored if label not in sprites and (stem := old_stem(label))}
    out: dict[str, tuple[str, str, bytes, str]] = {}
    for label in sorted(sprites, key=lambda label: (old_stem(label) is None, label)):
        ext, content, origin = sprites[label]
        base = old_stem(label) or slug_id(label, "expression")
        stem, number = base, 1
        while stem in taken:
            number += 1
            stem = f"{base[:120]}-{number}"
        taken.add(stem)
        out[label] = (stem, ext, content, origin)
    return out
