"""Points of view in the Ren'Py export: which POVs a project has, the master build's in-game
"Switch POV" menu, and one complete game per POV under ``forks/<slug>/``.

Modes (``--pov-mode``):

    auto      master + forks when the project has two or more POVs, else disabled
    master    one game with the "Switch POV" menu (unless --no-pov-switch)
    forks     the plain game plus one game per POV under forks/<slug>/
    both      the master game (with the menu) plus the forks
    disabled  one game; each scene is told from its own ``pov`` as the runner does

A POV counts when the story depends on it: a scene's ``pov``, a node told from it, a choice only
it can see (``visible_to``), or a worldline with that POV. A fork plays every scene from its POV;
where a worldline gives that POV its own version of a scene, the fork plays that version (the
active worldline when there are several, else the one updated last).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from comfyvn.core.errors import InvalidInput
from comfyvn.export.renpy_names import Namer, character_name, ident, python_string
from comfyvn.scenario.models import Scene

MODES = ("auto", "master", "forks", "both", "disabled")


@dataclass(frozen=True)
class Pov:
    id: str
    name: str
    slug: str  # the fork's folder under forks/


@dataclass
class PovPlan:
    mode: str  # resolved: master, forks, both or disabled
    povs: list[Pov] = field(default_factory=list)
    switch: bool = True
    versions: dict[str, dict[str, Scene]] = field(default_factory=dict)  # pov id -> scene id -> worldline scene

    @property
    def master(self) -> bool:
        return self.mode in ("master", "both")

    @property
    def forks(self) -> bool:
        return self.mode in ("forks", "both")

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "switch": self.master and self.switch,
                "povs": [{"id": p.id, "name": p.name, "fork": f"forks/{p.slug}" if self.forks else None,
                          "worldline_scenes": sorted(self.versions.get(p.id, {}))} for p in self.povs]}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"unknown POV mode {mode!r}; use one of {', '.join(MODES)}", code="invalid_pov_mode",
                           details={"pov_mode": mode, "allowed": list(MODES)})
    return mode


def analyse(scenes: list[Scene], worldlines: list[dict[str, Any]], *, mode: str = "auto", switch: bool = True,
            active: str | None = None) -> PovPlan:
    """The POVs of ``scenes`` (in first-seen order) and the resolved mode. ``worldlines``: worldline
    records (``{id, pov, scene_id, scene, updated_at}``) of the same project; ``active``: the
    active worldline's id."""
    from comfyvn.pov.manager import candidates
    from comfyvn.pov.worldlines import scene_of

    check_mode(mode)
    names: dict[str, str] = {}
    by_scene = {scene.id: scene for scene in scenes}
    for scene in scenes:
        for entry in candidates(scene):
            if entry["nodes"] or entry["choices"] or "scene_pov" in entry["sources"]:
                names.setdefault(entry["id"], entry["name"])
    offered: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (pov, scene id) -> its worldlines
    for record in worldlines:
        scene = by_scene.get(record.get("scene_id", ""))
        if scene is not None and record.get("pov"):
            pov = _cast_id(scene, record["pov"])
            names.setdefault(pov, _display(scene, pov))
            offered.setdefault((pov, scene.id), []).append(record)
    chosen = {key: next((r for r in records if r["id"] == active), None)
              or max(records, key=lambda r: (r.get("updated_at", ""), r["id"]))
              for key, records in offered.items()}
    if mode == "auto":
        mode = "both" if len(names) >= 2 else "disabled"
    slugs = Namer()
    povs = [Pov(pov_id, name, slugs(pov_id, ident(pov_id, "pov"))) for pov_id, name in names.items()]
    versions: dict[str, dict[str, Scene]] = {}
    for (pov, scene_id), record in sorted(chosen.items()):
        versions.setdefault(pov, {})[scene_id] = scene_of(record)
    if mode != "disabled" and not povs:
        raise InvalidInput(f"--pov-mode {mode} needs points of view, and the project has none: give scenes a "
                           "`pov`, nodes a `pov`, or choices `visible_to`, or use --pov-mode auto",
                           code="no_povs")
    return PovPlan(mode, povs if mode != "disabled" else [], switch, versions if mode != "disabled" else {})


def _cast_id(scene: Scene, pov: str) -> str:
    for member in scene.cast:
        if pov in (member.id, member.name):
            return member.id
    return pov


def _display(scene: Scene, pov: str) -> str:
    return next((m.name for m in scene.cast if m.id == pov), pov)


def fork_scenes(plan: PovPlan, pov: Pov, scenes: list[Scene]) -> list[Scene]:
    """The scenes of ``pov``'s fork: its worldline versions where it has them."""
    own = plan.versions.get(pov.id, {})
    return [own.get(scene.id, scene) for scene in scenes]


def fork_name(title: str, pov: Pov) -> str:
    return f"{title} ({pov.name})"


def switch_source(povs: list[Pov]) -> str:
    """``cvn_pov.rpy``: a "Switch POV" button over the game and the menu it opens. Picking a POV
    sets ``cvn_pov`` now and ``cvn_pov_pick`` for the scenes to come (both saved and rolled back)."""
    choices = ", ".join(f"({python_string(p.id)}, _({character_name(p.name)}))" for p in povs)
    return "\n".join([
        "# Generated by ComfyVN: the in-game \"Switch POV\" menu.",
        f"define cvn_pov_choices = [{choices}]",
        "",
        "screen cvn_pov_button():",
        "    zorder 50",
        "    textbutton _(\"Switch POV\") action Show(\"cvn_pov_switch\") xalign 1.0 yalign 0.0 xoffset -20 yoffset 12",
        "",
        "screen cvn_pov_switch():",
        "    modal True",
        "    zorder 200",
        "    frame:",
        "        xalign 0.5",
        "        yalign 0.5",
        "        padding (40, 30)",
        "        vbox:",
        "            spacing 12",
        "            label _(\"Whose point of view?\")",
        "            for pov_id, pov_name in cvn_pov_choices:",
        "                textbutton pov_name:",
        "                    action [SetVariable(\"cvn_pov_pick\", pov_id), SetVariable(\"cvn_pov\", pov_id), "
        "Hide(\"cvn_pov_switch\")]",
        "                    selected cvn_pov == pov_id",
        "            textbutton _(\"Back\") action Hide(\"cvn_pov_switch\")",
        "",
        "init python:",
        "    config.overlay_screens.append(\"cvn_pov_button\")",
        "",
    ])


def with_pov(options: Any, *, pick: str | None, switch: list[Pov] | None = None, name: str | None = None) -> Any:
    """``options`` for one build: the POV every scene starts in (None: each scene's own) and the
    POVs of the switch menu (None: no menu)."""
    return replace(options, pov_pick=pick, pov_switch=switch or [], name=name or options.name)
