"""Playtest: headless runs with a trace digest (optionally persisted or checked against a golden
trace) and bounded coverage of every choice path. Gated by ``enable_playtest_harness``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, StrictStr

from comfyvn.qa.playtest import coverage, golden, harness
from comfyvn.qa.playtest.domain import FLAG
from comfyvn.server.routing import SceneRef, domain_router

router = domain_router(prefix="/api/playtest", tags=["playtest"], flag=FLAG)


class _SceneBody(SceneRef):
    pov: str | None = Field(default=None, description="Point of view; defaults to the scene's.")
    variables: dict[str, Any] | None = Field(default=None, description="Initial variable overrides.")


class RunBody(_SceneBody):
    seed: StrictInt | StrictStr | None = Field(default=0, description="Integer or string seed for random picks.")
    choices: list[str] = Field(default_factory=list, description="Choice ids to take, in order, at choice points.")
    max_steps: int = Field(default=harness.DEFAULT_MAX_STEPS, ge=1, le=harness.MAX_STEPS_LIMIT)
    persist: bool = Field(default=False, description="Write the trace and its .log under <logs>/playtest/.")
    dry_run: bool = Field(default=False, description="Compute only: no files written, no events emitted.")
    include_trace: bool = Field(default=True, description="Return the trace itself in the answer.")
    golden: dict[str, Any] | None = Field(default=None, description="A golden trace document to compare with.")


class CoverageBody(_SceneBody):
    max_depth: int = Field(default=coverage.DEFAULT_MAX_DEPTH, ge=1, le=coverage.MAX_DEPTH_LIMIT)
    max_states: int = Field(default=coverage.DEFAULT_MAX_STATES, ge=1, le=coverage.MAX_STATES_LIMIT)


@router.post("/run", summary="Play a scene headless; answer its trace digest (optionally persist it)")
def run(body: RunBody) -> dict[str, Any]:
    scene = body.resolve()
    result = harness.run(scene, seed=body.seed, pov=body.pov, variables=body.variables, choices=body.choices,
                         max_steps=body.max_steps, emit=not body.dry_run)
    answer: dict[str, Any] = {
        "run_id": result.run_id, "digest": result.digest, "provenance": result.provenance,
        "scene_id": scene.id, "seed": result.trace["seed"], "pov": result.trace["pov"], "steps": result.steps,
        "finished": result.trace["finished"], "reason": result.trace["reason"], "warnings": result.warnings,
        "dry_run": body.dry_run, "persisted": False, "trace_path": None, "log_path": None,
    }
    if body.persist and body.dry_run:
        planned = harness.paths_for(result)
        answer["would_write"] = {"trace_path": str(planned["trace"]), "log_path": str(planned["log"])}
    elif body.persist:
        written = harness.persist(result)
        answer |= {"persisted": True, "trace_path": str(written["trace"]), "log_path": str(written["log"])}
    if body.include_trace:
        answer["trace"] = result.trace
    if body.golden is not None:
        answer["comparison"] = golden.compare_traces(result, body.golden).as_dict()
    return answer


@router.post("/coverage", summary="Explore every choice path (bounded): unreachable nodes, dead ends, endings")
def run_coverage(body: CoverageBody) -> dict[str, Any]:
    return coverage.explore(body.resolve(), pov=body.pov, variables=body.variables, max_depth=body.max_depth,
                            max_states=body.max_states)
