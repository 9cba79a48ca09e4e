"""One generated story, written three ways: our canonical scene, compiled ink JSON and ink source.

The runner benchmark compares our runner with the ink runtime on "the same" story, so both
versions come from one abstract story built here, and every feature is written so that both
runtimes give it the same meaning:

- a node says one line (``Speaker: text`` in ink, the ``speaker``/``text`` shorthand for us);
- entering a node applies its actions: ``increment``/``decrement`` (``~ c1 = c1 + 2``),
  ``toggle`` (``~ f3 = !f3``) and ``set`` (``~ c1 = 0``);
- it offers 2-3 choices; choice 0 always holds (so no run gets stuck), the others carry
  conditions (``{c2 >= 3 && f1 == true}``; ours: a list of conditions, all must hold), a weight
  and sometimes actions run when taken; some choices jump back, so the story has loops;
- the last node ends the story (``-> END``; ours: ``end: true``).

Ink has no weights: they live in ``Story.weights`` (label -> weight; labels are unique) and the
benchmark makes the weighted pick for ink itself. Choices are sticky (``+``): a once-only
choice (``*``) would vanish on a second visit, which our model has no notion of.

``ink_json`` writes the runtime format (inkVersion 21) directly, as inklecate would compile
``ink_source``: the same containers, the same choice-point flags. So no ink compiler is needed.
Only the story PRNG (``StoryRandom``) is used: the same seed gives the same story everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from comfyvn.scenario.rng import StoryRandom

SPEAKERS = ("Mira", "Jun", "Ada", None)
SENTENCES = (
    "The rain keeps falling on the old station.",
    "Somebody left the lights on upstairs.",
    "We should not be here after midnight.",
    "The letter was signed with a single initial.",
    "Listen, the train is early tonight.",
    "I kept the key you gave me.",
    "The map does not show this corridor.",
    "Tea first, questions later.",
)
VERBS = ("Follow", "Ask about", "Ignore", "Open", "Wait for", "Run from", "Trust", "Question")
OBJECTS = ("the stranger", "the letter", "the door", "the signal", "the clock", "the shadow")
COUNTERS = 6
FLAGS = 6
INK_OPERATORS = {"eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass
class Option:
    id: str
    label: str
    target: str
    weight: float
    conditions: list[tuple[str, str, Any]] = field(default_factory=list)  # (key, operator, value)
    actions: list[tuple[str, str, Any]] = field(default_factory=list)  # (type, key, value)


@dataclass
class StoryNode:
    id: str
    speaker: str | None
    text: str
    actions: list[tuple[str, str, Any]] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)
    end: bool = False

    @property
    def line(self) -> str:
        """The line as both runtimes print it."""
        return f"{self.speaker}: {self.text}" if self.speaker else self.text


@dataclass
class Story:
    nodes: list[StoryNode]
    variables: dict[str, Any]

    @property
    def weights(self) -> dict[str, float]:
        return {o.label: o.weight for n in self.nodes for o in n.options}


def _condition(rng: StoryRandom) -> tuple[str, str, Any]:
    if rng.below(2):
        return (f"c{rng.below(COUNTERS)}", ("gte", "gt", "lt", "lte", "neq")[rng.below(5)], rng.randint(0, 4))
    return (f"f{rng.below(FLAGS)}", "eq", bool(rng.below(2)))


def _action(rng: StoryRandom) -> tuple[str, str, Any]:
    roll = rng.below(10)
    if roll < 5:
        return ("increment", f"c{rng.below(COUNTERS)}", rng.randint(1, 2))
    if roll < 7:
        return ("decrement", f"c{rng.below(COUNTERS)}", 1)
    if roll < 9:
        return ("toggle", f"f{rng.below(FLAGS)}", None)
    return ("set", f"c{rng.below(COUNTERS)}", 0)


def generate(nodes: int = 1000, seed: int = 7) -> Story:
    """A story of ``nodes`` nodes (the last one ends it), the same for the same seed."""
    if nodes < 2:
        raise ValueError("a story needs at least 2 nodes")
    rng = StoryRandom(seed)
    last = nodes - 1
    out = []
    for i in range(last):
        node = StoryNode(f"n{i}", SPEAKERS[rng.below(len(SPEAKERS))],
                         f"Scene {i}. {SENTENCES[rng.below(len(SENTENCES))]}",
                         actions=[_action(rng) for _ in range(rng.randint(1, 2))])
        targets = [i + 1, min(last, i + rng.randint(2, 6))]
        if rng.below(3) == 0:
            targets.append(max(0, i - rng.randint(1, 12)))  # a loop back, rarely picked
        for j, target in enumerate(targets):
            label = f"{VERBS[rng.below(len(VERBS))]} {OBJECTS[rng.below(len(OBJECTS))]} ({i}.{j})"
            weight = 1.0 if j == 2 else float(rng.randint(1, 4))
            option = Option(f"n{i}.c{j}", label, f"n{target}", weight=weight)
            if j:
                option.conditions = [_condition(rng) for _ in range(rng.randint(1, 2))]
            if rng.below(3) == 0:
                option.actions = [_action(rng)]
            node.options.append(option)
        out.append(node)
    out.append(StoryNode(f"n{last}", None, "The end.", end=True))
    variables: dict[str, Any] = {f"c{k}": 0 for k in range(COUNTERS)}
    variables.update({f"f{k}": False for k in range(FLAGS)})
    return Story(out, variables)


# -- our canonical scene ---------------------------------------------------------------------------

def _our_action(kind: str, key: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "key": key} | ({} if value is None else {"value": value})


def scene_json(story: Story, scene_id: str = "bench", beats: bool = False) -> dict[str, Any]:
    """The story as a canonical scene document. ``beats`` adds staging (background, characters,
    music, extra lines) as an imported chat would have it; the runner benchmark leaves it out
    because ink has nothing to match it."""
    nodes = []
    for i, node in enumerate(story.nodes):
        out: dict[str, Any] = {"id": node.id, "text": node.text}
        if node.speaker:
            out["speaker"] = node.speaker
        if node.actions:
            out["actions"] = [_our_action(*a) for a in node.actions]
        if node.options:
            out["type"] = "choice"
            out["choices"] = [{
                "id": o.id, "label": o.label, "target": o.target, "weight": o.weight,
                "conditions": [{"key": k, "operator": op, "value": v} for k, op, v in o.conditions],
                "actions": [_our_action(*a) for a in o.actions],
            } for o in node.options]
        if node.end:
            out["end"] = True
        if beats:
            out["beats"] = _beats(i, node)
        nodes.append(out)
    scene: dict[str, Any] = {"id": scene_id, "title": f"Generated story ({len(nodes)} nodes)",
                             "start": story.nodes[0].id, "nodes": nodes, "variables": dict(story.variables)}
    if beats:
        scene["cast"] = [{"id": name.lower(), "name": name} for name in SPEAKERS if name]
    return scene


def _beats(i: int, node: StoryNode) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if i % 10 == 0:
        out.append({"kind": "background", "image": f"location {i // 10 % 7}", "time_of_day": "night",
                    "transition": {"style": "fade", "duration": 0.5}})
        out.append({"kind": "music", "track": f"music/theme_{i // 10 % 3}.ogg", "fadein": 1.0})
    who = (node.speaker or "Mira").lower()
    out.append({"kind": "show", "character": who, "expression": "neutral"})
    out.append({"kind": "say", "id": f"{node.id}.l1", "speaker": who, "text": "Did you hear that?",
                "expression": "surprised", "source": {"chat": "bench", "message_index": i}})
    out.append({"kind": "direction", "text": "A door creaks somewhere below.", "character": who})
    if i % 5 == 0:
        out.append({"kind": "sound", "track": "sfx/door.ogg"})
    return out


# -- ink -------------------------------------------------------------------------------------------

def _ink_literal(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _ink_action_ops(kind: str, key: str, value: Any) -> list[Any]:
    if kind == "toggle":
        expr = [{"VAR?": key}, "!"]
    elif kind == "set":
        expr = [value]
    else:
        expr = [{"VAR?": key}, 1 if value is None else value, "+" if kind == "increment" else "-"]
    return ["ev", *expr, "/ev", {"VAR=": key, "re": True}]


def _ink_condition_ops(conditions: list[tuple[str, str, Any]]) -> list[Any]:
    ops: list[Any] = []
    for n, (key, operator, value) in enumerate(conditions):
        ops += [{"VAR?": key}, value, INK_OPERATORS[operator]]
        if n:
            ops.append("&&")
    return ops


def ink_json(story: Story) -> dict[str, Any]:
    """The story in ink's compiled runtime format (what inklecate makes of ``ink_source``)."""
    knots: dict[str, Any] = {}
    for node in story.nodes:
        body: list[Any] = []
        for action in node.actions:
            body += _ink_action_ops(*action)
        body += ["^" + node.line, "\n"]
        if node.end:
            knots[node.id] = [*body, "end", None]
            continue
        branches: dict[str, Any] = {}
        for j, option in enumerate(node.options):
            body += ["ev", "str", "^" + option.label, "/str", *_ink_condition_ops(option.conditions), "/ev",
                     {"*": f".^.c-{j}", "flg": 5 if option.conditions else 4}]
            inner: list[Any] = ["\n"]
            for action in option.actions:
                inner += _ink_action_ops(*action)
            branches[f"c-{j}"] = [*inner, {"->": option.target}, None]
        knots[node.id] = [[*body, branches], None]
        # sticky choices with text only in [brackets]: flags 4 (+1 with a condition)
    knots["global decl"] = ["ev", *[x for k, v in story.variables.items() for x in (v, {"VAR=": k})], "/ev",
                            "end", None]
    root = [[{"->": story.nodes[0].id}, ["done", {"#n": "g-0"}], None], "done", knots]
    return {"inkVersion": 21, "root": root, "listDefs": {}}


def ink_json_text(story: Story) -> str:
    return json.dumps(ink_json(story), separators=(",", ":"))


def _ink_action_source(kind: str, key: str, value: Any) -> str:
    if kind == "toggle":
        return f"~ {key} = !{key}"
    if kind == "set":
        return f"~ {key} = {_ink_literal(value)}"
    sign = "+" if kind == "increment" else "-"
    return f"~ {key} = {key} {sign} {1 if value is None else value}"


def ink_source(story: Story) -> str:
    """The story as ink source, for reading it or compiling it with inklecate to compare."""
    lines = [f"VAR {k} = {_ink_literal(v)}" for k, v in story.variables.items()]
    lines.append(f"-> {story.nodes[0].id}")
    for node in story.nodes:
        lines.append(f"=== {node.id} ===")
        lines += [_ink_action_source(*a) for a in node.actions]
        lines.append(node.line)
        if node.end:
            lines.append("-> END")
        for option in node.options:
            cond = " && ".join(f"{k} {INK_OPERATORS[op]} {_ink_literal(v)}" for k, op, v in option.conditions)
            lines.append(f"+ {{{cond}}} [{option.label}]" if cond else f"+ [{option.label}]")
            lines += ["  " + _ink_action_source(*a) for a in option.actions]
            lines.append(f"  -> {option.target}")
    return "\n".join(lines) + "\n"
