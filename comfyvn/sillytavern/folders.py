"""What a SillyTavern library holds: classify one file from its content, and plan the import of
a whole SillyTavern data folder (``discover``).

A data folder is ``data/<user>/`` (``default-user`` unless the install has accounts) with
``worlds/*.json``, ``settings.json`` (personas), ``backups/personas_*.json``, ``User Avatars/``,
``characters/*.png`` (+ ``characters/<card name>/`` expression sprites), ``chats/<card name>/*.jsonl``,
``group chats/*.jsonl`` and ``groups/*.json``; older installs keep the same folders under
``public/``. ``discover`` accepts the SillyTavern folder itself, its ``data/`` folder, a user
folder, or ``public/``. Nothing is read here except ``groups/*.json`` and ``settings.json`` (small);
the files themselves are read when each item is imported. Every file listed keeps the folder it
was found in (``Item.within``): it is read only when it is a regular file inside that folder
(``comfyvn.sillytavern.files``), so a link leaving the folder, a FIFO or a device is reported as
skipped, never read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from comfyvn.core.errors import InvalidInput
from comfyvn.roleplay import readers
from comfyvn.roleplay.transcript import UnreadableLog
from comfyvn.sillytavern import files
from comfyvn.sillytavern.charx import SIGNATURE as ZIP_SIGNATURE
from comfyvn.sillytavern.pngtext import SIGNATURE as PNG_SIGNATURE

KINDS = ("worlds", "personas", "characters", "chats")  # what POST /st/import can be asked for
GROUP_OF = {"world": "worlds", "personas": "personas", "card": "characters", "chat": "chats", "group": "chats"}
USER_DIRS = ("chats", "group chats", "characters", "worlds", "groups")
CARD_SUFFIXES = {".png", ".json", ".charx", ".yaml", ".yml"}
IMAGE_SUFFIXES = {".png", ".webp", ".jpg", ".jpeg", ".gif", ".avif", ".apng"}
SEARCH_SUFFIXES = {".jsonl", ".json", ".txt", ".log", ".yaml", ".yml", ".png", ".charx"}
DEFAULT_USER = "default-user"
MAX_SMALL_FILE = 8 * 1024 * 1024  # settings.json and groups/*.json read while planning
_CHAT_KEYS = {"messages", "lines", "histories", "internal", "visible", "data_visible"}
_OOBA_NAME = re.compile(r"^(name|char_name)\s*:", re.MULTILINE)
_OOBA_BODY = re.compile(r"^(context|char_persona|greeting|char_greeting)\s*:", re.MULTILINE)


class NotSillyTavernFolder(InvalidInput):
    code = "not_sillytavern_folder"


@dataclass
class Item:
    """One thing to import: a file on disk (``path``) or uploaded bytes (``data``)."""

    name: str  # shown in reports: the path relative to the imported folder, or the upload's name
    path: Path | None = None
    data: bytes | None = None
    kind: str | None = None  # "chat", "card", "world", "personas", "group"; None = classify the content
    title: str | None = None  # group chats: "<group name> - <chat id>"
    group: dict[str, Any] | None = None  # group items: the parsed groups/<id>.json
    sprites: dict[str, Path] = field(default_factory=dict)  # cards: expression label -> sprite file
    avatars: dict[str, Path] = field(default_factory=dict)  # personas: avatar file name -> file
    searched: bool = False  # found by searching a folder: skip (not fail) what is not importable
    within: Path | None = None  # the library folder it was found in: its real path must stay inside

    @property
    def file_name(self) -> str:
        return self.name.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass
class Plan:
    source: str  # the folder or file imported ("upload" for uploads)
    user: str | None = None  # the SillyTavern user whose data folder this is
    layout: str = "files"  # "data" (data/<user>/), "public" (older installs), "files", "search"
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "user": self.user, "layout": self.layout, "items": len(self.items),
                "notes": self.notes}


# -- one file -----------------------------------------------------------------------------------

def classify(data: bytes, name: str = "") -> str | None:
    """What a file is, from its content: ``"card"`` (PNG, CHARX zip, card JSON, oobabooga YAML),
    ``"world"`` (JSON with ``entries``), ``"personas"``, ``"group"`` (``groups/<id>.json``),
    ``"chat"`` (a chat reader recognises it) or None."""
    if data.startswith((PNG_SIGNATURE, ZIP_SIGNATURE, b"PK\x05\x06")):
        return "card"
    source = readers.Source(data, name)
    try:
        text = source.text
    except UnreadableLog:
        return None
    value = source.json()
    if isinstance(value, dict):
        kind = _json_kind(value)
        if kind is not None:
            return kind
    elif value is None and _OOBA_NAME.search(text[:20000]) and _OOBA_BODY.search(text[:200000]):
        return "card"
    try:
        readers.detect(source)
    except (UnreadableLog, RecursionError):
        return None
    return "chat"


def _json_kind(value: dict[str, Any]) -> str | None:
    keys = set(value)
    if isinstance(value.get("entries"), (dict, list)) and not {"spec", "data"} & keys:
        return "world"
    power = value.get("power_user")
    if {"personas", "persona_descriptions"} & keys or (
            isinstance(power, dict) and {"personas", "persona_descriptions"} & set(power)):
        return "personas"
    if isinstance(value.get("members"), list) and {"chat_id", "chats"} & keys:
        return "group"
    if keys & _CHAT_KEYS:
        return None  # a chat log (Agnai has name + greeting too): let the chat readers decide
    spec, data = value.get("spec"), value.get("data")
    if (isinstance(spec, str) and spec.lower().startswith("chara_card")) or (
            isinstance(data, dict) and {"name", "first_mes", "description"} & set(data)):
        return "card"
    if "char_name" in keys or ("name" in keys and {"first_mes", "description", "personality", "context",
                                                    "greeting"} & keys):
        return "card"
    return None


def is_card_image(data: bytes) -> bool:
    """A PNG carrying a card (``chara``/``ccv3`` chunk), as opposed to any other image."""
    from comfyvn.sillytavern.pngtext import read_text_chunks

    return bool({"chara", "ccv3"} & set(read_text_chunks(data).texts))


# -- a SillyTavern data folder ------------------------------------------------------------------

def is_user_folder(path: Path) -> bool:
    """A SillyTavern user folder (``data/<user>/`` or ``public/``): one of its sub-folders is there,
    and it is not a ComfyVN project (which has characters/ and worlds/ too)."""
    return (path.is_dir() and not (path / "project.json").exists()
            and any((path / name).is_dir() for name in USER_DIRS))


def _users(base: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(base.iterdir())
            if not p.name.startswith(("_", ".")) and is_user_folder(p)}


def find_user_folder(folder: Path, user: str | None = None) -> tuple[Path, str, str]:
    """(user folder, user name, layout) for the SillyTavern folder, its data/ folder, a user
    folder or public/; 422 saying what was expected otherwise, or which users there are."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder", details={"path": str(folder)})
    if is_user_folder(folder):
        return folder, user or folder.name, "public" if folder.name == "public" else "data"
    base = folder / "data" if (folder / "data").is_dir() else folder  # the SillyTavern folder, or data/
    users = _users(base) if base != folder else {}
    if not users and is_user_folder(folder / "public"):  # an older install
        return folder / "public", user or "public", "public"
    if base == folder:
        users = _users(folder)
    if not users:
        raise NotSillyTavernFolder(
            f"{folder} is not a SillyTavern data folder: expected the SillyTavern folder (holding data/<user>/), "
            "its data/ folder, one user's folder such as data/default-user/ (with chats/, characters/, worlds/, "
            "group chats/ or groups/ inside), or an older install's public/ folder",
            details={"path": str(folder), "expected": ["data/<user>/", "public/"]})
    if user is not None:
        if user not in users:
            raise InvalidInput(f"{base} has no SillyTavern user {user!r}; its users: {', '.join(users)}",
                               code="unknown_user", details={"user": user, "users": list(users)})
        return users[user], user, "data"
    if DEFAULT_USER in users:
        return users[DEFAULT_USER], DEFAULT_USER, "data"
    if len(users) == 1:
        name = next(iter(users))
        return users[name], name, "data"
    raise InvalidInput(f"{base} holds the data of several SillyTavern users ({', '.join(users)}): choose one "
                       "with 'user' (--user on the command line)", code="user_required",
                       details={"users": list(users)})


def discover(folder: Path, user: str | None = None, kinds: tuple[str, ...] | list[str] = KINDS) -> Plan:
    """The import plan of a SillyTavern data folder: worlds, then personas, then character cards
    (each with its expression sprites), then chats (group chats titled after their group)."""
    root, user_name, layout = find_user_folder(Path(folder), user)
    plan = Plan(source=str(folder), user=user_name, layout=layout)
    within = Path(folder).resolve()  # the folder asked for: links may not lead out of it

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    def item(path: Path, kind: str, **extra: Any) -> Item:
        return Item(rel(path), path, kind=kind, within=within, **extra)

    if "worlds" in kinds:
        plan.items += [item(p, "world") for p in _files(root / "worlds", {".json"})]
    if "personas" in kinds:
        _plan_personas(root, plan, rel, item, within)
    if "characters" in kinds:
        _plan_cards(root, plan, rel, item)
    if "chats" in kinds:
        for chat_dir in sorted(p for p in (root / "chats").glob("*") if p.is_dir()):
            plan.items += [item(p, "chat") for p in _files(chat_dir, {".jsonl"})]
        titles = _plan_groups(root, plan, item, within)
        for path in _files(root / "group chats", {".jsonl"}):
            plan.items.append(item(path, "chat", title=titles.get(path.stem)))
    return plan


def _files(folder: Path, suffixes: set[str]) -> list[Path]:
    """The entries of ``folder`` with one of ``suffixes`` that are not folders: regular files, and
    also links, FIFOs, devices and sockets, so that the import reports why it skips them."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith(".")
                  and not p.is_dir())


def _small_json(path: Path, within: Path) -> Any:
    """A small JSON file read while planning; files.Skip or ValueError when it cannot be."""
    return orjson.loads(files.read(path, MAX_SMALL_FILE, within).removeprefix(b"\xef\xbb\xbf"))


def _plan_personas(root: Path, plan: Plan, rel: Any, item: Any, within: Path) -> None:
    avatars = {p.name: p for p in _files(root / "User Avatars", IMAGE_SUFFIXES)}
    settings = root / "settings.json"
    chosen: Path | None = None
    if os.path.lexists(settings):
        try:
            power = _small_json(settings, within).get("power_user")
            if isinstance(power, dict) and {"personas", "persona_descriptions"} & set(power):
                chosen = settings
        except files.Skip as exc:
            plan.notes.append(f"{rel(settings)} was not read for personas: {exc.reason}")
        except (ValueError, OSError, AttributeError) as exc:
            plan.notes.append(f"{rel(settings)} was not read for personas: {exc}")
    backups = sorted((root / "backups").glob("personas_*.json")) if (root / "backups").is_dir() else []
    if chosen is None and backups:
        chosen = backups[-1]  # personas_YYYYMMDD.json: the newest
    if backups and chosen is not None:
        older = [rel(p) for p in backups if p != chosen]
        if older:
            plan.notes.append(f"personas read from {rel(chosen)}; older backups not imported: {', '.join(older)}")
    if chosen is not None:
        plan.items.append(item(chosen, "personas", avatars=avatars))


def _plan_cards(root: Path, plan: Plan, rel: Any, item: Any) -> None:
    folder = root / "characters"
    cards = [item(p, "card") for p in _files(folder, CARD_SUFFIXES)]
    by_stem = {Path(item.name).stem: item for item in cards}
    for sprite_dir in sorted(p for p in folder.glob("*") if p.is_dir()):
        images = _files(sprite_dir, IMAGE_SUFFIXES)
        card = by_stem.get(sprite_dir.name)
        if card is None:
            if images:
                plan.notes.append(f"{rel(sprite_dir)}/ holds expression sprites but there is no card "
                                  f"{sprite_dir.name}.png: not imported")
            continue
        for image in images:  # "joy.png"; when a label has several files the first (sorted) wins
            card.sprites.setdefault(image.stem.lower(), image)
    plan.items += cards


def _plan_groups(root: Path, plan: Plan, item: Any, within: Path) -> dict[str, str]:
    """Group items (each checked when imported) and the title of every group chat id."""
    titles: dict[str, str] = {}
    for path in _files(root / "groups", {".json"}):
        try:
            group = _small_json(path, within)
        except (files.Skip, ValueError, OSError):
            group = None  # reported when the item is imported
        plan.items.append(item(path, "group"))
        if isinstance(group, dict) and isinstance(group.get("name"), str) and group["name"].strip():
            listed = group.get("chats") if isinstance(group.get("chats"), list) else []
            chats = [c for c in [group.get("chat_id"), *listed] if isinstance(c, str)]
            for chat_id in chats:
                titles.setdefault(chat_id, f"{group['name'].strip()} - {chat_id}")
    return titles


def search(folder: Path) -> Plan:
    """Every file in ``folder`` (recursively) that may be importable; what turns out not to be is
    skipped, not failed."""
    within = folder.resolve()
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SEARCH_SUFFIXES and not p.is_dir()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    return Plan(source=str(folder), layout="search",
                items=[Item(p.relative_to(folder).as_posix(), p, searched=True, within=within) for p in found])
