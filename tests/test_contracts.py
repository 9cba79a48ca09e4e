"""Contracts that keep the registries, the docs and the error shape honest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from comfyvn.config import feature_flags
from comfyvn.core import hookspecs, modder_hooks, plugins
from tests.conftest import assert_envelope

DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def test_every_flag_is_documented():
    text = docs_text()
    missing = [name for name in feature_flags.declared() if f"`{name}`" not in text]
    assert not missing, f"flags not documented in docs/: {missing}"


def test_every_event_is_documented_with_its_fields():
    text = docs_text()
    for name, spec in modder_hooks.specs().items():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}` |")]
        assert rows, f"event {name} has no row in a docs/ events table"
        for field in spec.fields:
            assert any(f"`{field}`" in row for row in rows), f"field {field} of {name} not documented"


def test_every_declaration_has_a_description_and_owner():
    for flag in feature_flags.declared().values():
        assert flag.description and flag.owner
    for spec in modder_hooks.specs().values():
        assert spec.description and spec.owner and all(spec.fields.values())
    for kind in plugins.job_kinds().values():
        assert kind.description and kind.owner


def test_docs_index_links_resolve():
    index = (DOCS / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+\.md)\)", index):
        assert (DOCS / target).exists(), target


def test_hookspecs_have_one_line_docstrings():
    specs = [getattr(hookspecs, n) for n in dir(hookspecs) if n.startswith("comfyvn_")]
    assert specs
    for spec in specs:
        assert spec.__doc__ and "\n" not in spec.__doc__.strip()


def test_every_route_documents_the_error_envelope(client):
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schema = operation["responses"].get("4XX", {}).get("content", {}).get("application/json", {})
            assert schema, f"{method.upper()} {path} does not document the error envelope"


def test_every_route_answers_bad_requests_with_the_envelope(client):
    """Wrong method, unknown ids and malformed bodies, on every route: any 4xx is an envelope.
    All flags are switched on so gated routes are exercised past their gate."""
    for name in feature_flags.declared():
        feature_flags.set_enabled(name, True)
    spec = client.get("/openapi.json").json()
    checked = 0
    for template, operations in spec["paths"].items():
        path = re.sub(r"\{[^}]+\}", "does-not-exist", template)
        methods = {m.upper() for m in operations}
        unused = sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - methods)
        if unused:
            response = client.request(unused[0], path)
            # 405, or 404 when the path also matches another route's template (DELETE /x/{id})
            assert response.status_code in (404, 405), f"{unused[0]} {path}: {response.status_code}"
            assert_envelope(response, response.status_code)
            checked += 1
        for method in methods & {"POST", "PUT", "PATCH"}:
            response = client.request(method, path, content=b"{not json", headers={"content-type": "application/json"})
            if response.status_code >= 400:
                assert_envelope(response, response.status_code)
                checked += 1
        if "GET" in methods and "{" in template:
            response = client.get(path)
            assert response.status_code >= 400, f"GET {path} accepted an unknown id"
            assert_envelope(response, response.status_code)
            checked += 1
    assert checked > 20


def test_emitting_an_undeclared_event_fails():
    with pytest.raises(modder_hooks.UndeclaredEvent):
        modder_hooks.emit("on_something_nobody_declared", {})
