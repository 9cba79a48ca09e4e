"""A project -> a playable Ren'Py project, built in memory and then written (or compared, for a
dry run). Same project + options => byte-identical files.

    <out>/game/options.rpy, gui.rpy, screens.rpy, cvn_compat.rpy, gui/*.png   our base game (base_game)
    <out>/game/cvn_runtime.rpy     the story logic (renpy_runtime)
    <out>/game/cvn_defs.rpy        characters, images, story variables (renpy_script.definitions)
    <out>/game/script.rpy          label start: every scene in order (see load_scenes)
    <out>/game/scenes/<scene>.rpy  one module per scene (or inlined in script.rpy)
    <out>/game/images/..., audio/...   asset files, provenance stripped
    <out>/export_manifest.json     scenes, labels, assets with hashes, what is missing
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from comfyvn.core.errors import InvalidInput, NotFound
from comfyvn.core.store import atomic_write_bytes
from comfyvn.export.renpy_names import ident
from comfyvn.export.renpy_runtime import RUNTIME
from comfyvn.export.renpy_script import Context, definitions, scene_source
from comfyvn.export.renpy_translate import translate
from comfyvn.scenario.models import Scene, gc_paused
from comfyvn.scenario.rng import StoryRandom

MANIFEST = "export_manifest.json"
EXPORTER_VERSION = 1
log = logging.getLogger(__name__)


@dataclass
class Options:
    name: str = "ComfyVN Story"
    version: str = "1.0"
    seed: int | str = 0
    per_scene: bool = True
    with_trace: bool = False  # cvn_trace records visited nodes (for generated playthrough tests)
    with_tests: bool = False  # testcases that play each ending of every scene (implies with_trace)
    pov_pick: str | None = None  # the POV every scene is told from (a POV fork); None: each scene's own
    pov_switch: list[Any] = field(default_factory=list)  # POVs of the in-game "Switch POV" menu; []: no menu


@dataclass
class Build:
    files: dict[str, bytes] = field(default_factory=dict)  # path under <out> -> bytes
    manifest: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, data: bytes | str) -> None:
        self.files[path] = data.encode("utf-8") if isinstance(data, str) else data


class Assets:
    """Finds the files the script names in the project's asset registry (sprites by character and
    expression, backgrounds and audio by uid or path) and copies them without provenance."""

    def __init__(self, project: str | None, build: Build) -> None:
        self.project = project
        self.used: dict[str, dict[str, Any]] = {}  # game path -> {uid, sha256, source}
        self.build = build
        self._registry = None
        if project is not None:
            from comfyvn.assets.registry import registry

            self._registry = registry(project).open()

    def _copy(self, sidecar: dict[str, Any], game_path: str) -> str:
        from comfyvn.assets import provenance

        assert self._registry is not None
        data = self._registry.file_of(sidecar["uid"]).read_bytes()
        if data.startswith(b"\x89PNG"):
            data = provenance.strip_png(data)
        else:  # audio (MP3, WAV, Ogg, FLAC) carries it in its tags; other files come back unchanged
            status, data = provenance.strip_audio_bytes(data)
            if status == provenance.SKIPPED_NO_MUTAGEN or "could not" in status:
                log.warning("provenance may remain in an exported audio file",
                            extra={"uid": sidecar["uid"], "path": game_path, "status": status})
        self.build.add(f"game/{game_path}", data)
        self.used[game_path] = {"uid": sidecar["uid"], "sha256": hashlib.sha256(data).hexdigest(),
                                "type": sidecar["type"], "license": sidecar.get("license")}
        return game_path

    def _by_ref(self, ref: str) -> dict[str, Any] | None:
        if self._registry is None:
            return None
        try:
            return self._registry.get(ref)
        except NotFound:  # not a uid: try it as a path
            items = self._registry.query(q=ref, limit=50)["items"]
            return next((s for s in items if s["path"] == ref), None)

    def background(self, ref: str, name: str | None = None) -> str | None:
        """The file of background ``ref`` copied as ``images/bg/<name>.<ext>`` (``name``: the image's
        unique name in the game; default made from ``ref``)."""
        sidecar = self._by_ref(ref)
        if sidecar is None and self._registry is not None:  # a background named like the reference
            words = [w for w in ident(ref).split("_") if w]
            items = self._registry.query(type="background", q=words[0] if words else None, limit=50)["items"]
            sidecar = next((s for s in items if all(w in s["path"].lower() for w in words)), None)
        if sidecar is None or not sidecar["path"].lower().endswith((".png", ".jpg", ".webp")):
            return None
        return self._copy(sidecar, f"images/bg/{name or ident(ref, 'bg')}.{sidecar['path'].rsplit('.', 1)[1].lower()}")

    def sprite(self, character: str, expression: str) -> str | None:
        if self._registry is None:
            return None
        for asset_type in ("character.sprite", "character.expression"):
            items = self._registry.query(type=asset_type, q=character, limit=500)["items"]
            for sidecar in items:
                meta = sidecar.get("meta", {})
                if meta.get("character") == character and ident(str(meta.get("expression", ""))) == expression:
                    ext = sidecar["path"].rsplit(".", 1)[1].lower()
                    return self._copy(sidecar, f"images/characters/{ident(character)}/{expression}.{ext}")
        return None

    def audio(self, ref: str) -> str | None:
        sidecar = self._by_ref(ref)
        if sidecar is None or not sidecar.get("meta", {}).get("mime", "").startswith("audio/"):
            return None
        ext = sidecar["path"].rsplit(".", 1)[1].lower()
        return self._copy(sidecar, f"audio/{ident(sidecar['uid'])}.{ext}")


def build(scenes: list[Scene], options: Options, *, project: str | None = None, povs: Any = None,
          translations: list[Any] | None = None) -> Build:
    """Every file of the exported game, in memory. ``povs``: a :class:`~comfyvn.export.pov_builds.PovPlan`
    (the master build's switch menu and the POV forks under ``forks/<slug>/``), or None for one game.
    ``translations``: :class:`~comfyvn.projects.models.Translation` records (default: the project's)."""
    from comfyvn.export import pov_builds
    from comfyvn.export.renpy_translate import load_translations

    if translations is None:
        translations = load_translations(project)
    with gc_paused():  # hundreds of thousands of short-lived plan objects, no cycles
        if povs is None or povs.mode == "disabled":
            return _finish(_build(scenes, options, project, translations))
        out = _build(scenes, pov_builds.with_pov(options, pick=None, switch=povs.povs if povs.master and povs.switch
                                                 else None), project, translations)
        out.manifest["pov"] = povs.summary()
        if povs.forks:
            for pov in povs.povs:
                fork = _finish(_build(pov_builds.fork_scenes(povs, pov, scenes),
                                      pov_builds.with_pov(options, pick=pov.id, name=pov_builds.fork_name(options.name, pov)),
                                      project, translations))
                for path, data in fork.files.items():
                    out.files[f"forks/{pov.slug}/{path}"] = data
                out.manifest.setdefault("forks", {})[pov.id] = {"out": f"forks/{pov.slug}",
                                                               "testcases": fork.manifest["testcases"]}
        return _finish(out)


def _finish(out: Build) -> Build:
    """Record every file in the manifest, and write it."""
    out.manifest["files"] = sorted({*(p for p in out.files if p != MANIFEST), MANIFEST})
    out.add(MANIFEST, json.dumps(out.manifest, indent=2, sort_keys=True) + "\n")
    return out


def _build(scenes: list[Scene], options: Options, project: str | None, translations: list[Any]) -> Build:
    if not scenes:
        raise InvalidInput("nothing to export: the project has no scenes", code="nothing_to_export")
    out = Build()
    assets = Assets(project, out)
    ctx = Context(audio=assets.audio, trace=options.with_trace or options.with_tests)
    modules = {}
    for scene in scenes:
        modules[scene.id] = scene_source(scene, ctx)
    seed_state = StoryRandom(options.seed).state
    missing: dict[str, list[str]] = {"backgrounds": [], "sprites": [], "audio": []}

    def files(kind: str, key: str) -> str | None:
        found = (assets.background(key, ctx.backgrounds[key].split(" ", 1)[1]) if kind == "bg"
                 else assets.sprite(*key.split("/", 1)))
        if found is None:
            missing["backgrounds" if kind == "bg" else "sprites"].append(key)
        return found

    defs = definitions(ctx, seed_state=seed_state, files=files, pov_pick=options.pov_pick)
    for path, data in base_files(options).items():
        out.add(f"game/{path}", data)
    out.add("game/cvn_runtime.rpy", RUNTIME)
    out.add("game/cvn_defs.rpy", defs)
    translated = translate(ctx, translations, scenes=scenes)
    for path, text in translated.files.items():
        out.add(f"game/{path}", text)
    if options.pov_switch:
        from comfyvn.export.pov_builds import switch_source

        out.add("game/cvn_pov.rpy", switch_source(options.pov_switch))
    start = ["# Generated by ComfyVN: the story from its first scene to its last.", "label start:"]
    for n, scene in enumerate(scenes, 1):
        start.append(f"    call {ctx.scene_labels[scene.id]} from _cvn_call_{n}")
    start.append("    return")
    body = "\n".join(start) + "\n"
    if options.per_scene:
        for scene in scenes:
            out.add(f"game/scenes/{ctx.scene_labels[scene.id]}.rpy", modules[scene.id])  # unique, like labels
    else:
        body += "\n" + "\n".join(modules[scene.id] for scene in scenes)
    out.add("game/script.rpy", body)
    tests: list[str] = []
    if options.with_tests:
        from comfyvn.export.playtests import testcases

        source, tests = testcases(scenes, ctx, options.seed, pov=options.pov_pick)
        out.add("game/cvn_tests.rpy", source)
    out.manifest = {
        "exporter_version": EXPORTER_VERSION, "name": options.name, "version": options.version,
        "seed": options.seed, "rng_state": seed_state, "testcases": tests, "pov_pick": options.pov_pick,
        "translations": translated.report,
        "scenes": [{"id": s.id, "label": ctx.scene_labels[s.id],
                    "nodes": {n.id: ctx.label(s.id, n.id) for n in s.nodes}} for s in scenes],
        "assets": [{"path": path, **info} for path, info in sorted(assets.used.items())],
        "missing": {"backgrounds": sorted(missing["backgrounds"]), "sprites": sorted(missing["sprites"]),
                    "audio": sorted(ctx.missing_audio)},
    }
    return out


def base_files(options: Options) -> dict[str, bytes]:
    """Our base game (options, GUI, screens, GUI images) as ``{path under game/: bytes}``."""
    import tempfile

    from comfyvn.export.base_game import write_base

    with tempfile.TemporaryDirectory(prefix="cvn-base-") as tmp:
        game = Path(tmp)
        write_base(game, name=options.name, version=options.version, build_name=ident(options.name, "game"),
                   save_directory=f"{ident(options.name, 'game')}-comfyvn")
        return {p.relative_to(game).as_posix(): p.read_bytes() for p in sorted(game.rglob("*")) if p.is_file()}


def diff(build_: Build, out_dir: Path) -> dict[str, list[str]]:
    """What writing ``build_`` to ``out_dir`` would change (generated files only; the game's own
    saves, cache and logs are not ours and are left alone)."""
    added, changed, same = [], [], []
    for path, data in sorted(build_.files.items()):
        target = out_dir / path
        if not target.is_file():
            added.append(path)
        elif target.read_bytes() != data:
            changed.append(path)
        else:
            same.append(path)
    removed = sorted(p for p in _previous(out_dir) if p not in build_.files)
    return {"added": added, "changed": changed, "removed": removed, "unchanged": same}


def _previous(out_dir: Path) -> list[str]:
    """The files the last export wrote (from its manifest) that may be removed: see _removable."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    return [path for path in listed if _removable(out_dir, path)] if isinstance(listed, list) else []


def _removable(out_dir: Path, path: Any) -> bool:
    """Whether ``path`` from an old manifest names a regular file inside ``out_dir``. The manifest
    is a file anyone can edit: absolute paths, ``..`` steps, symlinks and files reached through a
    symlinked folder are never removed (and are logged); files already gone are skipped."""
    rel = PurePosixPath(path) if isinstance(path, str) else None
    if rel is None or not path or rel.is_absolute() or ".." in rel.parts or any(c in path for c in "\\:\0"):
        log.warning("ignoring a path of the old export manifest that is not a plain relative path",
                    extra={"out": str(out_dir), "path": repr(path)[:200]})
        return False
    target = out_dir / rel
    try:
        info = target.lstat()
        inside = target.resolve().is_relative_to(out_dir.resolve())
    except (OSError, RuntimeError):  # gone already (or a symlink loop)
        return False
    if not inside or not stat.S_ISREG(info.st_mode):
        log.warning("ignoring a path of the old export manifest that is not a file inside the export",
                    extra={"out": str(out_dir), "path": path})
        return False
    return True


def write(build_: Build, out_dir: Path) -> dict[str, list[str]]:
    """Write the files that changed, remove the ones the previous export made and this one does
    not (only regular files inside ``out_dir``, see _removable), and record the file list in the
    manifest."""
    changes = diff(build_, out_dir)
    for path in changes["added"] + changes["changed"]:
        atomic_write_bytes(out_dir / path, build_.files[path])
    for path in changes["removed"]:
        (out_dir / path).unlink(missing_ok=True)
    cache = out_dir / "game" / "cache"
    if cache.is_dir() and (changes["added"] or changes["changed"] or changes["removed"]):
        shutil.rmtree(cache, ignore_errors=True)  # Ren'Py's compiled cache of the old scripts
    return changes


def load_scenes(project: str, scene_ids: list[str] | None = None) -> list[Scene]:
    """The project's scenes: ``scene_ids`` in that order (an id given twice is exported once, at its
    first place); else every timeline's scenes (timelines by id, each in its own order), then the
    scenes no timeline lists, by id."""
    from comfyvn.projects import store

    scenes = store.collection("scene")
    if scene_ids is not None:
        scene_ids = list(dict.fromkeys(scene_ids))
    else:
        ordered: list[str] = []
        timelines = store.collection("timeline")
        for summary in sorted(timelines.list(project), key=lambda t: t["id"]):
            ordered += timelines.get(project, summary["id"])["data"].get("scenes") or []
        existing = set(scenes.file_ids(project))  # listed without reading: each scene is read once, below
        scene_ids = [s for s in dict.fromkeys(ordered) if s in existing]
        scene_ids += [s for s in sorted(existing) if s not in set(scene_ids)]
    return [scenes.model(project, scene_id) for scene_id in scene_ids]
