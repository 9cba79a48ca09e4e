"""The deterministic scenario runner.

A run is a ``RunState`` (plain JSON, so a client can hold it between requests). Each step leaves the
current node and enters the next one:

1. At a node with available choices (POV allows it, weight > 0, conditions hold) the runner takes
   the requested ``choice_id`` (never consuming randomness) or picks one at random by weight (one
   draw from the story PRNG). The choice's actions run, then its target is entered.
2. Otherwise it follows ``next``.
3. Entering a node runs the node's actions. An end node, or a node with neither available choices
   nor ``next``, finishes the run.

Same scene + seed + variables + POV + choices => same trace, on every platform.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, Field

from comfyvn.core.errors import InvalidInput
from comfyvn.scenario import logic
from comfyvn.scenario.models import Choice, Node, Scene
from comfyvn.scenario.rng import ALGORITHM, StoryRandom

DEFAULT_HISTORY = 200


# Trace entries and undo frames are plain dataclasses (pydantic validates and dumps them inside
# RunState): one is made per step, and a pydantic model costs several times as much to build.

@dataclass(slots=True)
class TraceEntry:
    step: int
    node: str
    via: str  # 'start', 'next', 'choice' (requested) or 'random' (PRNG pick)
    choice: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Frame:
    """What undo restores: the state as it was before a step."""

    node: str
    vars: dict[str, Any]
    rng: str
    step: int
    finished: bool
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunState(BaseModel):
    scene_id: str
    seed: int | str = 0
    pov: str | None = None
    node: str
    vars: dict[str, Any] = Field(default_factory=dict)
    rng: str = Field(pattern=r"^[0-9a-f]{16}$", description=f"PRNG state ({ALGORITHM}), 16 hex digits.")
    step: int = 0
    finished: bool = False
    reason: str | None = Field(default=None, description="'end', 'dead_end' or 'no_choices' once finished.")
    trace: list[TraceEntry] = Field(default_factory=list)
    history: list[Frame] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _CompiledChoice:
    choice: Choice
    conditions: tuple
    actions: tuple
    visible_to: frozenset[str]
    offered: bool  # weight > 0 (a weight-0 choice is never offered)


@dataclass(frozen=True, slots=True)
class _CompiledNode:
    node: Node
    actions: tuple
    choices: tuple[_CompiledChoice, ...]
    by_id: dict[str, _CompiledChoice]
    always_open: bool  # a choice with weight > 0, no conditions and no POV filter: never a dead end
    end: bool
    lines: tuple


def _compile(node: Node, scene: Scene) -> _CompiledNode:
    choices = tuple(
        _CompiledChoice(c, logic.compile_conditions(c.conditions), logic.compile_actions(c.actions),
                        scene.pov_aliases(c.visible_to) if c.visible_to else frozenset(), c.weight > 0)
        for c in node.choices
    )
    always_open = any(c.offered and not c.conditions and not c.visible_to for c in choices)
    return _CompiledNode(node, logic.compile_actions(node.actions), choices, {c.choice.id: c for c in choices},
                         always_open, node.is_end, tuple(node.lines()))


def _copy(state: RunState) -> RunState:
    """An independent copy for a new step: variables deep-copied; trace entries and undo frames
    are never changed once written, so their lists are copied but the entries shared."""
    return state.model_copy(update={"vars": logic.clone(state.vars), "trace": list(state.trace),
                                    "history": list(state.history)})


class ScenarioRunner:
    """Steps one scene. Build it once per scene; it is stateless between calls."""

    def __init__(self, scene: Scene, *, history_limit: int = DEFAULT_HISTORY) -> None:
        self.scene = scene
        self.history_limit = history_limit
        self._nodes: dict[str, _CompiledNode] = {node.id: _compile(node, scene) for node in scene.nodes}
        if scene.start not in self._nodes:
            raise InvalidInput(f"scene {scene.id!r}: start node {scene.start!r} does not exist")

    # -- public API ------------------------------------------------------------------------------

    def start(self, *, seed: int | str | None = 0, variables: dict[str, Any] | None = None,
              pov: str | None = None) -> RunState:
        """A new run, standing on the start node (its actions applied)."""
        seed = 0 if seed is None else seed
        try:
            rng = StoryRandom(seed)
        except TypeError as exc:
            raise InvalidInput(str(exc)) from None
        values = logic.clone(self.scene.variables)
        values.update(logic.clone(variables or {}))
        state = RunState(scene_id=self.scene.id, seed=seed, pov=pov if pov is not None else self.scene.pov,
                         node=self.scene.start, vars=values, rng=rng.state)
        self._enter(state, self.scene.start, "start", None)
        return state

    def node(self, state: RunState) -> Node:
        return self._compiled(state.node).node

    def lines(self, state: RunState) -> tuple:
        """The current node's lines in play order (``Node.lines()``, built once per runner)."""
        return self._compiled(state.node).lines

    def choices(self, state: RunState) -> list[Choice]:
        """The choices offered at the current node."""
        return [c.choice for c in self._available(self._compiled(state.node), state)]

    def settle(self, state: RunState) -> None:
        """Recompute ``finished``/``reason`` for the current node, as entering it would (for a
        state restored from a save, after the scene may have changed)."""
        self._settle(self._compiled(state.node), state)

    def step(self, state: RunState, choice_id: str | None = None) -> RunState:
        """The state after one step (``state`` itself is left untouched)."""
        new = _copy(state)
        self.advance(new, choice_id)
        return new

    def advance(self, state: RunState, choice_id: str | None = None) -> None:
        """One step, in place."""
        if state.finished:
            raise InvalidInput(f"the run already finished at node {state.node!r} ({state.reason})")
        current = self._compiled(state.node)
        if choice_id is not None:
            picked = current.by_id.get(choice_id)
            if picked is None or not self._open(picked, state):
                self._refuse(current, state, choice_id)
            via = "choice"
        else:
            available = self._available(current, state)
            if available:
                rng = StoryRandom.from_state(state.rng)
                picked = available[rng.weighted_index([c.choice.weight for c in available])]
                rng_after = rng.state
            else:
                picked = None
        self._remember(state)
        if picked is None:
            self._enter(state, current.node.next, "next", None)
            return
        if choice_id is None:
            state.rng = rng_after
            via = "random"
        if picked.actions:
            logic.apply(picked.actions, state.vars)
        self._enter(state, picked.choice.target, via, picked.choice.id)

    def _remember(self, state: RunState) -> None:
        if self.history_limit:
            history = state.history
            history.append(Frame(state.node, logic.clone(state.vars), state.rng, state.step, state.finished,
                                 state.reason))
            if len(history) > self.history_limit:
                del history[0]

    def _refuse(self, current: _CompiledNode, state: RunState, choice_id: str) -> None:
        offered = [c.choice.id for c in self._available(current, state)]
        if not offered:
            raise InvalidInput(f"node {state.node!r} offers no choices; step without choice_id",
                               details={"choice_id": choice_id, "node": state.node, "available": []})
        raise InvalidInput(
            f"choice {choice_id!r} is not available at node {state.node!r} (offered: {', '.join(offered)})",
            details={"choice_id": choice_id, "node": state.node, "available": offered},
        )

    def back(self, state: RunState, steps: int = 1) -> RunState:
        """The state ``steps`` steps earlier (undo); the trace is cut back to match."""
        if steps < 1:
            raise InvalidInput("steps must be at least 1")
        if steps > len(state.history):
            raise InvalidInput(f"cannot step back {steps} step(s): only {len(state.history)} in the history",
                               details={"available": len(state.history)})
        new = _copy(state)
        frame = new.history[-steps]
        del new.history[-steps:]
        new.node, new.vars, new.rng = frame.node, logic.clone(frame.vars), frame.rng
        new.step, new.finished, new.reason = frame.step, frame.finished, frame.reason
        new.trace = [entry for entry in new.trace if entry.step <= frame.step]
        return new

    def run(self, state: RunState, *, choices: list[str] | None = None, breakpoints: set[str] | None = None,
            max_steps: int = 10_000) -> tuple[RunState, str]:
        """Step until the run finishes, a breakpoint node is entered or ``max_steps`` is reached.

        ``choices`` are used in order at nodes that offer choices; after they run out, picks are
        random. Returns the new state and why it stopped: 'finished', 'breakpoint' or 'max_steps'.
        """
        new = _copy(state)
        queue = list(choices or [])
        for _ in range(max_steps):
            if new.finished:
                return new, "finished"
            wanted = queue.pop(0) if queue and self._available(self._compiled(new.node), new) else None
            self.advance(new, wanted)
            if breakpoints and new.node in breakpoints:
                return new, "breakpoint"
        return new, "finished" if new.finished else "max_steps"

    # -- internals -------------------------------------------------------------------------------

    def _compiled(self, node_id: str) -> _CompiledNode:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise InvalidInput(f"node {node_id!r} does not exist in scene {self.scene.id!r}",
                               details={"node": node_id}) from None

    def _available(self, node: _CompiledNode, state: RunState) -> list[_CompiledChoice]:
        if not node.choices or node.end:
            return []
        return [c for c in node.choices if self._open(c, state)]

    @staticmethod
    def _open(c: _CompiledChoice, state: RunState) -> bool:
        """Is this choice offered now: weight > 0, visible to the POV, conditions true."""
        if not c.offered:
            return False
        if c.visible_to and state.pov is not None and state.pov not in c.visible_to:
            return False
        return not c.conditions or logic.holds(c.conditions, state.vars)

    def _enter(self, state: RunState, node_id: str | None, via: str, choice: str | None) -> None:
        if node_id is None:  # pragma: no cover - only a hand-made state gets here
            raise InvalidInput(f"node {state.node!r} has nowhere to go")
        target = self._compiled(node_id)
        step = state.step + 1 if via != "start" else state.step
        state.step = step
        state.node = node_id
        state.trace.append(TraceEntry(step, node_id, via, choice))
        if target.actions:
            logic.apply(target.actions, state.vars)
        self._settle(target, state)

    def _settle(self, node: _CompiledNode, state: RunState) -> None:
        if node.end:
            state.finished, state.reason = True, "end"
        elif node.node.next or node.always_open or any(self._open(c, state) for c in node.choices):
            if state.finished:
                state.finished, state.reason = False, None
        else:
            state.finished, state.reason = True, "no_choices" if node.node.choices else "dead_end"
