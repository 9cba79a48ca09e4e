"""Character cards -> ``Character`` (plus the card's lorebook, greetings and assets).

Accepted, detected from the content (never the file name): PNG with a ``chara`` (V1/V2) and/or
``ccv3`` (V3) text chunk (``ccv3`` wins; a broken ``ccv3`` falls back to ``chara``), JSON V1/V2/V3,
CHARX zips (``card.json`` + ``embeded://`` assets) and oobabooga characters in YAML or JSON (``name,
context, greeting`` or the legacy ``char_name, char_persona, char_greeting, world_scenario``).

Mapping (see docs/roleplay-formats.md): name, description, personality, tags go to the Character
fields; V3 ``nickname`` is the display name; ``scenario``, creator, creator notes, version,
talkativeness, the linked World Info name and dates go to ``metadata``; the whole card object is
kept untouched in ``card`` (first_mes, mes_example, system prompts, extensions...). V3 ``emotion``
assets give the expression labels. Real cards' quirks are repaired with a Problem each: numbers
as strings, null where text is expected, V1 fields at the top level filling gaps in ``data``. A
V2/V3 card whose ``data`` is not an object is read from its top-level V1 copy when that has a
name, and is refused (UnreadableLog, field ``data``) otherwise.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from comfyvn.projects.models import Character, World
from comfyvn.roleplay.transcript import Problem, UnreadableLog
from comfyvn.sillytavern import MAX_DEPTH, Fields, json_safe, load_json, slug_id
from comfyvn.sillytavern.charx import SIGNATURE as ZIP_SIGNATURE
from comfyvn.sillytavern.charx import Charx
from comfyvn.sillytavern.pngtext import (
    ASSET_PREFIX,
    read_text_chunks,
    without_card_chunks,
)
from comfyvn.sillytavern.pngtext import SIGNATURE as PNG_SIGNATURE
from comfyvn.sillytavern.worlds import world_from_card_book

Spec = Literal["v1", "v2", "v3", "ooba"]
MAX_YAML = 2 * 1024 * 1024  # oobabooga characters are a few KB; PyYAML is slow on huge input
MAX_DATA_URI = 50 * 1024 * 1024
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")


@dataclass(slots=True)
class CardAsset:
    """One V3 asset. ``data`` holds the bytes when the file carries them (CHARX members, the PNG
    itself for ``ccdefault:``, RisuAI ``__asset:`` chunks, ``data:`` URIs); None for links."""

    type: str
    name: str
    ext: str
    uri: str
    data: bytes | None = None


@dataclass(slots=True)
class CardImport:
    character: Character
    world: World | None  # the card's character_book
    greetings: list[str]  # first_mes, then alternate_greetings
    assets: list[CardAsset]
    spec: Spec
    problems: list[Problem] = field(default_factory=list)


class _Container:
    """Where asset bytes come from: the PNG (image, asset chunks) or the CHARX archive."""

    def __init__(self, png: bytes | None = None, png_text: Any = None, charx: Charx | None = None) -> None:
        self.png, self.png_text, self.charx = png, png_text, charx


def read_card(data: bytes, name: str) -> CardImport:
    """Read one character card file; UnreadableLog when it is not a card at all."""
    where = name or "the file"
    if not data:
        raise UnreadableLog(f"{where}: the file is empty, not a character card", format="card")
    if data.startswith(PNG_SIGNATURE):
        return _from_png(data, name)
    if data.startswith((ZIP_SIGNATURE, b"PK\x05\x06")):
        charx = Charx(data, where)
        raw = load_json(charx.card_json(), format="card.charx", what=f"{where}: card.json of the CHARX")
        return _from_dict(raw, name, "card.charx", _Container(charx=charx), [])
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableLog(f"{where}: not a character card: neither PNG, CHARX zip, JSON nor YAML "
                            f"(byte {exc.start} is not UTF-8 text)", format="card") from None
    if "\x00" in text:
        raise UnreadableLog(f"{where}: not a character card: binary data that is neither PNG nor zip",
                            format="card")
    if text.lstrip()[:1] in ("{", "["):
        raw = load_json(text, format="card.json", what=f"{where}: not a character card")
        return _from_dict(raw, name, "card.json", _Container(), [])
    return _from_dict(_load_yaml(text, where), name, "card.yaml", _Container(), [])


class _SafeLoader(yaml.SafeLoader):
    """``yaml.safe_load`` semantics, refusing documents nested deeper than MAX_DEPTH while they are
    parsed (PyYAML would recurse until RecursionError, slowly)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _load_yaml(text: str, where: str) -> Any:
    if len(text) > MAX_YAML:
        raise UnreadableLog(f"{where}: {len(text)} characters of YAML; a YAML character is at most {MAX_YAML}",
                            format="card.yaml")
    try:
        raw = yaml.load(text, Loader=_SafeLoader)  # a SafeLoader subclass: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise UnreadableLog(f"{where}: not a character card: not JSON and not valid YAML ({exc})".replace("\n", " "),
                            format="card.yaml", line=line) from None
    except (RecursionError, ValueError, OverflowError) as exc:
        raise UnreadableLog(f"{where}: YAML too deeply nested or malformed ({type(exc).__name__})",
                            format="card.yaml") from None
    return json_safe(raw, format="card.yaml")


def _from_png(data: bytes, name: str) -> CardImport:
    where = name or "the file"
    text = read_text_chunks(data)
    container = _Container(png=data, png_text=text)
    keys = [key for key in ("ccv3", "chara") if key in text.texts]
    if not keys:
        damage = f" ({text.problems[0].message})" if text.problems else ""
        raise UnreadableLog(f"{where}: a PNG image without a character card: no 'chara' or 'ccv3' text chunk"
                            f"{damage}", format="card.png", field="chara")
    failures: list[Problem] = []
    for number, key in enumerate(keys):
        try:
            raw = _decode_chunk(text.texts[key], key, where)
            return _from_dict(raw, name, "card.png", container, [*text.problems, *failures])
        except UnreadableLog as exc:
            if number == len(keys) - 1:
                raise
            failures.append(Problem(f"the {key!r} chunk is unreadable ({exc}); the {keys[number + 1]!r} chunk "
                                    "was used instead", field=key, severity="error"))
    raise AssertionError("unreachable")  # pragma: no cover


def _decode_chunk(value: str, key: str, where: str) -> Any:
    value = value.strip()
    if not value.startswith("{"):  # normally base64; a few tools wrote the JSON itself
        compact = "".join(value.split())
        try:
            value = base64.b64decode(compact + "=" * (-len(compact) % 4)).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise UnreadableLog(f"{where}: the {key!r} chunk is not base64 of UTF-8 JSON ({exc})",
                                format="card.png", field=key) from None
    return load_json(value, format="card.png", what=f"{where}: the {key!r} chunk")


def _kind(raw: dict[str, Any], problems: list[Problem]) -> Spec:
    spec = raw.get("spec")
    spec = spec.strip().lower() if isinstance(spec, str) else ""
    data = raw.get("data")
    if spec == "chara_card_v3":
        return "v3"
    if spec == "chara_card_v2":
        return "v2"
    if isinstance(data, dict):
        version = str(raw.get("spec_version", ""))
        guess: Spec = "v3" if version.startswith("3") or "assets" in data else "v2"
        problems.append(Problem(f"unknown card spec {raw.get('spec')!r}: read as {guess.upper()} (it has 'data')",
                                field="spec", severity="info"))
        return guess
    if "char_name" in raw or (not {"first_mes", "spec"} & raw.keys() and {"context", "greeting"} & raw.keys()):
        return "ooba"
    return "v1"


def _from_dict(raw: Any, name: str, fmt: str, container: _Container, problems: list[Problem]) -> CardImport:
    where = name or "the file"
    if not isinstance(raw, dict):
        raise UnreadableLog(f"{where}: not a character card: expected a JSON/YAML object, got {type(raw).__name__}",
                            format=fmt)
    problems = list(problems)
    spec = _kind(raw, problems)
    if spec == "v1" and not raw.keys() & set(V1_FIELDS[1:]):
        found = ", ".join(sorted(map(str, raw))[:8]) or "nothing"
        raise UnreadableLog(f"{where}: not a character card: no 'spec'/'data' (V2/V3), no V1 fields "
                            f"({', '.join(V1_FIELDS)}) and no oobabooga fields (found: {found})", format=fmt,
                            field="name")
    if spec in ("v2", "v3"):
        body = raw.get("data")
        if not isinstance(body, dict) and not (isinstance(raw.get("name"), str) and raw["name"].strip()):
            state = "missing" if body is None else f"{type(body).__name__}"
            raise UnreadableLog(f"{where}: not a character card: 'data' is {state}, not an object holding the "
                                f"{spec.upper()} card's fields (name, description, first_mes...), and there is no "
                                "V1 copy with a name at the top level", format=fmt, field="data")
        if not isinstance(body, dict):  # a broken 'data' beside a V1 copy (real cards carry both): read the copy
            problems.append(Problem(f"'data' is {type(body).__name__}, not an object: read the top-level fields",
                                    field="data", severity="error"))
            body = {}
        merged = {k: raw[k] for k in V1_FIELDS if raw.get(k) is not None}
        filled = [k for k in merged if body.get(k) is None]
        merged.update({k: v for k, v in body.items() if v is not None or k not in merged})
        if filled:
            problems.append(Problem(f"'data' lacks {', '.join(filled)}: taken from the top-level V1 fields",
                                    field="data", severity="info"))
        fields = Fields(merged, problems, "data")
    else:
        fields = Fields(raw, problems)
    return _build(raw, fields, spec, name, fmt, container, problems)


def _build(raw: dict[str, Any], f: Fields, spec: Spec, name: str, fmt: str, container: _Container,
           problems: list[Problem]) -> CardImport:
    ooba = spec == "ooba"
    title = f.text("char_name", "name").strip() if ooba else f.text("name").strip()
    if not title:
        stem = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0].strip() if name else ""
        title = stem or "Unnamed character"
        problems.append(Problem(f"the card has no name: named {title!r} after the file", field=f.path("name"),
                                severity="error"))
    if len(title) > 200:
        problems.append(Problem("the name is longer than 200 characters: cut", field=f.path("name")))
        title = title[:200].strip()
    ext = Fields(f.raw.get("extensions"), problems, f.path("extensions"))
    top = Fields(raw, problems)
    meta: dict[str, Any] = {"card_spec": spec, "source_file": name}
    if ooba:
        description = f.text("context", "char_persona")
        greetings = [g for g in [f.text("greeting", "char_greeting")] if g.strip()]
        meta["scenario"] = f.text("world_scenario", "scenario")
        personality, tags, nickname = "", [], ""
    else:
        description, personality = f.text("description"), f.text("personality")
        greetings = [g for g in [f.text("first_mes")] if g.strip()] + f.strings("alternate_greetings")
        tags = list(dict.fromkeys(f.strings("tags", split=True)))
        nickname = f.text("nickname").strip() if spec == "v3" else ""
        meta["scenario"] = f.text("scenario")
        meta["creator"] = f.text("creator")
        meta["creator_notes"] = f.text("creator_notes") or top.text("creatorcomment")
        meta["character_version"] = f.text("character_version")
        meta["talkativeness"] = ext.number("talkativeness") if ext.has("talkativeness") else \
            top.number("talkativeness")
        meta["favorite"] = ext.boolean("fav", default=False) or top.boolean("fav", default=False)
        meta["world"] = ext.text("world")
        meta["create_date"] = top.text("create_date")
        if isinstance(f.raw.get("creator_notes_multilingual"), dict):
            meta["creator_notes_multilingual"] = f.raw["creator_notes_multilingual"]
        meta["sources"] = f.strings("source")
        for key in ("creation_date", "modification_date"):
            meta[key] = _date(f, key)
    meta = {k: v for k, v in meta.items() if not _empty(v) or k == "card_spec"}

    world = None
    book = f.raw.get("character_book")
    if isinstance(book, dict):
        world = world_from_card_book(book, f"{title} lore", problems)
        world = world if world.entries else None
    elif book is not None:
        f.note("character_book", f"{type(book).__name__} where a lorebook object was expected: ignored")

    assets = _assets(f, spec, fmt, container, problems)
    labels: list[str] = []
    for asset in assets:
        label = asset.name.strip().lower()
        if asset.type == "emotion" and label and label not in labels:
            labels.append(label)
    try:
        character = Character(
            id=slug_id(title), name=title, display_name=nickname if nickname and nickname != title else None,
            description=description, personality=personality, tags=tags, card=raw, metadata=meta,
            expressions=labels or ["neutral"], default_expression="neutral" if "neutral" in labels else None)
    except ValidationError as exc:  # fields are coerced above; a clear message if one still does not fit
        error = exc.errors()[0]
        raise UnreadableLog(f"{name or 'the card'}: does not fit the Character model: "
                            f"{'.'.join(map(str, error['loc']))}: {error['msg']}", format=fmt) from None
    return CardImport(character, world, greetings, assets, spec, problems)


def _empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (str, list)) and not value)


def _date(f: Fields, key: str) -> str | None:
    """V3 dates are Unix seconds (some tools write milliseconds): ISO 8601 UTC."""
    seconds = f.number(key)
    if seconds is None:
        return None
    if seconds > 100_000_000_000:
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        f.note(key, f"{seconds!r} is not a usable date: ignored")
        return None


def _assets(f: Fields, spec: Spec, fmt: str, container: _Container, problems: list[Problem]) -> list[CardAsset]:
    declared = f.raw.get("assets") if spec == "v3" else None
    if declared is None and container.png is None:
        return []
    if declared is None:  # V3 says: no assets = the card image is the main icon; same for V1/V2 PNGs
        declared = [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]
    if not isinstance(declared, list):
        f.note("assets", f"{type(declared).__name__} where a list of assets was expected: ignored")
        return []
    out: list[CardAsset] = []
    for index, item in enumerate(declared):
        a = Fields(item, problems, f.path(f"assets.{index}"))
        if not isinstance(item, dict) or not a.text("uri").strip():
            problems.append(Problem("an asset without a uri: skipped", field=a.where))
            continue
        uri = a.text("uri").strip()
        ext = a.text("ext").strip().lower().lstrip(".") or _suffix(uri)
        asset = CardAsset(a.text("type").strip() or "unknown", a.text("name").strip(), ext, uri)
        asset.data = _asset_bytes(uri, container, problems, a.where)
        out.append(asset)
    return out


def _suffix(uri: str) -> str:
    tail = uri.rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""


def _asset_bytes(uri: str, container: _Container, problems: list[Problem], where: str) -> bytes | None:
    lowered = uri.lower()
    if lowered == "ccdefault:":
        if container.png is None:
            return None  # a JSON card has no image of its own; the app's default is used
        return without_card_chunks(container.png, container.png_text)
    if lowered.startswith(("embeded://", "embedded://")):
        if container.charx is not None:
            return container.charx.asset(uri, problems, where)
        problems.append(Problem(f"asset {uri!r} points into a CHARX archive, but this card is not one: "
                                "kept without its file", field=where, severity="info"))
        return None
    if lowered.startswith("__asset:"):
        path = uri[len("__asset:"):]
        texts = container.png_text.texts if container.png_text is not None else {}
        value = texts.get(f"{ASSET_PREFIX}:{path}".lower(), texts.get(f"{ASSET_PREFIX}{path}".lower()))
        if value is None:
            problems.append(Problem(f"asset {uri!r} has no '{ASSET_PREFIX}:{path}' chunk in the PNG: kept without "
                                    "its file", field=where))
            return None
        return _b64(value, uri, problems, where)
    if lowered.startswith("data:"):
        header, _, payload = uri.partition(",")
        if ";base64" not in header.lower() or len(payload) > MAX_DATA_URI * 4 // 3 + 4:
            problems.append(Problem(f"asset data URI {uri[:40]!r}... is not base64 or is too large: kept without "
                                    "its file", field=where))
            return None
        return _b64(payload, uri[:40], problems, where)
    return None  # http(s) and other links are kept as links, never fetched here


def _b64(value: str, uri: str, problems: list[Problem], where: str) -> bytes | None:
    compact = "".join(value.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        problems.append(Problem(f"asset {uri!r} is not valid base64: kept without its file", field=where))
        return None
