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

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from comfyvn.core.errors import InvalidInput
from comfyvn.scenario import logic
from comfyvn.scenario.models import Choice, Node, Scene
from comfyvn.scenario.rng import ALGORITHM, StoryRandom

DEFAULT_HISTORY = 200


class TraceEntry(BaseModel):
    step: int
    node: str
    via: str = Field(description="'start', 'next', 'choice' (requested) or 'random' (PRNG pick).")
    choice: str | None = None


class Frame(BaseModel):
    """What undo restores: the state as it was before a step."""

    node: str
    vars: dict[str, Any]
    rng: str
    step: int
    finished: bool
    reason: str | None = None


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


@dataclass(frozen=True, slots=True)
class _CompiledNode:
    node: Node
    actions: tuple
    choices: tuple[_CompiledChoice, ...]
    end: bool


class ScenarioRunner:
    """Steps one scene. Build it once per scene; it is stateless between calls."""

    def __init__(self, scene: Scene, *, history_limit: int = DEFAULT_HISTORY) -> None:
        self.scene = scene
        self.history_limit = history_limit
        self._nodes: dict[str, _CompiledNode] = {}
        for node in scene.nodes:
            choices = tuple(
                _CompiledChoice(c, logic.compile_conditions(c.conditions), logic.compile_actions(c.actions),
                                frozenset(c.visible_to))
                for c in node.choices
            )
            self._nodes[node.id] = _CompiledNode(node, logic.compile_actions(node.actions), choices, node.is_end)
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

    def choices(self, state: RunState) -> list[Choice]:
        """The choices offered at the current node."""
        return [c.choice for c in self._available(self._compiled(state.node), state)]

    def settle(self, state: RunState) -> None:
        """Recompute ``finished``/``reason`` for the current node, as entering it would (for a
        state restored from a save, after the scene may have changed)."""
        self._settle(self._compiled(state.node), state)

    def step(self, state: RunState, choice_id: str | None = None) -> RunState:
        """The state after one step (``state`` itself is left untouched)."""
        new = state.model_copy(deep=True)
        self.advance(new, choice_id)
        return new

    def advance(self, state: RunState, choice_id: str | None = None) -> None:
        """One step, in place."""
        if state.finished:
            raise InvalidInput(f"the run already finished at node {state.node!r} ({state.reason})")
        current = self._compiled(state.node)
        available = self._available(current, state)
        if self.history_limit:
            state.history.append(Frame(node=state.node, vars=logic.clone(state.vars), rng=state.rng,
                                       step=state.step, finished=state.finished, reason=state.reason))
            if len(state.history) > self.history_limit:
                del state.history[0]
        if available:
            if choice_id is not None:
                picked = next((c for c in available if c.choice.id == choice_id), None)
                if picked is None:
                    if self.history_limit:
                        state.history.pop()
                    offered = ", ".join(c.choice.id for c in available)
                    raise InvalidInput(
                        f"choice {choice_id!r} is not available at node {state.node!r} (offered: {offered})",
                        details={"choice_id": choice_id, "node": state.node,
                                 "available": [c.choice.id for c in available]},
                    )
                via = "choice"
            else:
                rng = StoryRandom.from_state(state.rng)
                picked = available[rng.weighted_index([c.choice.weight for c in available])]
                state.rng = rng.state
                via = "random"
            logic.apply(picked.actions, state.vars)
            self._enter(state, picked.choice.target, via, picked.choice.id)
            return
        if choice_id is not None:
            if self.history_limit:
                state.history.pop()
            raise InvalidInput(f"node {state.node!r} offers no choices; step without choice_id",
                               details={"choice_id": choice_id, "node": state.node})
        self._enter(state, current.node.next, "next", None)  # _enter ran; next exists or finished

    def back(self, state: RunState, steps: int = 1) -> RunState:
        """The state ``steps`` steps earlier (undo); the trace is cut back to match."""
        if steps < 1:
            raise InvalidInput("steps must be at least 1")
        if steps > len(state.history):
            raise InvalidInput(f"cannot step back {steps} step(s): only {len(state.history)} in the history",
                               details={"available": len(state.history)})
        new = state.model_copy(deep=True)
        frame = new.history[-steps]
        del new.history[-steps:]
        new.node, new.vars, new.rng = frame.node, frame.vars, frame.rng
        new.step, new.finished, new.reason = frame.step, frame.finished, frame.reason
        new.trace = [entry for entry in new.trace if entry.step <= frame.step]
        return new

    def run(self, state: RunState, *, choices: list[str] | None = None, breakpoints: set[str] | None = None,
            max_steps: int = 10_000) -> tuple[RunState, str]:
        """Step until the run finishes, a breakpoint node is entered or ``max_steps`` is reached.

        ``choices`` are used in order at nodes that offer choices; after they run out, picks are
        random. Returns the new state and why it stopped: 'finished', 'breakpoint' or 'max_steps'.
        """
        new = state.model_copy(deep=True)
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
        pov = state.pov
        variables = state.vars
        return [
            c for c in node.choices
            if c.choice.weight > 0
            and (pov is None or not c.visible_to or pov in c.visible_to)
            and (not c.conditions or logic.holds(c.conditions, variables))
        ]

    def _enter(self, state: RunState, node_id: str | None, via: str, choice: str | None) -> None:
        if via != "start":
            state.step += 1
        target = self._compiled(node_id) if node_id is not None else None
        if target is None:  # pragma: no cover - callers only pass None after checking
            raise InvalidInput(f"node {state.node!r} has nowhere to go")
        state.node = target.node.id
        state.trace.append(TraceEntry(step=state.step, node=target.node.id, via=via, choice=choice))
        if target.actions:
            logic.apply(target.actions, state.vars)
        self._settle(target, state)

    def _settle(self, node: _CompiledNode, state: RunState) -> None:
        if node.end:
            state.finished, state.reason = True, "end"
        elif not node.node.next and not self._available(node, state):
            state.finished, state.reason = True, "no_choices" if node.node.choices else "dead_end"
        else:
            state.finished, state.reason = False, None
