"""What goes into a store package (Steam, itch) besides the game: the licence manifest, one
provenance file per asset, the icon, EULA and licence texts (placeholders when none are given)
and the store's own build files. Every function returns bytes: the same input, the same bytes.

    game/...                     the exported game
    publish_manifest.json        name, version, target, every other entry with its SHA-256, flags, placeholders
    license_manifest.json        every asset the game uses: licence and origin; "unlicensed" lists what to fix
    provenance/<path>.json       per asset (path under game/): the sidecar's provenance, uid, hash, origin
    icon.png | icon.ico          the given icon, or a generated placeholder (icon.png)
    EULA.txt, LICENSE.txt        the given files, or placeholders to replace before shipping
    steam/app_build.vdf, steam/depot_build.vdf   (steam) steamcmd build scripts, ids to fill in
    .itch.toml                   (itch) the itch app manifest: how to launch the built game
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from comfyvn.core.errors import InvalidInput, NotFound

PUBLISH_FLAG = "enable_export_publish"
TARGET_FLAGS = {"steam": "enable_export_publish_steam", "itch": "enable_export_publish_itch"}
TARGETS = tuple(TARGET_FLAGS)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ICO_MAGIC = b"\x00\x00\x01\x00"
EULA_PLACEHOLDER = """PLACEHOLDER EULA: replace this file before shipping.

ComfyVN wrote this file because no end-user licence agreement was given when the package was
made. Write your own agreement (or have one written for you) and publish again with
"eula": "/path/to/EULA.txt".
"""
LICENSE_PLACEHOLDER = """PLACEHOLDER LICENSE: replace this file before shipping.

ComfyVN wrote this file because no licence was given when the package was made. State the terms
under which the game and its assets are distributed, check license_manifest.json for assets
without a licence, and publish again with "license_path": "/path/to/LICENSE.txt".
"""


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_extras(*, icon: str | Path | None, eula: str | Path | None,
                license_path: str | Path | None) -> dict[str, tuple[str, bytes, bool]]:
    """The icon, EULA and licence entries as ``{role: (entry name, bytes, placeholder?)}``; a
    given path must be a readable file (and the icon a PNG or ICO), else 422 naming the field."""
    extras: dict[str, tuple[str, bytes, bool]] = {}
    data = _read(icon, "icon")
    if data is None:
        extras["icon"] = ("icon.png", placeholder_icon(), True)
    elif data.startswith(PNG_MAGIC):
        extras["icon"] = ("icon.png", data, False)
    elif data.startswith(ICO_MAGIC):
        extras["icon"] = ("icon.ico", data, False)  # where Ren'Py's Windows build looks for it
    else:
        raise InvalidInput(f"icon: {icon} is neither a PNG nor an ICO file; give a .png or .ico icon",
                           code="bad_icon", details={"field": "icon", "path": str(icon)})
    data = _read(eula, "eula")
    extras["eula"] = ("EULA.txt", EULA_PLACEHOLDER.encode() if data is None else data, data is None)
    data = _read(license_path, "license_path")
    extras["license"] = ("LICENSE.txt", LICENSE_PLACEHOLDER.encode() if data is None else data, data is None)
    return extras


def _read(value: str | Path | None, field: str) -> bytes | None:
    if value is None or value == "":
        return None
    path = Path(value).expanduser()
    if not path.exists():
        raise InvalidInput(f"{field}: {path} does not exist; give the path of an existing file",
                           code="file_not_found", details={"field": field, "path": str(path)})
    if not path.is_file():
        raise InvalidInput(f"{field}: {path} is not a file (a folder?); give the path of a file",
                           code="not_a_file", details={"field": field, "path": str(path)})
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{field}: {path} cannot be read: {exc.strerror or exc}", code="unreadable_file",
                           details={"field": field, "path": str(path)}) from None


def placeholder_icon(size: int = 256) -> bytes:
    """A plain 256x256 PNG (a framed square), drawn the same way every time."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (46, 52, 74))
    draw = ImageDraw.Draw(image)
    edge = size // 8
    draw.rectangle((edge, edge, size - edge - 1, size - edge - 1), outline=(204, 102, 153), width=max(size // 32, 1))
    draw.rectangle((size // 3, size // 3, size - size // 3 - 1, size - size // 3 - 1), fill=(230, 230, 240))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def asset_records(project: str, assets: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The licence manifest and the provenance entries for the assets an export used (its
    manifest's ``assets``), joined with the asset registry's sidecars."""
    from comfyvn.assets.registry import registry

    reg = registry(project).open()
    rows, unlicensed, provenance = [], [], {}
    for asset in sorted(assets, key=lambda a: a["path"]):
        try:
            sidecar = reg.get(asset["uid"])
        except NotFound:  # removed from the registry since the export: what the export recorded
            sidecar = None
        side = sidecar or {}
        entry = f"provenance/{asset['path']}.json"
        row = {"path": asset["path"], "uid": asset["uid"], "sha256": asset["sha256"], "type": asset.get("type"),
               "license": side.get("license") or asset.get("license"), "origin": side.get("origin"),
               "registered": sidecar is not None, "provenance": entry}
        rows.append(row)
        if not row["license"]:
            unlicensed.append({key: row[key] for key in ("path", "uid", "type", "origin")})
        provenance[entry] = _json({"path": asset["path"], "uid": asset["uid"], "hash": side.get("hash"),
                                   "sha256": asset["sha256"], "origin": side.get("origin"),
                                   "registered": sidecar is not None, "provenance": side.get("provenance") or {}})
    manifest = {"project": project, "assets": rows, "unlicensed": unlicensed,
                "note": "Assets under 'unlicensed' have no licence in the asset registry: set one (PATCH "
                        "/assets/<uid>) or replace them before shipping." if unlicensed else ""}
    return manifest, provenance


def package(target: str, *, game: dict[str, bytes], name: str, version: str, build_name: str,
            license_manifest: dict[str, Any], provenance: dict[str, bytes],
            extras: dict[str, tuple[str, bytes, bool]], flags: dict[str, bool]) -> dict[str, bytes]:
    """Every entry of one target's archive, ``{entry name: bytes}``."""
    if target not in TARGET_FLAGS:
        raise InvalidInput(f"unknown target {target!r}; use {', '.join(TARGETS)}", details={"target": target})
    entries = dict(game)
    entries["license_manifest.json"] = _json(license_manifest)
    entries.update(provenance)
    for entry, data, _ in extras.values():
        entries[entry] = data
    entries.update(steam_files(name, version) if target == "steam" else itch_files(build_name, name, version))
    manifest = {"name": name, "version": version, "target": target, "build_name": build_name, "flags": flags,
                "placeholders": sorted(entry for entry, _, placeholder in extras.values() if placeholder),
                "unlicensed_assets": len(license_manifest["unlicensed"]),
                "files": [{"path": path, "bytes": len(data), "sha256": sha256(data)}
                          for path, data in sorted(entries.items())]}
    entries["publish_manifest.json"] = _json(manifest)
    return dict(sorted(entries.items()))


def _vdf_text(text: str) -> str:
    """Text safe inside a VDF string: no quotes, backslashes or line breaks."""
    return " ".join(text.replace('"', "'").replace("\\", "/").split())


def steam_files(name: str, version: str) -> dict[str, bytes]:
    """The steamcmd scripts: ``steamcmd +login <builder> +run_app_build <abs path>/app_build.vdf +quit``."""
    app = "\n".join([
        f"// Steam build of {_vdf_text(name)} {_vdf_text(version)}, written by ComfyVN.",
        "// PLACEHOLDERS: replace REPLACE_WITH_APP_ID and REPLACE_WITH_DEPOT_ID (here and in",
        "// depot_build.vdf) with the ids the Steamworks partner site gave your app and depot.",
        "// ContentRoot is the folder holding the built game: unpack the PC build that Ren'Py's launcher",
        "// makes (Build Distributions) into ../content/ next to this steam/ folder.",
        '"AppBuild"',
        "{",
        '\t"AppID"\t"REPLACE_WITH_APP_ID"',
        f'\t"Desc"\t"{_vdf_text(name)} {_vdf_text(version)}"',
        '\t"ContentRoot"\t"../content/"',
        '\t"BuildOutput"\t"../steam_output/"',
        '\t"SetLive"\t""',
        '\t"Preview"\t"0"',
        '\t"Depots"',
        "\t{",
        '\t\t"REPLACE_WITH_DEPOT_ID"\t"depot_build.vdf"',
        "\t}",
        "}",
        ""])
    depot = "\n".join([
        "// One depot: everything under the app build's ContentRoot. PLACEHOLDER: set the DepotID.",
        '"DepotBuild"',
        "{",
        '\t"DepotID"\t"REPLACE_WITH_DEPOT_ID"',
        '\t"FileMapping"',
        "\t{",
        '\t\t"LocalPath"\t"*"',
        '\t\t"DepotPath"\t"."',
        '\t\t"Recursive"\t"1"',
        "\t}",
        '\t"FileExclusion"\t"game/saves/*"',
        '\t"FileExclusion"\t"log.txt"',
        '\t"FileExclusion"\t"errors.txt"',
        '\t"FileExclusion"\t"traceback.txt"',
        "}",
        ""])
    return {"steam/app_build.vdf": app.encode(), "steam/depot_build.vdf": depot.encode()}


def itch_files(build_name: str, name: str, version: str) -> dict[str, bytes]:
    """The itch app manifest: a ``play`` action per platform, named as Ren'Py's builds name the launchers."""
    lines = [f"# itch.io app manifest of {' '.join(name.split())} {version}, written by ComfyVN.",
             "# The paths are those of the builds Ren'Py's launcher makes (Build Distributions): put this",
             "# file at the top level of the unpacked build you push with butler."]
    for platform, path in (("windows", f"{build_name}.exe"), ("linux", f"{build_name}.sh"),
                           ("osx", f"{build_name}.app")):
        lines += ["", "[[actions]]", 'name = "play"', f'path = "{path}"', f'platform = "{platform}"']
    return {".itch.toml": ("\n".join(lines) + "\n").encode()}
