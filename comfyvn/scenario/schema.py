"""The scenario JSON Schema (2020-12), generated from the pydantic models.

``python -m comfyvn.scenario.schema --write`` regenerates ``comfyvn/schema/scenario_schema.json``;
``--check`` exits 1 when the file is out of date. A test runs the check too.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from comfyvn.scenario.models import Scene

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://comfyvn.invalid/schema/scenario_schema.json"  # an identifier, never fetched


def build_schema() -> dict[str, Any]:
    schema = Scene.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path() -> Path:
    return Path(str(resources.files("comfyvn") / "schema" / "scenario_schema.json"))


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate the schema file")
    group.add_argument("--check", action="store_true", help="exit 1 if the schema file is out of date")
    args = parser.parse_args(argv)
    path = schema_path()
    if args.write:
        from comfyvn.core.store import atomic_write_bytes

        atomic_write_bytes(path, render().encode("utf-8"))
        print(f"wrote {path}")
        return 0
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current != render():
        print(f"{path} is out of date: run python -m comfyvn.scenario.schema --write", file=sys.stderr)
        return 1
    print(f"{path} is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
