"""Scenes -> Ren'Py script. One label per node (``<scene>__<node>``), a ``label <scene>`` entry
that jumps to the start node, and the stage of every beat from the presentation planner.

Each node label re-establishes the stage it is entered with (``scene`` + ``show``), so a node
looks the same whichever way it was reached, after a load too; the beats then change it
(``scene``/``show``/``hide`` with transitions, music, sound, voice, pauses, say lines with ``id``
clauses). The exit follows the runner: a menu of the open choices, or one weighted random pick
(``cvn_pick``) for ``random`` nodes, else ``jump`` to ``next``, else ``return``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from comfyvn.export.renpy_names import Namer, character_name, ident, python_string, say_text
from comfyvn.export.renpy_runtime import actions_literal, choices_literal, literal
from comfyvn.presentation.planner import plan_scene
from comfyvn.scenario.models import Node, Scene

TRANSITIONS = {"fade": "Fade({h}, 0.0, {h})", "dissolve": "Dissolve({d})", "pixellate": "Pixellate({d}, 5)",
               "move": "MoveTransition({d})", "ease": "MoveTransition({d}, enter_factory=None)",
               "wipeleft": 'CropMove({d}, "wipeleft")', "wiperight": 'CropMove({d}, "wiperight")',
               "slideleft": 'CropMove({d}, "slideleft")', "slideright": 'CropMove({d}, "slideright")',
               "vpunch": "vpunch", "hpunch": "hpunch"}
I = "    "
# Ren'Py's special labels, and names Windows cannot use as files (scene modules are named like labels)
RESERVED_LABELS = {"start", "main_menu", "quit", "after_load", "splashscreen", "before_main_menu", "after_warp",
                   "hide_windows", "con", "prn", "aux", "nul", *(f"com{n}" for n in range(1, 10)),
                   *(f"lpt{n}" for n in range(1, 10))}
RESERVED_TAGS = {"bg", "black", "text", "vtext", "side", "cvn_at"}  # image tags Ren'Py or the export itself uses


@dataclass(slots=True)
class Line:
    """One say statement as written: what a ``translate <lang> <say id>:`` block replaces."""

    say_id: str
    scene: str
    key: str  # the line id (or ``<node>_<index>`` for lines without one): what translations are keyed by
    who: str  # the Character variable, or "" for narration
    kind: str  # say, narrate or direction (shown in italics)
    text: str
    voice: str | None = None  # the voice file played with it (a translation block repeats it)


@dataclass
class Context:
    """What the scenes of one export share: names, the characters and images they use, audio files."""

    audio: Callable[[str], str | None] = lambda ref: None  # a track reference -> file under game/, or None
    trace: bool = False  # record visited nodes in cvn_trace (for generated playthrough tests)
    labels: Namer = field(default_factory=lambda: Namer(RESERVED_LABELS))
    say_ids: Namer = field(default_factory=Namer)
    characters: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)  # id -> (var, name, color)
    sprites: dict[str, set[str]] = field(default_factory=dict)  # image tag -> expression attributes
    sprite_owner: dict[str, str] = field(default_factory=dict)  # image tag -> stage id
    backgrounds: dict[str, str] = field(default_factory=dict)  # image reference -> "bg <name>"
    variables: dict[str, Any] = field(default_factory=dict)
    undeclared: set[str] = field(default_factory=set)
    missing_audio: set[str] = field(default_factory=set)
    scene_labels: dict[str, str] = field(default_factory=dict)
    says: list[Line] = field(default_factory=list)  # every say statement written, for translations
    menu_texts: list[tuple[str, str, str]] = field(default_factory=list)  # (scene id, choice id, label shown)
    _tags: Namer = field(default_factory=lambda: Namer(RESERVED_TAGS))
    _bgs: Namer = field(default_factory=Namer)
    _chars: Namer = field(default_factory=Namer)

    def label(self, scene: str, node: str) -> str:
        return self.labels((scene, node), f"{ident(scene, 's')}__{ident(node, 'n')}")

    def character(self, stage_id: str, name: str, color: str | None = None) -> str:
        if stage_id not in self.characters:
            self.characters[stage_id] = (self._chars(stage_id, f"cvn_ch_{ident(stage_id, 'c')}"), name, color)
        return self.characters[stage_id][0]

    def sprite(self, stage_id: str, expression: str) -> tuple[str, str]:
        tag = self._tags(stage_id, ident(stage_id, "c"))
        attribute = ident(expression or "neutral", "e")
        self.sprites.setdefault(tag, set()).add(attribute)
        self.sprite_owner[tag] = stage_id
        return tag, attribute

    def background(self, image: str) -> str:
        if image not in self.backgrounds:
            self.backgrounds[image] = "bg " + self._bgs(image, ident(image, "bg"))
        return self.backgrounds[image]


def transition(value: dict[str, Any] | None) -> str | None:
    if not value or value.get("style") in (None, "none"):
        return None
    duration = float(value.get("duration", 0.5))
    return TRANSITIONS[value["style"]].format(d=repr(duration), h=repr(duration / 2))


def scene_source(scene: Scene, ctx: Context) -> str:
    """The Ren'Py code of one scene."""
    for name, value in scene.variables.items():
        ctx.variables.setdefault(name, value)
    for member in scene.cast:
        ctx.character(member.id, member.name, member.color)
    plan = plan_scene(scene)
    nodes = scene.node_map()
    entry = ctx.scene_labels[scene.id] = ctx.labels((scene.id, None), ident(scene.id, "s"))
    out = [f"# scene {scene.id}" + (f": {' '.join(scene.title.split())}" if scene.title else ""), f"label {entry}:",
           # as the runner starts a scene: its own variables, the PRNG at the seed, told from the POV the
           # player picked (or the fork's), else the scene's own
           f"{I}$ cvn_begin({literal(scene.variables)})",
           f"{I}$ cvn_pov = cvn_pov_pick if cvn_pov_pick is not None else {literal(scene.pov)}",
           f"{I}jump {ctx.label(scene.id, scene.start)}", ""]
    for planned in plan["nodes"]:
        out += _node(scene, nodes[planned["id"]], planned, ctx)
    return "\n".join(out) + "\n"


def _node(scene: Scene, node: Node, planned: dict[str, Any], ctx: Context) -> list[str]:
    out = [f"label {ctx.label(scene.id, node.id)}:"]
    if ctx.trace:
        out.append(f"{I}$ cvn_trace.append({python_string(node.id)})")
    for action in node.actions:
        _note_keys(action.key, ctx)
    if node.actions:
        out.append(f"{I}$ cvn_apply({actions_literal(node.actions)})")
    stage = planned["entry"]
    out += _set_stage(stage, ctx)
    for frame in planned["frames"]:
        out += _frame(scene, node, frame, stage, ctx)
        stage = frame["stage"]
    out += _exit(scene, node, ctx)
    out.append("")
    return out


def _set_stage(stage: dict[str, Any], ctx: Context) -> list[str]:
    background = stage.get("background")
    out = [f"{I}scene {ctx.background(background['image'])}" if background else f"{I}scene black"]
    for person in stage["characters"]:
        if person["xalign"] is not None:
            tag, attribute = ctx.sprite(person["id"], person["expression"])
            out.append(f"{I}show {tag} {attribute} at cvn_at({person['xalign']!r})")
    return out


def _frame(scene: Scene, node: Node, frame: dict[str, Any], before: dict[str, Any], ctx: Context) -> list[str]:
    after = frame["stage"]
    out: list[str] = []
    if after.get("background") != before.get("background"):
        out += _set_stage(after, ctx)
    else:
        was = {p["id"]: p for p in before["characters"] if p["xalign"] is not None}
        now = {p["id"]: p for p in after["characters"] if p["xalign"] is not None}
        for gone in [key for key in was if key not in now]:
            out.append(f"{I}hide {ctx.sprite(gone, was[gone]['expression'])[0]}")
        for key, person in now.items():
            old = was.get(key)
            if old is None or old["xalign"] != person["xalign"] or old["expression"] != person["expression"]:
                tag, attribute = ctx.sprite(key, person["expression"])
                out.append(f"{I}show {tag} {attribute} at cvn_at({person['xalign']!r})")
    with_clause = transition(frame.get("transition"))
    if with_clause and (out or frame["kind"] == "transition"):
        out.append(f"{I}with {with_clause}")
    audio, voice = _audio(frame["audio"], ctx)
    out += audio
    if frame.get("wait"):
        out.append(f"{I}pause {frame['wait']!r}")
    if frame.get("text") is not None:
        out.append(_say(scene, node, frame, ctx, voice))
    return out


def _audio(audio: dict[str, Any], ctx: Context) -> tuple[list[str], str | None]:
    """The audio statements of a frame, and the voice file it plays (if any)."""
    out = []
    voice_path = None
    music = audio.get("music")
    if music:
        if music["action"] == "stop":
            fade = f" fadeout {music['fadeout']!r}" if music.get("fadeout") else ""
            out.append(f"{I}stop music{fade}")
        else:
            path = _audio_file(music["track"], ctx)
            if path:
                fade = f" fadein {music['fadein']!r}" if music.get("fadein") else ""
                loop = "" if music.get("loop", True) else " noloop"
                out.append(f"{I}play music {python_string(path)}{fade}{loop}")
    sound = audio.get("sound")
    if sound:
        path = _audio_file(sound["track"], ctx)
        if path:
            channel = "sound" if sound.get("channel") != "ambient" else "audio"
            out.append(f"{I}play {channel} {python_string(path)}")
    voice = audio.get("voice")
    if voice:
        voice_path = _audio_file(voice, ctx)
        if voice_path:
            out.append(f"{I}voice {python_string(voice_path)}")
    return out, voice_path


def _audio_file(ref: str, ctx: Context) -> str | None:
    path = ctx.audio(ref)
    if path is None:
        ctx.missing_audio.add(ref)
    return path


def _say(scene: Scene, node: Node, frame: dict[str, Any], ctx: Context, voice: str | None = None) -> str:
    beat_id = frame.get("beat") or f"{node.id}_{frame['index']}"  # line ids are stable; the rest by position
    say_id = ctx.say_ids((scene.id, node.id, frame["index"]), f"{ident(scene.id, 's')}_{ident(str(beat_id), 'l')}")
    speaker = frame.get("speaker")
    who = ""
    if frame["kind"] == "say" and speaker:
        who = ctx.character(speaker["id"] or speaker["name"], speaker["name"])
    line = Line(say_id, scene.id, str(beat_id), who, frame["kind"], frame["text"], voice)
    ctx.says.append(line)
    return f"{I}{say_statement(line, line.text)} id {say_id}"


def say_statement(line: Line, text: str) -> str:
    """``who "text"`` (or ``"text"``) for ``line`` showing ``text``: the script's line, or its translation."""
    literal_ = say_text(text)
    if line.kind == "direction":
        literal_ = '"{i}' + literal_[1:-1] + '{/i}"'
    return f"{line.who} {literal_}" if line.who else literal_


def _exit(scene: Scene, node: Node, ctx: Context) -> list[str]:
    out: list[str] = []
    if node.choices and not node.is_end:
        for choice in node.choices:
            for condition in choice.conditions:
                _note_keys(condition.key, ctx)
            for action in choice.actions:
                _note_keys(action.key, ctx)
        options = choices_literal(node.choices, scene.pov_aliases)
        if node.type == "random":
            out.append(f"{I}$ cvn_i = cvn_pick({options})")
            for index, choice in enumerate(node.choices):
                out.append(f"{I}{'if' if index == 0 else 'elif'} cvn_i == {index}:")
                out += _take(scene, choice, ctx, 2)
        else:
            out.append(f"{I}if cvn_any_open({options}):")
            out.append(f"{I * 2}menu:")
            for choice in node.choices:
                single = choices_literal([choice], scene.pov_aliases)[1:-3]
                ctx.menu_texts.append((scene.id, choice.id, choice.label or choice.id))
                out.append(f"{I * 3}{say_text(choice.label or choice.id)} if cvn_open({single}):")
                out += _take(scene, choice, ctx, 4)
    if node.is_end or not node.next:
        out.append(f"{I}return")
    else:
        out.append(f"{I}jump {ctx.label(scene.id, node.next)}")
    return out


def _take(scene: Scene, choice: Any, ctx: Context, depth: int) -> list[str]:
    out = []
    if choice.actions:
        out.append(f"{I * depth}$ cvn_apply({actions_literal(choice.actions)})")
    out.append(f"{I * depth}jump {ctx.label(scene.id, choice.target)}")
    return out


def _note_keys(key: str, ctx: Context) -> None:
    top = key.split(".", 1)[0]
    if top not in ctx.variables:
        ctx.undeclared.add(top)


def definitions(ctx: Context, *, seed_state: str, files: Callable[[str, str], str | None],
                pov_pick: str | None = None) -> str:
    """Characters, images, transforms and the story state. ``files(kind, key)`` names the image file
    for a background reference (``kind`` ``bg``) or a sprite (``sprite``, ``"<stage id>/<attribute>"``),
    or ``None`` for a placeholder."""
    out = ["# Generated by ComfyVN: characters, images and the story state.", "",
           # sprites stand on the bottom edge, scaled to fit the screen's height whatever size they were drawn
           "transform cvn_at(x=0.5):", f"{I}xalign x", f"{I}yalign 1.0", f'{I}fit "contain"',
           f"{I}ysize int(config.screen_height * 0.95)", ""]
    tag_of = {owner: tag for tag, owner in ctx.sprite_owner.items()}
    for stage_id, (var, name, color) in sorted(ctx.characters.items(), key=lambda item: item[1][0]):
        extra = f", color={python_string(color)}" if color else ""
        if stage_id in tag_of:  # `who happy "..."` then switches the sprite's expression
            extra += f", image={python_string(tag_of[stage_id])}"
        out.append(f"define {var} = Character(_({character_name(name)}){extra})")  # _(): names translate too
    out.append("")
    for ref, tag in sorted(ctx.backgrounds.items(), key=lambda item: item[1]):
        path = files("bg", ref)
        shown = (f'Transform({python_string(path)}, fit="cover", xsize=config.screen_width, ysize=config.screen_height)'
                 if path else _placeholder(ref, background=True))  # a background covers the screen
        out.append(f"image {tag} = {shown}")
    out.append("")
    for tag, attributes in sorted(ctx.sprites.items()):
        owner = ctx.sprite_owner[tag]
        out += [f"layeredimage {tag}:", f"{I}group face:"]
        for n, attribute in enumerate(sorted(attributes, key=lambda a: (a != "neutral", a))):
            path = files("sprite", f"{owner}/{attribute}")
            shown = python_string(path) if path else _placeholder(owner, background=False)
            out.append(f"{I * 2}attribute {attribute}{' default' if n == 0 else ''} {shown}")
        out.append("")
    names = sorted(set(ctx.variables) | ctx.undeclared)
    for name in names:
        out.append(f"default v_{name} = {literal(ctx.variables[name]) if name in ctx.variables else 'None'}")
    cleared = sorted(ctx.undeclared - set(ctx.variables))
    out += [f"define cvn_names = {literal(names)}", f"define cvn_seed = {python_string(seed_state)}",
            f"default cvn_cleared = set({literal(cleared)})", f"default cvn_rng = {python_string(seed_state)}",
            "default cvn_pov = None", f"default cvn_pov_pick = {literal(pov_pick)}", "default cvn_i = None"]
    if ctx.trace:
        out.append("default cvn_trace = []")
    return "\n".join(out) + "\n"


def _placeholder(key: str, *, background: bool) -> str:
    """A plain coloured stand-in for an image the project does not have yet (listed as missing)."""
    import hashlib

    shade = hashlib.sha256(key.encode("utf-8")).digest()
    color = "#%02x%02x%02x" % (40 + shade[0] % 60, 40 + shade[1] % 60, 60 + shade[2] % 80)
    return f'Solid("{color}")' if background else f'Solid("{color}", xysize=(360, 640))'
