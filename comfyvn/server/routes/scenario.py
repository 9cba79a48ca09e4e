"""Scenario: validate a scene, step it with the deterministic runner, play to a breakpoint, undo."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from comfyvn.core.errors import InvalidInput
from comfyvn.scenario import service
from comfyvn.scenario.runner import ScenarioRunner
from comfyvn.scenario.schema import load_schema
from comfyvn.scenario.validate import validate
from comfyvn.server.routing import SceneRef, domain_router

router = domain_router(prefix="/api/scenario", tags=["scenario"])

Seed = int | str


class StepBody(SceneRef):
    seed: Seed | None = Field(default=None, description="Integer or string; used when starting a run.")
    state: dict[str, Any] | None = Field(default=None, description="The state from the previous answer.")
    choice_id: str | None = None
    pov: str | None = None
    variables: dict[str, Any] | None = Field(default=None, description="Initial variable overrides (start only).")


class PlayBody(StepBody):
    choices: list[str] = Field(default_factory=list, description="Choice ids to take, in order, at choice points.")
    breakpoints: list[str] = Field(default_factory=list, description="Stop on entering any of these node ids.")
    max_steps: int = Field(default=1000, ge=1, le=100_000)


class BackBody(SceneRef):
    state: dict[str, Any]
    steps: int = Field(default=1, ge=1)


@router.get("/schema", summary="The scenario JSON Schema (2020-12)")
def schema() -> dict[str, Any]:
    return load_schema()


@router.post("/validate", summary="Validate a scene: schema errors plus semantic checks")
def validate_scene(body: dict[str, Any]) -> dict[str, Any]:
    """The body is the scene itself, or ``{"scene": {...}}``."""
    scene = body["scene"] if set(body) == {"scene"} else body
    return validate(scene).as_dict()


@router.post("/run/step", summary="Start a run (no state) or take one step")
def run_step(body: StepBody) -> dict[str, Any]:
    scene = body.resolve()
    runner, state = service.step(scene, state=body.state, seed=body.seed, choice_id=body.choice_id,
                                 pov=body.pov, variables=body.variables)
    return service.describe(runner, state)


@router.post("/run/play", summary="Step until the run ends, a breakpoint is hit or max_steps")
def run_play(body: PlayBody) -> dict[str, Any]:
    scene = body.resolve()
    breakpoints = set(body.breakpoints)
    if body.state is None:  # start, then go on unless the start node already stops us
        runner, state = service.step(scene, seed=body.seed, pov=body.pov, variables=body.variables)
        stopped = "finished" if state.finished else "breakpoint" if state.node in breakpoints else None
    else:
        runner, state = service.step(scene, state=body.state, seed=body.seed, variables=body.variables,
                                     pov=body.pov, advance=False)
        stopped = "finished" if state.finished else None
    if stopped is None:
        state, stopped = runner.run(state, choices=body.choices, breakpoints=breakpoints, max_steps=body.max_steps)
        service.emit_entry(runner, state)
    return service.describe(runner, state) | {"stopped": stopped}


@router.post("/run/back", summary="Undo steps using the state's history")
def run_back(body: BackBody) -> dict[str, Any]:
    scene = body.resolve()
    runner = ScenarioRunner(scene)
    state = service.parse_state(body.state, scene)
    if body.steps > len(state.history):
        raise InvalidInput(f"cannot step back {body.steps} step(s): the history holds {len(state.history)}",
                           details={"available": len(state.history)})
    return service.describe(runner, runner.back(state, body.steps))
