"""The LLM provider: what is configured, and a live check of the endpoint."""

from __future__ import annotations

from typing import Any

from comfyvn.llm.provider import LLMSettings, OpenAICompatible
from comfyvn.server.routing import ServicesDep, domain_router

router = domain_router(prefix="/api/llm", tags=["llm"])


@router.get("/status", summary="The configured LLM provider (settings section 'llm'; never the API key)")
def status(services: ServicesDep) -> dict[str, Any]:
    return LLMSettings.load(services.settings).describe()


@router.post("/check", summary="Ask the configured endpoint for its models (GET {base_url}/models); 502 on failure")
def check(services: ServicesDep) -> dict[str, Any]:
    config = LLMSettings.load(services.settings)
    if config.provider == "offline":
        return config.describe() | {"ok": True, "models": [], "note": "offline: the deterministic cleaner is used"}
    provider = OpenAICompatible(config)
    try:
        models = provider.models()
    finally:
        provider.close()
    return config.describe() | {"ok": True, "models": models, "model_listed": not config.model or config.model in models}
